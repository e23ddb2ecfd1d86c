// The inverse-autoregressive-flow posterior (Kingma et al. 2016): the diagonal Gaussian's sample
// z0 = μ + σ·ε through K steps, each a MADE (Germain et al. 2015) of masked linear layers on
// [z, h], h the encoder's context head, giving m and s:
//   σ = sigmoid(s + 2),  z′ = σ ⊙ z + (1 − σ) ⊙ m = m + σ ⊙ (z − m)
//   log|det ∂z′/∂z| = Σ_i log σ_i   (triangular Jacobian: ∂z′_i/∂z_i = σ_i)
//   log q(z_K|x) = log N(z0; μ, σ²) − Σ_k Σ_i log σ_k,i = log N(z0) + Σ_k Σ_i softplus(−(s + 2))
// Choices: the +2 is a constant forget bias inside the gate (the paper's "+1 or +2", so σ starts
// near σ(2) ≈ 0.88 and each step near the identity), not an initial value. The order is reversed
// between steps by giving odd steps the reversed MADE degrees instead of permuting z: the same
// family of flows with no extra op, and z_K keeps the latent's coordinates. −log σ is computed as
// softplus(−s′) (no log of a rounded-to-0 sigmoid). No closed-form KL: the ELBO uses log q(z_K|x)
// − log p(z_K).
import { maskedLinear } from '../../graph/ops/dense.js';
import { sumTerms } from '../../graph/ops/sum-terms.js';
import { iafGate } from '../../graph/ops/iaf-gate.js';
import { reparamOp } from '../../graph/ops/latent.js';
import { concatCols } from '../../graph/ops/select.js';
import { repeatRows } from '../../graph/ops/util.js';
import type { Tensor } from '../../graph/graph.js';
import type { Activation } from '../../kernels/activation-codes.js';
import { checkActivation, checkSize, fail } from '../fields.js';
import { linearLayer } from '../modules.js';
import { linearParams, type LinearSpec, type ParameterSpec } from '../layers.js';
import type { BuildContext, PosteriorGraph, PosteriorKind } from '../sections.js';
import { flowPosteriorGraph } from './flow.js';

/**
 * An inverse-autoregressive-flow posterior: the diagonal Gaussian's heads encoder.mu and
 * encoder.logvar, a context head encoder.context (`context` outputs), then `steps` IAF steps
 * z′ = σ ⊙ z + (1 − σ) ⊙ m with [m, s] from a MADE on [z, h] and σ = sigmoid(s + 2). Step k's
 * MADE is posterior.flow.<k>.hidden.<l> (one per `hidden` width, then `activation`) and
 * posterior.flow.<k>.out (2Z outputs: m at rows 0…Z−1, s at rows Z…2Z−1), masked so that output i
 * reads only z_j earlier in the step's order (the order reverses every step) and all of h.
 * encode() also returns zK (n, Z): the flow's output for z0 = μ.
 *
 * @example `{ kind: 'iaf', steps: 4, hidden: [32], context: 8, activation: 'elu' }`
 */
export interface IafPosteriorConfig {
  /** The posterior's kind. */
  kind: 'iaf';
  /** K IAF steps, an integer in [1, 64] (required). */
  steps: number;
  /** Widths of each step's MADE hidden layers (default one layer of max(16, 2·latentSize)). */
  hidden: number[];
  /** Outputs of the encoder's context head h, fed to every step (default latentSize). */
  context: number;
  /** Activation after each MADE hidden layer (default 'elu', the paper's). */
  activation: Activation;
}

/** Most IAF steps. */
export const MAX_IAF_STEPS = 64;
/** Most MADE hidden layers per step. */
export const MAX_IAF_LAYERS = 8;
/** Added to s inside the gate: σ = sigmoid(s + IAF_GATE_BIAS). */
export const IAF_GATE_BIAS = 2;

/** The default MADE: one hidden layer of max(16, 2Z). */
export function defaultIafHidden(latentSize: number): number[] {
  return [Math.max(16, 2 * latentSize)];
}

/**
 * The 0/1 masks (row-major, out × in) of step `step`'s MADE layers: the first reads [z (Z), h (C)],
 * the last writes [m (Z), s (Z)]. Degrees: input z_j has j + 1 (even steps) or Z − j (odd steps:
 * the reversed order); hidden unit u has u mod Z, 0 meaning "context only"; h connects to every
 * first-layer unit. A unit reads units of degree <= its own; output i (m_i and s_i) reads hidden
 * units of degree < deg(z_i), so it depends on the z_j before it in the order and on h alone.
 */
export function iafMasks(
  Z: number,
  C: number,
  hidden: readonly number[],
  step: number,
): number[][] {
  const inputDegree = (j: number) => (step % 2 === 0 ? j + 1 : Z - j);
  const unitDegrees = (width: number) => Array.from({ length: width }, (_, u) => u % Z);
  const masks: number[][] = [];
  let prev = [
    ...Array.from({ length: Z }, (_, j) => inputDegree(j)),
    ...new Array<number>(C).fill(0),
  ];
  // Context columns: degree 0 and always connected (their entries are forced to 1 below).
  let first = true;
  for (const width of hidden) {
    const degrees = unitDegrees(width);
    const mask: number[] = [];
    for (const d of degrees) {
      prev.forEach((p, j) => mask.push((first && j >= Z) || d >= p ? 1 : 0));
    }
    masks.push(mask);
    prev = degrees;
    first = false;
  }
  const out: number[] = [];
  for (let r = 0; r < 2 * Z; r++) {
    const d = inputDegree(r % Z);
    prev.forEach((p) => out.push(d > p ? 1 : 0));
  }
  masks.push(out);
  return masks;
}

/** The MADE layers of step k (hidden then out). */
function madeLayers(k: number, Z: number, c: IafPosteriorConfig): LinearSpec[] {
  const at = `posterior.flow.${k}`;
  const layers: LinearSpec[] = [];
  let inSize = Z + c.context;
  c.hidden.forEach((width, l) => {
    layers.push({ name: `${at}.hidden.${l}`, inSize, outSize: width });
    inSize = width;
  });
  layers.push({ name: `${at}.out`, inSize, outSize: 2 * Z });
  return layers;
}

/** One step on z (N, Z) with the context (N, C): z′ and −log|det ∂z′/∂z| (N). */
function iafStep(
  ctx: BuildContext,
  name: string,
  k: number,
  c: IafPosteriorConfig,
  z: Tensor,
  context: Tensor,
): { z: Tensor; negLogdet: Tensor } {
  const g = ctx.g;
  const Z = z.cols;
  const layers = madeLayers(k, Z, c);
  const masks = iafMasks(Z, c.context, c.hidden, k);
  let a = concatCols(g, `${name}.in`, [z, context]);
  layers.forEach((spec, l) => {
    const last = l === layers.length - 1;
    a = maskedLinear(
      g,
      `${name}.${last ? 'out' : `hidden.${l}`}`,
      a,
      ctx.param(`${spec.name}.weight`),
      ctx.param(`${spec.name}.bias`),
      masks[l]!,
      last ? 'identity' : c.activation,
      ctx.training,
    );
  });
  // a = [m | s]: the gated update and its log-determinant in one fused op.
  return iafGate(g, name, z, a, IAF_GATE_BIAS);
}

function resolveHidden(path: string, raw: unknown, Z: number): number[] {
  if (raw === undefined) return defaultIafHidden(Z);
  if (!Array.isArray(raw) || raw.length < 1 || raw.length > MAX_IAF_LAYERS) {
    fail(
      `${path} must be an array of 1 to ${MAX_IAF_LAYERS} MADE layer widths, got ${JSON.stringify(raw)}`,
    );
  }
  return raw.map((w, i) => checkSize(`${path}[${i}]`, w, 1 << 14));
}

export const iafPosterior: PosteriorKind<IafPosteriorConfig> = {
  kind: 'iaf',
  fields: ['steps', 'hidden', 'context', 'activation'],
  resolve(raw, path, model) {
    if (raw.steps === undefined) fail(`${path}.steps is required for kind 'iaf' (an integer >= 1)`);
    const steps = checkSize(`${path}.steps`, raw.steps, MAX_IAF_STEPS);
    const hidden = resolveHidden(`${path}.hidden`, raw.hidden, model.latentSize);
    const context =
      raw.context === undefined
        ? model.latentSize
        : checkSize(`${path}.context`, raw.context, 1 << 14);
    const activation = checkActivation(`${path}.activation`, raw.activation, 'elu');
    return { kind: 'iaf', steps, hidden, context, activation };
  },
  heads(c, model, inSize): LinearSpec[] {
    const Z = model.latentSize;
    return [
      { name: 'encoder.mu', inSize, outSize: Z },
      { name: 'encoder.logvar', inSize, outSize: Z },
      { name: 'encoder.context', inSize, outSize: c.context },
    ];
  },
  params(c, model): ParameterSpec[] {
    return Array.from({ length: c.steps }, (_, k) =>
      madeLayers(k, model.latentSize, c).flatMap(linearParams),
    ).flat();
  },
  build(ctx, c, h, o): PosteriorGraph {
    const g = ctx.g;
    const [muSpec, logvarSpec, contextSpec] = this.heads(c, ctx.config, h.cols);
    if (!muSpec || !logvarSpec || !contextSpec) {
      throw new Error('iaf posterior: missing the mu/logvar/context heads');
    }
    const mu = linearLayer(ctx, muSpec, h, 'identity');
    const logvar = linearLayer(ctx, logvarSpec, h, 'identity');
    const context = linearLayer(ctx, contextSpec, h, 'identity');
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
    return flowPosteriorGraph(g, {
      mu,
      logvar,
      z0,
      samples: K,
      run: (prefix, start) => {
        // Every sample of an example reads its example's h.
        const hRows =
          K > 1 && start.rows !== B ? repeatRows(g, `${prefix}.context`, context, K) : context;
        let z = start;
        const negLogdets: Tensor[] = [];
        for (let k = 0; k < c.steps; k++) {
          const s = iafStep(ctx, `${prefix}.${k}`, k, c, z, hRows);
          z = s.z;
          negLogdets.push(s.negLogdet);
        }
        return {
          z,
          finishLogq: (base) =>
            sumTerms(g, 'logq', [
              { x: base, coefficient: 1 },
              ...negLogdets.map((x) => ({ x, coefficient: 1 })),
            ]),
        };
      },
    });
  },
};
