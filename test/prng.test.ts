// The shared Philox4x32-10 PRNG (shaders/prng.wgsl): known answers from the Random123 paper, the
// WGSL and the CPU generator against the BigInt Philox of src/reference/reparam.ts, the (0,1] uniforms and Box-Muller edges, and the statistics of
// the normal stream (moments, 68-95-99.7, Kolmogorov-Smirnov, independence of streams).
import { describe, expect, it } from 'vitest';
import {
  philox4x32,
  prepareRandomNormal,
  prngNormal,
  prngNormal4Words,
  prngPhiloxRaw,
  prngTransform,
  prngU01,
} from '../src/kernels/reparam.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { philox4x32BigInt } from '../src/reference/reparam.js';
import { correlation, ksNormalStatistic } from './helpers/stats.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches } from './helpers/reference.js';

// Known-answer vectors of Philox4x32-10 (Random123 kat_vectors).
const KAT: { ctr: number[]; key: number[]; out: number[] }[] = [
  { ctr: [0, 0, 0, 0], key: [0, 0], out: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    ctr: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    ctr: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

const hex = (words: ArrayLike<number>) =>
  Array.from(words, (w) => (w >>> 0).toString(16).padStart(8, '0')).join(' ');

function randomWords(rng: () => number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(rng() * 4294967296) >>> 0);
}

describe('Philox4x32-10 on the CPU', () => {
  it('matches the Random123 known answers (BigInt and number versions)', () => {
    for (const { ctr, key, out } of KAT) {
      expect(hex(philox4x32BigInt(ctr, key))).toBe(hex(out));
      expect(hex(philox4x32(ctr, key))).toBe(hex(out));
    }
  });

  it('number version equals the BigInt version on random counters and keys', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (let i = 0; i < 2000; i++) {
      const ctr = randomWords(rng, 4);
      const key = randomWords(rng, 2);
      expect(hex(philox4x32(ctr, key)), `seed ${seed}, ctr ${hex(ctr)} key ${hex(key)}`).toBe(
        hex(philox4x32BigInt(ctr, key)),
      );
    }
  });

  it('maps words to (0, 1] and Box-Muller stays finite at the edges', () => {
    expect(prngU01(0)).toBe(2 ** -24);
    expect(prngU01(0xffffffff)).toBe(1);
    expect(prngU01(0xff)).toBe(2 ** -24);
    const n = prngNormal4Words([0, 0, 0xffffffff, 0xffffffff]);
    expect(n.every(Number.isFinite)).toBe(true);
    expect(Math.hypot(n[0], n[1])).toBeCloseTo(Math.sqrt(24 * 2 * Math.LN2), 12);
    expect(Math.abs(n[2]) + Math.abs(n[3])).toBeLessThan(1e-12);
  });
});

async function gpuNormals(
  rt: GpuRuntime,
  n: number,
  opts: {
    seed: number;
    step?: number;
    sample?: number;
    stream?: number;
    mean?: number;
    stddev?: number;
  },
): Promise<Float32Array> {
  const out = output(rt, 'normals', n);
  const d = await prepareRandomNormal(rt, { out, n, ...opts });
  await rt.submitChecked([d]);
  const got = (await read(rt, out)).slice(0, n);
  d.destroy();
  rt.buffers.destroy(out.buffer);
  return got;
}

describe.each(TEST_ADAPTERS)('Philox PRNG on %s', (adapter) => {
  it('WGSL Philox gives the known answers and equals the CPU version', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ctrs = KAT.map((k) => k.ctr);
    const keys = KAT.map((k) => k.key);
    // Random counters and keys, plus counters that stress the carries of mulhilo32.
    for (let i = 0; i < 61; i++) {
      ctrs.push(randomWords(rng, 4));
      keys.push(randomWords(rng, 2));
    }
    ctrs.push([0xffff, 0xffff0000, 0x10000, 0xfffeffff]);
    keys.push([0x80000000, 0x7fffffff]);
    const n = ctrs.length;
    const words = output(rt, 'words', 4 * n);
    const d = await rt.prepare(prngPhiloxRaw, {
      bindings: {
        words,
        counters: upload(rt, 'counters', Uint32Array.from(ctrs.flat())),
        keys: upload(rt, 'keys', Uint32Array.from(keys.flat())),
      },
      shape: { n },
    });
    await rt.submitChecked([d]);
    const got = new Uint32Array((await read(rt, words)).buffer);
    for (let i = 0; i < KAT.length; i++) {
      expect(hex(got.slice(4 * i, 4 * i + 4)), `KAT ${i}`).toBe(hex(KAT[i]!.out));
    }
    for (let i = 0; i < n; i++) {
      expect(hex(got.slice(4 * i, 4 * i + 4)), `seed ${seed}, case ${i}`).toBe(
        hex(philox4x32BigInt(ctrs[i]!, keys[i]!)),
      );
    }
  });

  it('uniforms are in (0, 1] and Box-Muller is finite at the extreme words', async () => {
    const rt = await runtimeFor(adapter);
    const rng = makeRng(1234);
    const quads = [
      [0, 0, 0, 0],
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0, 0xffffffff, 0xff, 0x80000000],
      [0x000000ff, 0x7fffffff, 0x00000100, 0xfffffeff],
      ...Array.from({ length: 60 }, () => randomWords(rng, 4)),
    ];
    const n = quads.length;
    const uniformsOut = output(rt, 'uniforms', 4 * n);
    const gaussOut = output(rt, 'gauss', 4 * n);
    const d = await rt.prepare(prngTransform, {
      bindings: {
        uniforms_out: uniformsOut,
        gauss_out: gaussOut,
        words_in: upload(rt, 'words', Uint32Array.from(quads.flat())),
      },
      shape: { n },
    });
    await rt.submitChecked([d]);
    const u = await read(rt, uniformsOut);
    const g = await read(rt, gaussOut);
    const flat = quads.flat();
    const expectedU = flat.map(prngU01);
    // The uniforms are exact in f32.
    expect(mismatches(u, expectedU, { atol: 0, rtol: 0 }, 'uniforms')).toBeNull();
    expect(Array.from(u).every((v) => v > 0 && v <= 1)).toBe(true);
    const expectedG = quads.flatMap((q) => prngNormal4Words(q));
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
    // Own log and sin/cos in the WGSL: a few f32 ulp from float64 on every device.
    expect(mismatches(g, expectedG, { atol: 2e-6, rtol: 1e-6 }, 'box-muller')).toBeNull();
  });

  it('random_normal follows the documented counter layout', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    for (const [n, step, sample, stream] of [
      [13, 0, 0, 0],
      [1, 7, 3, 0],
      [1001, 0xfffffffe, 1, 5],
    ] as const) {
      const got = await gpuNormals(rt, n, { seed, step, sample, stream, mean: 0.5, stddev: 2 });
      const expected = Array.from(
        { length: n },
        (_, e) => 0.5 + 2 * prngNormal(seed, step, e, sample, stream),
      );
      expect(
        mismatches(got, expected, { atol: 4e-6, rtol: 1e-6 }, `seed ${seed} n ${n}`),
      ).toBeNull();
    }
  });

  it('2^18 normals pass moment, 68-95-99.7 and Kolmogorov-Smirnov checks', async () => {
    const rt = await runtimeFor(adapter);
    const n = 1 << 18;
    // Fixed seeds: the test is deterministic. Each check's threshold has a false-failure rate of
    // about 1e-3 or less for a correct generator, so a fixed set passing is not luck.
    for (const [seed, step] of [
      [0, 0],
      [0x9e3779b9, 12345],
    ] as const) {
      const x = await gpuNormals(rt, n, { seed, step });
      expect(x.every(Number.isFinite)).toBe(true);
      let s1 = 0;
      let s2 = 0;
      let within = [0, 0, 0];
      for (const v of x) {
        s1 += v;
        s2 += v * v;
        const a = Math.abs(v);
        within = [
          within[0]! + (a < 1 ? 1 : 0),
          within[1]! + (a < 2 ? 1 : 0),
          within[2]! + (a < 3 ? 1 : 0),
        ];
      }
      const mean = s1 / n;
      const variance = s2 / n - mean * mean;
      const where = `seed ${seed} step ${step}`;
      // mean ~ N(0, 1/n): |mean| < 3.9/sqrt(n) has false-failure rate 1e-4.
      expect(Math.abs(mean), where).toBeLessThan(3.9 / Math.sqrt(n));
      // variance ~ N(1, 2/n).
      expect(Math.abs(variance - 1), where).toBeLessThan(3.9 * Math.sqrt(2 / n));
      // 68-95-99.7: binomial fractions, within 3.9 standard errors.
      const probs = [0.6826894921370859, 0.9544997361036416, 0.9973002039367398];
      probs.forEach((p, k) => {
        expect(Math.abs(within[k]! / n - p), `${where}: within ${k + 1} sigma`).toBeLessThan(
          3.9 * Math.sqrt((p * (1 - p)) / n),
        );
      });
      // KS: P(sqrt(n) D_n > 1.9495) = 0.001 asymptotically (Kolmogorov distribution); with
      // Stephens' finite-n correction (sqrt(n) + 0.12 + 0.11 / sqrt(n)).
      const d = ksNormalStatistic(x);
      const critical = 1.9495 / (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n));
      expect(d, where).toBeLessThan(critical);
    }
  });

  it('gives the same stream for the same seed and step, and different ones otherwise', async () => {
    const rt = await runtimeFor(adapter);
    const n = 1 << 14;
    const seed = freshSeed() >>> 1;
    const base = await gpuNormals(rt, n, { seed, step: 3 });
    const again = await gpuNormals(rt, n, { seed, step: 3 });
    expect(again).toEqual(base);
    const others = {
      'seed + 1': await gpuNormals(rt, n, { seed: seed + 1, step: 3 }),
      'step + 1': await gpuNormals(rt, n, { seed, step: 4 }),
      'sample 1': await gpuNormals(rt, n, { seed, step: 3, sample: 1 }),
      'stream 1': await gpuNormals(rt, n, { seed, step: 3, stream: 1 }),
    };
    for (const [what, other] of Object.entries(others)) {
      let equal = 0;
      for (let i = 0; i < n; i++) if (other[i] === base[i]) equal++;
      expect(equal, `${what}: equal values (seed ${seed})`).toBeLessThan(4);
      // Correlation of independent streams ~ N(0, 1/n): 4.4 standard errors is a 1e-5 rate.
      expect(
        Math.abs(correlation(base, other)),
        `${what}: correlation (seed ${seed})`,
      ).toBeLessThan(4.4 / Math.sqrt(n));
    }
    // Neighbouring elements of one stream are uncorrelated too (lag 1 and lag 4).
    for (const lag of [1, 2, 4]) {
      const r = correlation(base.subarray(0, n - lag), base.subarray(lag));
      expect(Math.abs(r), `lag ${lag} (seed ${seed})`).toBeLessThan(4.4 / Math.sqrt(n));
    }
  });
});
