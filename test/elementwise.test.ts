// Elementwise ops (shaders/elementwise.wgsl, src/kernels/elementwise.ts): a OP b with every
// broadcast shape, scale, masked fill; forward and backward against the float64 reference
// (src/reference/elementwise.ts), the reference backward against finite differences, scalar and
// vec4 paths, accumulate, a tensor used twice (x * x), a 2-D grid and argument checks.
import { describe, expect, it } from 'vitest';
import {
  prepareBinaryBackward,
  prepareBinaryForward,
  prepareMaskedFillBackward,
  prepareMaskedFillForward,
  prepareScaleBackward,
  prepareScaleForward,
  broadcastElements,
  type BinaryOp,
  type Broadcast,
} from '../src/kernels/elementwise.js';
import {
  binaryBackward64,
  binaryForward64,
  maskedFillBackward64,
  maskedFillForward64,
  scaleBackward64,
  scaleForward64,
} from '../src/reference/elementwise.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { differenceVjp, minus, outsideBounds, treeSumBound } from './helpers/vjp.js';

const OPS: BinaryOp[] = ['add', 'sub', 'mul'];
const BROADCASTS: Broadcast[] = ['none', 'row', 'column', 'scalar'];
/** One f32 rounding of a product or sum of values of this size. */
const ROUNDING = { atol: 1e-7, rtol: 2 ** -23 };

function randomMask(rng: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng() < 0.3 ? 1 : 0));
}

/** For each element of b's shape: the number of (r, c) terms summed into it, and sum |term|. */
function dbBound(
  op: BinaryOp,
  a: ArrayLike<number>,
  dout: ArrayLike<number>,
  rows: number,
  cols: number,
  broadcast: Broadcast,
): Float64Array {
  const n = rows * cols;
  const abs = binaryBackward64(
    Float64Array.from(dout, Math.abs),
    op === 'mul' ? Float64Array.from(a, Math.abs) : new Float64Array(n).fill(1),
    new Float64Array(broadcastElements(broadcast, rows, cols)),
    rows,
    cols,
    'mul',
    broadcast,
  ).db;
  const count = (rows * cols) / abs.length;
  return abs.map((s) => treeSumBound(s, count) + 2 ** -23 * s);
}

describe('elementwise references', () => {
  it('binary backward matches finite differences for every op and broadcast', () => {
    const rng = makeRng(freshSeed());
    const [rows, cols] = [3, 4];
    for (const op of OPS) {
      for (const broadcast of BROADCASTS) {
        const a = randomNormal(rng, rows * cols);
        const b = randomNormal(rng, broadcastElements(broadcast, rows, cols));
        const dout = randomNormal(rng, rows * cols);
        const { da, db } = binaryBackward64(dout, a, b, rows, cols, op, broadcast);
        const fa = differenceVjp((x) => binaryForward64(x, b, rows, cols, op, broadcast), a, dout);
        const fb = differenceVjp((x) => binaryForward64(a, x, rows, cols, op, broadcast), b, dout);
        const tol = { atol: 1e-8, rtol: 1e-7 };
        expect(mismatches(da, fa, tol, `${op} ${broadcast} da`)).toBeNull();
        expect(mismatches(db, fb, tol, `${op} ${broadcast} db`)).toBeNull();
      }
    }
  });

  it('scale and masked fill backward match finite differences', () => {
    const rng = makeRng(freshSeed());
    const x = randomNormal(rng, 12);
    const dy = randomNormal(rng, 12);
    const tol = { atol: 1e-8, rtol: 1e-7 };
    expect(
      mismatches(
        scaleBackward64(dy, x, -1.7),
        differenceVjp((z) => scaleForward64(z, -1.7), x, dy),
        tol,
        'scale',
      ),
    ).toBeNull();
    for (const broadcast of BROADCASTS) {
      const mask = randomMask(rng, broadcastElements(broadcast, 3, 4));
      const fd = differenceVjp((z) => maskedFillForward64(z, mask, 3, 4, 2.5, broadcast), x, dy);
      expect(
        mismatches(
          maskedFillBackward64(dy, x, mask, 3, 4, 2.5, broadcast),
          fd,
          tol,
          `mask ${broadcast}`,
        ),
      ).toBeNull();
    }
  });
});

describe.each(TEST_ADAPTERS)('elementwise ops on %s', (adapter) => {
  // Awkward shapes (scalar kernels) and shapes whose rows are whole vec4s.
  const SHAPES: [number, number][] = [
    [1, 1],
    [5, 7],
    [129, 13],
    [33, 8],
    [7, 784],
    [1, 1001],
  ];

  it.each(SHAPES)(
    'a OP b, every op and broadcast, (%i, %i): forward and both gradients',
    async (rows, cols) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const n = rows * cols;
      for (const op of OPS) {
        for (const broadcast of BROADCASTS) {
          const ctx = `${op} ${broadcast} (${rows}, ${cols}) seed=${seed}`;
          const nb = broadcastElements(broadcast, rows, cols);
          const a = randomNormal(rng, n);
          const b = randomNormal(rng, nb);
          const dout = randomNormal(rng, n);
          const [aBuf, bBuf, doutBuf] = [
            upload(rt, 'a', a),
            upload(rt, 'b', b),
            upload(rt, 'dout', dout),
          ];
          // Outputs 4 longer than needed: poisoned tails that must stay NaN, whole vec4s still.
          const out = output(rt, 'out', n + 4);
          const fwd = await prepareBinaryForward(rt, {
            out,
            a: aBuf,
            b: bBuf,
            op,
            rows,
            cols,
            broadcast,
          });
          const vec4 =
            n % 4 === 0 && (broadcast === 'none' || (broadcast === 'row' && cols % 4 === 0));
          expect(fwd.kernel.name, ctx).toBe(vec4 ? 'binary_forward4' : 'binary_forward');
          // da assigned and db accumulated onto a prior value, then the other way round.
          const da = output(rt, 'da', n + 4);
          const priorB = randomNormal(rng, nb);
          const db = upload(rt, 'db', Float32Array.from([...priorB, 0, 0, 0, 0]));
          const bwd = await prepareBinaryBackward(rt, {
            op,
            rows,
            cols,
            broadcast,
            dout: doutBuf,
            a: aBuf,
            b: bBuf,
            da,
            db,
            accumulateB: true,
          });
          const priorA = randomNormal(rng, n);
          const daAcc = upload(rt, 'daAcc', priorA);
          const db2 = output(rt, 'db2', nb + 4);
          const bwd2 = await prepareBinaryBackward(rt, {
            op,
            rows,
            cols,
            broadcast,
            dout: doutBuf,
            a: aBuf,
            b: bBuf,
            da: daAcc,
            db: db2,
            accumulateA: true,
          });
          await rt.submitChecked([fwd, bwd, bwd2]);
          const exp = binaryForward64(a, b, rows, cols, op, broadcast);
          const got = await read(rt, out);
          expect(mismatches(got, exp, ROUNDING, `${ctx} out`)).toBeNull();
          expect(Number.isNaN(got[n]!), `${ctx}: wrote past out`).toBe(true);
          const expGrad = binaryBackward64(dout, a, b, rows, cols, op, broadcast);
          const gotDa = await read(rt, da);
          expect(mismatches(gotDa, expGrad.da, ROUNDING, `${ctx} da`)).toBeNull();
          expect(Number.isNaN(gotDa[n]!)).toBe(true);
          const bound = dbBound(op, a, dout, rows, cols, broadcast);
          const gotDb = await read(rt, db);
          expect(
            outsideBounds(
              minus(gotDb, priorB),
              expGrad.db,
              bound.map((x) => x + 1e-6),
              `${ctx} db +=`,
            ),
          ).toBeNull();
          expect(gotDb[nb], `${ctx}: db written past its end`).toBe(0);
          const gotDb2 = await read(rt, db2);
          expect(outsideBounds(gotDb2, expGrad.db, bound, `${ctx} db`)).toBeNull();
          expect(Number.isNaN(gotDb2[nb]!)).toBe(true);
          const gotDaAcc = await read(rt, daAcc);
          expect(
            mismatches(
              minus(gotDaAcc, priorA),
              expGrad.da,
              { atol: 1e-6, rtol: 1e-6 },
              `${ctx} da +=`,
            ),
          ).toBeNull();
          for (const p of [fwd, bwd, bwd2]) p.destroy();
          for (const r of [aBuf, bBuf, doutBuf, out, da, db, daAcc, db2])
            rt.buffers.destroy(r.buffer);
        }
      }
    },
  );

  it('x * x: both gradients into one buffer, the second accumulating', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    for (const [rows, cols] of [
      [3, 5],
      [4, 8],
    ] as const) {
      const x = randomNormal(rng, rows * cols);
      const dout = randomNormal(rng, rows * cols);
      const xBuf = upload(rt, 'x', x);
      const g = output(rt, 'g', rows * cols);
      const bwd = await prepareBinaryBackward(rt, {
        op: 'mul',
        rows,
        cols,
        dout: upload(rt, 'dout', dout),
        a: xBuf,
        b: xBuf,
        da: g,
        db: g,
        accumulateB: true,
      });
      await rt.submitChecked([bwd]);
      const exp = Array.from(x, (v, i) => 2 * v * dout[i]!);
      expect(
        mismatches(
          await read(rt, g),
          exp,
          { atol: 1e-6, rtol: 1e-6 },
          `(${rows}, ${cols}) seed=${seed}`,
        ),
      ).toBeNull();
    }
  });

  it.each([1, 7, 1000, 1001])(
    'scale of %i values: forward, backward, accumulate, setUniforms',
    async (n) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const x = randomNormal(rng, n);
      const xBuf = upload(rt, 'x', x);
      const y = output(rt, 'y', n + 4);
      const fwd = await prepareScaleForward(rt, { y, x: xBuf, n, scale: -0.37 });
      expect(fwd.kernel.name).toBe(n % 4 === 0 ? 'scale_values4' : 'scale_values');
      const prior = randomNormal(rng, n);
      const dx = upload(rt, 'dx', prior);
      const bwd = await prepareScaleBackward(rt, { dx, dy: xBuf, n, scale: 2.5, accumulate: true });
      await rt.submitChecked([fwd, bwd]);
      const got = await read(rt, y);
      expect(mismatches(got, scaleForward64(x, -0.37), ROUNDING, `n=${n} seed=${seed}`)).toBeNull();
      expect(Number.isNaN(got[n]!)).toBe(true);
      const add = minus(await read(rt, dx), prior);
      expect(
        mismatches(
          add,
          scaleBackward64(x, undefined, 2.5),
          { atol: 1e-6, rtol: 1e-6 },
          `dx += n=${n}`,
        ),
      ).toBeNull();
      fwd.setUniforms({ scale: 3 });
      await rt.submitChecked([fwd]);
      expect(
        mismatches(await read(rt, y), scaleForward64(x, 3), ROUNDING, `rescaled n=${n}`),
      ).toBeNull();
      fwd.destroy();
      bwd.destroy();
    },
  );

  it.each(SHAPES)(
    'masked fill (%i, %i), every mask shape: forward and backward',
    async (rows, cols) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const n = rows * cols;
      for (const broadcast of BROADCASTS) {
        const ctx = `${broadcast} (${rows}, ${cols}) seed=${seed}`;
        const x = randomNormal(rng, n);
        const mask = randomMask(rng, broadcastElements(broadcast, rows, cols));
        const dout = randomNormal(rng, n);
        const maskBuf = upload(rt, 'mask', mask);
        const out = output(rt, 'out', n + 1);
        const fwd = await prepareMaskedFillForward(rt, {
          out,
          x: upload(rt, 'x', x),
          mask: maskBuf,
          rows,
          cols,
          broadcast,
          value: -1e30,
        });
        const dx = output(rt, 'dx', n + 1);
        const prior = randomNormal(rng, n);
        const dxAcc = upload(rt, 'dxAcc', prior);
        const doutBuf = upload(rt, 'dout', dout);
        const bwd = await prepareMaskedFillBackward(rt, {
          dx,
          dout: doutBuf,
          mask: maskBuf,
          rows,
          cols,
          broadcast,
        });
        const acc = await prepareMaskedFillBackward(rt, {
          dx: dxAcc,
          dout: doutBuf,
          mask: maskBuf,
          rows,
          cols,
          broadcast,
          accumulate: true,
        });
        await rt.submitChecked([fwd, bwd, acc]);
        const got = await read(rt, out);
        expect(
          mismatches(
            got,
            maskedFillForward64(x, mask, rows, cols, -1e30, broadcast),
            { atol: 0, rtol: 2 ** -24 },
            ctx,
          ),
        ).toBeNull();
        expect(Number.isNaN(got[n]!)).toBe(true);
        const expDx = maskedFillBackward64(dout, x, mask, rows, cols, -1e30, broadcast);
        const gotDx = await read(rt, dx);
        expect(mismatches(gotDx, expDx, { atol: 0, rtol: 0 }, `${ctx} dx`)).toBeNull();
        expect(Number.isNaN(gotDx[n]!)).toBe(true);
        const expAcc = Array.from(prior, (p, i) => p + expDx[i]!);
        expect(
          mismatches(await read(rt, dxAcc), expAcc, { atol: 1e-6, rtol: 1e-6 }, `${ctx} dx +=`),
        ).toBeNull();
        for (const p of [fwd, bwd, acc]) p.destroy();
      }
    },
  );

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, cols] = [1_400_003, 3];
    const a = randomNormal(rng, rows * cols);
    const b = randomNormal(rng, rows);
    const out = output(rt, 'out', rows * cols);
    const fwd = await prepareBinaryForward(rt, {
      out,
      a: upload(rt, 'a', a),
      b: upload(rt, 'b', b),
      op: 'mul',
      rows,
      cols,
      broadcast: 'column',
    });
    expect(fwd.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([fwd]);
    const exp = binaryForward64(a, b, rows, cols, 'mul', 'column');
    expect(mismatches(await read(rt, out), exp, ROUNDING, `seed=${seed}`)).toBeNull();
    fwd.destroy();
  });

  it('names bad ops, shapes and missing operands', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const o = output(rt, 'o', 12);
    await expect(
      prepareBinaryForward(rt, { out: o, a, b: a, op: 'div' as BinaryOp, rows: 3, cols: 4 }),
    ).rejects.toThrow(/unknown op 'div'/);
    await expect(
      prepareBinaryForward(rt, {
        out: o,
        a,
        b: a,
        op: 'add',
        rows: 3,
        cols: 4,
        broadcast: 'col' as Broadcast,
      }),
    ).rejects.toThrow(/unknown broadcast 'col'/);
    await expect(
      prepareBinaryForward(rt, { out: o, a, b: a, op: 'add', rows: 4, cols: 4 }),
    ).rejects.toThrow(/'ew_out4' holds 3 elements, the shape needs 4/);
    await expect(
      prepareBinaryBackward(rt, { op: 'add', rows: 3, cols: 4, dout: a }),
    ).rejects.toThrow(/give da, db or both/);
    await expect(
      prepareBinaryBackward(rt, { op: 'mul', rows: 3, cols: 4, dout: a, da: o }),
    ).rejects.toThrow(/mul needs the forward's b for da/);
    await expect(prepareScaleForward(rt, { y: o, x: a, n: 12, scale: NaN })).rejects.toThrow(
      /scale must be a finite number/,
    );
    await expect(
      prepareMaskedFillForward(rt, { out: o, x: a, mask: a, rows: 3, cols: 0, value: 0 }),
    ).rejects.toThrow(/cols must be a positive integer/);
  });
});
