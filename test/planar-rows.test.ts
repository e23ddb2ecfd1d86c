// The fused planar step (shaders/planar.wgsl): û's invertibility fix, z′ = z + û tanh(wᵀz + b) and
// log|1 + (1 − h²) wᵀû| per row, and its backward to z and to the row's raw [u | w | b], against float64 at awkward sizes
// with NaN-poisoned outputs; both upstream gradients, each alone, and accumulation; the float64
// backward against finite differences. The posterior built on it is tested in
// test/planar-posterior.test.ts (log|det| against the Jacobian, the twin's golden fixture).
import { describe, expect, it } from 'vitest';
import { preparePlanarRowsBackward, preparePlanarRowsForward } from '../src/kernels/planar.js';
import { planarRowsBackward64, planarRowsForward64 } from '../src/reference/planar.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  accumulateMismatches,
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';

/** Rows of raw [u | w | b] (the kernel applies û's fix), b wide enough for some tanh saturation. */
function randomParams(rng: () => number, N: number, Z: number): Float32Array {
  const p = randomNormal(rng, N * (2 * Z + 1));
  for (let n = 0; n < N; n++) {
    const b = n * (2 * Z + 1) + 2 * Z;
    p[b] = 2 * p[b]!;
  }
  return p;
}

const tol = { atol: 2e-5, rtol: 2e-5 };

describe('the float64 reference', () => {
  it('has the gradients of its forward (finite differences)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const N = 3;
    const Z = 4;
    const z = Float64Array.from(randomNormal(rng, N * Z));
    const params = Float64Array.from(randomParams(rng, N, Z));
    const dzOut = randomNormal(rng, N * Z);
    const dlogdet = randomNormal(rng, N);
    const loss = (zz: ArrayLike<number>, pp: ArrayLike<number>) => {
      const f = planarRowsForward64(zz, pp, N, Z);
      let s = 0;
      f.z.forEach((v, i) => (s += v * dzOut[i]!));
      f.logdet.forEach((v, n) => (s += v * dlogdet[n]!));
      return s;
    };
    const g = planarRowsBackward64(dzOut, dlogdet, z, params, N, Z);
    const fdZ = finiteDifference((x) => loss(x, params), z);
    const fdP = finiteDifference((x) => loss(z, x), params);
    expect(mismatches(g.dz, fdZ, { atol: 1e-6, rtol: 1e-5 }, `dz (seed ${seed})`)).toBeNull();
    expect(
      mismatches(g.dparams, fdP, { atol: 1e-6, rtol: 1e-5 }, `dparams (seed ${seed})`),
    ).toBeNull();
  });
});

describe.each(TEST_ADAPTERS)('planar_rows on %s', (adapter) => {
  it('forward matches float64 at awkward sizes', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [N, Z] of [
      [1, 1],
      [7, 2],
      [131, 5],
      [3, 33],
    ] as const) {
      const z = randomNormal(rng, N * Z);
      const params = randomParams(rng, N, Z);
      const zOut = output(rt, 'z_out', N * Z + 1);
      const logdet = output(rt, 'logdet', N + 1);
      const zBuf = upload(rt, 'z', z);
      const pBuf = upload(rt, 'params', params);
      const d = await preparePlanarRowsForward(rt, {
        zOut,
        logdet,
        z: zBuf,
        params: pBuf,
        rows: N,
        latent: Z,
      });
      await rt.submitChecked([d]);
      const gotZ = await read(rt, zOut);
      const gotL = await read(rt, logdet);
      expect(Number.isNaN(gotZ[N * Z]!) && Number.isNaN(gotL[N]!), 'wrote past the end').toBe(true);
      const want = planarRowsForward64(z, params, N, Z);
      const at = `N=${N} Z=${Z} (seed ${seed})`;
      expect(mismatches(gotZ.subarray(0, N * Z), want.z, tol, `z′ ${at}`)).toBeNull();
      expect(mismatches(gotL.subarray(0, N), want.logdet, tol, `logdet ${at}`)).toBeNull();
      for (const r of [zOut, logdet, zBuf, pBuf]) rt.buffers.destroy(r.buffer);
    }
  });

  it.each([
    ['both upstream gradients', true, true],
    ['dz′ alone', true, false],
    ['dlogdet alone', false, true],
  ] as const)(
    'backward with %s matches float64, assigning and accumulating',
    async (_, hasDz, hasDl) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const N = 37;
      const Z = 3;
      const z = randomNormal(rng, N * Z);
      const params = randomParams(rng, N, Z);
      const dzOut = hasDz ? randomNormal(rng, N * Z) : undefined;
      const dlogdet = hasDl ? randomNormal(rng, N) : undefined;
      const want = planarRowsBackward64(dzOut, dlogdet, z, params, N, Z);
      const P = N * (2 * Z + 1);
      const run = async (prefill?: { dz: Float32Array; dparams: Float32Array }) => {
        const dz = prefill ? upload(rt, 'dz', prefill.dz) : output(rt, 'dz', N * Z + 1);
        const dparams = prefill ? upload(rt, 'dp', prefill.dparams) : output(rt, 'dp', P + 1);
        const inputs = [upload(rt, 'z', z), upload(rt, 'params', params)] as const;
        const dzBuf = dzOut && upload(rt, 'dz_out', dzOut);
        const dlBuf = dlogdet && upload(rt, 'dlogdet', dlogdet);
        const d = await preparePlanarRowsBackward(rt, {
          dz,
          dparams,
          dzOut: dzBuf,
          dlogdet: dlBuf,
          z: inputs[0],
          params: inputs[1],
          rows: N,
          latent: Z,
          accumulateZ: prefill !== undefined,
          accumulateParams: prefill !== undefined,
        });
        await rt.submitChecked([d]);
        const got = { dz: await read(rt, dz), dparams: await read(rt, dparams) };
        for (const r of [dz, dparams, ...inputs, dzBuf, dlBuf]) if (r) rt.buffers.destroy(r.buffer);
        return got;
      };
      const fresh = await run();
      expect(
        Number.isNaN(fresh.dz[N * Z]!) && Number.isNaN(fresh.dparams[P]!),
        'past the end',
      ).toBe(true);
      // The logdet term's gradient carries 1/d, d = |1 + (1 − h²) wᵀû| (the Jacobian's
      // determinant), and f32 rounds d with an absolute error of a few ulps of 1: its relative
      // error, and so the gradient's, grows as 1/d for rows near singular. Each row's rtol is
      // scaled by max(1, 1/d) when the row has a dlogdet; every other bound is as before.
      const det = planarRowsForward64(z, params, N, Z).logdet.map((l) => Math.exp(l));
      const rowTol = (n: number) => ({
        atol: tol.atol,
        rtol: hasDl ? tol.rtol * Math.max(1, 1 / det[n]!) : tol.rtol,
      });
      for (let n = 0; n < N; n++) {
        const [zs, ps] = [n * Z, n * (2 * Z + 1)];
        const where = `row ${n}, |det| ${det[n]!.toPrecision(3)} (seed ${seed})`;
        expect(
          mismatches(
            fresh.dz.subarray(zs, zs + Z),
            want.dz.subarray(zs, zs + Z),
            rowTol(n),
            `dz ${where}`,
          ),
        ).toBeNull();
        expect(
          mismatches(
            fresh.dparams.subarray(ps, ps + 2 * Z + 1),
            want.dparams.subarray(ps, ps + 2 * Z + 1),
            rowTol(n),
            `dparams ${where}`,
          ),
        ).toBeNull();
      }
      const prefill = { dz: randomNormal(rng, N * Z), dparams: randomNormal(rng, P) };
      const acc = await run(prefill);
      // The accumulating pipeline recomputes the gradient (compiled apart, it may round
      // differently), so its rows near singular get the same 1/d allowance.
      for (let n = 0; n < N; n++) {
        const [zs, ps] = [n * Z, n * (2 * Z + 1)];
        const t = { atol: 1e-6, rtol: 1e-6 * (rowTol(n).rtol / tol.rtol) };
        const slice = (a: Float32Array, from: number, width: number) =>
          a.subarray(from, from + width);
        expect(
          accumulateMismatches(
            slice(acc.dz, zs, Z),
            slice(fresh.dz, zs, Z),
            slice(prefill.dz, zs, Z),
            `dz row ${n}`,
            t,
          ),
        ).toBeNull();
        expect(
          accumulateMismatches(
            slice(acc.dparams, ps, 2 * Z + 1),
            slice(fresh.dparams, ps, 2 * Z + 1),
            slice(prefill.dparams, ps, 2 * Z + 1),
            `dparams row ${n}`,
            t,
          ),
        ).toBeNull();
      }
    },
  );

  it('names a backward with no upstream gradient and a bad size', async () => {
    const rt = await runtimeFor(adapter);
    const b = output(rt, 'b', 8);
    await expect(
      preparePlanarRowsBackward(rt, { dz: b, dparams: b, z: b, params: b, rows: 2, latent: 1 }),
    ).rejects.toThrow(/needs dzOut, dlogdet or both/);
    await expect(
      preparePlanarRowsForward(rt, { zOut: b, logdet: b, z: b, params: b, rows: 0, latent: 1 }),
    ).rejects.toThrow(/planar_rows_forward: rows/);
    rt.buffers.destroy(b.buffer);
  });
});
