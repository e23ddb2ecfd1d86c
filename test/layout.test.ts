// Image layouts (src/kernels/layout.ts): NCHW rows to rows of per-pixel channels and back against
// the float64 reference on fresh random values of awkward sizes, outputs poisoned first (every
// element written); with ACCUMULATE (the gradient rules) onto random values; a round trip is the
// identity; bad sizes are named. The gradient rule is checked in test/graph-ops.test.ts.
import { describe, expect, it } from 'vitest';
import { prepareLayout } from '../src/kernels/layout.js';
import { layout64 } from '../src/reference/layout.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';

const EXACT = { atol: 0, rtol: 0 };

describe('layout reference', () => {
  it('transposes each example and round-trips', () => {
    // One example of 2 channels of 3 pixels: [c0p0 c0p1 c0p2 c1p0 c1p1 c1p2].
    expect([...layout64([0, 1, 2, 10, 11, 12], 'nhwc', 1, 2, 3)]).toEqual([0, 10, 1, 11, 2, 12]);
    const x = Array.from({ length: 2 * 3 * 5 }, (_, i) => i);
    expect([...layout64(layout64(x, 'nhwc', 2, 3, 5), 'nchw', 2, 3, 5)]).toEqual(x);
  });
});

describe.each(TEST_ADAPTERS)('layout kernels on %s', (adapter) => {
  it.each([
    [1, 1, 1],
    [3, 5, 7],
    [2, 17, 49],
    [5, 64, 13],
  ])('B=%i, C=%i, P=%i both ways, assigned and accumulated', async (B, C, P) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const n = B * C * P;
    const ctx = `(${B}, ${C}, ${P}) seed=${seed}`;
    for (const to of ['nhwc', 'nchw'] as const) {
      const x = randomNormal(rng, n);
      const xr = upload(rt, 'x', x);
      const y = output(rt, 'y', n);
      const d = await prepareLayout(rt, { to, y, x: xr, batch: B, channels: C, pixels: P });
      await rt.submitChecked([d]);
      const want = layout64(x, to, B, C, P);
      expect(mismatches(await read(rt, y), want, EXACT, `${ctx} ${to}`)).toBeNull();
      const base = randomNormal(rng, n);
      const acc = upload(rt, 'acc', base);
      const a = await prepareLayout(rt, {
        to,
        y: acc,
        x: xr,
        batch: B,
        channels: C,
        pixels: P,
        accumulate: true,
      });
      await rt.submitChecked([a]);
      const sum = Array.from(want, (v, i) => Math.fround(v + base[i]!));
      expect(mismatches(await read(rt, acc), sum, EXACT, `${ctx} ${to} +=`)).toBeNull();
      d.destroy();
      a.destroy();
    }
  });

  it('names bad sizes', async () => {
    const rt = await runtimeFor(adapter);
    const a = upload(rt, 'a', new Float32Array(4));
    await expect(
      prepareLayout(rt, { to: 'nhwc', y: a, x: a, batch: 1, channels: 0, pixels: 4 }),
    ).rejects.toThrow(/nchw_to_nhwc: channels must be a positive integer/);
  });
});
