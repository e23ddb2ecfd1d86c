import { describe, expect, it } from 'vitest';
import {
  prepareLogSumExpBackward,
  prepareLogSumExpRows,
  prepareReduceCols,
  prepareReduceRows,
  prepareReduceTotal,
  type ReduceOp,
} from '../src/kernels/reduce.js';
import type { Program } from '../src/gpu/program.js';
import {
  logSumExpRowsBackward64,
  logSumExpRowsForward64,
  reduceColsForward64,
  reduceRowsForward64,
} from '../src/reference/reduce.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import type { BufferRange } from '../src/gpu/buffers.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';

const EPS32 = 2 ** -24;

/** Small integers: every partial sum is exact in f32, so any indexing error shows exactly. */
function randomInts(rng: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.floor(rng() * 17) - 8);
}

/**
 * Float64 sums of f(x) over rows ('rows': (R, C) -> R) or columns ('cols': -> C), with the same
 * reduction of |f(x)| for the error bound (src/reference/reduce.ts).
 */
function reference(
  x: Float32Array,
  rows: number,
  cols: number,
  axis: 'rows' | 'cols',
  op: ReduceOp,
) {
  const reduce = axis === 'rows' ? reduceRowsForward64 : reduceColsForward64;
  return {
    sum: reduce(x, rows, cols, op),
    abs: reduce(Float64Array.from(x, Math.abs), rows, cols, op),
  };
}

/** Tree summation bound: a few ulps of sum|x| per pass of 32-element blocks, plus the final scale. */
function sumBound(abs: Float64Array, count: number): Float64Array {
  const passes = Math.max(1, Math.ceil(Math.log(count) / Math.log(32)));
  return abs.map((a) => 8 * passes * EPS32 * a + 1e-30);
}

function closeWithin(
  got: Float32Array,
  exp: Float64Array,
  bound: Float64Array,
  name: string,
): string | null {
  const bad: string[] = [];
  for (let i = 0; i < exp.length; i++) {
    const err = Math.abs(got[i]! - exp[i]!);
    if (!(err <= bound[i]!)) {
      if (bad.length < 8)
        bad.push(
          `  [${i}] got ${got[i]}, expected ${exp[i]} (diff ${err.toExponential(2)}, bound ${bound[i]!.toExponential(2)})`,
        );
      else break;
    }
  }
  return bad.length ? `${name}:\n${bad.join('\n')}` : null;
}

async function run(rt: GpuRuntime, r: Program, out: BufferRange): Promise<Float32Array> {
  await rt.submitChecked([r]);
  const got = await read(rt, out);
  r.destroy();
  return got;
}

const lse64 = logSumExpRowsForward64;

const SHAPES: [number, number][] = [
  [1, 1],
  [3, 33],
  [7, 1000],
  [1, 100003],
  [100003, 1],
  [5, 20011],
  [1025, 3],
];

describe.each(TEST_ADAPTERS)('reductions on %s', (adapter) => {
  it.each(['rows', 'cols'] as const)(
    'sum/mean/sumsq over %s, awkward shapes, exact on integers',
    async (axis) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const prepare = axis === 'rows' ? prepareReduceRows : prepareReduceCols;
      for (const [rows, cols] of SHAPES) {
        const n = axis === 'rows' ? rows : cols;
        const count = axis === 'rows' ? cols : rows;
        const ctx = `${axis} (${rows}, ${cols}) seed=${seed}`;
        // Exact: integers.
        const ints = randomInts(rng, rows * cols);
        const intBuf = upload(rt, 'ints', ints);
        const out = output(rt, 'out', n + 1);
        const got = await run(rt, await prepare(rt, { x: intBuf, out, rows, cols }), out);
        const exp = reference(ints, rows, cols, axis, 'sum').sum;
        expect(mismatches(got, exp, { atol: 0, rtol: 0 }, `${ctx} integer sum`)).toBeNull();
        expect(Number.isNaN(got[n]!), `${ctx}: wrote past the output`).toBe(true);
        // Normals, each op, against float64 with a bound that grows with the size.
        const x = randomNormal(rng, rows * cols, 2, 0.5);
        const xBuf = upload(rt, 'x', x);
        for (const op of ['sum', 'mean', 'sumsq'] as const) {
          const o = output(rt, 'out', n);
          const g = await run(rt, await prepare(rt, { x: xBuf, out: o, rows, cols, op }), o);
          const { sum, abs } = reference(x, rows, cols, axis, op);
          expect(closeWithin(g, sum, sumBound(abs, count), `${ctx} ${op}`)).toBeNull();
          rt.buffers.destroy(o.buffer);
        }
        for (const b of [intBuf, out, xBuf]) rt.buffers.destroy(b.buffer);
      }
    },
  );

  it('accumulates into the output (bias gradient, row mean, total)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, cols] = [1031, 37];
    const x = randomInts(rng, rows * cols);
    const xBuf = upload(rt, 'x', x);
    const prior = randomInts(rng, rows);
    const ctx = `seed=${seed}`;

    const colOut = upload(rt, 'db', prior.slice(0, cols));
    const gotCols = await run(
      rt,
      await prepareReduceCols(rt, { x: xBuf, out: colOut, rows, cols, accumulate: true }),
      colOut,
    );
    const expCols = reference(x, rows, cols, 'cols', 'sum').sum.map((s, c) => s + prior[c]!);
    expect(mismatches(gotCols, expCols, { atol: 0, rtol: 0 }, `${ctx} cols +=`)).toBeNull();

    const rowOut = upload(rt, 'rows', prior);
    const gotRows = await run(
      rt,
      await prepareReduceRows(rt, {
        x: xBuf,
        out: rowOut,
        rows,
        cols,
        op: 'mean',
        accumulate: true,
      }),
      rowOut,
    );
    const expRows = reference(x, rows, cols, 'rows', 'mean').sum.map((s, r) => s + prior[r]!);
    expect(
      mismatches(gotRows, expRows, { atol: 1e-6, rtol: 1e-6 }, `${ctx} rows mean +=`),
    ).toBeNull();

    const totalOut = upload(rt, 'total', new Float32Array([5]));
    const gotTotal = await run(
      rt,
      await prepareReduceTotal(rt, { x: xBuf, out: totalOut, n: rows * cols, accumulate: true }),
      totalOut,
    );
    expect(gotTotal[0]).toBe(x.reduce((a, b) => a + b, 0) + 5);
  });

  it('total sum and sum of squares of 1 and 100003 values', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const n of [1, 100003]) {
      const x = randomNormal(rng, n, 3);
      const xBuf = upload(rt, 'x', x);
      for (const op of ['sum', 'mean', 'sumsq'] as const) {
        const out = output(rt, 'total', 2);
        const got = await run(rt, await prepareReduceTotal(rt, { x: xBuf, out, n, op }), out);
        const { sum, abs } = reference(x, 1, n, 'rows', op);
        expect(closeWithin(got, sum, sumBound(abs, n), `n=${n} ${op} seed=${seed}`)).toBeNull();
        expect(Number.isNaN(got[1]!)).toBe(true);
      }
    }
  });

  it('logsumexp over rows: stable for large magnitudes, multi-pass, and its backward', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    // rows, cols, offset (alternating sign by row), std: a small std makes every element matter.
    const cases: [number, number, number, number][] = [
      [1, 1, 0, 1],
      [4, 5, 1000, 10],
      [3, 1025, -500, 0.5],
      [1, 100003, 0, 1],
      [1000, 50, 80, 2],
      [5, 3000, 0, 10],
      [2, 7, 1e30, 1e29],
    ];
    for (const [rows, cols, offset, std] of cases) {
      const ctx = `lse (${rows}, ${cols}) offset ${offset} seed=${seed}`;
      const x = randomNormal(rng, rows * cols, std);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          x[r * cols + c] = x[r * cols + c]! + offset * (r % 2 ? -1 : 1);
      const xBuf = upload(rt, 'x', x);
      const out = output(rt, 'lse', rows + 1);
      const got = await run(rt, await prepareLogSumExpRows(rt, { x: xBuf, out, rows, cols }), out);
      const exp = lse64(x, rows, cols);
      // f32 rounding of m + log(s): ulps of |lse| plus the summation error of s (>= 1) in log.
      const passes = Math.ceil(Math.log(Math.max(cols, 2)) / Math.log(32));
      expect(
        mismatches(got, exp, { atol: 8 * passes * EPS32 * 4, rtol: 4 * EPS32 }, ctx),
      ).toBeNull();
      expect(Number.isNaN(got[rows]!), `${ctx}: wrote past the output`).toBe(true);

      if (rows * cols > 10000 || offset === 1e30) continue;
      // Backward: dx = dy * softmax, assign and accumulate, against float64 and finite differences.
      const dy = randomNormal(rng, rows);
      const dyBuf = upload(rt, 'dy', dy);
      const dx = output(rt, 'dx', rows * cols + 1);
      const prior = randomNormal(rng, rows * cols);
      const dxAcc = upload(rt, 'dxAcc', prior);
      const lseBuf = upload(rt, 'lseIn', got.slice(0, rows));
      const bwd = await prepareLogSumExpBackward(rt, {
        dx,
        dy: dyBuf,
        x: xBuf,
        lse: lseBuf,
        rows,
        cols,
      });
      const acc = await prepareLogSumExpBackward(rt, {
        dx: dxAcc,
        dy: dyBuf,
        x: xBuf,
        lse: lseBuf,
        rows,
        cols,
        accumulate: true,
      });
      await rt.submitChecked([bwd, acc]);
      const gotDx = await read(rt, dx);
      const gotAcc = await read(rt, dxAcc);
      const expDx = logSumExpRowsBackward64(dy, x, rows, cols);
      // exp(x - lse) with |x| ~ 1000 carries the f32 rounding of lse (ulp ~ 6e-5).
      const tol = { atol: 1e-6, rtol: 4 * EPS32 * (Math.abs(offset) + 50) };
      expect(mismatches(gotDx, expDx, tol, `${ctx} dx`)).toBeNull();
      // The accumulated part, exact in float64: the error scales with dx, not with prior + dx.
      const added = Array.from(gotAcc.slice(0, rows * cols), (a, i) => a - prior[i]!);
      expect(
        mismatches(added, expDx, { ...tol, atol: tol.atol + 1e-6 }, `${ctx} dx +=`),
      ).toBeNull();
      expect(Number.isNaN(gotDx[rows * cols]!)).toBe(true);
      const f = (z: Float64Array) => lse64(z, rows, cols).reduce((s, l, r) => s + dy[r]! * l, 0);
      const idx = Array.from({ length: Math.min(rows * cols, 200) }, (_, i) => i);
      const fd = finiteDifference(
        f,
        Float64Array.from(x),
        1e-4 * (1 + Math.abs(offset) / 100),
        idx,
      );
      expect(
        mismatches(
          idx.map((i) => gotDx[i]!),
          idx.map((i) => fd[i]!),
          { atol: 1e-4, rtol: 1e-3 },
          `${ctx} FD`,
        ),
      ).toBeNull();
      bwd.destroy();
      acc.destroy();
    }
  });

  it('covers more than 65535 workgroups per pass (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const n = 65536 * 64 + 5; // one more row than 65535 workgroups of 64 cover
    const x = randomInts(rng, n);
    const xBuf = upload(rt, 'x', x);
    for (const axis of ['rows', 'cols'] as const) {
      const out = output(rt, 'out', n);
      const r =
        axis === 'rows'
          ? await prepareReduceRows(rt, { x: xBuf, out, rows: n, cols: 1, op: 'sumsq' })
          : await prepareReduceCols(rt, { x: xBuf, out, rows: 1, cols: n, op: 'sumsq' });
      expect(r.dispatches[0]!.workgroups[1]).toBeGreaterThan(1);
      const got = await run(rt, r, out);
      const exp = Array.from(x, (v) => v * v);
      expect(mismatches(got, exp, { atol: 0, rtol: 0 }, `${axis} seed=${seed}`)).toBeNull();
      rt.buffers.destroy(out.buffer);
    }
    rt.buffers.destroy(xBuf.buffer);
  });

  it('names bad shapes and options', async () => {
    const rt = await runtimeFor(adapter);
    const x = upload(rt, 'x', new Float32Array(12));
    const out = output(rt, 'out', 2);
    await expect(prepareReduceRows(rt, { x, out, rows: 0, cols: 3 })).rejects.toThrow(
      /rows must be a positive integer/,
    );
    await expect(prepareReduceRows(rt, { x, out, rows: 2, cols: 6, block: 1 })).rejects.toThrow(
      /block must be/,
    );
    await expect(
      prepareReduceRows(rt, { x, out, rows: 2, cols: 6, op: 'max' as ReduceOp }),
    ).rejects.toThrow(/unknown op 'max'/);
    await expect(prepareReduceCols(rt, { x, out, rows: 4, cols: 3 })).rejects.toThrow(
      /'out' holds 2 elements, the shape needs 3/,
    );
    await expect(prepareReduceRows(rt, { x, out, rows: 2, cols: 7 })).rejects.toThrow(
      /'x' holds 12 elements, the shape needs 14/,
    );
    await expect(prepareLogSumExpRows(rt, { x, out, rows: 2, cols: 1.5 })).rejects.toThrow(
      /cols must be a positive integer/,
    );
  });
});
