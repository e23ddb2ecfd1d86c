// Float64 references of the vector quantizer's own kernels (src/kernels/argmin.ts, vq-ema.ts): the
// row argmin and one EMA codebook update. The rest of the quantizer (distances, the one-hot lookup,
// the straight-through estimator, the losses) is composed from ops that have references already.
import { expectLength, expectSizes } from './shape.js';

/** idx[r] = argmin_c x[r, c] (the lowest c among equal minima, NaN skipped), min[r] its value. */
export function argminRows64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): { idx: Float64Array; min: Float64Array } {
  expectSizes('argminRows64', { rows, cols });
  expectLength('argminRows64', 'x', x, rows * cols, 'rows*cols');
  const idx = new Float64Array(rows);
  const min = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = -1;
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      if (!Number.isNaN(v) && (best < 0 || v < x[r * cols + best]!)) best = c;
    }
    idx[r] = Math.max(best, 0);
    min[r] = best < 0 ? NaN : x[r * cols + best]!;
  }
  return { idx, min };
}

/** The EMA state and codebook after one update (see shaders/vq_ema.wgsl). */
export interface VqEma64 {
  /** N (K). */
  count: Float64Array;
  /** m (K, D). */
  sum: Float64Array;
  /** e (K, D). */
  codebook: Float64Array;
}

/**
 * One EMA update: N ← γN + (1 − γ)n, m ← γm + (1 − γ)s, e_k = m_k / N̂_k with
 * N̂_k = (N_k + ε) / (Σ N + K·ε) · Σ N.
 */
export function vqEma64(
  state: { count: ArrayLike<number>; sum: ArrayLike<number> },
  batch: { count: ArrayLike<number>; sum: ArrayLike<number> },
  codes: number,
  dim: number,
  decay: number,
  eps: number,
): VqEma64 {
  const fn = 'vqEma64';
  expectSizes(fn, { codes, dim });
  expectLength(fn, 'count', state.count, codes, 'codes');
  expectLength(fn, 'sum', state.sum, codes * dim, 'codes*dim');
  expectLength(fn, 'batch count', batch.count, codes, 'codes');
  expectLength(fn, 'batch sum', batch.sum, codes * dim, 'codes*dim');
  const count = Float64Array.from(state.count, (v, k) => decay * v + (1 - decay) * batch.count[k]!);
  const sum = Float64Array.from(state.sum, (v, i) => decay * v + (1 - decay) * batch.sum[i]!);
  const n = count.reduce((a, b) => a + b, 0);
  const codebook = new Float64Array(codes * dim);
  for (let k = 0; k < codes; k++) {
    const smoothed = ((count[k]! + eps) / (n + codes * eps)) * n;
    for (let d = 0; d < dim; d++) codebook[k * dim + d] = sum[k * dim + d]! / smoothed;
  }
  return { count, sum, codebook };
}

/** scale · perplexity and scale · fraction in use of code counts (see shaders/code_usage.wgsl). */
export function codeUsage64(
  counts: ArrayLike<number>,
  scale: number,
): { perplexity: number; used: number } {
  expectSizes('codeUsage64', { codes: counts.length });
  let total = 0;
  let used = 0;
  for (let k = 0; k < counts.length; k++) {
    total += counts[k]!;
    if (counts[k]! > 0) used++;
  }
  let entropy = 0;
  for (let k = 0; k < counts.length; k++) {
    const p = counts[k]! / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return { perplexity: scale * Math.exp(entropy), used: (scale * used) / counts.length };
}
