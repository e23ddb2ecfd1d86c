// The fused IAF gated update (shaders/iaf_gate.wgsl): z′ = m + σ(s + bias)(z − m) and
// −log|det| = Σ softplus(−(s + bias)) per row, and its backward to z and to the MADE output
// a = [m | s], against float64 at awkward sizes with NaN-poisoned outputs; both upstream gradients,
// each alone, and accumulation; the float64 backward against finite differences. The posterior
// built on it is tested in test/iaf-posterior.test.ts (log|det| against the Jacobian, the twin's
// golden fixture in test/model-golden.test.ts).
import { describe, expect, it } from 'vitest';
import { prepareIafGateBackward, prepareIafGateForward } from '../src/kernels/iaf-gate.js';
import { iafGateBackward64, iafGateForward64 } from '../src/reference/iaf-gate.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  accumulateMismatches,
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';

/** Rows of [m | s] with s spread wide enough to reach both tails of the gate. */
function randomA(rng: () => number, N: number, Z: number): Float32Array {
  const a = randomNormal(rng, N * 2 * Z);
  for (let n = 0; n < N; n++) {
    for (let j = Z; j < 2 * Z; j++) a[n * 2 * Z + j] = 4 * a[n * 2 * Z + j]!;
  }
  return a;
}

const tol = { atol: 2e-5, rtol: 2e-5 };

describe('the float64 reference', () => {
  it('has the gradients of its forward (finite differences)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [N, Z, bias] = [3, 4, 1.5];
    const z = Float64Array.from(randomNormal(rng, N * Z));
    const a = Float64Array.from(randomA(rng, N, Z));
    const dzOut = randomNormal(rng, N * Z);
    const dneg = randomNormal(rng, N);
    const loss = (zz: ArrayLike<number>, aa: ArrayLike<number>) => {
      const f = iafGateForward64(zz, aa, N, Z, bias);
      let s = 0;
      f.z.forEach((v, i) => (s += v * dzOut[i]!));
      f.negLogdet.forEach((v, n) => (s += v * dneg[n]!));
      return s;
    };
    const g = iafGateBackward64(dzOut, dneg, z, a, N, Z, bias);
    const fdZ = finiteDifference((x) => loss(x, a), z);
    const fdA = finiteDifference((x) => loss(z, x), a);
    expect(mismatches(g.dz, fdZ, { atol: 1e-6, rtol: 1e-5 }, `dz (seed ${seed})`)).toBeNull();
    expect(mismatches(g.da, fdA, { atol: 1e-6, rtol: 1e-5 }, `da (seed ${seed})`)).toBeNull();
  });

  it('is −Σ log σ of the gate, and z′ = σ z + (1 − σ) m', () => {
    const [z, a] = [
      [0.5, -2],
      [1, 3, -1, 0.25],
    ];
    const f = iafGateForward64(z, a, 1, 2, 2);
    const sigma = [-1, 0.25].map((s) => 1 / (1 + Math.exp(-(s + 2))));
    expect(f.negLogdet[0]).toBeCloseTo(-Math.log(sigma[0]!) - Math.log(sigma[1]!), 12);
    expect(f.z[0]).toBeCloseTo(sigma[0]! * 0.5 + (1 - sigma[0]!) * 1, 12);
    expect(f.z[1]).toBeCloseTo(sigma[1]! * -2 + (1 - sigma[1]!) * 3, 12);
  });
});

describe.each(TEST_ADAPTERS)('iaf_gate on %s', (adapter) => {
  it('forward matches float64 at awkward sizes', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [N, Z, bias] of [
      [1, 1, 2],
      [7, 2, 0],
      [131, 5, 2],
      [3, 33, -1.25],
    ] as const) {
      const z = randomNormal(rng, N * Z);
      const a = randomA(rng, N, Z);
      const zOut = output(rt, 'z_out', N * Z + 1);
      const neg = output(rt, 'neg_logdet', N + 1);
      const zBuf = upload(rt, 'z', z);
      const aBuf = upload(rt, 'a', a);
      const d = await prepareIafGateForward(rt, {
        zOut,
        negLogdet: neg,
        z: zBuf,
        a: aBuf,
        rows: N,
        latent: Z,
        bias,
      });
      await rt.submitChecked([d]);
      const gotZ = await read(rt, zOut);
      const gotN = await read(rt, neg);
      expect(Number.isNaN(gotZ[N * Z]!) && Number.isNaN(gotN[N]!), 'wrote past the end').toBe(true);
      const want = iafGateForward64(z, a, N, Z, bias);
      const at = `N=${N} Z=${Z} bias ${bias} (seed ${seed})`;
      expect(mismatches(gotZ.subarray(0, N * Z), want.z, tol, `z′ ${at}`)).toBeNull();
      expect(mismatches(gotN.subarray(0, N), want.negLogdet, tol, `negLogdet ${at}`)).toBeNull();
      for (const r of [zOut, neg, zBuf, aBuf]) rt.buffers.destroy(r.buffer);
    }
  });

  it.each([
    ['both upstream gradients', true, true],
    ['dz′ alone', true, false],
    ['dnegLogdet alone', false, true],
  ] as const)(
    'backward with %s matches float64, assigning and accumulating',
    async (_, hasDz, hasDn) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const [N, Z, bias] = [37, 3, 2];
      const z = randomNormal(rng, N * Z);
      const a = randomA(rng, N, Z);
      const dzOut = hasDz ? randomNormal(rng, N * Z) : undefined;
      const dneg = hasDn ? randomNormal(rng, N) : undefined;
      const want = iafGateBackward64(dzOut, dneg, z, a, N, Z, bias);
      const run = async (prefill?: { dz: Float32Array; da: Float32Array }) => {
        const dz = prefill ? upload(rt, 'dz', prefill.dz) : output(rt, 'dz', N * Z + 1);
        const da = prefill ? upload(rt, 'da', prefill.da) : output(rt, 'da', N * 2 * Z + 1);
        const inputs = [upload(rt, 'z', z), upload(rt, 'a', a)] as const;
        const dzBuf = dzOut && upload(rt, 'dz_out', dzOut);
        const dnBuf = dneg && upload(rt, 'dneg', dneg);
        const d = await prepareIafGateBackward(rt, {
          dz,
          da,
          dzOut: dzBuf,
          dnegLogdet: dnBuf,
          z: inputs[0],
          a: inputs[1],
          rows: N,
          latent: Z,
          bias,
          accumulateZ: prefill !== undefined,
          accumulateA: prefill !== undefined,
        });
        await rt.submitChecked([d]);
        const got = { dz: await read(rt, dz), da: await read(rt, da) };
        for (const r of [dz, da, ...inputs, dzBuf, dnBuf]) if (r) rt.buffers.destroy(r.buffer);
        return got;
      };
      const fresh = await run();
      expect(
        Number.isNaN(fresh.dz[N * Z]!) && Number.isNaN(fresh.da[N * 2 * Z]!),
        'past the end',
      ).toBe(true);
      const at = `(seed ${seed})`;
      expect(mismatches(fresh.dz.subarray(0, N * Z), want.dz, tol, `dz ${at}`)).toBeNull();
      expect(mismatches(fresh.da.subarray(0, N * 2 * Z), want.da, tol, `da ${at}`)).toBeNull();
      const prefill = { dz: randomNormal(rng, N * Z), da: randomNormal(rng, N * 2 * Z) };
      const acc = await run(prefill);
      expect(
        accumulateMismatches(
          acc.dz.subarray(0, N * Z),
          fresh.dz.subarray(0, N * Z),
          prefill.dz,
          'dz',
        ),
      ).toBeNull();
      expect(
        accumulateMismatches(
          acc.da.subarray(0, N * 2 * Z),
          fresh.da.subarray(0, N * 2 * Z),
          prefill.da,
          'da',
        ),
      ).toBeNull();
    },
  );

  it('names a backward with no upstream gradient, a bad size and a bad bias', async () => {
    const rt = await runtimeFor(adapter);
    const b = output(rt, 'b', 8);
    const io = { z: b, a: b, rows: 2, latent: 1 };
    await expect(prepareIafGateBackward(rt, { dz: b, da: b, ...io, bias: 2 })).rejects.toThrow(
      /needs dzOut, dnegLogdet or both/,
    );
    await expect(
      prepareIafGateForward(rt, { zOut: b, negLogdet: b, ...io, rows: 0, bias: 2 }),
    ).rejects.toThrow(/iaf_gate_forward: rows/);
    await expect(
      prepareIafGateForward(rt, { zOut: b, negLogdet: b, ...io, bias: NaN }),
    ).rejects.toThrow(/iaf_gate_forward: bias/);
    rt.buffers.destroy(b.buffer);
  });
});
