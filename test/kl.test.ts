// KL(q || N(0, I)) (shaders/kl.wgsl) as a loss tensor: the per-example KL (prepareKlRows) against
// float64 in both row-sum variants ('workgroup' tree and barrier-free 'blocks'), the backward with a
// per-row upstream gradient (prepareKlBackwardRows) against float64 and finite differences,
// ACCUMULATE, extreme inputs and argument checks. Beta, 1/B and the capacity objective are composed
// by the graph (test/model-layer.test.ts, test/graph-ops.test.ts).
import { describe, expect, it } from 'vitest';
import { prepareKlBackwardRows, prepareKlRows } from '../src/kernels/kl.js';
import { klBackward64, klForward64 } from '../src/reference/kl.js';
import { ROW_BLOCK, type RowSumVariant } from '../src/kernels/likelihood.js';
import { LOGVAR_CLAMP } from '../src/kernels/reparam.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import type { BufferRange } from '../src/gpu/buffers.js';
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

/** Per-example KL (prepareKlRows) of mu, logvar (B, Z); the output poisoned one past the end. */
async function forward(
  rt: GpuRuntime,
  mu: BufferRange,
  logvar: BufferRange,
  B: number,
  Z: number,
  variant?: RowSumVariant,
): Promise<Float32Array> {
  const kl = output(rt, 'kl', B + 1);
  const p = await prepareKlRows(rt, {
    kl,
    mu,
    logvar,
    batch: B,
    latent: Z,
    ...(variant ? { variant } : {}),
  });
  await rt.submitChecked([p]);
  const got = await read(rt, kl);
  expect(Number.isNaN(got[B]!), `B=${B} Z=${Z}: wrote past the end`).toBe(true);
  p.destroy();
  rt.buffers.destroy(kl.buffer);
  return got.slice(0, B);
}

/** kl_backward_rows: gradients of sum_b dkl[b] KL_b; outputs poisoned one past the end. */
async function backwardRows(
  rt: GpuRuntime,
  mu: BufferRange,
  logvar: BufferRange,
  dkl: Float32Array,
  B: number,
  Z: number,
  prefill?: { dmu: Float32Array; dlogvar: Float32Array },
): Promise<{ dmu: Float32Array; dlogvar: Float32Array }> {
  const n = B * Z;
  const dmu = prefill ? upload(rt, 'dmu', prefill.dmu) : output(rt, 'dmu', n + 1);
  const dlogvar = prefill ? upload(rt, 'dlogvar', prefill.dlogvar) : output(rt, 'dlogvar', n + 1);
  const dklBuf = upload(rt, 'dkl', dkl);
  const d = await prepareKlBackwardRows(rt, {
    dmu,
    dlogvar,
    mu,
    logvar,
    dkl: dklBuf,
    batch: B,
    latent: Z,
    accumulate: prefill !== undefined,
  });
  await rt.submitChecked([d]);
  const [gm, gl] = [await read(rt, dmu), await read(rt, dlogvar)];
  if (!prefill)
    expect(Number.isNaN(gm[n]!) && Number.isNaN(gl[n]!), 'wrote past the end').toBe(true);
  d.destroy();
  for (const r of [dmu, dlogvar, dklBuf]) rt.buffers.destroy(r.buffer);
  return { dmu: gm.slice(0, n), dlogvar: gl.slice(0, n) };
}

/** (B, Z) around the block size and the reduce passes: Z from 1 to 3000, B from 1 to 300. */
const VARIANT_SIZES: [number, number][] = [
  [1, 1],
  [300, 1],
  [128, 20],
  [5, ROW_BLOCK - 1],
  [3, ROW_BLOCK],
  [2, ROW_BLOCK + 1],
  [300, 97],
  [1, 3000],
  [4, 3000],
  [129, 1025],
  [13, 1],
  [7, 250],
];

describe.each(TEST_ADAPTERS)('Gaussian KL on %s', (adapter) => {
  it.each(['workgroup', 'blocks'] as RowSumVariant[])(
    'per-example KL (%s row sums) matches float64, Z 1..3000, B 1..300',
    async (variant) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [B, Z] of VARIANT_SIZES) {
        const muValues = randomNormal(rng, B * Z, 1.5);
        const lvValues = randomUniform(rng, B * Z, -4, 3);
        const mu = upload(rt, 'mu', muValues);
        const lv = upload(rt, 'lv', lvValues);
        const got = await forward(rt, mu, lv, B, Z, variant);
        expect(
          mismatches(
            got,
            klForward64(muValues, lvValues, B, Z),
            { atol: 1e-6, rtol: 1e-5 },
            `${variant} B=${B} Z=${Z} (seed ${seed})`,
          ),
        ).toBeNull();
        for (const r of [mu, lv]) rt.buffers.destroy(r.buffer);
      }
    },
  );

  it('backward with a per-row upstream gradient matches float64 and finite differences', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [B, Z] of [
      [1, 1],
      [7, 3],
      [7, 250],
      [300, 97],
      [13, 1],
    ] as const) {
      const mu = randomNormal(rng, B * Z);
      const lv = randomUniform(rng, B * Z, -3, 2);
      // Distinct weights per example, with a zero among them.
      const dkl = randomNormal(rng, B);
      if (B > 1) dkl[1] = 0;
      const got = await backwardRows(rt, upload(rt, 'mu', mu), upload(rt, 'lv', lv), dkl, B, Z);
      const want = klBackward64(dkl, mu, lv, B, Z);
      const where = `B=${B} Z=${Z} (seed ${seed})`;
      const tol = { atol: 1e-6, rtol: 1e-5 };
      expect(mismatches(got.dmu, want.dmu, tol, `dmu ${where}`)).toBeNull();
      expect(mismatches(got.dlogvar, want.dlogvar, tol, `dlogvar ${where}`)).toBeNull();
      const mu64 = Float64Array.from(mu);
      const lv64 = Float64Array.from(lv);
      const f = (m: ArrayLike<number>, v: ArrayLike<number>) =>
        klForward64(m, v, B, Z).reduce((s, k, b) => s + dkl[b]! * k, 0);
      const idx = Array.from({ length: Math.min(B * Z, 80) }, () => Math.floor(rng() * B * Z));
      const pick = (a: ArrayLike<number>) => idx.map((i) => a[i]!);
      const fdMu = finiteDifference((m) => f(m, lv64), mu64, 1e-5, idx);
      const fdLv = finiteDifference((v) => f(mu64, v), lv64, 1e-5, idx);
      expect(
        mismatches(pick(got.dmu), pick(fdMu), { atol: 1e-5, rtol: 1e-4 }, `FD dmu ${where}`),
      ).toBeNull();
      expect(
        mismatches(
          pick(got.dlogvar),
          pick(fdLv),
          { atol: 1e-5, rtol: 1e-4 },
          `FD dlogvar ${where}`,
        ),
      ).toBeNull();
    }
  });

  it('blocks variant frees its scratch on destroy()', async () => {
    const rt = await runtimeFor(adapter);
    const [B, Z] = [3, 100];
    const before = rt.buffers.stats.liveBuffers;
    const bufs = {
      kl: output(rt, 'kl', B),
      mu: upload(rt, 'mu', new Float32Array(B * Z)),
      logvar: upload(rt, 'lv', new Float32Array(B * Z)),
    };
    const f = await prepareKlRows(rt, { ...bufs, batch: B, latent: Z, variant: 'blocks' });
    await rt.submitChecked([f]);
    expect(Array.from(await read(rt, bufs.kl))).toEqual([0, 0, 0]);
    f.destroy();
    for (const r of Object.values(bufs)) rt.buffers.destroy(r.buffer);
    expect(rt.buffers.stats.liveBuffers).toBe(before);
  });

  it('is accurate when q is close to the prior (tiny KL, no cancellation)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z] = [7, 250];
    const mu = randomNormal(rng, B * Z, 1e-3);
    const lv = randomNormal(rng, B * Z, 1e-3);
    const got = await forward(rt, upload(rt, 'mu', mu), upload(rt, 'lv', lv), B, Z);
    expect(
      mismatches(got, klForward64(mu, lv, B, Z), { atol: 1e-12, rtol: 2e-5 }, `kl (seed ${seed})`),
    ).toBeNull();
    // And for |lv| around the series/exp switch at 0.5.
    const lv2 = randomUniform(rng, B * Z, -0.6, 0.6);
    const zeros = new Float32Array(B * Z);
    const got2 = await forward(rt, upload(rt, 'mu', zeros), upload(rt, 'lv2', lv2), B, Z);
    expect(
      mismatches(got2, klForward64(zeros, lv2, B, Z), { atol: 1e-9, rtol: 2e-5 }, 'kl'),
    ).toBeNull();
  });

  it('backward with ACCUMULATE adds to what is there', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z] = [7, 13];
    const mu = upload(rt, 'mu', randomNormal(rng, B * Z));
    const lv = upload(rt, 'lv', randomUniform(rng, B * Z, -2, 2));
    const dkl = randomNormal(rng, B);
    const prefill = { dmu: randomNormal(rng, B * Z), dlogvar: randomNormal(rng, B * Z) };
    const fresh = await backwardRows(rt, mu, lv, dkl, B, Z);
    const acc = await backwardRows(rt, mu, lv, dkl, B, Z, prefill);
    const where = `(seed ${seed})`;
    expect(accumulateMismatches(acc.dmu, fresh.dmu, prefill.dmu, `dmu ${where}`)).toBeNull();
    expect(
      accumulateMismatches(acc.dlogvar, fresh.dlogvar, prefill.dlogvar, `dlogvar ${where}`),
    ).toBeNull();
  });

  it('stays finite for logvar = +-100 and huge means, with the documented clamp', async () => {
    const rt = await runtimeFor(adapter);
    const [B, Z] = [2, 5];
    const mu = Float32Array.from([0, 1e3, -1e3, 0.5, 0, 1, -1, 3, 1e4, 0]);
    const lv = Float32Array.from([100, -100, 1e4, -1e4, 20, -30, 88, -88, 0, 1e-7]);
    const muBuf = upload(rt, 'mu', mu);
    const lvBuf = upload(rt, 'lv', lv);
    const kl = await forward(rt, muBuf, lvBuf, B, Z);
    expect([...kl].every(Number.isFinite)).toBe(true);
    expect(mismatches(kl, klForward64(mu, lv, B, Z), { atol: 1e-6, rtol: 1e-5 }, 'kl')).toBeNull();
    const g = await backwardRows(rt, muBuf, lvBuf, new Float32Array(B).fill(0.5), B, Z);
    expect([...g.dmu, ...g.dlogvar].every(Number.isFinite)).toBe(true);
    // Straight-through: 0.5 * (exp(clamp(lv)) - 1) also outside the range, so lv = 100 is pushed
    // down and lv = -100 up.
    const expected = Array.from(lv, (v) => 0.5 * 0.5 * Math.expm1(clampLv(v)));
    expect(mismatches(g.dlogvar, expected, { atol: 1e-7, rtol: 1e-5 }, 'dlogvar')).toBeNull();
    expect(g.dlogvar[0]!).toBeGreaterThan(0);
    expect(g.dlogvar[1]!).toBeLessThan(0);
  });

  it('rejects bad shapes and variants with clear errors', async () => {
    const rt = await runtimeFor(adapter);
    const base = {
      kl: output(rt, 'kl', 4),
      mu: upload(rt, 'mu', new Float32Array(12)),
      logvar: upload(rt, 'lv', new Float32Array(12)),
    };
    await expect(prepareKlRows(rt, { ...base, batch: 0, latent: 3 })).rejects.toThrow(
      /batch must be a positive integer/,
    );
    await expect(prepareKlRows(rt, { ...base, batch: 4, latent: 0 })).rejects.toThrow(
      /latent must be a positive integer/,
    );
    await expect(prepareKlRows(rt, { ...base, batch: 4, latent: 4 })).rejects.toThrow(
      /'mu' holds 12 elements, the shape needs 16/,
    );
    await expect(
      prepareKlRows(rt, { ...base, batch: 4, latent: 3, variant: 'tree' as RowSumVariant }),
    ).rejects.toThrow(/unknown row-sum variant 'tree'/);
    await expect(
      prepareKlBackwardRows(rt, {
        dmu: output(rt, 'a', 12),
        dlogvar: output(rt, 'b', 12),
        mu: base.mu,
        logvar: base.logvar,
        dkl: output(rt, 'dkl', 3),
        batch: 4,
        latent: 3,
      }),
    ).rejects.toThrow(/'dkl' holds 3 elements, the shape needs 4/);
  });
});
