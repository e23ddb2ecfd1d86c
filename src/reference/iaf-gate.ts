// Float64 reference of the fused IAF gated update (src/kernels/iaf-gate.ts): per row, with
// s′ = s + bias and σ = sigmoid(s′), z′ = m + σ (z − m) and −log|det| = Σ softplus(−s′), and its
// vector-Jacobian product.
import { sigmoid64, softplus64 } from './math.js';
import { expectLength, expectSizes } from './shape.js';

function check(fn: string, z: ArrayLike<number>, a: ArrayLike<number>, N: number, Z: number) {
  expectSizes(fn, { N, Z });
  expectLength(fn, 'z', z, N * Z, 'N*Z');
  expectLength(fn, 'a', a, N * 2 * Z, 'N*2Z');
}

/** z′ (N, Z) and negLogdet (N) from z (N, Z) and a = [m | s] (N, 2Z). */
export function iafGateForward64(
  z: ArrayLike<number>,
  a: ArrayLike<number>,
  N: number,
  Z: number,
  bias: number,
): { z: Float64Array; negLogdet: Float64Array } {
  check('iafGateForward64', z, a, N, Z);
  const out = new Float64Array(N * Z);
  const negLogdet = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < Z; j++) {
      const m = a[n * 2 * Z + j]!;
      const s = a[n * 2 * Z + Z + j]! + bias;
      out[n * Z + j] = m + sigmoid64(s) * (z[n * Z + j]! - m);
      negLogdet[n]! += softplus64(-s);
    }
  }
  return { z: out, negLogdet };
}

/** dz (N, Z) and da (N, 2Z) for upstream dzOut (N, Z) and dnegLogdet (N), each optional. */
export function iafGateBackward64(
  dzOut: ArrayLike<number> | undefined,
  dnegLogdet: ArrayLike<number> | undefined,
  z: ArrayLike<number>,
  a: ArrayLike<number>,
  N: number,
  Z: number,
  bias: number,
): { dz: Float64Array; da: Float64Array } {
  check('iafGateBackward64', z, a, N, Z);
  if (dzOut) expectLength('iafGateBackward64', 'dzOut', dzOut, N * Z, 'N*Z');
  if (dnegLogdet) expectLength('iafGateBackward64', 'dnegLogdet', dnegLogdet, N, 'N');
  const dz = new Float64Array(N * Z);
  const da = new Float64Array(N * 2 * Z);
  for (let n = 0; n < N; n++) {
    const gNeg = dnegLogdet?.[n] ?? 0;
    for (let j = 0; j < Z; j++) {
      const i = n * Z + j;
      const m = a[n * 2 * Z + j]!;
      const s = a[n * 2 * Z + Z + j]! + bias;
      const sigma = sigmoid64(s);
      const oneMinus = sigmoid64(-s);
      const up = dzOut?.[i] ?? 0;
      dz[i] = sigma * up;
      da[n * 2 * Z + j] = oneMinus * up;
      // d softplus(−s′)/ds = −sigmoid(−s′).
      da[n * 2 * Z + Z + j] = sigma * oneMinus * (z[i]! - m) * up - oneMinus * gNeg;
    }
  }
  return { dz, da };
}
