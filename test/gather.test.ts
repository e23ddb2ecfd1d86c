// Row lookups (shaders/gather.wgsl, src/kernels/gather.ts): gather_rows, one_hot and class_cycle against the
// float64 reference (src/reference/gather.ts), exact, with invalid indices giving zero rows; the
// reference gather gradient against finite differences and against one_hot(idx)^T · dout (the form
// the graph uses); a 2-D grid and argument checks.
import { describe, expect, it } from 'vitest';
import { prepareClassCycle, prepareGatherRows, prepareOneHot } from '../src/kernels/gather.js';
import {
  classCycleForward64,
  gatherRowsBackward64,
  gatherRowsForward64,
  oneHotForward64,
} from '../src/reference/gather.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { differenceVjp } from './helpers/vjp.js';

const EXACT = { atol: 0, rtol: 0 };

/** Indices in [0, n), every 4th one invalid: -1, n, 2.5, NaN, 1e9 in turn. */
function indices(rng: () => number, rows: number, n: number): Float32Array {
  const bad = [-1, n, 2.5, NaN, 1e9];
  return Float32Array.from({ length: rows }, (_, r) =>
    r % 4 === 3 ? bad[((r - 3) / 4) % bad.length]! : Math.floor(rng() * n),
  );
}

describe('gather references', () => {
  it('the gather gradient is the scatter-add: finite differences and one_hot^T · dout', () => {
    const rng = makeRng(freshSeed());
    const [tableRows, cols, rows] = [5, 3, 9];
    const table = randomNormal(rng, tableRows * cols);
    const idx = indices(rng, rows, tableRows);
    const dout = randomNormal(rng, rows * cols);
    const grad = gatherRowsBackward64(dout, table, idx, tableRows, cols);
    const fd = differenceVjp((t) => gatherRowsForward64(t, idx, tableRows, cols), table, dout);
    expect(mismatches(grad, fd, { atol: 1e-8, rtol: 1e-8 }, 'FD')).toBeNull();
    const oh = oneHotForward64(idx, tableRows);
    const viaMatmul = new Float64Array(tableRows * cols);
    for (let k = 0; k < tableRows; k++)
      for (let c = 0; c < cols; c++)
        for (let r = 0; r < rows; r++)
          viaMatmul[k * cols + c] =
            viaMatmul[k * cols + c]! + oh[r * tableRows + k]! * dout[r * cols + c]!;
    expect(mismatches(grad, viaMatmul, { atol: 1e-12, rtol: 1e-12 }, 'one_hot^T dout')).toBeNull();
  });
});

describe.each(TEST_ADAPTERS)('row lookups on %s', (adapter) => {
  it.each([
    [1, 1, 1],
    [7, 10, 3],
    [129, 10, 20],
    [33, 1000, 1],
    [5, 3, 784],
  ])(
    'gather %i rows of a (%i, %i) table, one_hot and class_cycle',
    async (rows, tableRows, cols) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const ctx = `(${rows} of ${tableRows}, ${cols}) seed=${seed}`;
      const table = randomNormal(rng, tableRows * cols);
      const idx = indices(rng, rows, tableRows);
      const idxBuf = upload(rt, 'idx', idx);
      const out = output(rt, 'out', rows * cols + 1);
      const oh = output(rt, 'oh', rows * tableRows + 1);
      const cc = output(rt, 'cc', rows * cols + 1);
      const work = [
        await prepareGatherRows(rt, {
          out,
          table: upload(rt, 'table', table),
          idx: idxBuf,
          rows,
          cols,
          tableRows,
        }),
        await prepareOneHot(rt, { out: oh, labels: idxBuf, rows, classes: tableRows }),
        // Every class in turn over rows·cols labels.
        await prepareClassCycle(rt, { out: cc, rows: rows * cols, classes: tableRows }),
      ];
      await rt.submitChecked(work);
      const got = await read(rt, out);
      expect(
        mismatches(got, gatherRowsForward64(table, idx, tableRows, cols), EXACT, ctx),
      ).toBeNull();
      expect(Number.isNaN(got[rows * cols]!)).toBe(true);
      const gotOh = await read(rt, oh);
      expect(
        mismatches(gotOh, oneHotForward64(idx, tableRows), EXACT, `${ctx} one_hot`),
      ).toBeNull();
      expect(Number.isNaN(gotOh[rows * tableRows]!)).toBe(true);
      const gotCc = await read(rt, cc);
      const wantCc = classCycleForward64(rows * cols, tableRows);
      expect(mismatches(gotCc, wantCc, EXACT, `${ctx} class_cycle`)).toBeNull();
      expect(Number.isNaN(gotCc[rows * cols]!)).toBe(true);
      for (const w of work) w.destroy();
    },
  );

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, classes] = [420_001, 10];
    const labels = indices(rng, rows, classes);
    const out = output(rt, 'oh', rows * classes);
    const d = await prepareOneHot(rt, { out, labels: upload(rt, 'labels', labels), rows, classes });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([d]);
    expect(
      mismatches(await read(rt, out), oneHotForward64(labels, classes), EXACT, `seed=${seed}`),
    ).toBeNull();
    d.destroy();
  });

  it('names bad shapes', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const o = output(rt, 'o', 12);
    await expect(
      prepareGatherRows(rt, { out: o, table: a, idx: a, rows: 3, cols: 4, tableRows: 4 }),
    ).rejects.toThrow(/'ga_table' holds 12 elements, the shape needs 16/);
    await expect(prepareOneHot(rt, { out: o, labels: a, rows: 3, classes: 0 })).rejects.toThrow(
      /classes must be a positive integer/,
    );
    await expect(
      prepareOneHot(rt, { out: o, labels: a, rows: 3, classes: 2 ** 24 + 1 }),
    ).rejects.toThrow(/exceeds 2\^24/);
  });
});
