// Reparameterized sampling (shaders/reparam.wgsl): z = mu + exp(0.5 logvar) * eps with K samples,
// the stored noise against the documented Philox stream (float64 reference with its own BigInt
// Philox), independent noise for different streams (statistical tests), the backward against finite
// differences of a float64 forward, ACCUMULATE, extreme logvars and argument checks.
import { describe, expect, it } from 'vitest';
import {
  LOGVAR_CLAMP,
  prepareRandomNormal,
  prepareReparamBackward,
  prepareReparamForward,
} from '../src/kernels/reparam.js';
import { reparamForward64, reparamNoise64 } from '../src/reference/reparam.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { correlation, ksNormalStatistic, moments } from './helpers/stats.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  accumulateMismatches,
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

const clampLv = (lv: number) => Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max);
const stdOf = (lv: number) => Math.exp(0.5 * clampLv(lv));

/** Float64 forward: z (B, K, Z) for given mu, logvar (B, Z) and eps (B, K, Z). */
const zReference = reparamForward64;

async function forward(
  rt: GpuRuntime,
  mu: Float32Array,
  logvar: Float32Array,
  B: number,
  Z: number,
  K: number,
  seed: number,
  step: number,
  stream?: number,
): Promise<{ z: Float32Array; eps: Float32Array }> {
  const n = B * K * Z;
  const z = output(rt, 'z', n + 1);
  const eps = output(rt, 'eps', n + 1);
  const d = await prepareReparamForward(rt, {
    z,
    eps,
    mu: upload(rt, 'mu', mu),
    logvar: upload(rt, 'logvar', logvar),
    batch: B,
    latent: Z,
    samples: K,
    seed,
    step,
    ...(stream !== undefined ? { stream } : {}),
  });
  await rt.submitChecked([d]);
  const zOut = await read(rt, z);
  const epsOut = await read(rt, eps);
  // Nothing past the end is written.
  expect(Number.isNaN(zOut[n]!) && Number.isNaN(epsOut[n]!)).toBe(true);
  return { z: zOut.slice(0, n), eps: epsOut.slice(0, n) };
}

async function backward(
  rt: GpuRuntime,
  dz: Float32Array,
  eps: Float32Array,
  logvar: Float32Array,
  B: number,
  Z: number,
  K: number,
  prefill?: { dmu: Float32Array; dlogvar: Float32Array },
): Promise<{ dmu: Float32Array; dlogvar: Float32Array }> {
  const dmu = prefill ? upload(rt, 'dmu', prefill.dmu) : output(rt, 'dmu', B * Z);
  const dlogvar = prefill ? upload(rt, 'dlogvar', prefill.dlogvar) : output(rt, 'dlogvar', B * Z);
  const d = await prepareReparamBackward(rt, {
    dmu,
    dlogvar,
    dz: upload(rt, 'dz', dz),
    eps: upload(rt, 'eps', eps),
    logvar: upload(rt, 'logvar', logvar),
    batch: B,
    latent: Z,
    samples: K,
    accumulate: prefill !== undefined,
  });
  await rt.submitChecked([d]);
  return {
    dmu: (await read(rt, dmu)).slice(0, B * Z),
    dlogvar: (await read(rt, dlogvar)).slice(0, B * Z),
  };
}

/** At most `count` indices of [0, n), always including the first and the last. */
function someIndices(n: number, count: number, rng: () => number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const set = new Set([0, n - 1]);
  while (set.size < count) set.add(Math.floor(rng() * n));
  return [...set];
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 3, 1],
  [1, 250, 1],
  [7, 250, 1],
  [3, 13, 5],
  [1, 1, 4],
];

describe.each(TEST_ADAPTERS)('reparameterization on %s', (adapter) => {
  it.each(SIZES)(
    'forward B=%i Z=%i K=%i: z = mu + exp(lv/2) eps with the documented noise',
    async (B, Z, K) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const mu = randomNormal(rng, B * Z, 2);
      const logvar = randomUniform(rng, B * Z, -4, 3);
      const step = Math.floor(rng() * 1000);
      // Stream 0 (the default) and a random one.
      const stream = (B * Z) % 2 ? Math.floor(rng() * 0xffffffff) : undefined;
      const { z, eps } = await forward(rt, mu, logvar, B, Z, K, seed, step, stream);
      const expectedEps = reparamNoise64(seed, step, B, Z, K, stream ?? 0);
      expect(
        mismatches(eps, expectedEps, { atol: 4e-6, rtol: 1e-6 }, `eps (seed ${seed})`),
      ).toBeNull();
      // z against float64 with the GPU's eps (exp is within a few ulp on every device).
      expect(
        mismatches(
          z,
          zReference(mu, logvar, eps, B, Z, K),
          { atol: 1e-6, rtol: 1e-5 },
          `z (seed ${seed})`,
        ),
      ).toBeNull();
    },
  );

  it('sample 0 of a K-sample draw equals the single-sample draw and random_normal', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, Z, K] = [5, 7, 3];
    const mu = new Float32Array(B * Z);
    const logvar = new Float32Array(B * Z);
    const one = await forward(rt, mu, logvar, B, Z, 1, seed, 9);
    const many = await forward(rt, mu, logvar, B, Z, K, seed, 9);
    for (let b = 0; b < B; b++) {
      expect(Array.from(many.eps.slice(b * K * Z, b * K * Z + Z))).toEqual(
        Array.from(one.eps.slice(b * Z, b * Z + Z)),
      );
      // Samples of one example differ.
      expect(many.eps[b * K * Z]).not.toBe(many.eps[(b * K + 1) * Z]);
    }
    // With mu = 0, logvar = 0, z is eps; random_normal with sample 1 gives eps[:, 1, :].
    expect(Array.from(one.z)).toEqual(Array.from(one.eps));
    const out = output(rt, 'normals', B * Z);
    const d = await prepareRandomNormal(rt, { out, n: B * Z, seed, step: 9, sample: 1 });
    await rt.submitChecked([d]);
    const normals = await read(rt, out);
    for (let b = 0; b < B; b++) {
      expect(Array.from(normals.slice(b * Z, b * Z + Z))).toEqual(
        Array.from(many.eps.slice((b * K + 1) * Z, (b * K + 1) * Z + Z)),
      );
    }
    // A new step gives new noise.
    const next = await forward(rt, mu, logvar, B, Z, 1, seed, 10);
    expect(next.eps.filter((v, i) => v === one.eps[i]).length).toBeLessThan(2);
  });

  it('two ops with the same seed and step but different streams draw independent N(0, 1) noise', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const step = freshSeed();
    const [B, Z, K] = [128, 48, 3];
    const n = B * K * Z;
    const mu = new Float32Array(B * Z);
    const logvar = new Float32Array(B * Z);
    const streams = [1 + (seed % 1000), 1001 + (step % 1000)];
    const [a, b] = [
      await forward(rt, mu, logvar, B, Z, K, seed, step, streams[0]),
      await forward(rt, mu, logvar, B, Z, K, seed, step, streams[1]),
    ];
    const where = `seed ${seed} step ${step} streams ${streams.join(', ')}`;
    // Equal streams draw equal noise.
    const again = await forward(rt, mu, logvar, B, Z, K, seed, step, streams[0]);
    expect(Array.from(again.eps), where).toEqual(Array.from(a.eps));
    // Each thresholds below has a false-failure rate of about 1e-6 for a correct generator (normal
    // approximations of the sample statistics, Kolmogorov's limit for the KS statistic).
    const bound = 4.9 / Math.sqrt(n);
    expect(Math.abs(correlation(a.eps, b.eps)), `correlation, ${where}`).toBeLessThan(bound);
    expect(a.eps.filter((v, i) => v === b.eps[i]).length, `equal values, ${where}`).toBeLessThan(4);
    for (const [name, x] of [
      ['first', a.eps],
      ['second', b.eps],
    ] as const) {
      const { mean, variance } = moments(x);
      expect(Math.abs(mean), `${name} mean, ${where}`).toBeLessThan(bound);
      expect(Math.abs(variance - 1), `${name} variance, ${where}`).toBeLessThan(
        4.9 * Math.sqrt(2 / n),
      );
      // KS: P(sqrt(n) D_n > 2.63) ~ 2 exp(-2 * 2.63^2) = 2e-6.
      const d = ksNormalStatistic(x);
      expect(Math.sqrt(n) * d, `${name} Kolmogorov-Smirnov, ${where}`).toBeLessThan(2.63);
    }
  });

  it.each(SIZES)(
    'backward B=%i Z=%i K=%i matches finite differences of the float64 forward',
    async (B, Z, K) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const mu = randomNormal(rng, B * Z);
      const logvar = randomUniform(rng, B * Z, -3, 3);
      const eps = randomNormal(rng, B * K * Z);
      const dz = randomNormal(rng, B * K * Z);
      const got = await backward(rt, dz, eps, logvar, B, Z, K);
      // L(mu, lv) = sum dz * z(mu, lv; eps).
      const loss = (m: ArrayLike<number>, lv: ArrayLike<number>) => {
        const z = zReference(m, lv, eps, B, Z, K);
        let s = 0;
        for (let i = 0; i < z.length; i++) s += dz[i]! * z[i]!;
        return s;
      };
      const mu64 = Float64Array.from(mu);
      const lv64 = Float64Array.from(logvar);
      const idx = someIndices(B * Z, 150, rng);
      const fdMu = finiteDifference((m) => loss(m, lv64), mu64, 1e-4, idx);
      const fdLv = finiteDifference((lv) => loss(mu64, lv), lv64, 1e-4, idx);
      const pick = (a: ArrayLike<number>) => idx.map((i) => a[i]!);
      expect(
        mismatches(pick(got.dmu), pick(fdMu), { atol: 1e-5, rtol: 1e-5 }, `dmu (seed ${seed})`),
      ).toBeNull();
      expect(
        mismatches(
          pick(got.dlogvar),
          pick(fdLv),
          { atol: 1e-5, rtol: 2e-5 },
          `dlogvar (seed ${seed})`,
        ),
      ).toBeNull();
    },
  );

  it('backward with ACCUMULATE adds to what is there', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z, K] = [7, 13, 2];
    const logvar = randomUniform(rng, B * Z, -2, 2);
    const eps = randomNormal(rng, B * K * Z);
    const dz = randomNormal(rng, B * K * Z);
    const prefill = { dmu: randomNormal(rng, B * Z), dlogvar: randomNormal(rng, B * Z) };
    const fresh = await backward(rt, dz, eps, logvar, B, Z, K);
    const acc = await backward(rt, dz, eps, logvar, B, Z, K, prefill);
    expect(accumulateMismatches(acc.dmu, fresh.dmu, prefill.dmu, 'dmu')).toBeNull();
    expect(accumulateMismatches(acc.dlogvar, fresh.dlogvar, prefill.dlogvar, 'dlogvar')).toBeNull();
  });

  it('stays finite for logvar = +-100 and clamps as documented', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, Z] = [2, 4];
    const mu = Float32Array.from([0, 1e3, -1e3, 0.5, 0, 1, -1, 3]);
    const logvar = Float32Array.from([100, -100, 1e4, -1e4, 20, -30, 88, -88]);
    const { z, eps } = await forward(rt, mu, logvar, B, Z, 1, seed, 1);
    expect(Array.from(z).every(Number.isFinite), `z ${z}`).toBe(true);
    expect(
      mismatches(z, zReference(mu, logvar, eps, B, Z, 1), { atol: 1e-6, rtol: 1e-5 }, 'z'),
    ).toBeNull();
    const dz = Float32Array.from({ length: B * Z }, (_, i) => (i % 2 ? -1 : 1));
    const g = await backward(rt, dz, eps, logvar, B, Z, 1);
    expect(
      Array.from(g.dmu).every(Number.isFinite) && Array.from(g.dlogvar).every(Number.isFinite),
    ).toBe(true);
    // Straight-through: 0.5 * dz * eps * exp(0.5 * clamp(lv)) even outside the clamp range.
    const expected = Array.from(logvar, (lv, i) => 0.5 * dz[i]! * eps[i]! * stdOf(lv));
    expect(mismatches(g.dlogvar, expected, { atol: 1e-6, rtol: 1e-5 }, 'dlogvar')).toBeNull();
  });

  it('rejects bad shapes and arguments with clear errors', async () => {
    const rt = await runtimeFor(adapter);
    const buf = output(rt, 'b', 12);
    const base = {
      z: buf,
      eps: output(rt, 'e', 12),
      mu: upload(rt, 'm', new Float32Array(12)),
      logvar: upload(rt, 'l', new Float32Array(12)),
    };
    await expect(
      prepareReparamForward(rt, { ...base, batch: 0, latent: 3, seed: 1 }),
    ).rejects.toThrow(/batch must be a positive integer/);
    await expect(
      prepareReparamForward(rt, { ...base, batch: 2, latent: 1.5, seed: 1 }),
    ).rejects.toThrow(/latent/);
    await expect(
      prepareReparamForward(rt, { ...base, batch: 2, latent: 3, seed: -1 }),
    ).rejects.toThrow(/seed/);
    await expect(
      prepareReparamForward(rt, { ...base, batch: 2, latent: 3, seed: 1, step: 2 ** 32 }),
    ).rejects.toThrow(/step/);
    await expect(
      prepareReparamForward(rt, { ...base, batch: 2, latent: 3, seed: 1, stream: -1 }),
    ).rejects.toThrow(/stream must be an integer/);
    // 2 x 3 x 3 samples do not fit 12 elements.
    await expect(
      prepareReparamForward(rt, { ...base, batch: 2, latent: 3, samples: 3, seed: 1 }),
    ).rejects.toThrow(/'z' holds 12 elements, the shape needs 18/);
  });
});
