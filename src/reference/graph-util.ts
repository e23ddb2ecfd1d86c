// Float64 references of the graph's utility kernels (src/kernels/graph-util.ts): repeat_rows (K
// copies of each row, the targets of K samples) and iwae_log_weight (log p(x, z) − log q(z|x) of
// each sample), with their vector-Jacobian products.
import { LOGVAR_CLAMP } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

/** The element of x (rows, cols) that element o of the repeated (rows·copies, cols) copies. */
function repeatSource(o: number, cols: number, copies: number): number {
  const row = Math.floor(o / cols);
  return Math.floor(row / copies) * cols + (o - row * cols);
}

/** out (rows·copies, cols): row r of x (rows, cols) repeated `copies` times, in order. */
export function repeatRowsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  copies: number,
): Float64Array {
  expectSizes('repeatRowsForward64', { rows, cols, copies });
  expectLength('repeatRowsForward64', 'x', x, rows * cols, 'rows*cols');
  return Float64Array.from(
    { length: rows * copies * cols },
    (_, o) => x[repeatSource(o, cols, copies)]!,
  );
}

/** dx (rows, cols) = Σ over the copies of dy (rows·copies, cols). */
export function repeatRowsBackward64(
  dy: ArrayLike<number>,
  _x: ArrayLike<number>,
  rows: number,
  cols: number,
  copies: number,
): Float64Array {
  expectSizes('repeatRowsBackward64', { rows, cols, copies });
  expectLength('repeatRowsBackward64', 'dy', dy, rows * copies * cols, 'rows*copies*cols');
  const dx = new Float64Array(rows * cols);
  for (let o = 0; o < dy.length; o++) {
    const i = repeatSource(o, cols, copies);
    dx[i] = dx[i]! + dy[o]!;
  }
  return dx;
}

const clampLogvar = (lv: number) => Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max);

function checkIwae(
  fn: string,
  nll: ArrayLike<number>,
  z: ArrayLike<number>,
  eps: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  K: number,
  Z: number,
): void {
  expectSizes(fn, { B, K, Z });
  expectLength(fn, 'nll', nll, B * K, 'B*K');
  expectLength(fn, 'z', z, B * K * Z, 'B*K*Z');
  expectLength(fn, 'eps', eps, B * K * Z, 'B*K*Z');
  expectLength(fn, 'logvar', logvar, B * Z, 'B*Z');
}

/**
 * log w (B, K) = −nll − ½ Σ_j z² + ½ Σ_j (clamp(lv) + eps²): log p(x|z) + log p(z) − log q(z|x)
 * (the log 2π terms cancel). nll (B, K), z and eps (B, K, Z), logvar (B, Z).
 */
export function iwaeLogWeightForward64(
  nll: ArrayLike<number>,
  z: ArrayLike<number>,
  eps: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  K: number,
  Z: number,
): Float64Array {
  checkIwae('iwaeLogWeightForward64', nll, z, eps, logvar, B, K, Z);
  const out = new Float64Array(B * K);
  for (let t = 0; t < B * K; t++) {
    const b = Math.floor(t / K);
    let total = 0;
    for (let j = 0; j < Z; j++) {
      const zz = z[t * Z + j]!;
      const e = eps[t * Z + j]!;
      total += clampLogvar(logvar[b * Z + j]!) + e * e - zz * zz;
    }
    out[t] = -nll[t]! + 0.5 * total;
  }
  return out;
}

/**
 * Gradients of Σ dlw·log w w.r.t. nll (−dlw), z (−dlw z), eps (dlw eps) and logvar (½ Σ_k dlw
 * inside the clamp range, 0 outside: the exact gradient of the clamped expression).
 */
export function iwaeLogWeightBackward64(
  dlw: ArrayLike<number>,
  nll: ArrayLike<number>,
  z: ArrayLike<number>,
  eps: ArrayLike<number>,
  logvar: ArrayLike<number>,
  B: number,
  K: number,
  Z: number,
): { dnll: Float64Array; dz: Float64Array; deps: Float64Array; dlogvar: Float64Array } {
  checkIwae('iwaeLogWeightBackward64', nll, z, eps, logvar, B, K, Z);
  expectLength('iwaeLogWeightBackward64', 'dlw', dlw, B * K, 'B*K');
  const dnll = Float64Array.from(dlw, (g) => -g);
  const dz = Float64Array.from(z, (v, i) => -dlw[Math.floor(i / Z)]! * v);
  const deps = Float64Array.from(eps, (v, i) => dlw[Math.floor(i / Z)]! * v);
  const dlogvar = new Float64Array(B * Z);
  for (let t = 0; t < B * K; t++) {
    const b = Math.floor(t / K);
    for (let j = 0; j < Z; j++) {
      const lv = logvar[b * Z + j]!;
      if (lv >= LOGVAR_CLAMP.min && lv <= LOGVAR_CLAMP.max) {
        dlogvar[b * Z + j] = dlogvar[b * Z + j]! + 0.5 * dlw[t]!;
      }
    }
  }
  return { dnll, dz, deps, dlogvar };
}
