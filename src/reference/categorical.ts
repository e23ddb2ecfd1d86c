// Float64 reference of categorical_sample (src/kernels/categorical.ts): the same Philox uniform
// per draw and the inverse CDF of softmax(logits / T) in float64, with how close each draw's
// threshold u·S fell to a boundary of the cumulative sums (where float32 rounding on the GPU may
// pick the neighbour), and the exact probabilities for frequency tests.
import { PRNG_KEY_HI, philox4x32, prngU01 } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

/** softmax(logits / T) of one row (T = 0: all mass on the first maximum); NaN entries get 0. */
export function categoricalProbs64(logits: ArrayLike<number>, temperature: number): Float64Array {
  const K = logits.length;
  const p = new Float64Array(K);
  let best = -1;
  for (let k = 0; k < K; k++) {
    const v = logits[k]!;
    if (!Number.isNaN(v) && (best < 0 || v > logits[best]!)) best = k;
  }
  if (best < 0) {
    p[0] = 1;
    return p;
  }
  if (!(temperature > 0)) {
    p[best] = 1;
    return p;
  }
  const m = logits[best]!;
  let total = 0;
  for (let k = 0; k < K; k++) {
    const v = logits[k]!;
    p[k] = Number.isNaN(v) ? 0 : Math.exp((v - m) / temperature);
    total += p[k]!;
  }
  for (let k = 0; k < K; k++) p[k]! /= total;
  return p;
}

export interface CategoricalSample64Options {
  rows: number;
  classes: number;
  /** P draws per row (default 1); only column `position` is drawn. */
  positions?: number;
  position?: number;
  temperature: number;
  seed: number;
  step?: number;
  sample?: number;
  stream: number;
}

/**
 * The draws of categorical_sample: idx[r] for column `position` of each row, the uniform u[r], and
 * margin[r], the distance of u from the nearest boundary of the cumulative probabilities (Infinity
 * for T = 0): where it is tiny, float32 rounding may give the neighbouring index.
 */
export function categoricalSample64(
  logits: ArrayLike<number>,
  o: CategoricalSample64Options,
): { idx: Float64Array; u: Float64Array; margin: Float64Array } {
  const P = o.positions ?? 1;
  const p = o.position ?? 0;
  expectSizes('categoricalSample64', { rows: o.rows, classes: o.classes, positions: P });
  expectLength('categoricalSample64', 'logits', logits, o.rows * P * o.classes, 'rows*P*K');
  const idx = new Float64Array(o.rows);
  const u = new Float64Array(o.rows);
  const margin = new Float64Array(o.rows).fill(Infinity);
  for (let r = 0; r < o.rows; r++) {
    const e = r * P + p;
    const row = Array.from({ length: o.classes }, (_, k) => logits[e * o.classes + k]!);
    const probs = categoricalProbs64(row, o.temperature);
    const words = philox4x32(
      [Math.floor(e / 4), o.sample ?? 0, o.step ?? 0, o.stream],
      [o.seed, PRNG_KEY_HI],
    );
    u[r] = prngU01(words[e % 4]!);
    if (!(o.temperature > 0)) {
      idx[r] = probs.indexOf(1);
      continue;
    }
    let cum = 0;
    let pick = -1;
    let last = 0;
    for (let k = 0; k < o.classes; k++) {
      cum += probs[k]!;
      if (probs[k]! > 0) last = k;
      if (probs[k]! > 0) margin[r] = Math.min(margin[r]!, Math.abs(cum - u[r]!));
      if (pick < 0 && probs[k]! > 0 && cum >= u[r]!) pick = k;
    }
    idx[r] = pick < 0 ? last : pick;
  }
  return { idx, u, margin };
}
