// log p of a posterior's sample under the model's prior: the prior section on the sample it scores
// (z, or a hierarchy's top layer), plus the generative layers between that and z. As terms, so
// that a larger sum (log w, the KL estimate) takes them into its one sum_terms op.
import { sumTerms, type Term } from '../../graph/ops/sum-terms.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import type { PosteriorGraph, PriorGraph } from '../sections.js';

/** The terms of log p(z) per sample row (B·K), times `sign`: prior.logp(top) [+ log p(z|top)]. */
export function logPriorTerms(posterior: PosteriorGraph, prior: PriorGraph, sign = 1): Term[] {
  const logp = prior.logp(posterior.top ?? posterior.z);
  const below = posterior.logpBelow?.();
  return [logp, ...(below ? [below] : [])].map((x) => ({ x, coefficient: sign }));
}

/** log q(z|x) − log p(z) per sample row: the one-sample KL estimate of a posterior without a closed form. */
export function klEstimate(g: Graph, posterior: PosteriorGraph, prior: PriorGraph): Tensor {
  return sumTerms(g, 'kl.estimate', [
    { x: posterior.logq(), coefficient: 1 },
    ...logPriorTerms(posterior, prior, -1),
  ]);
}
