// categorical_sample (shaders/categorical.wgsl) against its float64 reference
// (src/reference/categorical.ts): the same draws at awkward sizes with the outputs poisoned (only
// the drawn column written; draws whose threshold lies within float32 rounding of a boundary may
// be the neighbour), T = 0 as the argmax, and a chi-square test of the frequencies of many draws
// against softmax(logits / T) on fresh random logits at several temperatures.
import { describe, expect, it } from 'vitest';
import { prepareCategoricalSample } from '../src/kernels/categorical.js';
import { categoricalProbs64, categoricalSample64 } from '../src/reference/categorical.js';
import { POISON, TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, randomNormal } from './helpers/reference.js';
import { chiSquare, chiSquareCritical } from './helpers/stats.js';

const POISON_BITS = new Uint32Array(new Float32Array([POISON]).buffer)[0]!;

describe('categorical reference', () => {
  it('probabilities: softmax(l / T), T = 0 the first maximum, NaN weightless', () => {
    const p = categoricalProbs64([0, Math.log(3), NaN], 1);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
    expect(p[2]).toBe(0);
    expect([...categoricalProbs64([1, 5, 5], 0)]).toEqual([0, 1, 0]);
    const hot = categoricalProbs64([0, Math.log(3)], 0.5);
    expect(hot[1]).toBeCloseTo(0.9, 12);
  });

  it('draws follow the inverse CDF of the uniform', () => {
    const logits = [0, 0, 0, 0];
    const r = categoricalSample64(logits, {
      rows: 1,
      classes: 4,
      temperature: 1,
      seed: 3,
      stream: 1,
    });
    expect(r.idx[0]).toBe(Math.ceil(r.u[0]! * 4) - 1);
  });
});

describe.each(TEST_ADAPTERS)('categorical_sample on %s', (adapter) => {
  it.each([
    // rows, classes, positions, position, temperature
    [1, 1, 1, 0, 1],
    [7, 3, 1, 0, 1],
    [65, 10, 3, 2, 0.7],
    [130, 257, 2, 1, 1.9],
    [1000, 5, 4, 0, 0],
  ])('%i rows of %i classes, %i positions, column %i, T = %f', async (rows, K, P, position, T) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const logits = randomNormal(rng, rows * P * K, 2);
    // A NaN and a tie now and then.
    for (let r = 0; r < rows * P; r++) {
      if (r % 7 === 3 && K > 2) logits[r * K + 1] = NaN;
      if (r % 5 === 4 && K > 2) logits[r * K + K - 1] = logits[r * K]!;
    }
    const out = output(rt, 'cs.out', rows * P + 1);
    const d = await prepareCategoricalSample(rt, {
      out,
      logits: upload(rt, 'cs.logits', logits),
      temperature: upload(rt, 'cs.t', new Float32Array([T])),
      position: upload(rt, 'cs.position', new Float32Array([position])),
      rows,
      classes: K,
      positions: P,
      seed,
      step: 5,
      stream: 3,
    });
    await rt.submitChecked([d]);
    const got = await read(rt, out);
    // The raw bits: a NaN payload does not survive a trip through a JS number.
    const gotBits = new Uint32Array(got.buffer, got.byteOffset, got.length);
    const want = categoricalSample64(logits, {
      rows,
      classes: K,
      positions: P,
      position,
      temperature: T,
      seed,
      step: 5,
      stream: 3,
    });
    const ctx = `seed=${seed}`;
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < P; p++) {
        const v = got[r * P + p]!;
        if (p !== position) {
          expect(gotBits[r * P + p], `${ctx} (${r}, ${p}) is not the drawn column`).toBe(
            POISON_BITS,
          );
          continue;
        }
        const w = want.idx[r]!;
        // Within float32 rounding of a boundary the neighbour is as good an answer.
        const close = want.margin[r]! < 1e-5 && Math.abs(v - w) === 1;
        expect(v === w || close, `${ctx} row ${r}: got ${v}, want ${w}`).toBe(true);
      }
    }
    expect(gotBits[rows * P], 'past the end').toBe(POISON_BITS);
  });

  it.each([0.5, 1, 2.5])(
    'frequencies of 40000 draws match softmax(logits / T) at T = %f (chi-square)',
    async (T) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const K = 6;
      const rows = 40000;
      const row = randomNormal(rng, K, 1.5);
      const logits = new Float32Array(rows * K);
      for (let r = 0; r < rows; r++) logits.set(row, r * K);
      const out = output(rt, 'cs.freq', rows);
      const d = await prepareCategoricalSample(rt, {
        out,
        logits: upload(rt, 'cs.freq.logits', logits),
        temperature: upload(rt, 'cs.freq.t', new Float32Array([T])),
        position: upload(rt, 'cs.freq.position', new Float32Array([0])),
        rows,
        classes: K,
        seed,
        stream: 7,
      });
      await rt.submitChecked([d]);
      const got = await read(rt, out);
      const counts = new Array<number>(K).fill(0);
      for (const v of got) counts[v]!++;
      const { statistic, df } = chiSquare(counts, categoricalProbs64(row, T));
      // α = 1e-4 per case: a fresh draw every run, and a failure names its seed.
      expect(
        statistic,
        `seed=${seed} counts ${counts.join(',')} logits ${[...row].map((v) => v.toFixed(3)).join(',')}`,
      ).toBeLessThan(chiSquareCritical(df, 1e-4));
    },
  );

  it('refuses bad sizes and seeds, naming them', async () => {
    const rt = await runtimeFor(adapter);
    const b = output(rt, 'cs.bad', 4);
    const base = {
      out: b,
      logits: b,
      temperature: b,
      position: b,
      rows: 2,
      classes: 2,
      seed: 0,
      stream: 0,
    };
    await expect(prepareCategoricalSample(rt, { ...base, classes: 0 })).rejects.toThrow(
      /categorical_sample: classes must be a positive integer/,
    );
    await expect(prepareCategoricalSample(rt, { ...base, seed: -1 })).rejects.toThrow(
      /categorical_sample: seed must be an integer/,
    );
  });
});
