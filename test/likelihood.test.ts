// Decoder likelihoods (shaders/likelihood.wgsl): per-example NLL against float64 for Bernoulli
// logits, fixed-sigma and learned-sigma Gaussians on awkward and MNIST-sized rows; backwards against
// finite differences of the float64 loss, with a per-row upstream gradient dnll (distinct or
// uniform weights); ACCUMULATE; huge logits and log sigmas; argument checks.
// The forwards are checked in both row-sum variants ('workgroup' tree and barrier-free 'blocks').
import { describe, expect, it } from 'vitest';
import {
  LOGSIGMA_CLAMP,
  ROW_BLOCK,
  prepareLikelihoodBackwardRows,
  prepareLikelihoodForward,
  rowSumVariantFor,
  type Likelihood,
  type RowSumVariant,
} from '../src/kernels/likelihood.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { likelihoodBackward64, likelihoodForward64 } from '../src/reference/likelihood.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  finiteDifference,
  freshSeed,
  makeRng,
  accumulateMismatches,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

interface Case {
  /** Logits or means (B, D). */
  out: Float32Array;
  /** Log sigma (B, D), learned-sigma Gaussian only. */
  logSigma?: Float32Array;
  target: Float32Array;
}

/** Float64 per-example NLL (src/reference/likelihood.ts). */
function nllReference(
  lk: Likelihood,
  c: { out: ArrayLike<number>; logSigma?: ArrayLike<number>; target: ArrayLike<number> },
  B: number,
  D: number,
): Float64Array {
  return likelihoodForward64(c.out, c.target, c.logSigma, B, D, lk);
}

function makeCase(lk: Likelihood, rng: () => number, B: number, D: number): Case {
  const n = B * D;
  if (lk.kind === 'bernoulli') {
    // Half binary pixels, half grey levels.
    const target = Float32Array.from({ length: n }, (_, i) =>
      i % 2 ? (rng() < 0.5 ? 0 : 1) : rng(),
    );
    return { out: randomNormal(rng, n, 3), target };
  }
  const c: Case = { out: randomNormal(rng, n), target: randomNormal(rng, n) };
  if (lk.kind === 'gaussian-learned') c.logSigma = randomUniform(rng, n, -2, 1.5);
  return c;
}

async function forward(
  rt: GpuRuntime,
  lk: Likelihood,
  c: Case,
  B: number,
  D: number,
  variant?: RowSumVariant,
): Promise<Float32Array> {
  const nll = output(rt, 'nll', B + 1);
  const inputs = [
    upload(rt, 'out', c.out),
    upload(rt, 'target', c.target),
    ...(c.logSigma ? [upload(rt, 'log_sigma', c.logSigma)] : []),
  ];
  const d = await prepareLikelihoodForward(rt, {
    likelihood: lk,
    nll,
    output: inputs[0]!,
    target: inputs[1]!,
    ...(c.logSigma ? { logSigma: inputs[2]! } : {}),
    batch: B,
    size: D,
    ...(variant ? { variant } : {}),
  });
  await rt.submitChecked([d]);
  const got = await read(rt, nll);
  d.destroy();
  for (const r of [nll, ...inputs]) rt.buffers.destroy(r.buffer);
  expect(Number.isNaN(got[B]!), 'wrote past the end').toBe(true);
  return got.slice(0, B);
}

async function backward(
  rt: GpuRuntime,
  lk: Likelihood,
  c: Case,
  B: number,
  D: number,
  /** (B): the upstream gradient of each row's NLL. */
  dnllValues: Float32Array,
  prefill?: { dout: Float32Array; dlogSigma: Float32Array },
): Promise<{ dout: Float32Array; dlogSigma?: Float32Array }> {
  const n = B * D;
  const learned = lk.kind === 'gaussian-learned';
  // One extra poisoned element: nothing past the end may be written.
  const doutput = prefill ? upload(rt, 'dout', prefill.dout) : output(rt, 'dout', n + 1);
  const dlogSigma = learned
    ? prefill
      ? upload(rt, 'dls', prefill.dlogSigma)
      : output(rt, 'dls', n + 1)
    : undefined;
  const inputs = [
    upload(rt, 'out', c.out),
    upload(rt, 'target', c.target),
    ...(learned ? [upload(rt, 'log_sigma', c.logSigma!)] : []),
  ];
  const dnll = upload(rt, 'dnll', dnllValues);
  const d = await prepareLikelihoodBackwardRows(rt, {
    likelihood: lk,
    doutput,
    output: inputs[0]!,
    target: inputs[1]!,
    ...(learned ? { logSigma: inputs[2]!, dlogSigma: dlogSigma! } : {}),
    batch: B,
    size: D,
    dnll,
    accumulate: prefill !== undefined,
  });
  await rt.submitChecked([d]);
  const got = await read(rt, doutput);
  const result: { dout: Float32Array; dlogSigma?: Float32Array } = { dout: got.slice(0, n) };
  if (!prefill) expect(Number.isNaN(got[n]!), 'doutput written past the end').toBe(true);
  if (dlogSigma) {
    const ls = await read(rt, dlogSigma);
    result.dlogSigma = ls.slice(0, n);
    if (!prefill) expect(Number.isNaN(ls[n]!), 'dlogSigma written past the end').toBe(true);
  }
  d.destroy();
  for (const r of [doutput, ...(dlogSigma ? [dlogSigma] : []), ...inputs, dnll]) {
    rt.buffers.destroy(r.buffer);
  }
  return result;
}

function someIndices(n: number, count: number, rng: () => number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const set = new Set([0, n - 1]);
  while (set.size < count) set.add(Math.floor(rng() * n));
  return [...set];
}

const LIKELIHOODS: [string, Likelihood][] = [
  ['bernoulli', { kind: 'bernoulli' }],
  ['gaussian sigma=1', { kind: 'gaussian', sigma: 1 }],
  ['gaussian sigma=0.3', { kind: 'gaussian', sigma: 0.3 }],
  ['gaussian-learned', { kind: 'gaussian-learned' }],
];

const SIZES: [number, number][] = [
  [1, 13],
  [7, 13],
  [1, 784],
  [7, 784],
  [3, 1],
];

/** (B, D) around the block size and the reduce passes: D from 1 to 3000, B from 1 to 300. */
const VARIANT_SIZES: [number, number][] = [
  [1, 1],
  [300, 1],
  [5, ROW_BLOCK - 1],
  [3, ROW_BLOCK],
  [2, ROW_BLOCK + 1],
  [1, 3000],
  [4, 3000],
  [300, 97],
  [129, 1025],
  [128, 784],
];

const VARIANTS: RowSumVariant[] = ['workgroup', 'blocks'];

describe.each(TEST_ADAPTERS)('likelihoods on %s', (adapter) => {
  it.each(LIKELIHOODS)('%s forward matches float64 on awkward sizes', async (name, lk) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [B, D] of SIZES) {
      const c = makeCase(lk, rng, B, D);
      const got = await forward(rt, lk, c, B, D);
      expect(
        mismatches(
          got,
          nllReference(lk, c, B, D),
          { atol: 1e-5, rtol: 1e-5 },
          `${name} B=${B} D=${D} (seed ${seed})`,
        ),
      ).toBeNull();
    }
  });

  it.each(LIKELIHOODS)(
    '%s forward: both row-sum variants match float64, D 1..3000, B 1..300',
    async (name, lk) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [B, D] of VARIANT_SIZES) {
        const c = makeCase(lk, rng, B, D);
        const expected = nllReference(lk, c, B, D);
        for (const variant of VARIANTS) {
          const got = await forward(rt, lk, c, B, D, variant);
          expect(
            mismatches(
              got,
              expected,
              { atol: 1e-5, rtol: 1e-5 },
              `${name} ${variant} B=${B} D=${D} (seed ${seed})`,
            ),
          ).toBeNull();
        }
      }
    },
  );

  it('picks the barrier-free variant on CPU adapters and frees its scratch on destroy()', async () => {
    const rt = await runtimeFor(adapter);
    expect(rowSumVariantFor(rt)).toBe(
      rt.info.kind === 'gpu' || rt.info.kind === 'browser' ? 'workgroup' : 'blocks',
    );
    const [B, D] = [3, 3000];
    const c = makeCase({ kind: 'bernoulli' }, makeRng(1), B, D);
    const before = rt.buffers.stats.liveBuffers;
    const nll = output(rt, 'nll', B);
    const out = upload(rt, 'out', c.out);
    const target = upload(rt, 'target', c.target);
    const d = await prepareLikelihoodForward(rt, {
      likelihood: { kind: 'bernoulli' },
      nll,
      output: out,
      target,
      batch: B,
      size: D,
      variant: 'blocks',
    });
    // A plain GPUBuffer works as the output too.
    const d2 = await prepareLikelihoodForward(rt, {
      likelihood: { kind: 'bernoulli' },
      nll: nll.buffer,
      output: out,
      target,
      batch: B,
      size: D,
      variant: 'blocks',
    });
    await rt.submitChecked([d, d2]);
    expect(
      mismatches(
        await read(rt, nll),
        nllReference({ kind: 'bernoulli' }, c, B, D),
        { atol: 1e-5, rtol: 1e-5 },
        'nll',
      ),
    ).toBeNull();
    await expect(
      prepareLikelihoodForward(rt, {
        likelihood: { kind: 'bernoulli' },
        nll,
        output: out,
        target,
        batch: B,
        size: D,
        variant: 'tree' as RowSumVariant,
      }),
    ).rejects.toThrow(/unknown row-sum variant 'tree'/);
    d.destroy();
    d2.destroy();
    for (const r of [nll, out, target]) rt.buffers.destroy(r.buffer);
    expect(rt.buffers.stats.liveBuffers).toBe(before);
  });

  it('gaussian with sigma = 1 is half the squared error plus a constant', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, D] = [7, 784];
    const c = makeCase({ kind: 'gaussian', sigma: 1 }, rng, B, D);
    const got = await forward(rt, { kind: 'gaussian', sigma: 1 }, c, B, D);
    const expected = Array.from({ length: B }, (_, b) => {
      let se = 0;
      for (let d = 0; d < D; d++) se += (c.target[b * D + d]! - c.out[b * D + d]!) ** 2;
      return 0.5 * se + D * HALF_LOG_2PI;
    });
    expect(mismatches(got, expected, { atol: 1e-5, rtol: 1e-5 }, `seed ${seed}`)).toBeNull();
  });

  it.each(LIKELIHOODS)(
    '%s backward (uniform and per-row dnll) matches float64 and finite differences',
    async (name, lk) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [B, D] of [...SIZES, [300, 97] as [number, number]]) {
        const c = makeCase(lk, rng, B, D);
        // Distinct weights per row, with a zero and negative ones among them.
        const dnll = randomNormal(rng, B);
        if (B > 1) dnll[1] = 0;
        const uniform = new Float32Array(B).fill(1 / B);
        for (const w of [uniform, dnll]) {
          const got = await backward(rt, lk, c, B, D, w);
          const want = likelihoodBackward64(w, c.out, c.target, c.logSigma, B, D, lk);
          const kind = w === uniform ? 'dnll 1/B' : 'per-row dnll';
          const where = `${name} ${kind} B=${B} D=${D} (seed ${seed})`;
          const tol = { atol: 1e-6, rtol: 1e-5 };
          expect(mismatches(got.dout, want.doutput, tol, `doutput ${where}`)).toBeNull();
          if (want.dlogSigma) {
            expect(
              mismatches(got.dlogSigma!, want.dlogSigma, tol, `dlog_sigma ${where}`),
            ).toBeNull();
          }
          // Finite differences of sum_b w_b * nll_b, on a sample of elements.
          const out64 = Float64Array.from(c.out);
          const ls64 = c.logSigma ? Float64Array.from(c.logSigma) : undefined;
          const loss = (out: Float64Array, ls: Float64Array | undefined) =>
            likelihoodForward64(out, c.target, ls, B, D, lk).reduce((s, v, b) => s + w[b]! * v, 0);
          const idx = someIndices(B * D, 60, rng);
          const pick = (a: ArrayLike<number>) => idx.map((i) => a[i]!);
          const fdTol = { atol: 2e-6, rtol: 1e-5 };
          const fdOut = finiteDifference((o) => loss(o, ls64), out64, 1e-5, idx);
          expect(mismatches(pick(got.dout), pick(fdOut), fdTol, `FD doutput ${where}`)).toBeNull();
          if (ls64) {
            const fdLs = finiteDifference((ls) => loss(out64, ls), ls64, 1e-5, idx);
            expect(
              mismatches(pick(got.dlogSigma!), pick(fdLs), fdTol, `FD dlog_sigma ${where}`),
            ).toBeNull();
          }
        }
      }
    },
  );

  it.each(LIKELIHOODS)('%s backward with ACCUMULATE adds to what is there', async (name, lk) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [B, D] = [5, 33];
    const c = makeCase(lk, rng, B, D);
    const dnll = randomNormal(rng, B);
    const prefill = { dout: randomNormal(rng, B * D), dlogSigma: randomNormal(rng, B * D) };
    const fresh = await backward(rt, lk, c, B, D, dnll);
    const acc = await backward(rt, lk, c, B, D, dnll, prefill);
    const where = `${name} (seed ${seed})`;
    expect(accumulateMismatches(acc.dout, fresh.dout, prefill.dout, `doutput ${where}`)).toBeNull();
    if (fresh.dlogSigma) {
      expect(
        accumulateMismatches(
          acc.dlogSigma!,
          fresh.dlogSigma,
          prefill.dlogSigma,
          `dlog_sigma ${where}`,
        ),
      ).toBeNull();
    }
  });

  it('bernoulli is exact and finite for logits up to +-1e4', async () => {
    const rt = await runtimeFor(adapter);
    const logits = [1e4, 1e4, -1e4, -1e4, 1e4, -1e4, 88, -88, 100, -100, 30, -30, 0];
    const targets = [1, 0, 0, 1, 0.5, 0.25, 1, 0, 0, 1, 1, 0, 0.5];
    const D = logits.length;
    const c: Case = { out: Float32Array.from(logits), target: Float32Array.from(targets) };
    const lk: Likelihood = { kind: 'bernoulli' };
    // One example per value, so each NLL is seen on its own.
    const single = await forward(rt, lk, c, D, 1);
    expect(Array.from(single).every(Number.isFinite)).toBe(true);
    expect(
      mismatches(single, nllReference(lk, c, D, 1), { atol: 1e-6, rtol: 1e-6 }, 'nll'),
    ).toBeNull();
    expect(single[0]).toBe(0);
    expect(single[2]).toBe(0);
    expect(single[1]).toBe(1e4);
    const row = await forward(rt, lk, c, 1, D);
    expect(Number.isFinite(row[0]!)).toBe(true);
    const g = await backward(rt, lk, c, 1, D, Float32Array.of(1));
    const expected = logits.map((l, i) => 1 / (1 + Math.exp(-l)) - targets[i]!);
    expect(mismatches(g.dout, expected, { atol: 1e-7, rtol: 1e-6 }, 'dlogits')).toBeNull();
  });

  it('learned log sigma is clamped as documented and stays finite at +-100', async () => {
    const rt = await runtimeFor(adapter);
    const lk: Likelihood = { kind: 'gaussian-learned' };
    const logSigma = [100, -100, 1e4, -1e4, 6.5, -6.5, 5.9, -5.9, 0];
    const n = logSigma.length;
    const c: Case = {
      out: Float32Array.from({ length: n }, (_, i) => 0.1 * i),
      logSigma: Float32Array.from(logSigma),
      target: Float32Array.from({ length: n }, (_, i) => 1 - 0.05 * i),
    };
    const nll = await forward(rt, lk, c, n, 1);
    expect(Array.from(nll).every(Number.isFinite)).toBe(true);
    expect(
      mismatches(nll, nllReference(lk, c, n, 1), { atol: 1e-5, rtol: 1e-5 }, 'nll'),
    ).toBeNull();
    const g = await backward(rt, lk, c, n, 1, new Float32Array(n).fill(1));
    expect([...g.dout, ...g.dlogSigma!].every(Number.isFinite)).toBe(true);
    // Outside [min, max] the log-sigma gradient is zero (the clamped loss is flat there).
    logSigma.forEach((ls, i) => {
      const inside = ls >= LOGSIGMA_CLAMP.min && ls <= LOGSIGMA_CLAMP.max;
      if (!inside) expect(g.dlogSigma![i], `log sigma ${ls}`).toBe(0);
    });
    const expectedDmean = logSigma.map((ls, i) => {
      const cl = Math.min(Math.max(ls, LOGSIGMA_CLAMP.min), LOGSIGMA_CLAMP.max);
      return -(c.target[i]! - c.out[i]!) * Math.exp(-2 * cl);
    });
    expect(mismatches(g.dout, expectedDmean, { atol: 1e-6, rtol: 1e-5 }, 'dmean')).toBeNull();
  });

  it('rejects bad configurations with clear errors', async () => {
    const rt = await runtimeFor(adapter);
    const buf = () => upload(rt, 'x', new Float32Array(26));
    const base = { nll: output(rt, 'nll', 2), output: buf(), target: buf(), batch: 2, size: 13 };
    await expect(
      prepareLikelihoodForward(rt, { ...base, likelihood: { kind: 'gaussian', sigma: 0 } }),
    ).rejects.toThrow(/sigma must be > 0/);
    await expect(
      prepareLikelihoodForward(rt, { ...base, likelihood: { kind: 'gaussian-learned' } }),
    ).rejects.toThrow(/logSigma .* is required/);
    await expect(
      prepareLikelihoodForward(rt, { ...base, likelihood: { kind: 'bernoulli' }, logSigma: buf() }),
    ).rejects.toThrow(/only for the gaussian-learned/);
    await expect(
      prepareLikelihoodForward(rt, { ...base, likelihood: { kind: 'bernoulli' }, size: 14 }),
    ).rejects.toThrow(/'logits' holds 26 elements, the shape needs 28/);
    const dnll = upload(rt, 'dnll', new Float32Array(2));
    await expect(
      prepareLikelihoodBackwardRows(rt, {
        likelihood: { kind: 'bernoulli' },
        doutput: buf(),
        output: buf(),
        target: buf(),
        dnll,
        batch: 2,
        size: 0,
      }),
    ).rejects.toThrow(/size must be a positive integer/);
    await expect(
      prepareLikelihoodBackwardRows(rt, {
        likelihood: { kind: 'gaussian-learned' },
        doutput: buf(),
        output: buf(),
        target: buf(),
        logSigma: buf(),
        dnll,
        batch: 2,
        size: 13,
      }),
    ).rejects.toThrow(/dlogSigma/);
    await expect(
      prepareLikelihoodBackwardRows(rt, {
        likelihood: { kind: 'bernoulli' },
        doutput: buf(),
        output: buf(),
        target: buf(),
        dnll: upload(rt, 'dnll', new Float32Array(1)),
        batch: 2,
        size: 13,
      }),
    ).rejects.toThrow(/'dnll' holds 1 elements, the shape needs 2/);
  });
});
