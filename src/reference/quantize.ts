// Float64 references of the vector quantizer's own kernels (src/kernels/argmin.ts, vq-ema.ts): the
// row argmin and one EMA codebook update. The rest of the quantizer (distances, the one-hot lookup,
// the straight-through estimator, the losses) is composed from ops that have references already.
import { PRNG_KEY_HI } from '../kernels/reparam.js';
import { philox4x32BigInt } from './reparam.js';
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

/**
 * The dead-code restart after an EMA update (see shaders/vq_restart.wgsl): every code with
 * N_k < threshold gets e_k = m_k = z_r, N_k = 1, r = floor(w·rows / 2^32) for word 0 of the
 * (independent, BigInt) Philox of counter (k, 0, step, stream), key (seed, PRNG_KEY_HI). Returns
 * the new state and which rows each code took (−1: live, untouched).
 */
export function vqRestart64(
  state: { count: ArrayLike<number>; sum: ArrayLike<number>; codebook: ArrayLike<number> },
  z: ArrayLike<number>,
  rows: number,
  threshold: number,
  rng: { seed: number; step: number; stream: number },
): VqEma64 & { rows: Int32Array } {
  const codes = state.count.length;
  const dim = state.codebook.length / codes;
  expectSizes('vqRestart64', { codes, dim, rows });
  expectLength('vqRestart64', 'z', z, rows * dim, 'rows*dim');
  const count = Float64Array.from(state.count);
  const sum = Float64Array.from(state.sum);
  const codebook = Float64Array.from(state.codebook);
  const taken = new Int32Array(codes).fill(-1);
  for (let k = 0; k < codes; k++) {
    if (!(count[k]! < threshold)) continue;
    const [w] = philox4x32BigInt([k, 0, rng.step, rng.stream], [rng.seed, PRNG_KEY_HI]);
    const r = Math.floor((w! * rows) / 4294967296);
    taken[k] = r;
    for (let d = 0; d < dim; d++) {
      codebook[k * dim + d] = sum[k * dim + d] = z[r * dim + d]!;
    }
    count[k] = 1;
  }
  return { count, sum, codebook, rows: taken };
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
