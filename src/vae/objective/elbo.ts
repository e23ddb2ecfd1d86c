// The evidence lower bound: loss = Σ_b (nll_b + β·KL_b), or with a capacity target C_t the KL part
// β·B·|mean_b KL_b − C_t| (Burgess et al. 2018: C grows linearly from 0 to max over `steps`).
// β and C_t are per-step hyperparameters (hyper[0], hyper[1]): they change without recompiling.
// With 'mean' reduction the gradient is divided by the batch size. The KL is the posterior's
// closed form when it has one for the prior, else the one-sample estimate log q(z|x) − log p(z)
// (a hierarchy's log p sums its layers: see log-prior.ts).
import { objective, absDiffOp } from '../../graph/ops/objective.js';
import { total } from '../../graph/ops/util.js';
import { klEstimate } from './log-prior.js';
import { checkFields, checkNumber, checkObject, fail } from '../fields.js';
import type { ObjectiveKind } from '../sections.js';

/**
 * The capacity target of a β-VAE with controlled capacity (Burgess et al. 2018): the KL term
 * becomes β·|KL − C_t|, C_t growing linearly from 0 at step 0 to `max` at step `steps`.
 *
 * @example `{ max: 25, steps: 10_000 }`: C reaches 25 nats after 10 000 steps.
 */
export interface CapacityConfig {
  /** C_max in nats, >= 0. */
  max: number;
  /** Steps (an integer >= 0) over which C grows linearly from 0 to C_max (0: C_max at once). */
  steps: number;
}

/**
 * The evidence lower bound (the default objective): per example nll + β·KL, with the posterior's
 * closed-form KL to the prior where it has one. The metrics are recon, kl and elbo (per example).
 * Missing fields take their defaults when written in a {@link VaeConfig}.
 */
export interface ElboObjectiveConfig {
  /** The objective's kind. */
  kind: 'elbo';
  /** Weight of the KL term, >= 0 (default 1; 0 is a plain autoencoder, > 1 a β-VAE). */
  beta: number;
  /** Capacity objective β·|KL − C| with C ramped linearly (absent: plain KL). */
  capacity?: CapacityConfig;
  /** 'sum' (default, as pytorch/examples): the batch sum; 'mean': divided by the batch size. */
  reduction: 'sum' | 'mean';
}

/** The capacity C at a (0-based) step: linear from 0 to max over `steps` steps. */
export function capacityAt(capacity: CapacityConfig, step: number): number {
  if (capacity.steps === 0) return capacity.max;
  return capacity.max * Math.min(1, step / capacity.steps);
}

export function resolveReduction(path: string, raw: unknown): 'sum' | 'mean' {
  const reduction = raw ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') {
    fail(`${path}.reduction must be 'sum' or 'mean', got ${JSON.stringify(reduction)}`);
  }
  return reduction;
}

export const elboObjective: ObjectiveKind<ElboObjectiveConfig> = {
  kind: 'elbo',
  fields: ['beta', 'capacity', 'reduction'],
  resolve(raw, path) {
    const resolved: ElboObjectiveConfig = {
      kind: 'elbo',
      beta: checkNumber(`${path}.beta`, raw.beta ?? 1, 0),
      reduction: resolveReduction(path, raw.reduction),
    };
    if (raw.capacity !== undefined && raw.capacity !== null) {
      const c = checkObject(`${path}.capacity`, raw.capacity, '{ max, steps }');
      checkFields(c, `${path}.capacity`, ['max', 'steps']);
      const max = checkNumber(`${path}.capacity.max`, c.max, 0);
      if (typeof c.steps !== 'number' || !Number.isInteger(c.steps) || c.steps < 0) {
        fail(`${path}.capacity.steps must be an integer >= 0, got ${JSON.stringify(c.steps)}`);
      }
      resolved.capacity = { max, steps: c.steps };
    }
    return resolved;
  },
  samples: () => 1,
  hyperNames: () => ['beta', 'capacity'],
  hyperAt: (c, step) => [c.beta, c.capacity ? capacityAt(c.capacity, step) : 0],
  build(ctx, c, { nll, posterior, prior, hyper, batch }) {
    const g = ctx.g;
    const recon = total(g, nll, 'recon');
    // The posterior's own terms (vq: codebook and commitment losses), by name.
    const own = (posterior.losses ?? []).map((l) => ({
      name: l.name,
      weight: l.weight,
      value: total(g, l.value, l.name),
    }));
    const ownMetrics = [
      ...own.map((t) => ({ name: t.name, value: t.value })),
      ...(posterior.metrics ?? []),
    ];
    const scaleBy = c.reduction === 'mean' ? 1 / batch : 1;
    if (posterior.hasKl === false) {
      const loss = objective(
        g,
        hyper,
        [{ name: 'recon', weight: 1, value: recon }, ...own],
        scaleBy,
      );
      return { loss, metrics: [{ name: 'recon', value: recon }, ...ownMetrics] };
    }
    const klRows = posterior.analyticKl(prior) ?? klEstimate(g, posterior, prior);
    const kl = total(g, klRows, 'kl_sum');
    // B·|mean KL − C| = |Σ KL − B·C|: the capacity term on the batch sum.
    const klTerm = c.capacity
      ? g.add(absDiffOp, 'kl_capacity', { x: kl, hyper }, { y: [1] }, { factor: batch, index: 1 })
          .out.y
      : kl;
    const loss = objective(
      g,
      hyper,
      [
        { name: 'recon', weight: 1, value: recon },
        { name: 'kl', weight: 1, hyper: 0, value: klTerm },
        ...own,
      ],
      scaleBy,
    );
    return {
      loss,
      metrics: [{ name: 'recon', value: recon }, { name: 'kl', value: kl }, ...ownMetrics],
      perExample: { kl: klRows },
    };
  },
  // Without a KL term (a deterministic posterior) there is no bound to report.
  derive: (_c, m): Record<string, number> =>
    m.kl === undefined ? {} : { elbo: -((m.recon ?? 0) + m.kl) },
};
