// Two stochastic layers (the hierarchy of Burda et al. 2015, IWAE, §5): z1 below the code z2, with
//   q(z1|x) q(z2|z1)      the encoder's diagonal heads, then an MLP from the sampled z1
//   p(z2) p(z1|z2) p(x|z1) the prior section on z2, an MLP from z2, the decoder on z1
// all Gaussians diagonal, composed from existing ops (reparam, gaussian_logpdf, linear). The code
// (latentSize, what the prior, sample(), decode() and traversals use) is the top layer z2; the
// decoder reads z1. log w = log p(x|z1) + log p(z1|z2) + log p(z2) − log q(z1|x) − log q(z2|z1):
// logq() is the sum of both posterior layers, logpBelow() is log p(z1|z2). No closed-form KL.
import { gaussianLogDensity } from '../../graph/ops/density.js';
import { add } from '../../graph/ops/elementwise.js';
import { reparamOp } from '../../graph/ops/latent.js';
import { sliceCols } from '../../graph/ops/select.js';
import type { Tensor } from '../../graph/graph.js';
import type { Activation } from '../../kernels/activation-codes.js';
import { checkSize, fail } from '../fields.js';
import { linearChain, linearParams, type LinearSpec, type ParameterSpec } from '../layers.js';
import { linearLayer } from '../modules.js';
import type { BuildContext, ModelShape, PosteriorGraph, PosteriorKind } from '../sections.js';

/**
 * Two stochastic layers (Burda et al. 2015): z1 (`lower` wide, what the decoder reads) below the
 * code z2 (latentSize wide, what the prior scores). q(z1|x) has the heads encoder.mu and
 * encoder.logvar (`lower` outputs each); q(z2|z1) is the MLP encoder.up.0 … (`hidden`, the
 * encoder's activation) with heads encoder.up.mu and encoder.up.logvar; p(z1|z2) is the MLP
 * decoder.down.0 … (`hidden`, the decoder's activation) with heads decoder.down.mu and
 * decoder.down.logvar. Given noise holds z1's `lower` columns, then z2's latentSize columns.
 * encode() returns mu and logvar of the code z2 (q(z2|z1) at z1 = mu1) and mu1, logvar1 of z1;
 * decode() and sample() map a code z2 to z1 = the mean of p(z1|z2), then decode it.
 *
 * @example The paper's MNIST model: latents 100 and 50, deterministic layers 100 and 50
 * ```ts
 * const config: VaeConfig = {
 *   version: 2, inputSize: 784, latentSize: 50,
 *   encoder: { hidden: [100, 100], activation: 'tanh' },
 *   posterior: { kind: 'hierarchical', lower: 100, hidden: [50, 50] },
 *   decoder: { hidden: [100, 100], activation: 'tanh' },
 *   objective: { kind: 'iwae', samples: 5 },
 * };
 * ```
 */
export interface HierarchicalPosteriorConfig {
  /** The posterior's kind. */
  kind: 'hierarchical';
  /** Size of z1, the layer the decoder reads: an integer in 1..256 (required). */
  lower: number;
  /** Widths of the deterministic layers of q(z2|z1) and of p(z1|z2) (default []). */
  hidden: number[];
}

/** Largest z1, as latentSize. */
const MAX_LOWER = 256;

/** A Gaussian conditional's layers: hidden layers, then the mu and logvar heads. */
interface GaussianNet {
  hidden: LinearSpec[];
  mu: LinearSpec;
  logvar: LinearSpec;
}

function gaussianNet(prefix: string, inSize: number, hidden: number[], out: number): GaussianNet {
  const top = hidden.at(-1) ?? inSize;
  return {
    hidden: linearChain(prefix, inSize, hidden),
    mu: { name: `${prefix}.mu`, inSize: top, outSize: out },
    logvar: { name: `${prefix}.logvar`, inSize: top, outSize: out },
  };
}

/** q(z2|z1) and p(z1|z2). */
function nets(
  c: HierarchicalPosteriorConfig,
  model: ModelShape,
): { up: GaussianNet; down: GaussianNet } {
  return {
    up: gaussianNet('encoder.up', c.lower, c.hidden, model.latentSize),
    down: gaussianNet('decoder.down', model.latentSize, c.hidden, c.lower),
  };
}

function runNet(
  ctx: BuildContext,
  net: GaussianNet,
  x: Tensor,
  act: Activation,
): { mu: Tensor; logvar: Tensor } {
  let h = x;
  for (const spec of net.hidden) h = linearLayer(ctx, spec, h, act);
  return {
    mu: linearLayer(ctx, net.mu, h, 'identity'),
    logvar: linearLayer(ctx, net.logvar, h, 'identity'),
  };
}

/** z = μ + σ·ε, `samples` rows per row of μ; ε drawn, or given. */
function reparam(
  ctx: BuildContext,
  name: string,
  p: { mu: Tensor; logvar: Tensor },
  samples: number,
  eps: Tensor | undefined,
): Tensor {
  const shape = [p.mu.rows * samples, p.mu.cols];
  return ctx.g.add(
    reparamOp,
    name,
    { mu: p.mu, logvar: p.logvar, eps },
    eps ? { z: shape } : { z: shape, eps: shape },
    { samples, seed: ctx.seed, stream: ctx.stream(), givenNoise: eps !== undefined },
  ).out.z;
}

export const hierarchicalPosterior: PosteriorKind<HierarchicalPosteriorConfig> = {
  kind: 'hierarchical',
  fields: ['lower', 'hidden'],
  resolve(raw, path) {
    if (raw.lower === undefined) {
      fail(`${path}.lower is required for kind 'hierarchical' (the size of z1, 1..${MAX_LOWER})`);
    }
    const lower = checkSize(`${path}.lower`, raw.lower, MAX_LOWER);
    const hidden = raw.hidden ?? [];
    if (!Array.isArray(hidden)) {
      fail(`${path}.hidden must be an array of layer widths, got ${JSON.stringify(hidden)}`);
    }
    return {
      kind: 'hierarchical',
      lower,
      hidden: hidden.map((w: unknown, i) => checkSize(`${path}.hidden[${i}]`, w)),
    };
  },
  heads(c, _model, inSize): LinearSpec[] {
    return [
      { name: 'encoder.mu', inSize, outSize: c.lower },
      { name: 'encoder.logvar', inSize, outSize: c.lower },
    ];
  },
  params(c, model): ParameterSpec[] {
    const { up, down } = nets(c, model);
    return [up, down].flatMap((n) => [...n.hidden, n.mu, n.logvar].flatMap(linearParams));
  },
  latents: (c, model) => [c.lower, model.latentSize],
  decoderInput(ctx, c, code) {
    return runNet(ctx, nets(c, ctx.config).down, code, ctx.config.decoder.activation).mu;
  },
  build(ctx, c, h, o): PosteriorGraph {
    const g = ctx.g;
    const [muSpec, logvarSpec] = this.heads(c, ctx.config, h.cols);
    if (!muSpec || !logvarSpec) throw new Error('hierarchical posterior: missing its heads');
    const { up, down } = nets(c, ctx.config);
    const encAct = ctx.config.encoder.activation;
    const K = o.samples;
    const q1 = {
      mu: linearLayer(ctx, muSpec, h, 'identity'),
      logvar: linearLayer(ctx, logvarSpec, h, 'identity'),
    };
    const eps = o.eps;
    const z1 = reparam(ctx, 'reparam', q1, K, eps && sliceCols(g, 'eps.z1', eps, 0, c.lower));
    // q(z2|z1) and p(z1|z2) have one row per sample row of z1 (B·K): one sample each.
    const q2 = runNet(ctx, up, z1, encAct);
    const z2 = reparam(
      ctx,
      'reparam.top',
      q2,
      1,
      eps && sliceCols(g, 'eps.z2', eps, c.lower, ctx.config.latentSize),
    );
    const p1 = runNet(ctx, down, z2, ctx.config.decoder.activation);
    let logq: Tensor | undefined;
    let logpBelow: Tensor | undefined;
    let top: { mu: Tensor; logvar: Tensor } | undefined;
    // q(z2|z1 = mu1), built on first use (only the encoder graph asks for it).
    const codeAtMean = () => (top ??= runNet(ctx, up, q1.mu, encAct));
    return {
      z: z1,
      top: z2,
      samples: K,
      // The code's posterior mean at z1 = mu1: what reconstruct and interpolate decode.
      get mean() {
        return codeAtMean().mu;
      },
      outputs: { mu1: q1.mu, logvar1: q1.logvar },
      report: codeAtMean,
      logq: () =>
        (logq ??= add(
          g,
          'logq',
          gaussianLogDensity(g, 'logq.z1', z1, { ...q1, samples: K }),
          gaussianLogDensity(g, 'logq.z2', z2, { ...q2, samples: 1 }),
        )),
      logpBelow: () => (logpBelow ??= gaussianLogDensity(g, 'logp.z1', z1, { ...p1, samples: 1 })),
      analyticKl: () => undefined,
    };
  },
};
