// A linear combination of 2–7 tensors in one dispatch each way (shaders/sum_terms.wgsl): forward
// and backward against float64 at awkward sizes with NaN-poisoned outputs, every term count,
// gradients assigned, accumulated and missing, coefficients changed as uniforms, a 2-D grid, and
// the argument errors. The graph op's rule (merging a repeated tensor, chaining past seven terms)
// is checked in test/graph-ops.test.ts; the flows that use it in their posteriors' tests.
import { describe, expect, it } from 'vitest';
import {
  MAX_SUM_TERMS,
  prepareSumTermsBackward,
  prepareSumTermsForward,
} from '../src/kernels/sum-terms.js';
import { sumTermsBackward64, sumTermsForward64 } from '../src/reference/elementwise.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  accumulateMismatches,
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
} from './helpers/reference.js';
import { differenceVjp } from './helpers/vjp.js';

const tol = { atol: 1e-5, rtol: 1e-5 };

/** Coefficients with both signs, a zero and non-unit sizes. */
const coefficientsFor = (rng: () => number, count: number) =>
  Array.from({ length: count }, (_, k) => (k === 2 ? 0 : Math.round((rng() * 6 - 3) * 8) / 8));

describe('the float64 reference', () => {
  it('has the gradients of its forward (finite differences)', () => {
    const rng = makeRng(freshSeed());
    const coefficients = [0.5, -1, 2.25];
    const xs = coefficients.map(() => Float64Array.from(randomNormal(rng, 5)));
    const dy = randomNormal(rng, 5);
    const grads = sumTermsBackward64(dy, coefficients);
    xs.forEach((x, k) => {
      const fd = differenceVjp(
        (xk) =>
          sumTermsForward64(
            xs.map((other, j) => (j === k ? xk : other)),
            coefficients,
          ),
        x,
        dy,
      );
      expect(mismatches(grads[k]!, fd, { atol: 1e-8, rtol: 1e-8 }, `d${k}`)).toBeNull();
    });
  });
});

describe.each(TEST_ADAPTERS)('sum_terms on %s', (adapter) => {
  it.each([
    [2, 1],
    [3, 67],
    [4, 130],
    [5, 7],
    [6, 64],
    [7, 203],
  ])('%i terms of %i elements: forward, then the backward', async (count, n) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const at = `${count} terms, n ${n} (seed ${seed})`;
    const xs = Array.from({ length: count }, () => randomNormal(rng, n));
    const coefficients = coefficientsFor(rng, count);
    const y = output(rt, 'y', n + 1);
    const fwd = await prepareSumTermsForward(rt, {
      y,
      terms: xs.map((x, k) => upload(rt, `x${k}`, x)),
      coefficients,
      n,
    });
    await rt.submitChecked([fwd]);
    const got = await read(rt, y);
    expect(Number.isNaN(got[n]!), `${at}: wrote past the output`).toBe(true);
    expect(
      mismatches(got.subarray(0, n), sumTermsForward64(xs, coefficients), tol, `y, ${at}`),
    ).toBeNull();

    // Backward: term 0 assigns, term 1 adds onto a prior value, term 2 has no gradient, the rest
    // alternate assign and add.
    const dy = randomNormal(rng, n);
    const want = sumTermsBackward64(dy, coefficients);
    const priors = xs.map(() => randomNormal(rng, n));
    const accumulates = (k: number) => k === 1 || (k > 2 && k % 2 === 0);
    const grads = xs.map((_, k) =>
      k === 2
        ? {}
        : accumulates(k)
          ? { dx: upload(rt, `d${k}`, priors[k]!), accumulate: true }
          : { dx: output(rt, `d${k}`, n + 1) },
    );
    const bwd = await prepareSumTermsBackward(rt, {
      dy: upload(rt, 'dy', dy),
      grads,
      coefficients,
      n,
    });
    await rt.submitChecked([bwd]);
    for (const [k, g] of grads.entries()) {
      if (!g.dx) continue;
      const gotK = await read(rt, g.dx);
      if (g.accumulate) {
        expect(accumulateMismatches(gotK, want[k]!, priors[k]!, `d${k}, ${at}`, tol)).toBeNull();
      } else {
        expect(Number.isNaN(gotK[n]!), `${at}: d${k} written past its end`).toBe(true);
        expect(mismatches(gotK.subarray(0, n), want[k]!, tol, `d${k}, ${at}`)).toBeNull();
      }
    }
    fwd.destroy();
    bwd.destroy();
  });

  it('takes new coefficients as uniforms, without recompiling', async () => {
    const rt = await runtimeFor(adapter);
    const rng = makeRng(freshSeed());
    const n = 45;
    const xs = [0, 1, 2].map(() => randomNormal(rng, n));
    const y = output(rt, 'y', n);
    const fwd = await prepareSumTermsForward(rt, {
      y,
      terms: xs.map((x, k) => upload(rt, `x${k}`, x)),
      coefficients: [1, 1, 1],
      n,
    });
    fwd.setUniforms({ c0: -2, c1: 0.5, c2: 3 });
    await rt.submitChecked([fwd]);
    expect(
      mismatches(await read(rt, y), sumTermsForward64(xs, [-2, 0.5, 3]), tol, 'new coefficients'),
    ).toBeNull();
    fwd.destroy();
  });

  it('covers more than 65535 workgroups (2-D grid)', async () => {
    const rt = await runtimeFor(adapter);
    const rng = makeRng(freshSeed());
    const n = 65536 * 64 + 5;
    const xs = [0, 1].map(() => randomNormal(rng, n));
    const y = output(rt, 'y', n);
    const fwd = await prepareSumTermsForward(rt, {
      y,
      terms: xs.map((x, k) => upload(rt, `x${k}`, x)),
      coefficients: [1.5, -0.25],
      n,
    });
    await rt.submitChecked([fwd]);
    expect(mismatches(await read(rt, y), sumTermsForward64(xs, [1.5, -0.25]), tol, 'y')).toBeNull();
    fwd.destroy();
  });

  it('names bad term counts, coefficients and gradients', async () => {
    const rt = await runtimeFor(adapter);
    const x = upload(rt, 'x', Float32Array.of(1, 2, 3));
    const y = output(rt, 'y', 3);
    await expect(
      prepareSumTermsForward(rt, { y, terms: [x], coefficients: [1], n: 3 }),
    ).rejects.toThrow(/sum_terms: takes 2 to 7 terms, got 1/);
    const many = Array.from({ length: MAX_SUM_TERMS + 1 }, () => 1);
    await expect(
      prepareSumTermsForward(rt, { y, terms: many.map(() => x), coefficients: many, n: 3 }),
    ).rejects.toThrow(/takes 2 to 7 terms, got 8/);
    await expect(
      prepareSumTermsForward(rt, { y, terms: [x, x], coefficients: [1, NaN], n: 3 }),
    ).rejects.toThrow(/coefficients\[1\]/);
    await expect(
      prepareSumTermsForward(rt, { y, terms: [x, x, x], coefficients: [1, 2], n: 3 }),
    ).rejects.toThrow(/3 terms but 2 coefficients/);
    await expect(
      prepareSumTermsBackward(rt, { dy: x, grads: [{}, {}], coefficients: [1, 2], n: 3 }),
    ).rejects.toThrow(/no term needs a gradient/);
    const d = output(rt, 'd', 3);
    await expect(
      prepareSumTermsBackward(rt, {
        dy: x,
        grads: [{ dx: d }, { dx: d, accumulate: true }],
        coefficients: [1, 2],
        n: 3,
      }),
    ).rejects.toThrow(/bindings 'd0' and 'd1' overlap/);
  });
});
