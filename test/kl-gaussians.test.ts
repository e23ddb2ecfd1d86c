// KL(q ‖ p) between two diagonal Gaussians (shaders/kl.wgsl kl_gaussians_*), a learned prior's KL:
// the per-example KL against float64 in both row-sum variants at awkward sizes (Z past one block
// too), each side's backward against float64 with assign and accumulate, the float64 gradients
// against finite differences, q = p exactly (KL 0, gradients 0) and near it (the small KL kept
// to relative accuracy), extreme logvars (finite, straight through the clamps), and errors. The
// op's wiring in a graph is in test/graph-ops.test.ts.
import { describe, expect, it } from 'vitest';
import type { BufferRange } from '../src/gpu/buffers.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import {
  prepareKlGaussiansBackwardRows,
  prepareKlGaussiansRows,
  type GaussianBuffers,
} from '../src/kernels/kl.js';
import { ROW_BLOCK, type RowSumVariant } from '../src/kernels/likelihood.js';
import {
  klGaussiansBackward64,
  klGaussiansForward64,
  type Gaussian64,
} from '../src/reference/kl.js';
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

interface Case {
  q: { mu: Float32Array; logvar: Float32Array };
  p: { mu: Float32Array; logvar: Float32Array };
}

function randomCase(rng: () => number, B: number, Z: number): Case {
  return {
    q: { mu: randomNormal(rng, B * Z, 1.5), logvar: randomUniform(rng, B * Z, -3, 3) },
    p: { mu: randomNormal(rng, B * Z, 1.5), logvar: randomUniform(rng, B * Z, -3, 3) },
  };
}

function uploadGaussian(
  rt: GpuRuntime,
  name: string,
  g: Gaussian64 & { mu: Float32Array; logvar: Float32Array },
): GaussianBuffers & { ranges: BufferRange[] } {
  const mu = upload(rt, `${name}.mu`, g.mu);
  const logvar = upload(rt, `${name}.logvar`, g.logvar);
  return { mu, logvar, ranges: [mu, logvar] };
}

async function forward(
  rt: GpuRuntime,
  c: Case,
  B: number,
  Z: number,
  variant: RowSumVariant,
): Promise<Float32Array> {
  const q = uploadGaussian(rt, 'q', c.q);
  const p = uploadGaussian(rt, 'p', c.p);
  const kl = output(rt, 'kl', B + 1);
  const prog = await prepareKlGaussiansRows(rt, { kl, q, p, batch: B, latent: Z, variant });
  await rt.submitChecked([prog]);
  const got = await read(rt, kl);
  expect(Number.isNaN(got[B]!), `B=${B} Z=${Z}: wrote past the end`).toBe(true);
  prog.destroy();
  for (const r of [kl, ...q.ranges, ...p.ranges]) rt.buffers.destroy(r.buffer);
  return got.slice(0, B);
}

async function backward(
  rt: GpuRuntime,
  c: Case,
  dkl: Float32Array,
  B: number,
  Z: number,
  side: 'q' | 'p',
  prefill?: { dmu: Float32Array; dlogvar: Float32Array },
): Promise<{ dmu: Float32Array; dlogvar: Float32Array }> {
  const q = uploadGaussian(rt, 'q', c.q);
  const p = uploadGaussian(rt, 'p', c.p);
  const dklBuf = upload(rt, 'dkl', dkl);
  const grad = prefill
    ? { mu: upload(rt, 'dmu', prefill.dmu), logvar: upload(rt, 'dlogvar', prefill.dlogvar) }
    : { mu: output(rt, 'dmu', B * Z + 1), logvar: output(rt, 'dlogvar', B * Z + 1) };
  const d = await prepareKlGaussiansBackwardRows(rt, {
    side,
    grad,
    q,
    p,
    dkl: dklBuf,
    batch: B,
    latent: Z,
    accumulate: prefill !== undefined,
  });
  await rt.submitChecked([d]);
  const dmu = await read(rt, grad.mu);
  const dlogvar = await read(rt, grad.logvar);
  if (!prefill) {
    expect(Number.isNaN(dmu[B * Z]!) && Number.isNaN(dlogvar[B * Z]!), 'wrote past the end').toBe(
      true,
    );
  }
  for (const r of [grad.mu, grad.logvar, dklBuf, ...q.ranges, ...p.ranges]) {
    rt.buffers.destroy(r.buffer);
  }
  return { dmu: dmu.slice(0, B * Z), dlogvar: dlogvar.slice(0, B * Z) };
}

describe('the float64 reference', () => {
  it('has the gradients of its forward (finite differences, inside the clamp range)', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const B = 3;
    const Z = 4;
    const c = randomCase(rng, B, Z);
    const dkl = randomNormal(rng, B);
    const g = klGaussiansBackward64(dkl, c.q, c.p, B, Z);
    const parts = [
      ['q.mu', c.q.mu, g.q.dmu],
      ['q.logvar', c.q.logvar, g.q.dlogvar],
      ['p.mu', c.p.mu, g.p.dmu],
      ['p.logvar', c.p.logvar, g.p.dlogvar],
    ] as const;
    for (const [name, values, analytic] of parts) {
      const f = (x: Float64Array) => {
        const swap = (which: Float32Array) => (which === values ? x : which);
        const kl = klGaussiansForward64(
          { mu: swap(c.q.mu), logvar: swap(c.q.logvar) },
          { mu: swap(c.p.mu), logvar: swap(c.p.logvar) },
          B,
          Z,
        );
        return kl.reduce((s, k, b) => s + dkl[b]! * k, 0);
      };
      const fd = finiteDifference(f, Float64Array.from(values));
      expect(
        mismatches(analytic, fd, { atol: 1e-6, rtol: 1e-5 }, `${name} (seed ${seed})`),
      ).toBeNull();
    }
  });

  it('is the closed form of two Gaussians (a hand-checked value) and zero at q = p', () => {
    // Z = 1: KL(N(1, e^0) ‖ N(0, e^{log 4})) = log 2 + (1 + 1)/8 − 1/2.
    const kl = klGaussiansForward64(
      { mu: [1], logvar: [0] },
      { mu: [0], logvar: [Math.log(4)] },
      1,
      1,
    );
    expect(kl[0]).toBeCloseTo(Math.log(2) + 2 / 8 - 0.5, 14);
    expect(
      klGaussiansForward64({ mu: [0.3], logvar: [-1] }, { mu: [0.3], logvar: [-1] }, 1, 1)[0],
    ).toBe(0);
  });
});

describe.each(TEST_ADAPTERS)('kl_gaussians on %s', (adapter) => {
  it.each(['workgroup', 'blocks'] as const)(
    'the %s variant matches float64 at awkward sizes, past one block of Z too',
    async (variant) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [B, Z] of [
        [1, 1],
        [7, 5],
        [33, 20],
        [3, ROW_BLOCK * 2 + 3],
      ] as const) {
        const c = randomCase(rng, B, Z);
        const got = await forward(rt, c, B, Z, variant);
        const want = klGaussiansForward64(c.q, c.p, B, Z);
        const m = mismatches(got, want, { atol: 1e-5, rtol: 2e-5 }, `B=${B} Z=${Z} (seed ${seed})`);
        expect(m).toBeNull();
      }
    },
  );

  it('keeps a small KL to relative accuracy near q = p, and is 0 with zero gradients at q = p', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const B = 5;
    const Z = 7;
    const c = randomCase(rng, B, Z);
    const near: Case = {
      q: c.q,
      p: {
        mu: c.q.mu.map((m) => m + 1e-3 * (rng() - 0.5)),
        logvar: c.q.logvar.map((lv) => lv + 1e-3 * (rng() - 0.5)),
      },
    };
    const got = await forward(rt, near, B, Z, 'blocks');
    const want = klGaussiansForward64(near.q, near.p, B, Z);
    expect(want.every((k) => k > 0 && k < 1e-4)).toBe(true);
    expect(mismatches(got, want, { atol: 1e-12, rtol: 1e-3 }, `near (seed ${seed})`)).toBeNull();
    const same: Case = { q: c.q, p: { mu: c.q.mu.slice(), logvar: c.q.logvar.slice() } };
    expect(Array.from(await forward(rt, same, B, Z, 'blocks'))).toEqual(new Array(B).fill(0));
    const g = await backward(rt, same, randomNormal(rng, B), B, Z, 'p');
    expect([...g.dmu, ...g.dlogvar].every((v) => v === 0)).toBe(true);
  });

  it.each(['q', 'p'] as const)(
    "side %s's backward matches float64, assigning and accumulating",
    async (side) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const [B, Z] of [
        [1, 3],
        [9, 17],
      ] as const) {
        const c = randomCase(rng, B, Z);
        const dkl = randomNormal(rng, B);
        if (B > 1) dkl[1] = 0;
        const want = klGaussiansBackward64(dkl, c.q, c.p, B, Z)[side];
        const got = await backward(rt, c, dkl, B, Z, side);
        const tol = { atol: 1e-5, rtol: 2e-5 };
        expect(mismatches(got.dmu, want.dmu, tol, `dmu ${side} (seed ${seed})`)).toBeNull();
        expect(
          mismatches(got.dlogvar, want.dlogvar, tol, `dlogvar ${side} (seed ${seed})`),
        ).toBeNull();
        const prefill = { dmu: randomNormal(rng, B * Z), dlogvar: randomNormal(rng, B * Z) };
        const acc = await backward(rt, c, dkl, B, Z, side, prefill);
        expect(accumulateMismatches(acc.dmu, got.dmu, prefill.dmu, 'dmu')).toBeNull();
        expect(
          accumulateMismatches(acc.dlogvar, got.dlogvar, prefill.dlogvar, 'dlogvar'),
        ).toBeNull();
      }
    },
  );

  it('stays finite for logvars far outside the clamp range', async () => {
    const rt = await runtimeFor(adapter);
    const B = 2;
    const Z = 4;
    const c: Case = {
      q: {
        mu: Float32Array.of(1, -2, 0.5, 3, 0, 1, -1, 2),
        logvar: Float32Array.of(-60, 40, -1, 25, 0, -45, 30, 2),
      },
      p: {
        mu: Float32Array.of(0, 1, -0.5, 2, 1, 0, 0, -2),
        logvar: Float32Array.of(35, -50, 1, -40, -35, 0, 28, 0.5),
      },
    };
    const got = await forward(rt, c, B, Z, 'blocks');
    expect([...got].every(Number.isFinite)).toBe(true);
    const want = klGaussiansForward64(c.q, c.p, B, Z);
    expect(mismatches(got, want, { atol: 1e-3, rtol: 1e-5 }, 'kl')).toBeNull();
    for (const side of ['q', 'p'] as const) {
      const g = await backward(rt, c, Float32Array.of(1, -0.5), B, Z, side);
      expect([...g.dmu, ...g.dlogvar].every(Number.isFinite), side).toBe(true);
    }
  });

  it('names bad arguments', async () => {
    const rt = await runtimeFor(adapter);
    const buf = output(rt, 'x', 8);
    const gauss = { mu: buf, logvar: buf };
    await expect(
      prepareKlGaussiansRows(rt, { kl: buf, q: gauss, p: gauss, batch: 0, latent: 2 }),
    ).rejects.toThrow(/kl_gaussians_forward: batch/);
    await expect(
      prepareKlGaussiansBackwardRows(rt, {
        side: 'r' as 'q',
        grad: gauss,
        q: gauss,
        p: gauss,
        dkl: buf,
        batch: 2,
        latent: 2,
      }),
    ).rejects.toThrow(/side must be 'q' or 'p'/);
    rt.buffers.destroy(buf.buffer);
  });
});
