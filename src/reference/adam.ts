// Float64 reference of the Adam / AdamW step (src/kernels/adam.ts), as torch.optim.Adam and
// torch.optim.AdamW compute it, after torch.nn.utils.clip_grad_norm_:
//   g = clip(g);  L2 (Adam): g += wd p;  decoupled (AdamW): p *= 1 − lr wd
//   m = beta1 m + (1 − beta1) g;  v = beta2 v + (1 − beta2) g²
//   p = p − (lr / (1 − beta1^t)) m / (sqrt(v) / sqrt(1 − beta2^t) + eps)
// An optimizer step has no backward.
import { expectLength } from './shape.js';

export interface Adam64Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Default 0. */
  weightDecay?: number;
  /** true: AdamW's decoupled decay; false (default): Adam's L2 term in the gradient. */
  decoupled?: boolean;
  /** Clip the gradient to this global L2 norm first (off when undefined). */
  maxNorm?: number;
}

/** clip_grad_norm_'s factor min(1, maxNorm / (‖g‖ + 1e-6)) (1 without maxNorm). */
export function gradClipScale64(g: ArrayLike<number>, maxNorm?: number): number {
  if (maxNorm === undefined) return 1;
  let sq = 0;
  for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  return Math.min(1, maxNorm / (Math.sqrt(sq) + 1e-6));
}

/** One step, in place on p, m and v (all of g's length); t is the 1-based step number. */
export function adamStep64(
  p: Float64Array,
  m: Float64Array,
  v: Float64Array,
  g: ArrayLike<number>,
  t: number,
  hyper: Adam64Hyper,
): void {
  const n = g.length;
  for (const [name, a] of [
    ['p', p],
    ['m', m],
    ['v', v],
  ] as const) {
    expectLength('adamStep64', name, a, n, 'the gradient length');
  }
  if (!Number.isInteger(t) || t < 1) throw new Error(`adamStep64: t must be >= 1, got ${t}`);
  const { lr, beta1, beta2, eps } = hyper;
  const wd = hyper.weightDecay ?? 0;
  const clip = gradClipScale64(g, hyper.maxNorm);
  const stepSize = lr / (1 - beta1 ** t);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
  for (let i = 0; i < n; i++) {
    let gi = g[i]! * clip;
    if (hyper.decoupled) p[i] = p[i]! * (1 - lr * wd);
    else gi += wd * p[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * gi;
    v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
    p[i] = p[i]! - stepSize * (m[i]! / (Math.sqrt(v[i]!) / bc2Sqrt + eps));
  }
}
