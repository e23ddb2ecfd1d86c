// Float64 references of the KL kernels (src/kernels/kl.ts): the per-example KL of the diagonal
// Gaussian q = N(mu, diag(exp(logvar))) to N(0, I) and its vector-Jacobian product.
//   KL_b = 0.5 Σ_j (mu² + expm1(c) − c + (c − logvar)),  c = clamp(logvar, −30, 20)
// The logvar gradient is the kernels' straight-through one, 0.5 (exp(c) − 1): exact inside the clamp
// range, not zeroed outside (it keeps pulling logvar back), so finite differences agree only inside.
import { LOGVAR_CLAMP } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

const clampLogvar = (lv: number) => Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max);

function checkKl(
  fn: string,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  Z: number,
): void {
  expectSizes(fn, { B, Z });
  expectLength(fn, 'mu', mu, B * Z, 'B*Z');
  expectLength(fn, 'logvar', logvar, B * Z, 'B*Z');
}

/** kl (B): per-example KL(q ‖ N(0, I)); mu, logvar (B, Z). */
export function klForward64(
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  Z: number,
): Float64Array {
  checkKl('klForward64', mu, logvar, B, Z);
  const kl = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let j = 0; j < Z; j++) {
      const m = mu[b * Z + j]!;
      const lv = logvar[b * Z + j]!;
      const c = clampLogvar(lv);
      acc += 0.5 * (m * m + (Math.expm1(c) - c) + (c - lv));
    }
    kl[b] = acc;
  }
  return kl;
}

/** Gradients of Σ_b dkl[b] KL_b: dmu = dkl[b] mu, dlogvar = dkl[b] 0.5 expm1(clamp(logvar)). */
export function klBackward64(
  dkl: ArrayLike<number>,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  Z: number,
): { dmu: Float64Array; dlogvar: Float64Array } {
  checkKl('klBackward64', mu, logvar, B, Z);
  expectLength('klBackward64', 'dkl', dkl, B, 'B');
  const dmu = Float64Array.from(mu, (m, i) => dkl[Math.floor(i / Z)]! * m);
  const dlogvar = Float64Array.from(
    logvar,
    (lv, i) => dkl[Math.floor(i / Z)]! * 0.5 * Math.expm1(clampLogvar(lv)),
  );
  return { dmu, dlogvar };
}
