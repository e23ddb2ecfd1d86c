// The constant mask out (=|+=) x ⊙ mask (src/kernels/elementwise.ts prepareConstantMask, the
// MADE layers' masked weights and their gradients) against float64 at awkward sizes, outputs
// poisoned with NaN, accumulate; argument checks; a masked linear layer's weight gradient is exactly
// zero where the mask is 0, on the GPU and in the float64 interpreter (graph-ops.test.ts checks it
// against the interpreter and finite differences).
import { describe, expect, it } from 'vitest';
import { maskedLinear } from '../src/graph/ops/dense.js';
import { prepareConstantMask } from '../src/kernels/elementwise.js';
import { constantMask64 } from '../src/reference/elementwise.js';
import { runGraph64 } from '../src/reference/graph.js';
import { probedGraph, runOnGpu } from './helpers/graph-check.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { minus } from './helpers/vjp.js';

const randomMask = (rng: () => number, n: number) =>
  Array.from({ length: n }, () => (rng() < 0.5 ? 1 : 0));

describe.each(TEST_ADAPTERS)('constant mask on %s', (adapter) => {
  it.each([1, 7, 257, 1003])('%i values: forward, accumulate', async (n) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const x = randomNormal(rng, n);
    const mask = randomMask(rng, n);
    const prior = randomNormal(rng, n);
    const xBuf = upload(rt, 'x', x);
    const y = output(rt, 'y', n + 4);
    const acc = upload(rt, 'acc', prior);
    const fwd = await prepareConstantMask(rt, { out: y, x: xBuf, mask, n, label: 'mask.y' });
    const add = await prepareConstantMask(rt, {
      out: acc,
      x: xBuf,
      mask,
      n,
      accumulate: true,
      label: 'mask.acc',
    });
    await rt.submitChecked([fwd, add]);
    const want = constantMask64(x, mask);
    const got = await read(rt, y);
    // A product with 0 or 1: exact.
    expect(mismatches(got, want, { atol: 0, rtol: 0 }, `y n=${n} seed=${seed}`)).toBeNull();
    expect(Number.isNaN(got[n]!)).toBe(true);
    expect(
      mismatches(minus(await read(rt, acc), prior), want, { atol: 1e-6, rtol: 1e-6 }, `+= ${seed}`),
    ).toBeNull();
    fwd.destroy();
    add.destroy();
  });

  it('rejects a mask of the wrong length or with values other than 0 and 1', async () => {
    const rt = await runtimeFor(adapter);
    const x = upload(rt, 'x', new Float32Array(4));
    const o = output(rt, 'o', 4);
    await expect(prepareConstantMask(rt, { out: o, x, mask: [1, 0, 1], n: 4 })).rejects.toThrow(
      /the mask has 3 values, not n = 4/,
    );
    await expect(
      prepareConstantMask(rt, { out: o, x, mask: [1, 0, 0.5, 1], n: 4 }),
    ).rejects.toThrow(/mask\[2\] is 0.5, not 0 or 1/);
  });
});

describe.each(TEST_ADAPTERS)('masked linear on %s', (adapter) => {
  it('dW is exactly zero where the mask is 0, on the GPU and in the interpreter', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [R, out, inn] = [4, 5, 7];
    const mask = randomMask(rng, out * inn);
    const checked = probedGraph(rng, (g, p) => {
      const x = p('x', randomNormal(rng, R * inn), [R, inn]);
      const w = p('w', randomNormal(rng, out * inn), [out, inn]);
      const b = p('b', randomNormal(rng, out), [out]);
      return maskedLinear(g, 'made', x, w, b, mask, 'elu', true);
    });
    const gpu = (await runOnGpu(rt, checked)).grads.get('w');
    const f64 = new Map([...checked.params].map(([k, v]) => [k, Float64Array.from(v)]));
    const ref = runGraph64(checked.graph, { params: f64, inputs: checked.inputs }).grads.get('w');
    if (!gpu || !ref) throw new Error('no gradient for w');
    for (let i = 0; i < mask.length; i++) {
      if (mask[i] === 1) continue;
      // dW · 0 keeps the sign of dW: −0 is zero.
      expect(Math.abs(gpu[i]!), `GPU dW[${i}] seed ${seed}`).toBe(0);
      expect(Math.abs(ref[i]!), `reference dW[${i}] seed ${seed}`).toBe(0);
    }
    // Not all zero: the kept entries carry the gradient.
    expect(mask.some((m, i) => m === 1 && gpu[i] !== 0)).toBe(true);
  });
});
