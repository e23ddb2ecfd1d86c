// Float64 reference of the fused planar step (src/kernels/planar.ts): per row,
// z′ = z + û tanh(wᵀz + b), logdet = log|1 + (1 − h²) wᵀû|, and its vector-Jacobian product.
import { expectLength, expectSizes } from './shape.js';

function rowParts(params: ArrayLike<number>, n: number, Z: number) {
  const o = n * (2 * Z + 1);
  return {
    u: (j: number) => params[o + j]!,
    w: (j: number) => params[o + Z + j]!,
    b: params[o + 2 * Z]!,
  };
}

function check(fn: string, z: ArrayLike<number>, params: ArrayLike<number>, N: number, Z: number) {
  expectSizes(fn, { N, Z });
  expectLength(fn, 'z', z, N * Z, 'N*Z');
  expectLength(fn, 'params', params, N * (2 * Z + 1), 'N*(2Z+1)');
}

/** z′ (N, Z) and logdet (N). */
export function planarRowsForward64(
  z: ArrayLike<number>,
  params: ArrayLike<number>,
  N: number,
  Z: number,
): { z: Float64Array; logdet: Float64Array } {
  check('planarRowsForward64', z, params, N, Z);
  const out = new Float64Array(N * Z);
  const logdet = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const p = rowParts(params, n, Z);
    let a = p.b;
    let c = 0;
    for (let j = 0; j < Z; j++) {
      a += p.w(j) * z[n * Z + j]!;
      c += p.w(j) * p.u(j);
    }
    const h = Math.tanh(a);
    for (let j = 0; j < Z; j++) out[n * Z + j] = z[n * Z + j]! + p.u(j) * h;
    logdet[n] = Math.log(Math.abs(1 + (1 - h * h) * c));
  }
  return { z: out, logdet };
}

/** dz (N, Z) and dparams (N, 2Z + 1) for upstream dzOut (N, Z) and dlogdet (N), each optional. */
export function planarRowsBackward64(
  dzOut: ArrayLike<number> | undefined,
  dlogdet: ArrayLike<number> | undefined,
  z: ArrayLike<number>,
  params: ArrayLike<number>,
  N: number,
  Z: number,
): { dz: Float64Array; dparams: Float64Array } {
  check('planarRowsBackward64', z, params, N, Z);
  const dz = new Float64Array(N * Z);
  const dparams = new Float64Array(N * (2 * Z + 1));
  for (let n = 0; n < N; n++) {
    const p = rowParts(params, n, Z);
    const up = (j: number) => (dzOut ? dzOut[n * Z + j]! : 0);
    let a = p.b;
    let c = 0;
    let dzu = 0;
    for (let j = 0; j < Z; j++) {
      a += p.w(j) * z[n * Z + j]!;
      c += p.w(j) * p.u(j);
      dzu += up(j) * p.u(j);
    }
    const h = Math.tanh(a);
    const s = 1 - h * h;
    const g = dlogdet ? dlogdet[n]! / (1 + s * c) : 0;
    const da = s * (dzu - 2 * h * c * g);
    const o = n * (2 * Z + 1);
    for (let j = 0; j < Z; j++) {
      dz[n * Z + j] = up(j) + da * p.w(j);
      dparams[o + j] = h * up(j) + g * s * p.w(j);
      dparams[o + Z + j] = da * z[n * Z + j]! + g * s * p.u(j);
    }
    dparams[o + 2 * Z] = da;
  }
  return { dz, dparams };
}
