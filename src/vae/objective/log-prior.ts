// log p of a posterior's sample under the model's prior: the prior section on the sample it scores
// (z, or a hierarchy's top layer), plus the generative layers between that and z.
import { add } from '../../graph/ops/elementwise.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import type { PosteriorGraph, PriorGraph } from '../sections.js';

/** log p(z) per sample row (B·K): prior.logp(top) + log p(z|top). */
export function logPrior(g: Graph, posterior: PosteriorGraph, prior: PriorGraph): Tensor {
  const logp = prior.logp(posterior.top ?? posterior.z);
  const below = posterior.logpBelow?.();
  return below ? add(g, 'logp.joint', logp, below) : logp;
}
