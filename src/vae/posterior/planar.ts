// The planar-flow posterior (Rezende & Mohamed 2015): the diagonal Gaussian's sample z0 = μ + σ·ε
// through K planar steps z′ = z + û·tanh(wᵀz + b), each one fused planar_rows op over every sample
// row (û's fix, z′ and its log|det| together; shaders/planar.wgsl):
//   û = u + (m(wᵀu) − wᵀu)·w/‖w‖²,  m(a) = −1 + softplus(a)   (so wᵀû = m(wᵀu) > −1: invertible)
//   m(a) − a = softplus(−a) − 1
//   log|det ∂z′/∂z| = log|1 + ûᵀψ|,  ψ = (1 − tanh²(wᵀz + b))·w,  so ûᵀψ = (1 − h²)·wᵀû
//   log q(z_K|x) = log N(z0; μ, σ²) − Σ_k log|det_k|
// u, w and b are parameters (global) or an encoder head's outputs (amortized). There is no closed-
// form KL: the ELBO uses its one-sample estimate log q(z_K|x) − log p(z_K).
import { sumTerms } from '../../graph/ops/sum-terms.js';
import { reparamOp } from '../../graph/ops/latent.js';
import { planarRows } from '../../graph/ops/planar.js';
import { concatCols, sliceCols } from '../../graph/ops/select.js';
import { repeatRows } from '../../graph/ops/util.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import { checkSize, fail } from '../fields.js';
import { linearLayer } from '../modules.js';
import type { LinearSpec, ParameterSpec } from '../layers.js';
import type { BuildContext, PosteriorGraph, PosteriorKind } from '../sections.js';
import { flowPosteriorGraph } from './flow.js';

/**
 * A planar-flow posterior: the diagonal Gaussian's heads encoder.mu and encoder.logvar, then
 * `steps` planar steps z′ = z + û·tanh(wᵀz + b). Global parameters are posterior.flow.<k>.u and
 * .w (1, Z) and .b (1); amortized ones come from the head encoder.flow (steps·(2Z + 1) outputs:
 * step k's u, w and b at columns k·(2Z + 1) …). encode() also returns zK (n, Z): the flow's output
 * for z0 = μ.
 *
 * @example `{ kind: 'planar', steps: 8, amortized: false }`
 */
export interface PlanarPosteriorConfig {
  /** The posterior's kind. */
  kind: 'planar';
  /** K planar steps, an integer >= 1 (required). */
  steps: number;
  /** u, w, b per example from the encoder (true) or shared parameters (false, the default). */
  amortized: boolean;
}

/** Most planar steps. */
export const MAX_PLANAR_STEPS = 256;

/** x (P, C) repeated to N rows (N a multiple of P). */
function toRows(g: Graph, name: string, x: Tensor, N: number): Tensor {
  return x.rows === N ? x : repeatRows(g, name, x, N / x.rows);
}

/**
 * z (N, Z) -> z + û·tanh(wᵀz + b) and log|det| (N): one fused planar_rows op on the step's
 * [u | w | b] (û's fix inside it), repeated to the N rows (a global step's row gradients summed by
 * repeat_rows' backward).
 */
function planarStep(
  g: Graph,
  name: string,
  z: Tensor,
  params: Tensor,
): { z: Tensor; logdet: Tensor } {
  return planarRows(g, name, z, toRows(g, `${name}.params.rows`, params, z.rows));
}

/**
 * Step k's [u | w | b] (1 or B rows, 2Z + 1): its three parameters side by side, or one slice of
 * the encoder.flow head's output, which holds them side by side already.
 */
function stepParams(ctx: BuildContext, k: number, Z: number, head: Tensor | undefined): Tensor {
  const g = ctx.g;
  if (!head) {
    const at = `posterior.flow.${k}`;
    const uwb = [ctx.param(`${at}.u`), ctx.param(`${at}.w`), ctx.param(`${at}.b`)];
    return concatCols(g, `flow.${k}.params`, uwb);
  }
  return sliceCols(g, `flow.${k}.params`, head, k * (2 * Z + 1), 2 * Z + 1);
}

export const planarPosterior: PosteriorKind<PlanarPosteriorConfig> = {
  kind: 'planar',
  fields: ['steps', 'amortized'],
  resolve(raw, path) {
    if (raw.steps === undefined)
      fail(`${path}.steps is required for kind 'planar' (an integer >= 1)`);
    const steps = checkSize(`${path}.steps`, raw.steps, MAX_PLANAR_STEPS);
    const amortized = raw.amortized ?? false;
    if (typeof amortized !== 'boolean') {
      fail(`${path}.amortized must be true or false, got ${JSON.stringify(amortized)}`);
    }
    return { kind: 'planar', steps, amortized };
  },
  heads(c, model, inSize): LinearSpec[] {
    const Z = model.latentSize;
    const heads = [
      { name: 'encoder.mu', inSize, outSize: Z },
      { name: 'encoder.logvar', inSize, outSize: Z },
    ];
    if (c.amortized) heads.push({ name: 'encoder.flow', inSize, outSize: c.steps * (2 * Z + 1) });
    return heads;
  },
  params(c, model): ParameterSpec[] {
    if (c.amortized) return [];
    const Z = model.latentSize;
    return Array.from({ length: c.steps }, (_, k) => [
      { name: `posterior.flow.${k}.u`, shape: [1, Z], fanIn: Z },
      { name: `posterior.flow.${k}.w`, shape: [1, Z], fanIn: Z },
      { name: `posterior.flow.${k}.b`, shape: [1], fanIn: Z },
    ]).flat();
  },
  build(ctx, c, h, o): PosteriorGraph {
    const g = ctx.g;
    const [muSpec, logvarSpec, flowSpec] = this.heads(c, ctx.config, h.cols);
    if (!muSpec || !logvarSpec) throw new Error('planar posterior: missing the mu/logvar heads');
    const mu = linearLayer(ctx, muSpec, h, 'identity');
    const logvar = linearLayer(ctx, logvarSpec, h, 'identity');
    const head = flowSpec ? linearLayer(ctx, flowSpec, h, 'identity') : undefined;
    const Z = mu.cols;
    const B = mu.rows;
    const K = o.samples;
    const shape = [B * K, Z];
    // Drawn noise never takes a gradient: log q reads it as a constant.
    const eps = o.eps ?? g.tensor('reparam.eps', shape, 'temp', false);
    const z0 = g.add(
      reparamOp,
      'reparam',
      { mu, logvar, eps: o.eps },
      o.eps ? { z: shape } : { z: shape, eps },
      { samples: K, seed: ctx.seed, stream: ctx.stream(), givenNoise: o.eps !== undefined },
    ).out.z;
    const params = Array.from({ length: c.steps }, (_, k) => stepParams(ctx, k, Z, head));
    return flowPosteriorGraph(g, {
      mu,
      logvar,
      z0,
      samples: K,
      run: (prefix, start) => {
        let z = start;
        const logdets: Tensor[] = [];
        params.forEach((p, k) => {
          const s = planarStep(g, `${prefix}.${k}`, z, p);
          z = s.z;
          logdets.push(s.logdet);
        });
        return {
          z,
          finishLogq: (base) =>
            sumTerms(g, 'logq', [
              { x: base, coefficient: 1 },
              ...logdets.map((x) => ({ x, coefficient: -1 })),
            ]),
        };
      },
    });
  },
};
