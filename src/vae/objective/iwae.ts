// The importance-weighted bound (Burda, Grosse & Salakhutdinov 2015) as a training objective: K
// samples per example, log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x), and
// loss_b = −(logsumexp_k log w_k − log K). Its gradient flows through the logsumexp, so each
// sample's gradient is weighted by its normalized importance weight. K = 1 is the ELBO with a
// Monte-Carlo KL.
import { objective } from '../../graph/ops/objective.js';
import { sumTerms } from '../../graph/ops/sum-terms.js';
import { logSumExpRowsOp, total, view } from '../../graph/ops/util.js';
import { checkSize } from '../fields.js';
import type { Tensor } from '../../graph/graph.js';
import type { BuildContext, ObjectiveKind, PosteriorGraph, PriorGraph } from '../sections.js';
import { resolveReduction } from './elbo.js';
import { logPriorTerms } from './log-prior.js';

/** Most samples per example in training (log p(x) evaluation takes up to 5000, in chunks). */
export const MAX_TRAINING_SAMPLES = 64;

/**
 * The importance-weighted bound (Burda et al. 2015) as the training objective: K posterior samples
 * per example, loss = −(logsumexp_k log w_k − log K). K = 1 is the ELBO with a one-sample KL. The
 * metrics are lse, recon (averaged over the K samples) and iwae (the bound), per example.
 */
export interface IwaeObjectiveConfig {
  /** The objective's kind. */
  kind: 'iwae';
  /** K samples per example, an integer in 1..64 (required). */
  samples: number;
  /** 'sum' (default): the batch sum; 'mean': divided by the batch size. */
  reduction: 'sum' | 'mean';
}

/**
 * log w (B, K) = −nll + log p(z) − log q(z|x) for the K samples of each example (a hierarchy's
 * log p and log q sum over its layers), and its row
 * logsumexp (B). Shared by the IWAE objective and the log p(x) estimator.
 */
export function importanceWeights(
  ctx: BuildContext,
  nll: Tensor,
  posterior: PosteriorGraph,
  prior: PriorGraph,
): { logWeights: Tensor; logSumExp: Tensor } {
  const g = ctx.g;
  const K = posterior.samples;
  const B = nll.size / K;
  const flat = sumTerms(g, 'log_w', [
    ...logPriorTerms(posterior, prior),
    { x: nll, coefficient: -1 },
    { x: posterior.logq(), coefficient: -1 },
  ]);
  const logWeights = view(g, flat, [B, K], 'log_w.rows');
  const logSumExp = g.add(logSumExpRowsOp, 'log_w.lse', { x: logWeights }, { y: [B] }, {}).out.y;
  return { logWeights, logSumExp };
}

export const iwaeObjective: ObjectiveKind<IwaeObjectiveConfig> = {
  kind: 'iwae',
  fields: ['samples', 'reduction'],
  resolve: (raw, path) => ({
    kind: 'iwae',
    samples: checkSize(`${path}.samples`, raw.samples, MAX_TRAINING_SAMPLES),
    reduction: resolveReduction(path, raw.reduction),
  }),
  samples: (c) => c.samples,
  needsDensity: true,
  hyperNames: () => [],
  hyperAt: () => [],
  build(ctx, c, { nll, posterior, prior, hyper, batch }) {
    const { logWeights, logSumExp } = importanceWeights(ctx, nll, posterior, prior);
    const lseSum = total(ctx.g, logSumExp, 'iwae.lse_sum');
    // loss = Σ_b −(lse_b − log K): the constant B·log K only shifts the value.
    const loss = objective(
      ctx.g,
      hyper,
      [{ name: 'lse', weight: -1, value: lseSum }],
      c.reduction === 'mean' ? 1 / batch : 1,
      batch * Math.log(c.samples),
    );
    return {
      loss,
      metrics: [
        { name: 'lse', value: lseSum },
        { name: 'recon', value: total(ctx.g, nll, 'recon') },
      ],
      perExample: { logWeights, logSumExp },
    };
  },
  // Per example: the bound is mean lse − log K (= −loss); recon is summed over K samples.
  derive: (c, m) => ({
    iwae: (m.lse ?? 0) - Math.log(c.samples),
    recon: (m.recon ?? 0) / c.samples,
  }),
};
