// An autoregressive prior over a VQ posterior's codes: a MADE (Germain et al. 2015) over the
// flattened code sequence of an example, P = latentSize/dim positions of K codes each. Input the
// one-hot codes (P·K), masked linear hidden layers, output logits (P·K); the masks give position p's
// logits only the codes at positions < p, so log p(c) = Σ_p log softmax(logits_p)[c_p] is one
// forward pass and sampling is P passes (ancestral). It is the VQ-VAE's second stage: the VAE's
// training never reads it (its weights are non-parameter tensors of the VAE, trained by the prior
// stage, prior-stage.ts) and its loss is the softmax cross-entropy per position.
import { maskedLinear } from '../../graph/ops/dense.js';
import { oneHot } from '../../graph/ops/select.js';
import { view } from '../../graph/ops/util.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import type { Activation } from '../../kernels/activation-codes.js';
import type { ResolvedVaeConfig } from '../config.js';
import { checkActivation, checkSize, fail } from '../fields.js';
import type { LinearSpec, ParameterSpec } from '../layers.js';
import type { PriorKind } from '../sections.js';

/**
 * A MADE prior over the code indices of a `vq` posterior (the VQ-VAE's learned prior): hidden
 * layers `prior.hidden.<l>` of the given widths (then `activation`) and the output layer
 * `prior.out` (P·K logits, P = latentSize/dim positions of K = codes), masked so that position p's
 * logits read only the codes before it. Trained after the VAE by the prior stage (`train-prior`,
 * {@link PriorTrainer}); `sample()` then draws codes from it position by position.
 *
 * @example `{ kind: 'made', hidden: [256, 256], activation: 'relu' }`
 */
export interface MadePriorConfig {
  /** The prior's kind. */
  kind: 'made';
  /** Widths of the masked hidden layers, 1 to 4 of them (default [128]). */
  hidden: number[];
  /** Activation after each hidden layer (default 'relu'). */
  activation: Activation;
}

/** Most MADE hidden layers. */
export const MAX_MADE_LAYERS = 4;
/** The default hidden layers. */
export const DEFAULT_MADE_HIDDEN = [128];

/** Positions P and codes K of the sequence a MADE prior models (its model's vq posterior). */
export interface CodeShape {
  positions: number;
  codes: number;
}

/** P and K of a model with a vq posterior; a named error for any other posterior. */
export function codeShape(config: ResolvedVaeConfig, path = 'prior'): CodeShape {
  const q = config.posterior;
  if (q.kind !== 'vq') {
    fail(
      `${path}.kind 'made' is a prior over the code indices of posterior.kind 'vq', not '${q.kind}'`,
    );
  }
  return { positions: config.latentSize / q.dim, codes: q.codes };
}

/** The MADE's layers: hidden then out (P·K logits). */
export function madeLayers(c: MadePriorConfig, s: CodeShape): LinearSpec[] {
  const PK = s.positions * s.codes;
  const layers: LinearSpec[] = [];
  let inSize = PK;
  c.hidden.forEach((width, l) => {
    layers.push({ name: `prior.hidden.${l}`, inSize, outSize: width });
    inSize = width;
  });
  layers.push({ name: 'prior.out', inSize, outSize: PK });
  return layers;
}

/**
 * The 0/1 masks (row-major, out × in) of the MADE's layers. Degrees: input (p, k) has p + 1;
 * hidden unit u has 1 + u mod max(1, P − 1); a hidden unit reads units of degree <= its own, and
 * output (p, k) reads hidden units of degree <= p (< its own, p + 1). So position p's logits depend
 * on the codes at positions < p only; position 0's are the bias alone (its marginal).
 */
export function madeMasks(s: CodeShape, hidden: readonly number[]): number[][] {
  const { positions: P, codes: K } = s;
  const masks: number[][] = [];
  let prev = Array.from({ length: P * K }, (_, i) => Math.floor(i / K) + 1);
  for (const width of hidden) {
    const degrees = Array.from({ length: width }, (_, u) => 1 + (u % Math.max(1, P - 1)));
    const mask: number[] = [];
    for (const d of degrees) for (const q of prev) mask.push(d >= q ? 1 : 0);
    masks.push(mask);
    prev = degrees;
  }
  const out: number[] = [];
  for (let i = 0; i < P * K; i++) {
    const d = Math.floor(i / K) + 1;
    for (const q of prev) out.push(d > q ? 1 : 0);
  }
  masks.push(out);
  return masks;
}

/**
 * The MADE's logits (R, P·K) for codes (R, P) (integer-valued floats): one-hot, then the masked
 * layers. `keepPre`: keep the pre-activations (a backward pass follows).
 */
export function madeLogits(
  g: Graph,
  param: (name: string) => Tensor,
  c: MadePriorConfig,
  s: CodeShape,
  codes: Tensor,
  keepPre: boolean,
): Tensor {
  const R = codes.rows;
  const flat = view(g, codes, [R * s.positions], 'prior.codes.flat');
  const hot = oneHot(g, 'prior.onehot', flat, s.codes);
  let a = view(g, hot, [R, s.positions * s.codes], 'prior.onehot.rows');
  const layers = madeLayers(c, s);
  const masks = madeMasks(s, c.hidden);
  layers.forEach((spec, l) => {
    const last = l === layers.length - 1;
    a = maskedLinear(
      g,
      spec.name,
      a,
      param(`${spec.name}.weight`),
      param(`${spec.name}.bias`),
      masks[l]!,
      last ? 'identity' : c.activation,
      keepPre,
    );
  });
  return a;
}

export const madePrior: PriorKind<MadePriorConfig> = {
  kind: 'made',
  fields: ['hidden', 'activation'],
  resolve(raw, path) {
    let hidden = DEFAULT_MADE_HIDDEN;
    if (raw.hidden !== undefined) {
      if (
        !Array.isArray(raw.hidden) ||
        raw.hidden.length < 1 ||
        raw.hidden.length > MAX_MADE_LAYERS
      ) {
        fail(
          `${path}.hidden must be an array of 1 to ${MAX_MADE_LAYERS} layer widths, got ${JSON.stringify(raw.hidden)}`,
        );
      }
      hidden = raw.hidden.map((w, i) => checkSize(`${path}.hidden[${i}]`, w, 1 << 14));
    }
    const activation = checkActivation(`${path}.activation`, raw.activation, 'relu');
    return { kind: 'made', hidden: [...hidden], activation };
  },
  check(c, config, path) {
    const s = codeShape(config, path);
    const PK = s.positions * s.codes;
    if (PK > 1 << 16) {
      fail(
        `${path}.kind 'made' takes at most 65536 one-hot inputs (positions × codes), ` +
          `got ${s.positions} × ${s.codes} = ${PK}`,
      );
    }
  },
  // Non-parameter tensors of the VAE: its optimizer never touches them; the prior stage trains them.
  params(c, config): ParameterSpec[] {
    return madeLayers(c, codeShape(config)).flatMap((l) => [
      { name: `${l.name}.weight`, shape: [l.outSize, l.inSize], fanIn: l.inSize, buffer: true },
      { name: `${l.name}.bias`, shape: [l.outSize], fanIn: l.inSize, buffer: true },
    ]);
  },
  build() {
    return {
      kind: 'made',
      logp: () => {
        throw new Error(
          "graph: the 'made' prior scores code indices in its own stage (train-prior), " +
            "not a latent z in the VAE's objective",
        );
      },
    };
  },
};
