// Random inpainting masks (shaders/mask.wgsl): every pattern against the BigInt-Philox reference
// (exact 0/1 values, poisoned outputs, awkward sizes), new masks per step and per stream, and the
// statistics of the draws: the masked fraction of pixel dropout (binomial), block sides and
// positions (chi-square over each), quadrant frequencies (chi-square), and argument checks.
import { describe, expect, it } from 'vitest';
import { prepareRandomMask, type MaskPattern } from '../src/kernels/mask.js';
import { randomMask64 } from '../src/reference/mask.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { TEST_ADAPTERS, output, read, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng } from './helpers/reference.js';

async function draw(
  rt: GpuRuntime,
  pattern: MaskPattern,
  B: number,
  shape: [number, number, number],
  seed: number,
  step: number,
  stream: number,
): Promise<Float32Array> {
  const n = B * shape[0] * shape[1] * shape[2];
  const out = output(rt, 'mask', n + 3);
  const d = await prepareRandomMask(rt, { out, batch: B, shape, pattern, seed, step, stream });
  await rt.submitChecked([d]);
  const values = await read(rt, out);
  // Nothing past the end is written.
  for (let i = n; i < n + 3; i++) expect(Number.isNaN(values[i]!)).toBe(true);
  return values.slice(0, n);
}

/**
 * The chi-square statistic's bound for `df` degrees of freedom at a false-failure rate of about
 * 1e-6 (Wilson–Hilferty: (chi2/df)^(1/3) is close to normal; z = 4.75).
 */
function chiSquareBound(df: number): number {
  const v = 2 / (9 * df);
  return df * (1 - v + 4.75 * Math.sqrt(v)) ** 3;
}

function chiSquare(counts: readonly number[], expected: readonly number[]): number {
  return counts.reduce((s, c, i) => s + (c - expected[i]!) ** 2 / expected[i]!, 0);
}

/** Bounding box of the ones of one plane: [top, left, height, width], and whether it is full. */
function box(plane: Float32Array, H: number, W: number): [number, number, number, number, boolean] {
  let [top, left, bottom, right, ones] = [H, W, -1, -1, 0];
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      if (plane[h * W + w] !== 1) continue;
      ones++;
      [top, left] = [Math.min(top, h), Math.min(left, w)];
      [bottom, right] = [Math.max(bottom, h), Math.max(right, w)];
    }
  }
  const [bh, bw] = [bottom - top + 1, right - left + 1];
  return [top, left, bh, bw, ones === bh * bw];
}

const CASES: [string, MaskPattern, number, [number, number, number]][] = [
  ['pixels p=0.37', { kind: 'pixels', p: 0.37 }, 3, [1, 5, 7]],
  ['pixels p=0.9, 2 channels', { kind: 'pixels', p: 0.9 }, 5, [2, 3, 3]],
  ['pixels on a 1×1 image', { kind: 'pixels', p: 0.5 }, 9, [1, 1, 1]],
  ['block 2..4', { kind: 'block', minSize: 2, maxSize: 4 }, 7, [1, 6, 9]],
  ['block 1..5, 3 channels', { kind: 'block', minSize: 1, maxSize: 5 }, 4, [3, 5, 11]],
  ['block filling the image', { kind: 'block', minSize: 4, maxSize: 4 }, 2, [1, 4, 4]],
  ['quadrant, odd sides', { kind: 'quadrant' }, 11, [1, 7, 5]],
  ['quadrant, 2 channels', { kind: 'quadrant' }, 6, [2, 2, 3]],
  ['fixed quadrants 0, 1, 3, odd sides', { kind: 'quadrants', missing: 0b1011 }, 5, [1, 7, 5]],
  ['fixed quadrant 3, 2 channels', { kind: 'quadrants', missing: 0b1000 }, 3, [2, 4, 6]],
];

describe.each(TEST_ADAPTERS)('random masks on %s', (adapter) => {
  it.each(CASES)('%s: equals the reference draw', async (_name, pattern, B, shape) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const step = Math.floor(rng() * 100000);
    const stream = Math.floor(rng() * 0xffffffff);
    const mask = await draw(rt, pattern, B, shape, seed, step, stream);
    const expected = randomMask64(pattern, B, shape, seed, step, stream);
    expect(Array.from(mask), `seed ${seed} step ${step} stream ${stream}`).toEqual(
      Array.from(expected),
    );
  });

  it('draws new masks for a new step and for another stream, the same for the same ones', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const pattern: MaskPattern = { kind: 'pixels', p: 0.5 };
    const shape: [number, number, number] = [1, 16, 16];
    const a = await draw(rt, pattern, 8, shape, seed, 3, 1);
    const again = await draw(rt, pattern, 8, shape, seed, 3, 1);
    const nextStep = await draw(rt, pattern, 8, shape, seed, 4, 1);
    const otherStream = await draw(rt, pattern, 8, shape, seed, 3, 2);
    expect(Array.from(again)).toEqual(Array.from(a));
    // Independent halves agree on about half the 2048 pixels; 1700 is > 15 sigma away.
    const same = (x: Float32Array) => x.filter((v, i) => v === a[i]).length;
    expect(same(nextStep), `seed ${seed}`).toBeLessThan(1700);
    expect(same(otherStream), `seed ${seed}`).toBeLessThan(1700);
  });

  it('pixel dropout masks a binomial fraction p; p = 0 and p = 1 mask nothing and everything', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, shape] = [64, [1, 28, 28] as [number, number, number]];
    const n = B * 784;
    for (const p of [0.1, 0.5, 0.77]) {
      const mask = await draw(rt, { kind: 'pixels', p }, B, shape, seed, 7, 11);
      const count = mask.reduce((s, v) => s + v, 0);
      // 5 standard deviations of Binomial(n, p): a false failure about once in 1.7 million.
      const where = `p ${p}, seed ${seed}: ${count} of ${n}`;
      expect(Math.abs(count - n * p), where).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
    }
    const none = await draw(rt, { kind: 'pixels', p: 0 }, 4, shape, seed, 0, 0);
    const all = await draw(rt, { kind: 'pixels', p: 1 }, 4, shape, seed, 0, 0);
    expect(none.every((v) => v === 0)).toBe(true);
    expect(all.every((v) => v === 1)).toBe(true);
  });

  it('blocks are rectangles with uniform sides and uniform positions (chi-square)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, H, W, lo, hi] = [3000, 9, 13, 2, 6];
    const mask = await draw(
      rt,
      { kind: 'block', minSize: lo, maxSize: hi },
      B,
      [1, H, W],
      seed,
      5,
      3,
    );
    const sides = hi - lo + 1;
    const heights = new Array<number>(sides).fill(0);
    const widths = new Array<number>(sides).fill(0);
    // Positions given the side: the top of a block of height bh is uniform over H − bh + 1 rows.
    const tops = Array.from({ length: sides }, (_, s) => new Array<number>(H - lo - s + 1).fill(0));
    const lefts = Array.from({ length: sides }, (_, s) =>
      new Array<number>(W - lo - s + 1).fill(0),
    );
    for (let b = 0; b < B; b++) {
      const [top, left, bh, bw, full] = box(mask.subarray(b * H * W, (b + 1) * H * W), H, W);
      expect(full, `row ${b} is one rectangle (seed ${seed})`).toBe(true);
      heights[bh - lo]!++;
      widths[bw - lo]!++;
      tops[bh - lo]![top]!++;
      lefts[bw - lo]![left]!++;
    }
    const flat = (k: number) => new Array<number>(k).fill(B / k);
    const where = `seed ${seed}`;
    expect(chiSquare(heights, flat(sides)), where).toBeLessThan(chiSquareBound(sides - 1));
    expect(chiSquare(widths, flat(sides)), where).toBeLessThan(chiSquareBound(sides - 1));
    // Positions pooled over the sides: sum of independent chi-squares, df = Σ (positions − 1).
    for (const [name, byside, counts] of [
      ['tops', tops, heights],
      ['lefts', lefts, widths],
    ] as const) {
      let stat = 0;
      let df = 0;
      byside.forEach((c, s) => {
        stat += chiSquare(c, new Array<number>(c.length).fill(counts[s]! / c.length));
        df += c.length - 1;
      });
      expect(stat, `${name}, ${where}`).toBeLessThan(chiSquareBound(df));
    }
  });

  it('quadrants are chosen uniformly (chi-square) and cover the documented halves', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, H, W] = [4000, 5, 6];
    const mask = await draw(rt, { kind: 'quadrant' }, B, [1, H, W], seed, 1, 2);
    const counts = [0, 0, 0, 0];
    // (top, left, height, width) of quadrants 0..3: the odd height gives the bottom 3 rows.
    const expected = [
      [0, 0, 2, 3],
      [0, 3, 2, 3],
      [2, 0, 3, 3],
      [2, 3, 3, 3],
    ];
    for (let b = 0; b < B; b++) {
      const [top, left, bh, bw, full] = box(mask.subarray(b * H * W, (b + 1) * H * W), H, W);
      const q = expected.findIndex((e) => e.join() === [top, left, bh, bw].join());
      expect(q >= 0 && full, `row ${b}: ${[top, left, bh, bw].join()} (seed ${seed})`).toBe(true);
      counts[q]!++;
    }
    expect(chiSquare(counts, [B / 4, B / 4, B / 4, B / 4]), `seed ${seed}`).toBeLessThan(
      chiSquareBound(3),
    );
  });

  it('fixed quadrants: the same set in every row and step, on the documented halves', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [B, H, W] = [3, 7, 5];
    // Only the bottom-left quadrant observed (the conditional completion task's one-quadrant case):
    // rows h >= 3 (floor(7 / 2)), columns w < 2.
    const pattern: MaskPattern = { kind: 'quadrants', missing: 0b1011 };
    const a = await draw(rt, pattern, B, [1, H, W], seed, 1, 2);
    const b = await draw(rt, pattern, B, [1, H, W], seed + 1, 9, 5);
    expect(Array.from(b)).toEqual(Array.from(a));
    for (let r = 0; r < B; r++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          const observed = h >= 3 && w < 2;
          expect(a[r * H * W + h * W + w], `row ${r} (${h}, ${w})`).toBe(observed ? 0 : 1);
        }
      }
    }
  });

  it('rejects patterns that do not fit and bad arguments, naming them', async () => {
    const rt = await runtimeFor(adapter);
    const out = output(rt, 'mask', 64);
    const base = { out, batch: 2, shape: [1, 4, 4] as const, seed: 1, stream: 0 };
    await expect(
      prepareRandomMask(rt, { ...base, pattern: { kind: 'pixels', p: 1.5 } }),
    ).rejects.toThrow(/random_mask: p must be a number in \[0, 1\], got 1.5/);
    await expect(
      prepareRandomMask(rt, { ...base, pattern: { kind: 'block', minSize: 3, maxSize: 5 } }),
    ).rejects.toThrow(/maxSize <= min\(H, W\) = 4, got 3..5/);
    await expect(
      prepareRandomMask(rt, { ...base, pattern: { kind: 'block', minSize: 3, maxSize: 2 } }),
    ).rejects.toThrow(/minSize <= maxSize/);
    await expect(
      prepareRandomMask(rt, { ...base, shape: [1, 1, 4], pattern: { kind: 'quadrant' } }),
    ).rejects.toThrow(/quadrants need an image of at least 2×2, got 1×4/);
    for (const missing of [0, 16, 2.5]) {
      await expect(
        prepareRandomMask(rt, { ...base, pattern: { kind: 'quadrants', missing } }),
      ).rejects.toThrow(/random_mask: missing must be a set of quadrants, an integer in 1..15/);
    }
    await expect(
      prepareRandomMask(rt, { ...base, stream: -1, pattern: { kind: 'quadrant' } }),
    ).rejects.toThrow(/random_mask: stream must be an integer/);
  });
});
