// A conditional prior p(z|c) = N(μ(c), diag exp(logvar(c))): a small network on the condition's
// context (the observed quadrants of a completion task, a one-hot label), as the CVAE paper's
// prior network. With the diagonal posterior the KL is the closed form between two Gaussians
// (kl_gaussians, gradients to both sides); other posteriors use log q − log p.
import { gaussianLogDensity } from '../../graph/ops/density.js';
import type { Activation } from '../../kernels/activation-codes.js';
import { checkActivation, checkSize, fail } from '../fields.js';
import { linearChain, linearParams, type LinearSpec } from '../layers.js';
import { linearLayer } from '../modules.js';
import type { ModelShape, PriorKind } from '../sections.js';

/**
 * A learned conditional prior p(z|c) (Sohn et al. 2015): dense layers prior.0 … on the
 * condition's context, then heads prior.mu and prior.logvar. Needs a condition with a context
 * ('quadrants': x_obs; 'label': the one-hot label).
 *
 * @example `{ kind: 'conditional', hidden: [500, 500], activation: 'relu' }`
 */
export interface ConditionalPriorConfig {
  /** The prior's kind. */
  kind: 'conditional';
  /** Widths of the prior network's hidden layers (default [500, 500]; [] for heads only). */
  hidden: number[];
  /** Their activation (default 'relu'). */
  activation: Activation;
}

/** The prior network's layers in module order: hidden, then the mu and logvar heads. */
export function conditionalPriorLayers(
  c: ConditionalPriorConfig,
  model: ModelShape,
  contextWidth: number,
): { hidden: LinearSpec[]; mu: LinearSpec; logvar: LinearSpec } {
  const hidden = linearChain('prior', contextWidth, c.hidden);
  const top = c.hidden.at(-1) ?? contextWidth;
  return {
    hidden,
    mu: { name: 'prior.mu', inSize: top, outSize: model.latentSize },
    logvar: { name: 'prior.logvar', inSize: top, outSize: model.latentSize },
  };
}

export const conditionalPrior: PriorKind<ConditionalPriorConfig> = {
  kind: 'conditional',
  fields: ['hidden', 'activation'],
  conditional: true,
  resolve(raw, path) {
    const hiddenRaw = raw.hidden ?? [500, 500];
    if (!Array.isArray(hiddenRaw)) {
      fail(`${path}.hidden must be an array of layer widths, got ${JSON.stringify(hiddenRaw)}`);
    }
    const hidden = hiddenRaw.map((w, i) => checkSize(`${path}.hidden[${i}]`, w, 1 << 14));
    const activation = checkActivation(`${path}.activation`, raw.activation, 'relu');
    return { kind: 'conditional', hidden, activation };
  },
  params(c, model, contextWidth) {
    const l = conditionalPriorLayers(c, model, contextWidth);
    return [...l.hidden, l.mu, l.logvar].flatMap(linearParams);
  },
  build(ctx, c, condition) {
    const context = condition.context;
    if (!context) throw new Error(`graph: prior 'conditional' needs a condition with a context`);
    const l = conditionalPriorLayers(c, ctx.config, context.cols);
    let h = context;
    for (const spec of l.hidden) h = linearLayer(ctx, spec, h, c.activation);
    const mu = linearLayer(ctx, l.mu, h, 'identity');
    const logvar = linearLayer(ctx, l.logvar, h, 'identity');
    return {
      kind: 'conditional',
      gaussian: { mu, logvar },
      logp: (z) => gaussianLogDensity(ctx.g, 'logp', z, { mu, logvar, samples: z.rows / mu.rows }),
    };
  },
};
