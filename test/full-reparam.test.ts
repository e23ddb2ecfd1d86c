// Full-covariance reparameterization (shaders/full_reparam.wgsl): z = mu + L·eps with
// L = mask ⊙ L′ + diag(exp(½ logvar)) over K samples. The forward (given and drawn noise) and
// every gradient against the float64 reference with poisoned outputs at awkward sizes (Z = 1 to
// 256, where the lower gradient takes a 2-D grid), the reference's backward against finite
// differences, ACCUMULATE, the samples' mean and covariance (statistical), and argument errors.
import { describe, expect, it } from 'vitest';
import {
  fullReparamBackward,
  lowerSize,
  prepareFullReparamBackward,
  prepareFullReparamForward,
  prepareScaleTril,
} from '../src/kernels/full-reparam.js';
import { MAX_WORKGROUPS_PER_DIMENSION } from '../src/gpu/kernel.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import {
  fullReparamBackward64,
  fullReparamForward64,
  scaleTril64,
} from '../src/reference/full-reparam.js';
import { reparamNoise64 } from '../src/reference/reparam.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  accumulateMismatches,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';
import { differenceVjp, outsideBounds, pick, someIndices } from './helpers/vjp.js';

interface Inputs {
  B: number;
  Z: number;
  K: number;
  mu: Float32Array;
  logvar: Float32Array;
  lower: Float32Array;
  eps: Float32Array;
}

function randomInputs(rng: () => number, B: number, Z: number, K: number): Inputs {
  return {
    B,
    Z,
    K,
    mu: randomNormal(rng, B * Z, 2),
    logvar: randomUniform(rng, B * Z, -3, 2),
    lower: randomNormal(rng, B * lowerSize(Z)),
    eps: randomNormal(rng, B * K * Z),
  };
}

/** A buffer holding `values`, at least one element (L′ is empty for Z = 1). */
const uploadSome = (rt: GpuRuntime, label: string, values: Float32Array) =>
  upload(rt, label, values.length ? values : new Float32Array(1));

/** z (and eps): eps given (c.eps) or drawn for (seed, step, stream); one NaN past each output. */
async function forward(
  rt: GpuRuntime,
  c: Inputs,
  draw?: { seed: number; step: number; stream: number },
): Promise<{ z: Float32Array; eps: Float32Array }> {
  const n = c.B * c.K * c.Z;
  const z = output(rt, 'z', n + 1);
  const eps = draw ? output(rt, 'eps', n + 1) : upload(rt, 'eps', c.eps);
  const p = await prepareFullReparamForward(rt, {
    z,
    eps,
    mu: upload(rt, 'mu', c.mu),
    logvar: upload(rt, 'logvar', c.logvar),
    lower: uploadSome(rt, 'lower', c.lower),
    batch: c.B,
    latent: c.Z,
    samples: c.K,
    ...(draw ? draw : { seed: 0, givenNoise: true }),
  });
  await rt.submitChecked([p]);
  const [zOut, epsOut] = [await read(rt, z), await read(rt, eps)];
  expect(Number.isNaN(zOut[n]!), 'nothing is written past z').toBe(true);
  if (draw) expect(Number.isNaN(epsOut[n]!), 'nothing is written past eps').toBe(true);
  p.destroy();
  return { z: zOut.subarray(0, n), eps: epsOut.subarray(0, n) };
}

type Grads = { dmu: Float32Array; dlogvar: Float32Array; dlower: Float32Array; deps: Float32Array };

/** Every gradient, poisoned first, or added to `prior` (ACCUMULATE). */
async function backward(rt: GpuRuntime, c: Inputs, dz: Float32Array, prior?: Grads) {
  const sizes = { dmu: c.B * c.Z, dlogvar: c.B * c.Z, dlower: c.lower.length, deps: c.eps.length };
  const out = Object.fromEntries(
    Object.entries(sizes).map(([k, n]) => [
      k,
      prior ? uploadSome(rt, k, prior[k as keyof Grads]) : output(rt, k, Math.max(1, n)),
    ]),
  ) as Record<keyof Grads, ReturnType<typeof output>>;
  const accumulate = prior !== undefined;
  const p = await prepareFullReparamBackward(rt, {
    dz: upload(rt, 'dz', dz),
    eps: upload(rt, 'eps', c.eps),
    logvar: upload(rt, 'logvar', c.logvar),
    lower: uploadSome(rt, 'lower', c.lower),
    batch: c.B,
    latent: c.Z,
    samples: c.K,
    dmu: out.dmu,
    accumulateMu: accumulate,
    dlogvar: out.dlogvar,
    accumulateLogvar: accumulate,
    dlower: out.dlower,
    accumulateLower: accumulate,
    deps: out.deps,
    accumulateEps: accumulate,
  });
  await rt.submitChecked([p]);
  p.destroy();
  const got = {} as Grads;
  for (const [k, n] of Object.entries(sizes)) {
    got[k as keyof Grads] = (await read(rt, out[k as keyof Grads])).subarray(0, n);
  }
  return got;
}

/** f32 bound of a sum of `terms` products whose absolute values sum to abs (plus exp's ulps). */
const f32Bound = (abs: ArrayLike<number>, terms: number) =>
  Float64Array.from(abs, (v) => (terms + 8) * 2 ** -23 * v + 1e-30);

const absOf = (a: Float32Array) => a.map(Math.abs);

const SIZES: [number, number, number][] = [
  [5, 1, 1],
  [5, 3, 3],
  [129, 3, 1],
  [5, 7, 1],
  [129, 7, 3],
  [5, 20, 3],
  [129, 20, 1],
  [129, 20, 3],
];

describe('the float64 reference', () => {
  it.each(SIZES)('B=%i Z=%i K=%i: the backward is the finite-difference VJP', (B, Z, K) => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const c = randomInputs(rng, B, Z, K);
    const dz = randomNormal(rng, B * K * Z);
    const g = fullReparamBackward64(dz, c.logvar, c.lower, c.eps, B, Z, K);
    const f = {
      mu: (v: Float64Array) => fullReparamForward64(v, c.logvar, c.lower, c.eps, B, Z, K),
      logvar: (v: Float64Array) => fullReparamForward64(c.mu, v, c.lower, c.eps, B, Z, K),
      lower: (v: Float64Array) => fullReparamForward64(c.mu, c.logvar, v, c.eps, B, Z, K),
      eps: (v: Float64Array) => fullReparamForward64(c.mu, c.logvar, c.lower, v, B, Z, K),
    };
    const cases = [
      ['mu', c.mu, g.dmu, f.mu],
      ['logvar', c.logvar, g.dlogvar, f.logvar],
      ['lower', c.lower, g.dlower, f.lower],
      ['eps', c.eps, g.deps, f.eps],
    ] as const;
    for (const [name, x, want, fn] of cases) {
      if (x.length === 0) continue;
      const idx = someIndices(x.length, 24);
      const fd = differenceVjp(fn, x, dz, 1e-5, idx);
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      const m = mismatches(
        pick(want, idx),
        pick(fd, idx),
        { atol: 1e-7 * scale, rtol: 1e-7 },
        name,
      );
      expect(m, `seed ${seed}`).toBeNull();
    }
  });

  it('L holds σ on its diagonal and L′ below it, row-major', () => {
    // Z = 3: L′ = [l10, l20, l21].
    const L = scaleTril64([Math.log(4), 0, Math.log(9)], [5, 6, 7], 1, 3);
    expect(Array.from(L)).toEqual([2, 0, 0, 5, 1, 0, 6, 7, 3].map((v) => expect.closeTo(v, 12)));
  });

  it('names a misshapen input', () => {
    expect(() => fullReparamForward64([0, 0], [0, 0], [], [0, 0], 1, 2)).toThrow(
      /fullReparamForward64: lower has 0 values, expected B\*Z\(Z-1\)\/2 = 1/,
    );
    expect(() => fullReparamBackward64([0], [0, 0], [1], [0, 0], 1, 2)).toThrow(
      /fullReparamBackward64: dz has 1 values, expected B\*K\*Z = 2/,
    );
  });
});

describe.each(TEST_ADAPTERS)('full-covariance reparameterization on %s', (adapter) => {
  it.each(SIZES)('B=%i Z=%i K=%i: z and every gradient against float64', async (B, Z, K) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const c = randomInputs(rng, B, Z, K);
    const { z } = await forward(rt, c);
    const want = fullReparamForward64(c.mu, c.logvar, c.lower, c.eps, B, Z, K);
    const abs = fullReparamForward64(absOf(c.mu), c.logvar, absOf(c.lower), absOf(c.eps), B, Z, K);
    expect(outsideBounds(z, want, f32Bound(abs, Z), `z (seed ${seed})`)).toBeNull();

    const dz = randomNormal(rng, B * K * Z);
    const got = await backward(rt, c, dz);
    const ref = fullReparamBackward64(dz, c.logvar, c.lower, c.eps, B, Z, K);
    const absRef = fullReparamBackward64(
      absOf(dz),
      c.logvar,
      absOf(c.lower),
      absOf(c.eps),
      B,
      Z,
      K,
    );
    for (const [name, terms] of [
      ['dmu', K],
      ['dlogvar', K],
      ['dlower', K],
      ['deps', Z],
    ] as const) {
      const bound = f32Bound(absRef[name], terms);
      expect(outsideBounds(got[name], ref[name], bound, `${name} (seed ${seed})`)).toBeNull();
    }
  });

  it('draws the noise of reparam_forward for the same seed, step and stream', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z, K] = [129, 7, 3];
    const c = randomInputs(rng, B, Z, K);
    const draw = { seed, step: Math.floor(rng() * 1000), stream: 1 + Math.floor(rng() * 100) };
    const { z, eps } = await forward(rt, c, draw);
    const want = reparamNoise64(draw.seed, draw.step, B, Z, K, draw.stream);
    expect(mismatches(eps, want, { atol: 4e-6, rtol: 1e-6 }, `eps (seed ${seed})`)).toBeNull();
    const zWant = fullReparamForward64(c.mu, c.logvar, c.lower, eps, B, Z, K);
    expect(mismatches(z, zWant, { atol: 2e-5, rtol: 2e-5 }, `z (seed ${seed})`)).toBeNull();
    // setStep changes the draw.
    const p = await prepareFullReparamForward(rt, {
      z: output(rt, 'z2', B * K * Z),
      eps: output(rt, 'eps2', B * K * Z),
      mu: upload(rt, 'mu', c.mu),
      logvar: upload(rt, 'logvar', c.logvar),
      lower: upload(rt, 'lower', c.lower),
      batch: B,
      latent: Z,
      samples: K,
      ...draw,
    });
    p.setStep(draw.step + 1);
    expect(() => p.setStep(-1)).toThrow(/full_reparam_forward: step must be an integer/);
    p.destroy();
  });

  it('Z = 256, B = 129: the lower gradient spans a 2-D grid of workgroups', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, Z, K] = [129, 256, 1];
    const [wx, wy] = fullReparamBackward.dispatch({ B, Z, K, W: lowerSize(Z) });
    expect(wy).toBeGreaterThan(1);
    expect(wx).toBeLessThanOrEqual(MAX_WORKGROUPS_PER_DIMENSION);
    const c = randomInputs(rng, B, Z, K);
    const { z } = await forward(rt, c);
    const want = fullReparamForward64(c.mu, c.logvar, c.lower, c.eps, B, Z, K);
    const abs = fullReparamForward64(absOf(c.mu), c.logvar, absOf(c.lower), absOf(c.eps), B, Z, K);
    expect(outsideBounds(z, want, f32Bound(abs, Z), `z (seed ${seed})`)).toBeNull();
    const dz = randomNormal(rng, B * K * Z);
    const got = await backward(rt, c, dz);
    const ref = fullReparamBackward64(dz, c.logvar, c.lower, c.eps, B, Z, K);
    // dlower is one product per entry (K = 1): exact up to one rounding.
    expect(mismatches(got.dlower, ref.dlower, { atol: 0, rtol: 2 ** -23 }, 'dlower')).toBeNull();
  });

  it.each([
    [5, 1],
    [129, 7],
    [3, 20],
  ])('B=%i Z=%i: full_scale_tril writes L, zeros above the diagonal', async (B, Z) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const c = randomInputs(makeRng(seed), B, Z, 1);
    const L = output(rt, 'L', B * Z * Z + 1);
    const p = await prepareScaleTril(rt, {
      L,
      logvar: upload(rt, 'logvar', c.logvar),
      lower: uploadSome(rt, 'lower', c.lower),
      batch: B,
      latent: Z,
    });
    await rt.submitChecked([p]);
    p.destroy();
    const got = await read(rt, L);
    expect(Number.isNaN(got[B * Z * Z]!), 'nothing is written past L').toBe(true);
    const want = scaleTril64(c.logvar, c.lower, B, Z);
    // L′ is copied; σ = exp(½ logvar) is within a few ulp.
    const m = mismatches(got.subarray(0, B * Z * Z), want, { atol: 0, rtol: 2e-6 }, 'L');
    expect(m, `seed ${seed}`).toBeNull();
  });

  it('ACCUMULATE adds every gradient to what is there', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const c = randomInputs(rng, 5, 7, 3);
    const dz = randomNormal(rng, c.eps.length);
    const prior: Grads = {
      dmu: randomNormal(rng, c.mu.length),
      dlogvar: randomNormal(rng, c.mu.length),
      dlower: randomNormal(rng, c.lower.length),
      deps: randomNormal(rng, c.eps.length),
    };
    const fresh = await backward(rt, c, dz);
    const acc = await backward(rt, c, dz, prior);
    for (const k of ['dmu', 'dlogvar', 'dlower', 'deps'] as const) {
      expect(accumulateMismatches(acc[k], fresh[k], prior[k], k), `seed ${seed}`).toBeNull();
    }
  });

  it('samples for fixed mu and L have mean mu and covariance L Lᵀ', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    // One posterior (Z = 4) repeated over B examples, K samples each: N = 16384 draws.
    const [B, Z, K] = [1024, 4, 16];
    const one = randomInputs(rng, 1, Z, 1);
    const c: Inputs = {
      B,
      Z,
      K,
      mu: new Float32Array(B * Z).map((_, i) => one.mu[i % Z]!),
      logvar: new Float32Array(B * Z).map((_, i) => one.logvar[i % Z]!),
      lower: new Float32Array(B * lowerSize(Z)).map((_, i) => one.lower[i % lowerSize(Z)]!),
      eps: new Float32Array(B * K * Z),
    };
    const { z } = await forward(rt, c, { seed, step: 3, stream: 2 });
    const L = scaleTril64(one.logvar, one.lower, 1, Z);
    const sigma = (i: number, j: number) => {
      let s = 0;
      for (let k = 0; k < Z; k++) s += L[i * Z + k]! * L[j * Z + k]!;
      return s;
    };
    const N = B * K;
    const mean = new Float64Array(Z);
    const cov = new Float64Array(Z * Z);
    for (let r = 0; r < N; r++) {
      for (let i = 0; i < Z; i++) {
        const di = z[r * Z + i]! - one.mu[i]!;
        mean[i] = mean[i]! + di / N;
        for (let j = 0; j <= i; j++)
          cov[i * Z + j] = cov[i * Z + j]! + (di * (z[r * Z + j]! - one.mu[j]!)) / N;
      }
    }
    // z-scores: the mean's i-th entry has variance Σ_ii / N; the second moment about the true mean
    // (i, j) has variance (Σ_ii Σ_jj + Σ_ij²) / N for Gaussian samples. |z| < 5 for each of the
    // 4 + 10 statistics: a false-failure rate below 14 · 5.7e-7 = 8e-6 per run.
    const where = `seed ${seed}`;
    for (let i = 0; i < Z; i++) {
      const zMean = (mean[i]! * Math.sqrt(N)) / Math.sqrt(sigma(i, i));
      expect(Math.abs(zMean), `mean[${i}] z-score, ${where}`).toBeLessThan(5);
      for (let j = 0; j <= i; j++) {
        const sd = Math.sqrt((sigma(i, i) * sigma(j, j) + sigma(i, j) ** 2) / N);
        const zCov = (cov[i * Z + j]! - sigma(i, j)) / sd;
        expect(Math.abs(zCov), `cov[${i}][${j}] z-score, ${where}`).toBeLessThan(5);
      }
    }
  });

  it('rejects bad shapes and arguments with clear errors', async () => {
    const rt = await runtimeFor(adapter);
    const buf = () => output(rt, 'b', 12);
    const base = { z: buf(), eps: buf(), mu: buf(), logvar: buf(), lower: buf(), seed: 1 };
    await expect(prepareFullReparamForward(rt, { ...base, batch: 0, latent: 3 })).rejects.toThrow(
      /full_reparam_forward: batch must be a positive integer/,
    );
    await expect(
      prepareFullReparamForward(rt, { ...base, batch: 2, latent: 3, stream: -1 }),
    ).rejects.toThrow(/full_reparam_forward: stream must be an integer/);
    // 2 x 3 x 3 samples do not fit 12 elements.
    await expect(
      prepareFullReparamForward(rt, { ...base, batch: 2, latent: 3, samples: 3 }),
    ).rejects.toThrow(/'fr_noise' holds 12 elements, the shape needs 18/);
    const grads = { dz: buf(), eps: buf(), logvar: buf(), lower: buf(), batch: 2, latent: 3 };
    await expect(prepareFullReparamBackward(rt, grads)).rejects.toThrow(
      /full_reparam_backward: give dmu, dlogvar, dlower and\/or deps/,
    );
    await expect(
      prepareFullReparamBackward(rt, { ...grads, latent: 6, dlower: buf() }),
    ).rejects.toThrow(/'fr_dparam' holds 12 elements, the shape needs 30/);
  });
});
