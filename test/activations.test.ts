import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation-codes.js';
import { prepareActivationBackward, prepareActivationForward } from '../src/kernels/activations.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';

// ---- float64 references ----

/** erfc(z) in float64: series for |z| < 2.5, continued fraction beyond (|rel. error| < 1e-12). */
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 2.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 300; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

const normalCdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
const normalPdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function forward64(act: Activation, x: number, alpha: number): number {
  switch (act) {
    case 'identity':
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'leaky_relu':
      return x > 0 ? x : alpha * x;
    case 'elu':
      return x > 0 ? x : alpha * Math.expm1(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'softplus':
      return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    case 'gelu':
      return x * normalCdf(x);
  }
}

function derivative64(act: Activation, x: number, alpha: number): number {
  switch (act) {
    case 'identity':
      return 1;
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'leaky_relu':
      return x > 0 ? 1 : alpha;
    case 'elu':
      return x > 0 ? 1 : alpha * Math.exp(x);
    case 'tanh':
      return 1 - Math.tanh(x) ** 2;
    case 'sigmoid':
      return sigmoid(x) * (1 - sigmoid(x));
    case 'softplus':
      return sigmoid(x);
    case 'gelu':
      return normalCdf(x) + x * normalPdf(x);
  }
}

// Large and edge inputs: nothing may overflow to Inf/NaN.
const SPECIAL = [
  0, 1e-3, -1e-3, 0.5, -0.5, 10, -10, 20, -20, 44, -44, 88, -88, 89, -89, 100, -100, 1e4, -1e4,
  1e30, -1e30,
];

/** n values: the special ones first, then normals with std 3. */
function inputs(rng: () => number, n: number): Float32Array {
  const x = randomNormal(rng, n, 3);
  x.set(SPECIAL.slice(0, n));
  return x;
}

const ALPHA: Partial<Record<Activation, number>> = { leaky_relu: 0.05, elu: 0.7 };
// GELU's erf is an approximation with |error| < 1.5e-7, so its tolerance is a little wider.
const FWD_TOL = { atol: 1e-6, rtol: 2e-6 };
const BWD_TOL = { atol: 1e-6, rtol: 5e-6 };

describe.each(TEST_ADAPTERS)('activations on %s', (adapter) => {
  it.each(Object.keys(ACTIVATIONS) as Activation[])(
    '%s forward, backward, accumulate, finite differences',
    async (act) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const alpha = ALPHA[act];
      const a = alpha ?? (act === 'leaky_relu' ? 0.01 : act === 'elu' ? 1 : 0);

      for (const n of [1, 1237]) {
        const x = inputs(rng, n);
        const dy = randomNormal(rng, n);
        const xBuf = upload(rt, 'x', x);
        const dyBuf = upload(rt, 'dy', dy);
        const y = output(rt, 'y', n + 1);
        const dx = output(rt, 'dx', n + 1);
        const prior = randomNormal(rng, n);
        const dxAcc = upload(rt, 'dxAcc', prior);
        const fwd = await prepareActivationForward(rt, { x: xBuf, y, n, activation: act, alpha });
        const bwd = await prepareActivationBackward(rt, {
          dx,
          dy: dyBuf,
          x: xBuf,
          n,
          activation: act,
          alpha,
        });
        const acc = await prepareActivationBackward(rt, {
          dx: dxAcc,
          dy: dyBuf,
          x: xBuf,
          n,
          activation: act,
          alpha,
          accumulate: true,
        });
        await rt.submitChecked([fwd, bwd, acc]);
        const [gotY, gotDx, gotAcc] = [
          await read(rt, y),
          await read(rt, dx),
          await read(rt, dxAcc),
        ];

        const expY = Array.from(x, (v) => forward64(act, v, a));
        const expDx = Array.from(x, (v, i) => dy[i]! * derivative64(act, v, a));
        const ctx = `${act} n=${n} seed=${seed}`;
        expect(
          gotY.every((v, i) => i === n || Number.isFinite(v)),
          `${ctx}: non-finite y`,
        ).toBe(true);
        expect(mismatches(gotY, expY, FWD_TOL, `${ctx} y`)).toBeNull();
        expect(mismatches(gotDx, expDx, BWD_TOL, `${ctx} dx`)).toBeNull();
        // Accumulate: what was added (exact in float64) against dx; the error scales with dx, not prior + dx.
        const added = Array.from(gotAcc.slice(0, n), (v, i) => v - prior[i]!);
        expect(
          mismatches(
            added,
            expDx,
            { ...BWD_TOL, atol: 2 * BWD_TOL.atol },
            `${ctx} dx (accumulate)`,
          ),
        ).toBeNull();
        // Nothing past n is written.
        expect(Number.isNaN(gotY[n]!) && Number.isNaN(gotDx[n]!), `${ctx}: wrote past n`).toBe(
          true,
        );

        // Central finite differences of the float64 forward against the GPU backward, at moderate
        // inputs away from the kinks of relu/leaky_relu/elu.
        const idx = Array.from({ length: n }, (_, i) => i).filter(
          (i) => Math.abs(x[i]!) > 1e-2 && Math.abs(x[i]!) < 30,
        );
        const x64 = Float64Array.from(x);
        const f = (z: Float64Array) => {
          let s = 0;
          for (const i of idx) s += dy[i]! * forward64(act, z[i]!, a);
          return s;
        };
        const fd = finiteDifference(f, x64, 1e-6, idx);
        const gotFd = idx.map((i) => gotDx[i]!);
        const expFd = idx.map((i) => fd[i]!);
        expect(
          mismatches(gotFd, expFd, { atol: 2e-5, rtol: 1e-4 }, `${ctx} dx vs finite differences`),
        ).toBeNull();

        for (const d of [fwd, bwd, acc]) d.destroy();
        for (const b of [xBuf, dyBuf, y, dx, dxAcc]) rt.buffers.destroy(b.buffer);
      }
    },
  );

  it('names bad configurations', async () => {
    const rt = await runtimeFor(adapter);
    const x = upload(rt, 'x', new Float32Array(8));
    const y = output(rt, 'y', 4);
    await expect(prepareActivationForward(rt, { x, y, n: 0, activation: 'relu' })).rejects.toThrow(
      /n must be/,
    );
    await expect(
      prepareActivationForward(rt, { x, y, n: 8, activation: 'swish' as Activation }),
    ).rejects.toThrow(/unknown activation 'swish'/);
    await expect(prepareActivationForward(rt, { x, y, n: 8, activation: 'relu' })).rejects.toThrow(
      /'act_y' holds 4 elements, the shape needs 8/,
    );
    await expect(
      prepareActivationForward(rt, { x, y, n: 4, activation: 'elu', alpha: NaN }),
    ).rejects.toThrow(/alpha must be finite/);
  });
});
