// Float64 reference of the fused planar step (src/kernels/planar.ts): per row of [u | w | b],
// û = u + β w with β = (softplus(−wᵀu) − 1)/‖w‖² (the invertibility fix), z′ = z + û tanh(wᵀz + b),
// logdet = log|1 + (1 − h²) wᵀû|, and its vector-Jacobian product.
import { softplus64 } from './math.js';
import { expectLength, expectSizes } from './shape.js';

/** One row's u, w, b, and û with the quantities its gradient needs. */
function rowParts(params: ArrayLike<number>, n: number, Z: number) {
  const o = n * (2 * Z + 1);
  const u = (j: number) => params[o + j]!;
  const w = (j: number) => params[o + Z + j]!;
  let wu = 0;
  let wsq = 0;
  for (let j = 0; j < Z; j++) {
    wu += w(j) * u(j);
    wsq += w(j) * w(j);
  }
  const beta = (softplus64(-wu) - 1) / wsq;
  // ∂β/∂(wᵀu) = −sigmoid(−wᵀu)/‖w‖².
  const betaA = -1 / ((1 + Math.exp(wu)) * wsq);
  return { u, w, uHat: (j: number) => u(j) + beta * w(j), b: params[o + 2 * Z]!, beta, betaA, wsq };
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
      c += p.w(j) * p.uHat(j);
    }
    const h = Math.tanh(a);
    for (let j = 0; j < Z; j++) out[n * Z + j] = z[n * Z + j]! + p.uHat(j) * h;
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
      c += p.w(j) * p.uHat(j);
      dzu += up(j) * p.uHat(j);
    }
    const h = Math.tanh(a);
    const s = 1 - h * h;
    const g = dlogdet ? dlogdet[n]! / (1 + s * c) : 0;
    const da = s * (dzu - 2 * h * c * g);
    const o = n * (2 * Z + 1);
    const gu = (j: number) => h * up(j) + g * s * p.w(j);
    let guw = 0;
    for (let j = 0; j < Z; j++) guw += gu(j) * p.w(j);
    for (let j = 0; j < Z; j++) {
      dz[n * Z + j] = up(j) + da * p.w(j);
      dparams[o + j] = gu(j) + guw * p.betaA * p.w(j);
      dparams[o + Z + j] =
        da * z[n * Z + j]! +
        g * s * p.uHat(j) +
        p.beta * gu(j) +
        guw * (p.betaA * p.u(j) - (2 * p.beta * p.w(j)) / p.wsq);
    }
    dparams[o + 2 * Z] = da;
  }
  return { dz, dparams };
}
