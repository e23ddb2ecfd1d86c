// Backwards of the row reductions (reduce_rows_backward, sumsq_rows_backward in shaders/reduce.wgsl)
// and of repeat_rows (repeat_rows_backward in shaders/graph_util.wgsl): against float64
// (src/reference/reduce.ts and graph-util.ts, themselves checked against finite differences in
// test/reference.test.ts), accumulate, a 2-D grid, argument checks.
import { describe, expect, it } from 'vitest';
import { prepareRepeatRows, prepareRepeatRowsBackward } from '../src/kernels/graph-util.js';
import { prepareReduceRowsBackward, type ReduceOp } from '../src/kernels/reduce.js';
import { repeatRowsBackward64, repeatRowsForward64 } from '../src/reference/graph-util.js';
import { reduceRowsBackward64 } from '../src/reference/reduce.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { minus, outsideBounds, treeSumBound } from './helpers/vjp.js';

const OPS: ReduceOp[] = ['sum', 'mean', 'sumsq'];

describe.each(TEST_ADAPTERS)('row gradients on %s', (adapter) => {
  const SHAPES: [number, number][] = [
    [1, 1],
    [3, 33],
    [129, 7],
    [1, 1000],
  ];

  it.each(SHAPES)('row sum / mean / sum of squares backward (%i, %i)', async (rows, cols) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const n = rows * cols;
    const x = randomNormal(rng, n);
    const dy = randomNormal(rng, rows);
    const [xBuf, dyBuf] = [upload(rt, 'x', x), upload(rt, 'dy', dy)];
    for (const op of OPS) {
      const ctx = `${op} (${rows}, ${cols}) seed=${seed}`;
      const dx = output(rt, 'dx', n + 1);
      const prior = randomNormal(rng, n);
      const dxAcc = upload(rt, 'dxAcc', prior);
      const d = await prepareReduceRowsBackward(rt, { dx, dy: dyBuf, x: xBuf, rows, cols, op });
      const a = await prepareReduceRowsBackward(rt, {
        dx: dxAcc,
        dy: dyBuf,
        x: xBuf,
        rows,
        cols,
        op,
        accumulate: true,
      });
      await rt.submitChecked([d, a]);
      const exp = reduceRowsBackward64(dy, x, rows, cols, op);
      const got = await read(rt, dx);
      // One or two f32 roundings (of 1/cols, of the product).
      expect(mismatches(got, exp, { atol: 0, rtol: 3 * 2 ** -24 }, ctx)).toBeNull();
      expect(Number.isNaN(got[n]!), `${ctx}: wrote past dx`).toBe(true);
      expect(
        mismatches(
          minus(await read(rt, dxAcc), prior),
          exp,
          { atol: 1e-6, rtol: 1e-6 },
          `${ctx} +=`,
        ),
      ).toBeNull();
      d.destroy();
      a.destroy();
    }
  });

  it.each([
    [1, 1, 1],
    [3, 5, 7],
    [128, 20, 50],
    [2, 33, 64],
    [1, 3, 5000],
  ])(
    'repeat_rows (%i rows, %i cols, %i copies): forward and backward',
    async (rows, cols, copies) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const ctx = `repeat (${rows}, ${cols}) x${copies} seed=${seed}`;
      const x = randomNormal(rng, rows * cols);
      const dy = randomNormal(rng, rows * copies * cols);
      const y = output(rt, 'y', rows * copies * cols + 1);
      const dx = output(rt, 'dx', rows * cols + 1);
      const prior = randomNormal(rng, rows * cols);
      const dxAcc = upload(rt, 'dxAcc', prior);
      const dyBuf = upload(rt, 'dy', dy);
      const work = [
        await prepareRepeatRows(rt, { y, x: upload(rt, 'x', x), rows, cols, copies }),
        await prepareRepeatRowsBackward(rt, { dx, dy: dyBuf, rows, cols, copies }),
        await prepareRepeatRowsBackward(rt, {
          dx: dxAcc,
          dy: dyBuf,
          rows,
          cols,
          copies,
          accumulate: true,
        }),
      ];
      await rt.submitChecked(work);
      const gotY = await read(rt, y);
      expect(
        mismatches(gotY, repeatRowsForward64(x, rows, cols, copies), { atol: 0, rtol: 0 }, ctx),
      ).toBeNull();
      expect(Number.isNaN(gotY[rows * copies * cols]!)).toBe(true);
      const exp = repeatRowsBackward64(dy, x, rows, cols, copies);
      // A sequential f32 sum of `copies` terms: error up to copies ulps of the sum of |terms|.
      const absSums = repeatRowsBackward64(dy.map(Math.abs), x, rows, cols, copies);
      const bound = absSums.map((s) => copies * 2 ** -24 * s + treeSumBound(0, 1));
      const got = await read(rt, dx);
      expect(outsideBounds(got, exp, bound, `${ctx} dx`)).toBeNull();
      expect(Number.isNaN(got[rows * cols]!)).toBe(true);
      expect(
        outsideBounds(
          minus(await read(rt, dxAcc), prior),
          exp,
          bound.map((b) => b + 1e-6),
          `${ctx} dx +=`,
        ),
      ).toBeNull();
      for (const w of work) w.destroy();
    },
  );

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, cols] = [1_400_003, 3];
    const dy = randomNormal(rng, rows);
    const dx = output(rt, 'dx', rows * cols);
    const d = await prepareReduceRowsBackward(rt, {
      dx,
      dy: upload(rt, 'dy', dy),
      rows,
      cols,
      op: 'mean',
    });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    const g = output(rt, 'g', rows * cols);
    const r = await prepareRepeatRowsBackward(rt, { dx: g, dy: dx, rows, cols, copies: 1 });
    expect(r.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([d, r]);
    const exp = reduceRowsBackward64(dy, new Float64Array(rows * cols), rows, cols, 'mean');
    expect(
      mismatches(await read(rt, dx), exp, { atol: 0, rtol: 3 * 2 ** -24 }, `seed=${seed}`),
    ).toBeNull();
    expect(
      mismatches(await read(rt, g), exp, { atol: 0, rtol: 3 * 2 ** -24 }, `repeat seed=${seed}`),
    ).toBeNull();
    d.destroy();
    r.destroy();
  });

  it('names bad shapes and a missing input', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const o = output(rt, 'o', 12);
    await expect(
      prepareReduceRowsBackward(rt, { dx: o, dy: a, rows: 3, cols: 4, op: 'sumsq' }),
    ).rejects.toThrow(/'sumsq' needs the forward input x/);
    await expect(prepareReduceRowsBackward(rt, { dx: o, dy: a, rows: 4, cols: 4 })).rejects.toThrow(
      /'dx' holds 12 elements, the shape needs 16/,
    );
    await expect(
      prepareRepeatRowsBackward(rt, { dx: o, dy: a, rows: 3, cols: 4, copies: 0 }),
    ).rejects.toThrow(/copies must be a positive integer/);
    await expect(
      prepareRepeatRowsBackward(rt, { dx: o, dy: a, rows: 3, cols: 4, copies: 2 }),
    ).rejects.toThrow(/'rep_dy' holds 12 elements, the shape needs 24/);
  });
});
