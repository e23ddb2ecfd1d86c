// Concat and slice along columns (shaders/columns.wgsl, src/kernels/columns.ts): forward and
// backward against the float64 reference (src/reference/columns.ts), the reference backward against
// finite differences, scalar and vec4 paths, accumulate, padding, a 2-D grid, argument checks.
import { describe, expect, it } from 'vitest';
import {
  prepareConcatCols,
  prepareConcatColsBackward,
  prepareCopyCols,
  prepareSliceCols,
  prepareSliceColsBackward,
} from '../src/kernels/columns.js';
import {
  concatColsBackward64,
  concatColsForward64,
  sliceColsBackward64,
  sliceColsForward64,
} from '../src/reference/columns.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { differenceVjp, minus } from './helpers/vjp.js';

const EXACT = { atol: 0, rtol: 0 };

describe('column references', () => {
  it('backward matches finite differences of the forward', () => {
    const rng = makeRng(freshSeed());
    const [rows, cols] = [3, [2, 5, 1]] as const;
    const xs = cols.map((c) => randomNormal(rng, rows * c));
    const total = 8;
    const dout = randomNormal(rng, rows * total);
    const grads = concatColsBackward64(
      dout,
      cols.map((c) => ({ cols: c })),
      rows,
    );
    cols.forEach((_, i) => {
      const fd = differenceVjp(
        (xi) =>
          concatColsForward64(
            cols.map((c, j) => ({ x: j === i ? xi : xs[j]!, cols: c })),
            rows,
          ),
        xs[i]!,
        dout,
      );
      expect(mismatches(grads[i]!, fd, { atol: 1e-8, rtol: 1e-8 }, `concat d${i}`)).toBeNull();
    });
    const x = randomNormal(rng, rows * 9);
    const dy = randomNormal(rng, rows * 4);
    const fd = differenceVjp((z) => sliceColsForward64(z, rows, 9, 3, 4), x, dy);
    expect(
      mismatches(
        sliceColsBackward64(dy, x, rows, 9, 3, 4),
        fd,
        { atol: 1e-8, rtol: 1e-8 },
        'slice',
      ),
    ).toBeNull();
  });
});

describe.each(TEST_ADAPTERS)('concat and slice along columns on %s', (adapter) => {
  // Widths: awkward (scalar path), all multiples of 4 (vec4 path), one wide input.
  const CASES: [number, number[]][] = [
    [1, [1]],
    [5, [3, 1, 7]],
    [129, [13, 2]],
    [33, [4, 8, 12]],
    [7, [784, 10]],
    [3, [400, 4]],
    [6, [2, 3, 1, 5]],
    [4, [1, 2, 3, 4, 5]],
  ];
  // 2–4 parts not all on the vec4 path: one concat_parts dispatch each way.
  const fusedParts = (cols: number[]) =>
    cols.length >= 2 && cols.length <= 4 && !cols.every((c) => c % 4 === 0);

  it.each(CASES)('rows %i, widths %j: forward, backward (assign and add)', async (rows, cols) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const ctx = `rows ${rows} cols [${cols}] seed=${seed}`;
    const total = cols.reduce((a, b) => a + b, 0);
    const xs = cols.map((c) => randomNormal(rng, rows * c));
    const out = output(rt, 'out', rows * total + 4);
    const fwd = await prepareConcatCols(rt, {
      out,
      rows,
      inputs: xs.map((x, i) => ({ x: upload(rt, `x${i}`, x), cols: cols[i]! })),
    });
    const vec4 = cols.every((c) => c % 4 === 0);
    const fused = fusedParts(cols);
    const copy = vec4 ? 'copy_cols4' : 'copy_cols';
    expect(fwd.dispatches.map((d) => d.kernel.name)).toEqual(
      fused ? ['concat_parts'] : cols.map(() => copy),
    );
    await rt.submitChecked([fwd]);
    const got = await read(rt, out);
    const exp = concatColsForward64(
      xs.map((x, i) => ({ x, cols: cols[i]! })),
      rows,
    );
    expect(mismatches(got, exp, EXACT, `${ctx} concat`)).toBeNull();
    expect(Number.isNaN(got[rows * total]!), `${ctx}: wrote past the output`).toBe(true);

    // Backward: the first input assigns, the second accumulates onto a prior value, the third
    // (if any) has no gradient.
    const dout = randomNormal(rng, rows * total);
    const expGrads = concatColsBackward64(
      dout,
      cols.map((c) => ({ cols: c })),
      rows,
    );
    const prior = randomNormal(rng, rows * (cols[1] ?? 0));
    const dx0 = output(rt, 'dx0', rows * cols[0]! + 4);
    const dx1 = cols.length > 1 ? upload(rt, 'dx1', prior) : undefined;
    const bwd = await prepareConcatColsBackward(rt, {
      dout: upload(rt, 'dout', dout),
      rows,
      inputs: cols.map((c, i) =>
        i === 0
          ? { dx: dx0, cols: c }
          : i === 1
            ? { dx: dx1, cols: c, accumulate: true }
            : { cols: c },
      ),
    });
    expect(bwd.dispatches.map((d) => d.kernel.name)).toEqual(
      fused ? ['concat_parts_backward'] : cols.slice(0, 2).map(() => copy),
    );
    await rt.submitChecked([bwd]);
    const g0 = await read(rt, dx0);
    expect(mismatches(g0, expGrads[0]!, EXACT, `${ctx} dx0`)).toBeNull();
    expect(Number.isNaN(g0[rows * cols[0]!]!)).toBe(true);
    if (dx1) {
      const g1 = await read(rt, dx1);
      expect(
        mismatches(minus(g1, prior), expGrads[1]!, { atol: 1e-6, rtol: 1e-6 }, `${ctx} dx1 +=`),
      ).toBeNull();
    }
    fwd.destroy();
    bwd.destroy();
  });

  it('a part used twice: its one gradient takes the copies in order (assign, then add)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, a, b] = [5, 3, 2];
    const dout = randomNormal(rng, rows * (a + b + a));
    const exp = concatColsBackward64(dout, [{ cols: a }, { cols: b }, { cols: a }], rows);
    const dxA = output(rt, 'dxA', rows * a);
    const dxB = output(rt, 'dxB', rows * b);
    const bwd = await prepareConcatColsBackward(rt, {
      dout: upload(rt, 'dout', dout),
      rows,
      inputs: [
        { dx: dxA, cols: a },
        { dx: dxB, cols: b },
        { dx: dxA, cols: a, accumulate: true },
      ],
    });
    expect(bwd.dispatches.map((d) => d.kernel.name)).toEqual([
      'copy_cols',
      'copy_cols',
      'copy_cols',
    ]);
    await rt.submitChecked([bwd]);
    const sum = exp[0]!.map((v, i) => v + exp[2]![i]!);
    expect(
      mismatches(await read(rt, dxA), sum, { atol: 1e-6, rtol: 1e-6 }, `seed=${seed} dA`),
    ).toBeNull();
    expect(mismatches(await read(rt, dxB), exp[1]!, EXACT, `seed=${seed} dB`)).toBeNull();
    bwd.destroy();
  });

  it.each([
    [5, 11, 3, 7],
    [17, 20, 0, 1],
    [2, 9, 8, 1],
    [33, 24, 8, 12],
    [4, 794, 784, 10],
  ])(
    'slice rows %i cols %i [%i, +%i): forward, padded and accumulated backward',
    async (rows, cols, offset, width) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const ctx = `slice (${rows}, ${cols}) [${offset}, +${width}) seed=${seed}`;
      const x = randomNormal(rng, rows * cols);
      const y = output(rt, 'y', rows * width + 4);
      const fwd = await prepareSliceCols(rt, {
        y,
        x: upload(rt, 'x', x),
        rows,
        cols,
        offset,
        width,
      });
      const dy = randomNormal(rng, rows * width);
      const dyBuf = upload(rt, 'dy', dy);
      const dx = output(rt, 'dx', rows * cols + 4);
      const prior = randomNormal(rng, rows * cols);
      const dxAcc = upload(rt, 'dxAcc', prior);
      const bwd = await prepareSliceColsBackward(rt, { dx, dy: dyBuf, rows, cols, offset, width });
      const acc = await prepareSliceColsBackward(rt, {
        dx: dxAcc,
        dy: dyBuf,
        rows,
        cols,
        offset,
        width,
        accumulate: true,
      });
      await rt.submitChecked([fwd, bwd, acc]);
      const gotY = await read(rt, y);
      expect(
        mismatches(gotY, sliceColsForward64(x, rows, cols, offset, width), EXACT, ctx),
      ).toBeNull();
      expect(Number.isNaN(gotY[rows * width]!)).toBe(true);
      const expDx = sliceColsBackward64(dy, x, rows, cols, offset, width);
      const gotDx = await read(rt, dx);
      expect(mismatches(gotDx, expDx, EXACT, `${ctx} dx`)).toBeNull();
      expect(Number.isNaN(gotDx[rows * cols]!)).toBe(true);
      // Accumulating adds dy inside the block and leaves the rest of dx bit for bit as it was.
      const gotAcc = await read(rt, dxAcc);
      const inBlock = (i: number) => i % cols >= offset && i % cols < offset + width;
      const expAcc = Array.from(prior, (p, i) => (inBlock(i) ? p + expDx[i]! : p));
      expect(mismatches(gotAcc, expAcc, { atol: 1e-6, rtol: 1e-6 }, `${ctx} dx +=`)).toBeNull();
      fwd.destroy();
      bwd.destroy();
      acc.destroy();
    },
  );

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const rows = 1_400_003;
    const x = randomNormal(rng, rows * 3);
    const xBuf = upload(rt, 'x', x);
    const out = output(rt, 'out', rows * 5);
    // x goes into columns 1..3 of a (rows, 5) output, padded with zeros.
    const d = await prepareCopyCols(rt, {
      dst: out,
      src: xBuf,
      rows,
      width: 3,
      srcCols: 3,
      dstCols: 5,
      dstOffset: 1,
      pad: true,
    });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([d]);
    const got = await read(rt, out);
    const exp = sliceColsBackward64(x, undefined, rows, 5, 1, 3);
    expect(mismatches(got, exp, EXACT, `seed=${seed}`)).toBeNull();
    d.destroy();
    rt.buffers.destroy(xBuf.buffer);
    rt.buffers.destroy(out.buffer);
  });

  it('names bad blocks and buffers', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const b = output(rt, 'b', 12);
    await expect(
      prepareSliceCols(rt, { y: b, x: a, rows: 3, cols: 4, offset: 2, width: 3 }),
    ).rejects.toThrow(/srcOffset 2 \+ width 3 exceeds srcCols 4/);
    await expect(
      prepareSliceCols(rt, { y: b, x: a, rows: 3, cols: 4, offset: -1, width: 3 }),
    ).rejects.toThrow(/srcOffset must be an integer/);
    await expect(
      prepareConcatCols(rt, {
        out: b,
        rows: 3,
        inputs: [
          { x: a, cols: 4 },
          { x: a, cols: 1 },
        ],
      }),
    ).rejects.toThrow(/'cp_out' holds 12 elements, the shape needs 15/);
    await expect(prepareConcatCols(rt, { out: b, rows: 3, inputs: [] })).rejects.toThrow(
      /at least one input/,
    );
    await expect(
      prepareConcatCols(rt, { out: b, rows: 3, inputs: [{ x: a, cols: 0 }] }),
    ).rejects.toThrow(/inputs\[0\].cols must be a positive integer/);
    await expect(
      prepareCopyCols(rt, {
        dst: b,
        src: a,
        rows: 3,
        width: 4,
        srcCols: 4,
        dstCols: 4,
        pad: true,
        accumulate: true,
      }),
    ).rejects.toThrow(/pad and accumulate/);
  });
});
