// Per-row Gaussian log-densities (shaders/gaussian_logpdf.wgsl, src/kernels/gaussian-logpdf.ts):
// diagonal Gaussian with K samples per mean row and the standard normal, forward and every
// gradient against the float64 reference (src/reference/gaussian-logpdf.ts), the reference
// backward against finite differences; Z from 1 to 1025 (one block, block sums plus reduce
// passes), K up to 64, logvar far outside the clamp (straight-through), gradient subsets,
// accumulate, a 2-D grid and argument checks.
import { describe, expect, it } from 'vitest';
import {
  prepareGaussianLogPdfBackward,
  prepareGaussianLogPdfForward,
} from '../src/kernels/gaussian-logpdf.js';
import { LOGVAR_CLAMP } from '../src/kernels/reparam.js';
import {
  gaussianLogPdfBackward64,
  gaussianLogPdfForward64,
  standardNormalLogPdfBackward64,
  standardNormalLogPdfForward64,
} from '../src/reference/gaussian-logpdf.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';
import { differenceVjp, minus, outsideBounds, treeSumBound } from './helpers/vjp.js';

const EPS32 = 2 ** -24;
const LOG_2PI = Math.log(2 * Math.PI);
const clampLv = (lv: number) => Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max);

/**
 * f32 error bound of each logp[r]: the tree sum of the terms, a few roundings per term, and the
 * error of f32 exp(-c) itself, which grows with |c| (about |c| ulps: exp(30) is off by ~20 ulps).
 */
function logpBounds(
  z: ArrayLike<number>,
  mu: ArrayLike<number> | undefined,
  lv: ArrayLike<number> | undefined,
  rows: number,
  size: number,
  K: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const m = Math.floor(r / K);
    let abs = 0;
    let expErr = 0;
    for (let j = 0; j < size; j++) {
      const p = m * size + j;
      const d = z[r * size + j]! - (mu ? mu[p]! : 0);
      const c = lv ? clampLv(lv[p]!) : 0;
      const quad = d * d * Math.exp(-c);
      abs += 0.5 * (quad + (lv ? Math.abs(lv[p]!) : 0) + LOG_2PI);
      expErr += 0.5 * quad * 2 * Math.abs(c) * EPS32;
    }
    out[r] = treeSumBound(abs, size) + 8 * EPS32 * abs + expErr;
  }
  return out;
}

describe('Gaussian log-density references', () => {
  it('backward matches finite differences of the forward (logvar inside the clamp)', () => {
    const rng = makeRng(freshSeed());
    const [M, K, Z] = [2, 3, 4];
    const rows = M * K;
    const z = randomNormal(rng, rows * Z, 1.5);
    const mu = randomNormal(rng, M * Z);
    const lv = randomUniform(rng, M * Z, -3, 2);
    const dl = randomNormal(rng, rows);
    const g = gaussianLogPdfBackward64(dl, z, mu, lv, rows, Z, K);
    const tol = { atol: 1e-7, rtol: 1e-6 };
    const f = (zz: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>) =>
      gaussianLogPdfForward64(zz, m, v, rows, Z, K);
    expect(
      mismatches(
        g.dz,
        differenceVjp((x) => f(x, mu, lv), z, dl),
        tol,
        'dz',
      ),
    ).toBeNull();
    expect(
      mismatches(
        g.dmu,
        differenceVjp((x) => f(z, x, lv), mu, dl),
        tol,
        'dmu',
      ),
    ).toBeNull();
    expect(
      mismatches(
        g.dlogvar,
        differenceVjp((x) => f(z, mu, x), lv, dl),
        tol,
        'dlv',
      ),
    ).toBeNull();
    const s = standardNormalLogPdfBackward64(dl, z, rows, Z);
    const fd = differenceVjp((x) => standardNormalLogPdfForward64(x, rows, Z), z, dl);
    expect(mismatches(s, fd, tol, 'standard dz')).toBeNull();
    // The standard normal is the diagonal Gaussian with mu = 0, logvar = 0.
    const zeros = new Float64Array(M * Z);
    expect(
      mismatches(
        standardNormalLogPdfForward64(z, rows, Z),
        gaussianLogPdfForward64(z, zeros, zeros, rows, Z, K),
        { atol: 1e-12, rtol: 1e-12 },
        'standard = N(0, I)',
      ),
    ).toBeNull();
  });
});

describe.each(TEST_ADAPTERS)('Gaussian log-densities on %s', (adapter) => {
  // [means, samples, size, logvar range]
  const CASES: [number, number, number, number, number][] = [
    [1, 1, 1, -1, 1],
    [7, 1, 20, -4, 3],
    [5, 3, 33, -4, 3],
    [128, 1, 50, -2, 2],
    [2, 64, 20, -4, 3],
    [3, 5, 1025, -1, 1],
    // Far outside the clamp on both sides: finite, straight-through gradients.
    [4, 2, 9, -60, 40],
  ];

  it.each(CASES)(
    'diagonal Gaussian: %i means x %i samples, Z = %i, logvar in [%i, %i]',
    async (M, K, Z, lo, hi) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const ctx = `M=${M} K=${K} Z=${Z} lv [${lo}, ${hi}] seed=${seed}`;
      const rows = M * K;
      const z = randomNormal(rng, rows * Z, 1.5);
      const mu = randomNormal(rng, M * Z);
      const lv = randomUniform(rng, M * Z, lo, hi);
      const dl = randomNormal(rng, rows);
      const [zBuf, muBuf, lvBuf, dlBuf] = [
        upload(rt, 'z', z),
        upload(rt, 'mu', mu),
        upload(rt, 'lv', lv),
        upload(rt, 'dl', dl),
      ];
      const params = { z: zBuf, mu: muBuf, logvar: lvBuf, rows, size: Z, samples: K };
      const logp = output(rt, 'logp', rows + 1);
      const dz = output(rt, 'dz', rows * Z + 1);
      const dmu = output(rt, 'dmu', M * Z + 1);
      const dlv = output(rt, 'dlv', M * Z + 1);
      // A second backward accumulates dmu onto a prior value, alone.
      const prior = randomNormal(rng, M * Z);
      const dmuAcc = upload(rt, 'dmuAcc', prior);
      const work = [
        await prepareGaussianLogPdfForward(rt, { logp, ...params }),
        await prepareGaussianLogPdfBackward(rt, { dlogp: dlBuf, dz, dmu, dlogvar: dlv, ...params }),
        await prepareGaussianLogPdfBackward(rt, {
          dlogp: dlBuf,
          dmu: dmuAcc,
          accumulateMu: true,
          ...params,
        }),
      ];
      expect(work[2]!.dispatches).toHaveLength(1);
      await rt.submitChecked(work);
      const exp = gaussianLogPdfForward64(z, mu, lv, rows, Z, K);
      const got = await read(rt, logp);
      const bound = logpBounds(z, mu, lv, rows, Z, K);
      expect(outsideBounds(got, exp, bound, `${ctx} logp`)).toBeNull();
      expect(Number.isNaN(got[rows]!), `${ctx}: wrote past logp`).toBe(true);

      const g = gaussianLogPdfBackward64(dl, z, mu, lv, rows, Z, K);
      // Each gradient term has a few roundings plus the |c|-ulp error of f32 exp(-c).
      const ulps = lv.map((v) => 8 + 2 * Math.abs(clampLv(v)));
      const dzBound = g.dz.map(
        (v, i) => Math.abs(v) * ulps[Math.floor(i / Z / K) * Z + (i % Z)]! * EPS32 + 1e-30,
      );
      const gotDz = await read(rt, dz);
      expect(outsideBounds(gotDz, g.dz, dzBound, `${ctx} dz`)).toBeNull();
      expect(Number.isNaN(gotDz[rows * Z]!)).toBe(true);
      // dmu, dlogvar: sequential sums over K samples, each term a few roundings.
      const w = lv.map((v) => Math.exp(-clampLv(v)));
      const muBound = Float64Array.from(g.dmu, (_, p) => {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const r = Math.floor(p / Z) * K + k;
          s += Math.abs(dl[r]! * (z[r * Z + (p % Z)]! - mu[p]!) * w[p]!);
        }
        return (K + ulps[p]!) * EPS32 * s + 1e-30;
      });
      const lvBound = Float64Array.from(g.dlogvar, (_, p) => {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const r = Math.floor(p / Z) * K + k;
          const d = z[r * Z + (p % Z)]! - mu[p]!;
          s += Math.abs(dl[r]!) * (1 + d * d * w[p]!);
        }
        return (K + ulps[p]!) * EPS32 * s + 1e-30;
      });
      const gotDmu = await read(rt, dmu);
      expect(outsideBounds(gotDmu, g.dmu, muBound, `${ctx} dmu`)).toBeNull();
      expect(Number.isNaN(gotDmu[M * Z]!)).toBe(true);
      const gotDlv = await read(rt, dlv);
      expect(outsideBounds(gotDlv, g.dlogvar, lvBound, `${ctx} dlogvar`)).toBeNull();
      expect(Number.isNaN(gotDlv[M * Z]!)).toBe(true);
      const added = minus(await read(rt, dmuAcc), prior);
      expect(
        outsideBounds(
          added,
          g.dmu,
          muBound.map((b) => b + 1e-6),
          `${ctx} dmu +=`,
        ),
      ).toBeNull();
      for (const x of work) x.destroy();
    },
  );

  it.each([
    [1, 1],
    [9, 20],
    [3, 100],
  ])('standard normal: %i rows, Z = %i, forward and dz (+=)', async (rows, Z) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ctx = `standard rows=${rows} Z=${Z} seed=${seed}`;
    const z = randomNormal(rng, rows * Z, 2);
    const dl = randomNormal(rng, rows);
    const zBuf = upload(rt, 'z', z);
    const logp = output(rt, 'logp', rows + 1);
    const prior = randomNormal(rng, rows * Z);
    const dz = upload(rt, 'dz', prior);
    const work = [
      await prepareGaussianLogPdfForward(rt, { logp, z: zBuf, rows, size: Z }),
      await prepareGaussianLogPdfBackward(rt, {
        dlogp: upload(rt, 'dl', dl),
        z: zBuf,
        rows,
        size: Z,
        dz,
        accumulateZ: true,
      }),
    ];
    await rt.submitChecked(work);
    const got = await read(rt, logp);
    const bound = logpBounds(z, undefined, undefined, rows, Z, 1);
    expect(outsideBounds(got, standardNormalLogPdfForward64(z, rows, Z), bound, ctx)).toBeNull();
    expect(Number.isNaN(got[rows]!)).toBe(true);
    const exp = standardNormalLogPdfBackward64(dl, z, rows, Z);
    expect(
      mismatches(minus(await read(rt, dz), prior), exp, { atol: 1e-6, rtol: 1e-6 }, `${ctx} dz +=`),
    ).toBeNull();
    for (const x of work) x.destroy();
  });

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, Z] = [420_001, 10];
    const z = randomNormal(rng, rows * Z);
    const dl = randomNormal(rng, rows);
    const dz = output(rt, 'dz', rows * Z);
    const p = await prepareGaussianLogPdfBackward(rt, {
      dlogp: upload(rt, 'dl', dl),
      z: upload(rt, 'z', z),
      rows,
      size: Z,
      dz,
    });
    expect(p.dispatches[0]!.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([p]);
    const exp = standardNormalLogPdfBackward64(dl, z, rows, Z);
    expect(
      mismatches(await read(rt, dz), exp, { atol: 0, rtol: 2 * EPS32 }, `seed=${seed}`),
    ).toBeNull();
    p.destroy();
  });

  it('names bad shapes and options', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const o = output(rt, 'o', 12);
    await expect(
      prepareGaussianLogPdfForward(rt, { logp: o, z: a, rows: 3, size: 4, samples: 2 }),
    ).rejects.toThrow(/rows 3 is not a multiple of samples 2/);
    await expect(
      prepareGaussianLogPdfForward(rt, { logp: o, z: a, mu: a, rows: 3, size: 4 }),
    ).rejects.toThrow(/both mu and logvar, or neither/);
    await expect(
      prepareGaussianLogPdfBackward(rt, { dlogp: a, z: a, rows: 3, size: 4 }),
    ).rejects.toThrow(/give dz, dmu and\/or dlogvar/);
    await expect(
      prepareGaussianLogPdfBackward(rt, { dlogp: a, z: a, rows: 3, size: 4, dmu: o }),
    ).rejects.toThrow(/standard normal has no mu or logvar/);
    await expect(
      prepareGaussianLogPdfForward(rt, { logp: o, z: a, mu: a, logvar: a, rows: 4, size: 4 }),
    ).rejects.toThrow(/'gl_z' holds 12 elements, the shape needs 16/);
  });
});
