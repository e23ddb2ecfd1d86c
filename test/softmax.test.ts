// Softmax family (shaders/softmax.wgsl, src/kernels/softmax.ts): softmax, log-softmax, softmax
// cross-entropy (labels and probability rows) and the entropy of a softmax, forward and backward
// against the float64 reference (src/reference/softmax.ts), the reference backward against finite
// differences; rows of 1 to 5000 classes (one block, block sums plus reduce passes), logits offset
// by ±1000 and peaked rows, invalid labels, lse given or recomputed, accumulate, a 2-D grid and
// argument checks.
import { describe, expect, it } from 'vitest';
import {
  prepareSoftmaxBackward,
  prepareSoftmaxCrossEntropyBackward,
  prepareSoftmaxCrossEntropyForward,
  prepareSoftmaxEntropyBackward,
  prepareSoftmaxEntropyForward,
  prepareSoftmaxForward,
} from '../src/kernels/softmax.js';
import {
  logSoftmaxBackward64,
  logSoftmaxForward64,
  softmaxBackward64,
  softmaxCrossEntropyBackward64,
  softmaxCrossEntropyForward64,
  softmaxEntropyBackward64,
  softmaxEntropyForward64,
  softmaxForward64,
  type CrossEntropyTarget64,
} from '../src/reference/softmax.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { differenceVjp, minus } from './helpers/vjp.js';

const EPS32 = 2 ** -24;
const FD_TOL = { atol: 1e-7, rtol: 1e-6 };

/** Logits (rows, cols): normals of std `std` plus `offset` with the sign alternating by row. */
function logits(rng: () => number, rows: number, cols: number, offset: number, std: number) {
  const x = randomNormal(rng, rows * cols, std);
  return x.map((v, i) => v + (Math.floor(i / cols) % 2 ? -offset : offset));
}

/** Probability rows (softmax of normals), the last row scaled by 1.7 (not normalised). */
function probRows(rng: () => number, rows: number, cols: number): Float32Array {
  const t = Float32Array.from(softmaxForward64(randomNormal(rng, rows * cols, 2), rows, cols));
  for (let c = 0; c < cols; c++) t[(rows - 1) * cols + c] = t[(rows - 1) * cols + c]! * 1.7;
  return t;
}

/** Class labels, every 5th one invalid (-1, cols, 1.5 or NaN). */
function labelRows(rng: () => number, rows: number, cols: number): Float32Array {
  const bad = [-1, cols, 1.5, NaN];
  return Float32Array.from({ length: rows }, (_, r) =>
    r % 5 === 4 ? bad[((r / 5) % 4) | 0]! : Math.floor(rng() * cols),
  );
}

describe('softmax references', () => {
  it('every backward matches finite differences of its forward', () => {
    const rng = makeRng(freshSeed());
    const [rows, cols] = [4, 5];
    const x = randomNormal(rng, rows * cols, 2);
    const dy = randomNormal(rng, rows * cols);
    const dr = randomNormal(rng, rows);
    const fd = (f: (z: Float64Array) => ArrayLike<number>, up: ArrayLike<number>) =>
      differenceVjp(f, x, up);
    expect(
      mismatches(
        softmaxBackward64(dy, x, rows, cols),
        fd((z) => softmaxForward64(z, rows, cols), dy),
        FD_TOL,
        'softmax',
      ),
    ).toBeNull();
    expect(
      mismatches(
        logSoftmaxBackward64(dy, x, rows, cols),
        fd((z) => logSoftmaxForward64(z, rows, cols), dy),
        FD_TOL,
        'log-softmax',
      ),
    ).toBeNull();
    const targets: CrossEntropyTarget64[] = [
      { labels: [0, 4, 2.5, -1] },
      { probs: probRows(rng, rows, cols) },
    ];
    for (const t of targets) {
      const g = softmaxCrossEntropyBackward64(dr, x, t, rows, cols);
      const f = (z: Float64Array) => softmaxCrossEntropyForward64(z, t, rows, cols);
      expect(mismatches(g.dlogits, fd(f, dr), FD_TOL, 'ce dlogits')).toBeNull();
      if ('probs' in t) {
        const dp = differenceVjp(
          (p) => softmaxCrossEntropyForward64(x, { probs: p }, rows, cols),
          t.probs,
          dr,
        );
        expect(mismatches(g.dprobs!, dp, FD_TOL, 'ce dprobs')).toBeNull();
      }
    }
    expect(
      mismatches(
        softmaxEntropyBackward64(dr, x, rows, cols),
        fd((z) => softmaxEntropyForward64(z, rows, cols), dr),
        FD_TOL,
        'entropy',
      ),
    ).toBeNull();
  });
});

interface Case {
  rows: number;
  cols: number;
  offset: number;
  std: number;
}

const CASES: Case[] = [
  { rows: 1, cols: 1, offset: 0, std: 1 },
  { rows: 5, cols: 3, offset: 0, std: 1 },
  { rows: 129, cols: 10, offset: 0, std: 3 },
  { rows: 7, cols: 33, offset: 1000, std: 2 },
  { rows: 3, cols: 1025, offset: 0, std: 1 },
  { rows: 2, cols: 5000, offset: -20, std: 4 },
  // Peaked rows: one class far above the others, softmax 1 and 0 up to f32.
  { rows: 6, cols: 12, offset: 0, std: 60 },
];

async function run(rt: GpuRuntime, work: Parameters<GpuRuntime['submitChecked']>[0]) {
  await rt.submitChecked(work);
  for (const w of work) w.destroy();
}

describe.each(TEST_ADAPTERS)('softmax family on %s', (adapter) => {
  it.each(CASES)('softmax and log-softmax $rows x $cols (offset $offset, std $std)', async (c) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const { rows, cols } = c;
    const n = rows * cols;
    const x = logits(rng, rows, cols, c.offset, c.std);
    const mag = Math.max(...x.map(Math.abs));
    const xBuf = upload(rt, 'x', x);
    const dy = randomNormal(rng, n);
    const dyBuf = upload(rt, 'dy', dy);
    for (const log of [false, true]) {
      const ctx = `${log ? 'log-' : ''}softmax (${rows}, ${cols}) offset ${c.offset} seed=${seed}`;
      const y = output(rt, 'y', n + 1);
      const lse = output(rt, 'lse', rows + 1);
      // With the lse output (kept for a backward) and without.
      const y2 = output(rt, 'y2', n);
      await run(rt, [
        await prepareSoftmaxForward(rt, { y, x: xBuf, rows, cols, log, lse }),
        await prepareSoftmaxForward(rt, { y: y2, x: xBuf, rows, cols, log }),
      ]);
      const got = await read(rt, y);
      const exp = log ? logSoftmaxForward64(x, rows, cols) : softmaxForward64(x, rows, cols);
      // x - lse carries the rounding of lse: a few ulps of the largest |x|.
      const tol = log
        ? { atol: 8 * EPS32 * (mag + 1), rtol: 0 }
        : { atol: 1e-7, rtol: 8 * EPS32 * (mag + 1) };
      expect(mismatches(got, exp, tol, ctx)).toBeNull();
      expect(Number.isNaN(got[n]!), `${ctx}: wrote past y`).toBe(true);
      expect(
        mismatches(await read(rt, y2), got.slice(0, n), { atol: 0, rtol: 0 }, `${ctx} y2`),
      ).toBeNull();
      const gotLse = await read(rt, lse);
      expect(Number.isFinite(gotLse[rows - 1]!) && Number.isNaN(gotLse[rows]!)).toBe(true);

      // Backward from the GPU's own y: assign, and accumulate onto a prior value.
      const yIn = upload(rt, 'yIn', got.slice(0, n));
      const dx = output(rt, 'dx', n + 1);
      const prior = randomNormal(rng, n);
      const dxAcc = upload(rt, 'dxAcc', prior);
      await run(rt, [
        await prepareSoftmaxBackward(rt, { dx, dy: dyBuf, y: yIn, rows, cols, log }),
        await prepareSoftmaxBackward(rt, {
          dx: dxAcc,
          dy: dyBuf,
          y: yIn,
          rows,
          cols,
          log,
          accumulate: true,
        }),
      ]);
      const expDx = log
        ? logSoftmaxBackward64(dy, x, rows, cols)
        : softmaxBackward64(dy, x, rows, cols);
      const btol = { atol: 1e-6 + 16 * EPS32 * (mag + 1) * Math.sqrt(cols), rtol: 1e-5 };
      const gotDx = await read(rt, dx);
      expect(mismatches(gotDx, expDx, btol, `${ctx} dx`)).toBeNull();
      expect(Number.isNaN(gotDx[n]!)).toBe(true);
      expect(
        mismatches(
          minus(await read(rt, dxAcc), prior),
          expDx,
          { ...btol, atol: btol.atol + 1e-6 },
          `${ctx} dx +=`,
        ),
      ).toBeNull();
      for (const r of [y, lse, y2, yIn, dx, dxAcc]) rt.buffers.destroy(r.buffer);
    }
  });

  it.each(CASES)(
    'cross-entropy with labels and with probabilities $rows x $cols (offset $offset)',
    async (c) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      const { rows, cols } = c;
      const n = rows * cols;
      const x = logits(rng, rows, cols, c.offset, c.std);
      const mag = Math.max(...x.map(Math.abs));
      const xBuf = upload(rt, 'x', x);
      const dce = randomNormal(rng, rows);
      const dceBuf = upload(rt, 'dce', dce);
      const targets: [
        string,
        CrossEntropyTarget64,
        { labels: ReturnType<typeof upload> } | { probs: ReturnType<typeof upload> },
      ][] = [];
      const labels = labelRows(rng, rows, cols);
      targets.push(['labels', { labels }, { labels: upload(rt, 'labels', labels) }]);
      const probs = probRows(rng, rows, cols);
      targets.push(['probs', { probs }, { probs: upload(rt, 'probs', probs) }]);
      for (const [kind, t64, t] of targets) {
        const ctx = `ce ${kind} (${rows}, ${cols}) offset ${c.offset} seed=${seed}`;
        const ce = output(rt, 'ce', rows + 1);
        const lse = output(rt, 'lse', rows);
        await run(rt, [
          await prepareSoftmaxCrossEntropyForward(rt, { ce, logits: xBuf, rows, cols, lse, ...t }),
        ]);
        const exp = softmaxCrossEntropyForward64(x, t64, rows, cols);
        const got = await read(rt, ce);
        // Each term is t (lse - x): a few ulps of the largest |x| (or of lse) per unit of t.
        const tol = { atol: 16 * EPS32 * (mag + 1) * 1.7, rtol: 1e-5 };
        expect(mismatches(got, exp, tol, ctx)).toBeNull();
        expect(Number.isNaN(got[rows]!), `${ctx}: wrote past ce`).toBe(true);

        // Backward with the forward's lse (dlogits assigned) and recomputing it (accumulated).
        const exp64 = softmaxCrossEntropyBackward64(dce, x, t64, rows, cols);
        const dl = output(rt, 'dl', n + 1);
        const prior = randomNormal(rng, n);
        const dlAcc = upload(rt, 'dlAcc', prior);
        const dp = kind === 'probs' ? output(rt, 'dp', n + 1) : undefined;
        await run(rt, [
          await prepareSoftmaxCrossEntropyBackward(rt, {
            dlogits: dl,
            dprobs: dp,
            dce: dceBuf,
            logits: xBuf,
            rows,
            cols,
            lse,
            ...t,
          }),
          await prepareSoftmaxCrossEntropyBackward(rt, {
            dlogits: dlAcc,
            accumulate: true,
            dce: dceBuf,
            logits: xBuf,
            rows,
            cols,
            ...t,
          }),
        ]);
        // dlogits = dce (p Σt - t): p = exp(x - lse) carries the rounding of x - lse, a few ulps of
        // |x| + |lse| relative to p, and in a peaked row the label's p - 1 cancels it down to an
        // absolute error of |dce| p (ulps of mag) on a value near 0: the bound scales with p.
        const p64 = softmaxForward64(x, rows, cols);
        const tsum = new Float64Array(rows).fill(1);
        if ('probs' in t64) {
          for (let r = 0; r < rows; r++) {
            let sum = 0;
            for (let c = 0; c < cols; c++) sum += t64.probs[r * cols + c]!;
            tsum[r] = sum;
          }
        }
        const cancel = Float64Array.from(p64, (p, i) => {
          const r = Math.floor(i / cols);
          return 1e-6 + 16 * EPS32 * (mag + 1) * Math.abs(dce[r]!) * p * tsum[r]!;
        });
        const btol = { atol: cancel, rtol: 16 * EPS32 * (mag + 1) };
        const gotDl = await read(rt, dl);
        expect(mismatches(gotDl, exp64.dlogits, btol, `${ctx} dlogits`)).toBeNull();
        expect(Number.isNaN(gotDl[n]!)).toBe(true);
        expect(
          mismatches(
            minus(await read(rt, dlAcc), prior),
            exp64.dlogits,
            { ...btol, atol: cancel.map((v) => v + 1e-6) },
            `${ctx} dlogits +=`,
          ),
        ).toBeNull();
        if (dp) {
          const gotDp = await read(rt, dp);
          expect(
            mismatches(
              gotDp,
              exp64.dprobs!,
              { atol: 16 * EPS32 * (mag + 1) * 3, rtol: 1e-5 },
              `${ctx} dprobs`,
            ),
          ).toBeNull();
          expect(Number.isNaN(gotDp[n]!)).toBe(true);
        }
        for (const r of [ce, lse, dl, dlAcc]) rt.buffers.destroy(r.buffer);
      }
    },
  );

  it.each(CASES)('entropy of a softmax $rows x $cols (offset $offset, std $std)', async (c) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const { rows, cols } = c;
    const n = rows * cols;
    const x = logits(rng, rows, cols, c.offset, c.std);
    const mag = Math.max(...x.map(Math.abs));
    const xBuf = upload(rt, 'x', x);
    const ctx = `entropy (${rows}, ${cols}) offset ${c.offset} seed=${seed}`;
    const h = output(rt, 'h', rows + 1);
    const lse = output(rt, 'lse', rows);
    await run(rt, [await prepareSoftmaxEntropyForward(rt, { h, logits: xBuf, rows, cols, lse })]);
    const exp = softmaxEntropyForward64(x, rows, cols);
    const got = await read(rt, h);
    const maxH = Math.log(cols);
    expect(
      mismatches(got, exp, { atol: 16 * EPS32 * (mag + 1) * (1 + maxH), rtol: 1e-5 }, ctx),
    ).toBeNull();
    expect(Number.isNaN(got[rows]!), `${ctx}: wrote past h`).toBe(true);
    expect(got.slice(0, rows).every((v) => v >= 0)).toBe(true);

    const dh = randomNormal(rng, rows);
    const dhBuf = upload(rt, 'dh', dh);
    const hIn = upload(rt, 'hIn', got.slice(0, rows));
    const dl = output(rt, 'dl', n + 1);
    const prior = randomNormal(rng, n);
    const dlAcc = upload(rt, 'dlAcc', prior);
    await run(rt, [
      await prepareSoftmaxEntropyBackward(rt, {
        dlogits: dl,
        dh: dhBuf,
        logits: xBuf,
        h: hIn,
        rows,
        cols,
        lse,
      }),
      await prepareSoftmaxEntropyBackward(rt, {
        dlogits: dlAcc,
        dh: dhBuf,
        logits: xBuf,
        h: hIn,
        rows,
        cols,
        accumulate: true,
      }),
    ]);
    const expDl = softmaxEntropyBackward64(dh, x, rows, cols);
    const btol = { atol: 1e-6 + 32 * EPS32 * (mag + 1), rtol: 1e-4 };
    const gotDl = await read(rt, dl);
    expect(mismatches(gotDl, expDl, btol, `${ctx} dlogits`)).toBeNull();
    expect(Number.isNaN(gotDl[n]!)).toBe(true);
    expect(
      mismatches(
        minus(await read(rt, dlAcc), prior),
        expDl,
        { ...btol, atol: btol.atol + 1e-6 },
        `${ctx} dlogits +=`,
      ),
    ).toBeNull();
  });

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [rows, cols] = [420_001, 10];
    const x = randomNormal(rng, rows * cols, 2);
    const y = output(rt, 'y', rows * cols);
    const fwd = await prepareSoftmaxForward(rt, {
      y,
      x: upload(rt, 'x', x),
      rows,
      cols,
      log: true,
    });
    expect(fwd.dispatches.at(-1)!.workgroups[1]).toBeGreaterThan(1);
    await run(rt, [fwd]);
    const exp = logSoftmaxForward64(x, rows, cols);
    expect(mismatches(await read(rt, y), exp, { atol: 1e-5, rtol: 0 }, `seed=${seed}`)).toBeNull();
  });

  it('names bad shapes and target options', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(12));
    const o = output(rt, 'o', 12);
    await expect(prepareSoftmaxForward(rt, { y: o, x: a, rows: 0, cols: 3 })).rejects.toThrow(
      /softmax_forward: rows must be a positive integer/,
    );
    const x16 = upload(rt, 'x16', new Float32Array(16));
    await expect(
      prepareSoftmaxForward(rt, { y: o, x: x16, rows: 4, cols: 4, log: true }),
    ).rejects.toThrow(/'sm_y' holds 12 elements, the shape needs 16/);
    await expect(
      prepareSoftmaxCrossEntropyForward(rt, { ce: o, logits: a, rows: 3, cols: 4 }),
    ).rejects.toThrow(/exactly one of labels \(rows\) and probs \(rows, cols\)/);
    await expect(
      prepareSoftmaxCrossEntropyForward(rt, {
        ce: o,
        logits: a,
        rows: 3,
        cols: 4,
        labels: a,
        probs: a,
      }),
    ).rejects.toThrow(/exactly one of labels/);
    await expect(
      prepareSoftmaxCrossEntropyBackward(rt, { dce: a, logits: a, rows: 3, cols: 4, labels: a }),
    ).rejects.toThrow(/give dlogits, dprobs or both/);
    await expect(
      prepareSoftmaxCrossEntropyBackward(rt, {
        dprobs: o,
        dce: a,
        logits: a,
        rows: 3,
        cols: 4,
        labels: a,
      }),
    ).rejects.toThrow(/dprobs needs probs/);
  });
});
