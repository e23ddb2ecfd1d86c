// Float64 references of the full-covariance reparameterization (src/kernels/full-reparam.ts):
//   L = mask ⊙ L′ + diag(σ),  σ = exp(½ clamp(logvar, −30, 20)),
//   z[b, k] = mu[b] + L[b]·eps[b, k]   (K samples at rows b·K + k)
// with L′ the strictly lower entries packed row-major (row i holds L[i, 0..i−1] from i(i−1)/2).
// The noise, when drawn, is reparam's (reparamNoise64 in reparam.ts). The logvar gradient is the
// kernels' straight-through one (not zeroed outside the clamp range).
import { LOGVAR_CLAMP } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

const stdOf = (lv: number) =>
  Math.exp(0.5 * Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max));

/** Start of row i of the packed strictly lower entries. */
const rowStart = (i: number) => (i * (i - 1)) / 2;

function checkFull(
  fn: string,
  a: { mu?: ArrayLike<number>; logvar: ArrayLike<number>; lower: ArrayLike<number> },
  B: number,
  Z: number,
  K: number,
): void {
  expectSizes(fn, { B, Z, K });
  if (a.mu) expectLength(fn, 'mu', a.mu, B * Z, 'B*Z');
  expectLength(fn, 'logvar', a.logvar, B * Z, 'B*Z');
  expectLength(fn, 'lower', a.lower, B * rowStart(Z), 'B*Z(Z-1)/2');
}

/** L (B, Z, Z) row-major: the lower-triangular factor of each example's covariance. */
export function scaleTril64(
  logvar: ArrayLike<number>,
  lower: ArrayLike<number>,
  B: number,
  Z: number,
): Float64Array {
  checkFull('scaleTril64', { logvar, lower }, B, Z, 1);
  const L = new Float64Array(B * Z * Z);
  const P = rowStart(Z);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Z; i++) {
      for (let j = 0; j < i; j++) L[(b * Z + i) * Z + j] = lower[b * P + rowStart(i) + j]!;
      L[(b * Z + i) * Z + i] = stdOf(logvar[b * Z + i]!);
    }
  }
  return L;
}

/** z (B, K, Z) = mu + L·eps; mu, logvar (B, Z), lower (B, Z(Z−1)/2), eps (B, K, Z). */
export function fullReparamForward64(
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  lower: ArrayLike<number>,
  eps: ArrayLike<number>,
  B: number,
  Z: number,
  K = 1,
): Float64Array {
  checkFull('fullReparamForward64', { mu, logvar, lower }, B, Z, K);
  expectLength('fullReparamForward64', 'eps', eps, B * K * Z, 'B*K*Z');
  const L = scaleTril64(logvar, lower, B, Z);
  const z = new Float64Array(B * K * Z);
  for (let r = 0; r < B * K; r++) {
    const b = Math.floor(r / K);
    for (let i = 0; i < Z; i++) {
      let s = mu[b * Z + i]!;
      for (let j = 0; j <= i; j++) s += L[(b * Z + i) * Z + j]! * eps[r * Z + j]!;
      z[r * Z + i] = s;
    }
  }
  return z;
}

/**
 * Gradients of Σ dz·z: dmu = Σ_k dz, dlogvar = ½ σ Σ_k dz ⊙ eps (straight-through), dlower[i, j] =
 * Σ_k dz_i eps_j (j < i), deps = Lᵀ dz (for noise given as an input).
 */
export function fullReparamBackward64(
  dz: ArrayLike<number>,
  logvar: ArrayLike<number>,
  lower: ArrayLike<number>,
  eps: ArrayLike<number>,
  B: number,
  Z: number,
  K = 1,
): { dmu: Float64Array; dlogvar: Float64Array; dlower: Float64Array; deps: Float64Array } {
  const fn = 'fullReparamBackward64';
  checkFull(fn, { logvar, lower }, B, Z, K);
  expectLength(fn, 'eps', eps, B * K * Z, 'B*K*Z');
  expectLength(fn, 'dz', dz, B * K * Z, 'B*K*Z');
  const L = scaleTril64(logvar, lower, B, Z);
  const P = rowStart(Z);
  const dmu = new Float64Array(B * Z);
  const dlogvar = new Float64Array(B * Z);
  const dlower = new Float64Array(B * P);
  const deps = new Float64Array(B * K * Z);
  for (let r = 0; r < B * K; r++) {
    const b = Math.floor(r / K);
    for (let i = 0; i < Z; i++) {
      const g = dz[r * Z + i]!;
      dmu[b * Z + i] = dmu[b * Z + i]! + g;
      const sigma = L[(b * Z + i) * Z + i]!;
      dlogvar[b * Z + i] = dlogvar[b * Z + i]! + 0.5 * sigma * g * eps[r * Z + i]!;
      for (let j = 0; j < i; j++) {
        const p = b * P + rowStart(i) + j;
        dlower[p] = dlower[p]! + g * eps[r * Z + j]!;
      }
      for (let j = 0; j <= i; j++) {
        deps[r * Z + j] = deps[r * Z + j]! + L[(b * Z + i) * Z + j]! * g;
      }
    }
  }
  return { dmu, dlogvar, dlower, deps };
}
