// The unary op y = f(x + shift) (shaders/elementwise.wgsl unary_forward / unary_backward,
// src/kernels/elementwise.ts): f identity, log|·| and 1/·, forward and backward against the
// float64 reference at awkward sizes, outputs poisoned with NaN, accumulate; the reference backward
// against finite differences; argument checks.
import { describe, expect, it } from 'vitest';
import {
  prepareUnaryBackward,
  prepareUnaryForward,
  type UnaryFn,
} from '../src/kernels/elementwise.js';
import { unaryBackward64, unaryForward64 } from '../src/reference/elementwise.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { differenceVjp, minus } from './helpers/vjp.js';

const FNS: UnaryFn[] = ['identity', 'log_abs', 'reciprocal'];
/** Shifts that put x + shift on either side of 0 (x is kept away from −shift below). */
const SHIFTS = [0, 1, -1.5];

/** Normal values with x + shift at least 0.25 from 0, so log|·| and 1/· stay well-conditioned. */
function awayFromPole(rng: () => number, n: number, shift: number): Float32Array {
  const x = randomNormal(rng, n, 2);
  return x.map((v) => (Math.abs(v + shift) < 0.25 ? v + Math.sign(v + shift || 1) * 0.5 : v));
}

describe('unary reference', () => {
  it.each(FNS)('%s backward matches finite differences', (fn) => {
    const rng = makeRng(freshSeed());
    for (const shift of SHIFTS) {
      const x = awayFromPole(rng, 13, shift);
      const dy = randomNormal(rng, 13);
      expect(
        mismatches(
          unaryBackward64(dy, x, fn, shift),
          differenceVjp((z) => unaryForward64(z, fn, shift), x, dy),
          { atol: 1e-7, rtol: 1e-6 },
          `${fn} shift ${shift}`,
        ),
      ).toBeNull();
    }
  });

  it('log_abs is log|x + shift| on both signs; reciprocal 1/(x + shift)', () => {
    expect([...unaryForward64([-3, 2], 'log_abs', 1)]).toEqual([Math.log(2), Math.log(3)]);
    expect([...unaryForward64([-3, 2], 'reciprocal', 1)]).toEqual([-0.5, 1 / 3]);
    expect([...unaryForward64([-3, 2], 'identity', -1)]).toEqual([-4, 1]);
  });
});

describe.each(TEST_ADAPTERS)('unary op on %s', (adapter) => {
  it.each([1, 7, 257, 1001])(
    '%i values, every fn and shift: forward, backward, accumulate',
    async (n) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const rng = makeRng(seed);
      for (const fn of FNS) {
        for (const shift of SHIFTS) {
          const what = `${fn} shift ${shift} n=${n} seed=${seed}`;
          const x = awayFromPole(rng, n, shift);
          const dy = randomNormal(rng, n);
          const prior = randomNormal(rng, n);
          const xBuf = upload(rt, 'x', x);
          const dyBuf = upload(rt, 'dy', dy);
          const y = output(rt, 'y', n + 4);
          const dx = output(rt, 'dx', n + 4);
          const dxAcc = upload(rt, 'dxAcc', prior);
          const fwd = await prepareUnaryForward(rt, { y, x: xBuf, n, fn, shift });
          const bwd = await prepareUnaryBackward(rt, { dx, dy: dyBuf, x: xBuf, n, fn, shift });
          const acc = await prepareUnaryBackward(rt, {
            dx: dxAcc,
            dy: dyBuf,
            x: xBuf,
            n,
            fn,
            shift,
            accumulate: true,
          });
          await rt.submitChecked([fwd, bwd, acc]);
          // log and division: a few ulp on the CPU adapters' builtins.
          const tol = { atol: 1e-6, rtol: 1e-5 };
          const got = await read(rt, y);
          expect(mismatches(got, unaryForward64(x, fn, shift), tol, `y ${what}`)).toBeNull();
          expect(Number.isNaN(got[n]!)).toBe(true);
          const want = unaryBackward64(dy, x, fn, shift);
          const gotDx = await read(rt, dx);
          expect(mismatches(gotDx, want, tol, `dx ${what}`)).toBeNull();
          expect(Number.isNaN(gotDx[n]!)).toBe(true);
          expect(
            mismatches(minus(await read(rt, dxAcc), prior), want, tol, `dx += ${what}`),
          ).toBeNull();
          for (const d of [fwd, bwd, acc]) d.destroy();
        }
      }
    },
  );

  it('rejects an unknown fn and a non-finite shift', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(4));
    const o = output(rt, 'o', 4);
    await expect(
      prepareUnaryForward(rt, { y: o, x: a, n: 4, fn: 'exp' as UnaryFn }),
    ).rejects.toThrow(/unknown fn 'exp'/);
    await expect(
      prepareUnaryForward(rt, { y: o, x: a, n: 4, fn: 'log_abs', shift: NaN }),
    ).rejects.toThrow(/shift must be a finite number/);
  });
});
