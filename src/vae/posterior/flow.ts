// What the flow posteriors (planar, iaf) share: the diagonal Gaussian's sample z0 through the
// kind's steps, log q(z_K|x) = log N(z0; μ, σ²) plus the steps' log-determinant terms, the flow's
// output at μ as the posterior's location (built on first use, so only the encoder graph pays),
// and no closed-form KL (the ELBO takes its Monte Carlo estimate).
import { gaussianLogDensity } from '../../graph/ops/density.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import type { PosteriorGraph } from '../sections.js';

/** A flow run from `start` (rows of z0): its output, and how its steps finish log q. */
export interface FlowRun {
  z: Tensor;
  /** log N(z0; μ, σ²) per row -> log q(z_K|x): the steps' log|det| terms taken off. */
  finishLogq(base: Tensor): Tensor;
}

export interface FlowPosteriorParts {
  /** The diagonal Gaussian's heads (B, Z) and its K samples z0 (B·K, Z). */
  mu: Tensor;
  logvar: Tensor;
  z0: Tensor;
  samples: number;
  /** The kind's steps applied to rows of z (named under `prefix`). */
  run(prefix: string, start: Tensor): FlowRun;
}

export function flowPosteriorGraph(g: Graph, o: FlowPosteriorParts): PosteriorGraph {
  const { mu, logvar, z0, samples } = o;
  const sampled = o.run('flow', z0);
  let logq: Tensor | undefined;
  let zK: Tensor | undefined;
  // The flow at z0 = μ, built on first use (only the encoder graph asks for it).
  const flowOfMean = () => (zK ??= o.run('flow_mean', mu).z);
  return {
    z: sampled.z,
    samples,
    // The location a reconstruction decodes: the flow's output at μ, not μ itself.
    get mean() {
      return flowOfMean();
    },
    outputs: { mu, logvar },
    report: () => ({ zK: flowOfMean() }),
    // log N(z0; μ, σ²) with gradients to z0, μ and logvar in one op: μ and logvar then reach
    // reparam's one-flag backward at the same stage of accumulation.
    logq: () =>
      (logq ??= sampled.finishLogq(
        gaussianLogDensity(g, 'logq.base', z0, { mu, logvar, samples }),
      )),
    analyticKl: () => undefined,
  };
}
