// The vector quantizer's kernels (shaders/argmin.wgsl, shaders/vq_ema.wgsl) against their float64
// references (src/reference/quantize.ts): the row argmin exactly (ties to the lowest column, NaN
// skipped, a row of NaN), and one EMA codebook update with the state and the codebook as disjoint
// ranges of one buffer (as in a model's flat buffer), at awkward sizes with poisoned outputs.
import { describe, expect, it } from 'vitest';
import { prepareArgminRows } from '../src/kernels/argmin.js';
import { prepareVqEma, prepareVqRestart } from '../src/kernels/vq-ema.js';
import { prepareCodeUsage } from '../src/kernels/code-usage.js';
import { argminRows64, codeUsage64, vqEma64, vqRestart64 } from '../src/reference/quantize.js';
import { POISON, TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

const EXACT = { atol: 0, rtol: 0 };

describe('quantizer references', () => {
  it('code usage: uniform over used codes gives their number', () => {
    const u = codeUsage64([3, 0, 3, 3, 0], 2);
    expect(u.perplexity).toBeCloseTo(6, 12);
    expect(u.used).toBeCloseTo(1.2, 12);
  });

  it('argmin takes the lowest column among ties and skips NaN', () => {
    const x = [3, 1, 1, NaN, 0, NaN, NaN, NaN, NaN, 2, -Infinity, 2];
    const { idx, min } = argminRows64(x, 4, 3);
    expect([...idx]).toEqual([1, 1, 0, 1]);
    expect([...min]).toEqual([1, 0, NaN, -Infinity]);
  });

  it('EMA with decay 0 and no smoothing gives the batch means', () => {
    const r = vqEma64(
      { count: [5, 5], sum: [1, 1, 1, 1] },
      { count: [2, 4], sum: [2, 4, 8, 12] },
      2,
      2,
      0,
      1e-12,
    );
    expect(mismatches(r.codebook, [1, 2, 2, 3], { atol: 1e-9, rtol: 0 }, 'means')).toBeNull();
    expect([...r.count]).toEqual([2, 4]);
  });
});

describe.each(TEST_ADAPTERS)('quantizer kernels on %s', (adapter) => {
  it.each([
    [1, 1],
    [7, 3],
    [65, 10],
    [130, 257],
    [1000, 1],
  ])('argmin of %i rows of %i columns', async (rows, cols) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const x = randomNormal(rng, rows * cols);
    // Ties and NaN: every 5th row repeats its first value later, every 7th has a NaN first.
    for (let r = 0; r < rows; r++) {
      if (r % 5 === 4 && cols > 2) x[r * cols + cols - 1] = x[r * cols]!;
      if (r % 7 === 6) x[r * cols] = NaN;
    }
    if (rows > 9) x.fill(NaN, 9 * cols, 10 * cols);
    const idx = output(rt, 'idx', rows + 1);
    const min = output(rt, 'min', rows + 1);
    const d = await prepareArgminRows(rt, { idx, min, x: upload(rt, 'x', x), rows, cols });
    await rt.submitChecked([d]);
    const want = argminRows64(x, rows, cols);
    const ctx = `(${rows}, ${cols}) seed=${seed}`;
    const gotIdx = await read(rt, idx);
    const gotMin = await read(rt, min);
    expect(mismatches(gotIdx.subarray(0, rows), want.idx, EXACT, `${ctx} idx`)).toBeNull();
    for (let r = 0; r < rows; r++) {
      const w = want.min[r]!;
      expect(Number.isNaN(w) ? Number.isNaN(gotMin[r]!) : gotMin[r] === w, `${ctx} min[${r}]`).toBe(
        true,
      );
    }
    expect(Number.isNaN(gotIdx[rows]!) && Number.isNaN(gotMin[rows]!)).toBe(true);
    d.destroy();
  });

  it.each([
    [1, 1, 0.99],
    [3, 5, 0.5],
    [37, 11, 0.99],
    [300, 64, 0.9],
  ])('EMA update of %i codes of %i values (decay %f)', async (codes, dim, decay) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const count = randomUniform(rng, codes, 0, 20);
    const sum = randomNormal(rng, codes * dim, 5);
    // Some codes unused in this batch (count 0, sum 0).
    const batchCount = Float32Array.from({ length: codes }, (_, k) =>
      k % 3 === 1 ? 0 : Math.floor(rng() * 9),
    );
    const batchSum = randomNormal(rng, codes * dim);
    for (let k = 0; k < codes; k++)
      if (batchCount[k] === 0) batchSum.fill(0, k * dim, (k + 1) * dim);
    // The three tensors in one buffer at aligned offsets, as in a model's flat buffer.
    const align = rt.device.limits.minStorageBufferOffsetAlignment;
    const at = (floats: number) => Math.ceil((4 * floats) / align) * align;
    const offsets = [0, at(codes * dim), at(codes * dim) + at(codes)];
    const bytes = offsets[2]! + at(codes * dim);
    const flat = new Float32Array(bytes / 4).fill(POISON);
    flat.set(count, offsets[1]! / 4);
    flat.set(sum, offsets[2]! / 4);
    const buffer = upload(rt, 'flat', flat).buffer;
    const range = (i: number, floats: number) => ({
      buffer,
      offset: offsets[i]!,
      size: 4 * floats,
    });
    const eps = 1e-5;
    const p = await prepareVqEma(rt, {
      codebook: range(0, codes * dim),
      count: range(1, codes),
      sum: range(2, codes * dim),
      batchCount: upload(rt, 'n', batchCount),
      batchSum: upload(rt, 's', batchSum),
      codes,
      dim,
      decay,
      eps,
    });
    await rt.submitChecked([p]);
    const got = await read(rt, { buffer, offset: 0, size: bytes });
    const want = vqEma64(
      { count, sum },
      { count: batchCount, sum: batchSum },
      codes,
      dim,
      decay,
      eps,
    );
    const ctx = `(${codes}, ${dim}) seed=${seed}`;
    const tol = { atol: 1e-5, rtol: 1e-5 };
    const part = (i: number, n: number) => got.subarray(offsets[i]! / 4, offsets[i]! / 4 + n);
    expect(mismatches(part(1, codes), want.count, tol, `${ctx} count`)).toBeNull();
    expect(mismatches(part(2, codes * dim), want.sum, tol, `${ctx} sum`)).toBeNull();
    expect(mismatches(part(0, codes * dim), want.codebook, tol, `${ctx} codebook`)).toBeNull();
    p.destroy();
  });

  it.each([1, 10, 513])('code usage of %i codes', async (codes) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    // Integer counts, about a third of the codes unused.
    const counts = Float32Array.from({ length: codes }, (_, k) =>
      k === 0 || rng() > 0.35 ? 1 + Math.floor(rng() * 40) : 0,
    );
    const perplexity = output(rt, 'perplexity', 1);
    const used = output(rt, 'used', 1);
    const scale = 1 + Math.floor(rng() * 100);
    const d = await prepareCodeUsage(rt, {
      perplexity,
      used,
      counts: upload(rt, 'counts', counts),
      codes,
      scale,
    });
    await rt.submitChecked([d]);
    const want = codeUsage64(counts, scale);
    const got = [(await read(rt, perplexity))[0]!, (await read(rt, used))[0]!];
    const tol = { atol: 1e-5, rtol: 1e-5 };
    expect(
      mismatches(got, [want.perplexity, want.used], tol, `${codes} codes seed=${seed}`),
    ).toBeNull();
    d.destroy();
  });

  it.each([
    [1, 1, 1],
    [13, 5, 37],
    [70, 3, 1000],
  ])('dead-code restart of %i codes of %i values from %i rows', async (codes, dim, rows) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const threshold = 0.05;
    // About a third of the codes dead (one exactly at the threshold: live), one NaN (live).
    const count = Float32Array.from({ length: codes }, (_, k) =>
      k % 3 === 0 ? rng() * threshold : 0.1 + rng() * 5,
    );
    if (codes > 4) [count[4], count[2]] = [threshold, NaN];
    const sum = randomNormal(rng, codes * dim, 3);
    const codebook = randomNormal(rng, codes * dim);
    const z = randomNormal(rng, rows * dim, 2);
    // The three tensors in one buffer at aligned offsets, as in a model's flat buffer.
    const align = rt.device.limits.minStorageBufferOffsetAlignment;
    const at = (floats: number) => Math.ceil((4 * floats) / align) * align;
    const offsets = [0, at(codes * dim), at(codes * dim) + at(codes)];
    const bytes = offsets[2]! + at(codes * dim);
    const flat = new Float32Array(bytes / 4).fill(POISON);
    flat.set(codebook, 0);
    flat.set(count, offsets[1]! / 4);
    flat.set(sum, offsets[2]! / 4);
    const buffer = upload(rt, 'flat', flat).buffer;
    const range = (i: number, floats: number) => ({
      buffer,
      offset: offsets[i]!,
      size: 4 * floats,
    });
    const step = 1 + (seed % 1000);
    const p = await prepareVqRestart(rt, {
      codebook: range(0, codes * dim),
      count: range(1, codes),
      sum: range(2, codes * dim),
      z: upload(rt, 'z', z),
      codes,
      dim,
      rows,
      threshold,
      seed: seed % 65536,
      stream: 3,
    });
    p.setStep(step);
    await rt.submitChecked([p]);
    const got = await read(rt, { buffer, offset: 0, size: bytes });
    const want = vqRestart64({ codebook, count, sum }, z, rows, threshold, {
      seed: seed % 65536,
      step,
      stream: 3,
    });
    const ctx = `(${codes}, ${dim}, ${rows}) seed=${seed}`;
    const part = (i: number, n: number) => got.subarray(offsets[i]! / 4, offsets[i]! / 4 + n);
    // Row copies and untouched values: exact.
    // A NaN count stays NaN (compared apart: mismatches() counts NaN against NaN as wrong).
    const gotCount = [...part(1, codes)];
    expect(gotCount.map(Number.isNaN)).toEqual([...want.count].map(Number.isNaN));
    const finite = (v: ArrayLike<number>) => Array.from(v, (x) => (Number.isNaN(x) ? 0 : x));
    expect(mismatches(finite(gotCount), finite(want.count), EXACT, `${ctx} count`)).toBeNull();
    expect(mismatches(part(2, codes * dim), want.sum, EXACT, `${ctx} sum`)).toBeNull();
    expect(mismatches(part(0, codes * dim), want.codebook, EXACT, `${ctx} codebook`)).toBeNull();
    // Dead codes took rows of z (several distinct ones when there are many), live ones nothing.
    for (let k = 0; k < codes; k++) {
      const dead = count[k]! < threshold;
      expect(want.rows[k]! >= 0, `${ctx} code ${k}`).toBe(dead);
    }
    const taken = new Set([...want.rows].filter((r) => r >= 0));
    if (codes >= 13) expect(taken.size, ctx).toBeGreaterThan(1);
    p.destroy();
  });

  it('names bad arguments', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    await expect(prepareArgminRows(rt, { idx: a, min: a, x: a, rows: 3, cols: 0 })).rejects.toThrow(
      /argmin_rows: cols must be a positive integer/,
    );
    const o = { codebook: a, count: a, sum: a, batchCount: a, batchSum: a, codes: 2, dim: 2 };
    await expect(prepareVqEma(rt, { ...o, decay: 1, eps: 1e-5 })).rejects.toThrow(
      /decay must be in \[0, 1\)/,
    );
    await expect(prepareVqEma(rt, { ...o, decay: 0.9, eps: 0 })).rejects.toThrow(/eps must be/);
    const r = {
      codebook: a,
      count: a,
      sum: a,
      z: a,
      codes: 2,
      dim: 2,
      rows: 3,
      seed: 1,
      stream: 0,
    };
    await expect(prepareVqRestart(rt, { ...r, threshold: 1 })).rejects.toThrow(
      /vq_restart: threshold must be in \(0, 1\)/,
    );
  });
});
