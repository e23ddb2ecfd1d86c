import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation-codes.js';
import { prepareActivationBackward, prepareActivationForward } from '../src/kernels/activations.js';
import { activation64, activationDerivative64 } from '../src/reference/activations.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';

// ---- float64 references (src/reference/activations.ts, also used by the whole-model reference) ----

const forward64 = activation64;
const derivative64 = activationDerivative64;

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
