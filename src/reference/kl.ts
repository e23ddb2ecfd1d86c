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

/** A diagonal Gaussian's mean and log-variance, each (B, Z). */
export interface Gaussian64 {
  mu: ArrayLike<number>;
  logvar: ArrayLike<number>;
}

function checkKlGaussians(fn: string, q: Gaussian64, p: Gaussian64, B: number, Z: number): void {
  checkKl(fn, q.mu, q.logvar, B, Z);
  expectLength(fn, 'p.mu', p.mu, B * Z, 'B*Z');
  expectLength(fn, 'p.logvar', p.logvar, B * Z, 'B*Z');
}

/**
 * kl (B): per-example KL(N(q.mu, exp(q.logvar)) ‖ N(p.mu, exp(p.logvar))), both logvars clamped as
 * the kernels clamp them (with the straight-through linear parts):
 *   0.5 Σ_j (expm1(d) − d + ((c_q − lv_q) − (c_p − lv_p)) + (mu_q − mu_p)² exp(−c_p)),  d = c_q − c_p
 */
export function klGaussiansForward64(
  q: Gaussian64,
  p: Gaussian64,
  B: number,
  Z: number,
): Float64Array {
  checkKlGaussians('klGaussiansForward64', q, p, B, Z);
  const kl = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let j = 0; j < Z; j++) {
      const e = b * Z + j;
      const lvq = q.logvar[e]!;
      const lvp = p.logvar[e]!;
      const cq = clampLogvar(lvq);
      const cp = clampLogvar(lvp);
      const delta = q.mu[e]! - p.mu[e]!;
      const d = cq - cp;
      acc += 0.5 * (Math.expm1(d) - d + (cq - lvq - (cp - lvp)) + delta * delta * Math.exp(-cp));
    }
    kl[b] = acc;
  }
  return kl;
}

/** Gradients of Σ_b dkl[b] KL(q_b ‖ p_b) w.r.t. both sides (straight through the clamps). */
export function klGaussiansBackward64(
  dkl: ArrayLike<number>,
  q: Gaussian64,
  p: Gaussian64,
  B: number,
  Z: number,
): {
  q: { dmu: Float64Array; dlogvar: Float64Array };
  p: { dmu: Float64Array; dlogvar: Float64Array };
} {
  checkKlGaussians('klGaussiansBackward64', q, p, B, Z);
  expectLength('klGaussiansBackward64', 'dkl', dkl, B, 'B');
  const n = B * Z;
  const out = {
    q: { dmu: new Float64Array(n), dlogvar: new Float64Array(n) },
    p: { dmu: new Float64Array(n), dlogvar: new Float64Array(n) },
  };
  for (let e = 0; e < n; e++) {
    const w = dkl[Math.floor(e / Z)]!;
    const cq = clampLogvar(q.logvar[e]!);
    const cp = clampLogvar(p.logvar[e]!);
    const delta = q.mu[e]! - p.mu[e]!;
    const invVarP = Math.exp(-cp);
    const em1 = Math.expm1(cq - cp);
    out.q.dmu[e] = w * delta * invVarP;
    out.q.dlogvar[e] = w * 0.5 * em1;
    out.p.dmu[e] = -w * delta * invVarP;
    out.p.dlogvar[e] = -w * 0.5 * (em1 + delta * delta * invVarP);
  }
  return out;
}
