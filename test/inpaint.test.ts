// VaeInference.inpaint (iterative completion, Rezende et al. 2014): argument errors, observed
// pixels bit-exact (fresh random images, chunked calls), one pass equal to the reconstruction of
// the filled images written into the missing pixels, models that read the mask (channels), and on
// a model trained on digits the missing-pixel error falling over the passes.
import { describe, expect, it } from 'vitest';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const side = 5;
const D = side * side;

function small(masking?: VaeConfig['masking']): VaeConfig {
  return {
    version: 2,
    inputSize: D,
    latentSize: 3,
    encoder: { hidden: [7], activation: 'tanh' },
    decoder: { hidden: [6], activation: 'tanh' },
    likelihood: { kind: 'bernoulli' },
    ...(masking ? { masking } : {}),
  };
}

/** Random images in (0, 1) and a mask with about `p` of the pixels missing. */
function inputs(rows: number, seed: number, p = 0.4) {
  const r = makeRng(seed);
  const x = Float32Array.from({ length: rows * D }, () => r());
  const mask = Float32Array.from({ length: rows * D }, () => (r() < p ? 1 : 0));
  return { x, mask };
}

/** Mean BCE (nats per pixel) of the completed values at the missing pixels. */
function missingBce(images: Float32Array, x: Float32Array, mask: Float32Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 1) continue;
    const q = Math.min(Math.max(images[i]!, 1e-6), 1 - 1e-6);
    sum -= x[i]! * Math.log(q) + (1 - x[i]!) * Math.log(1 - q);
    n++;
  }
  return sum / n;
}

describe.each(TEST_ADAPTERS)('inpaint on %s', (adapter) => {
  it('names bad masks, iterations and inputs', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, small(), { seed: 1 });
    const vae = VaeInference.create(model);
    const { x, mask } = inputs(3, freshSeed());
    await expect(vae.inpaint(x, mask.subarray(0, 2 * D + 1))).rejects.toThrow(
      /inpaint: mask holds 51 values, 3 rows of 25 need 75/,
    );
    const half = mask.slice();
    half[D + 4] = 0.5;
    await expect(vae.inpaint(x, half)).rejects.toThrow(
      /inpaint: mask\[29\] \(row 1, position 4\) is 0.5; masks hold 0 \(observed\) or 1 \(missing\)/,
    );
    await expect(vae.inpaint(x, Array.from(mask) as unknown as Float32Array)).rejects.toThrow(
      /inpaint: mask must be a Float32Array/,
    );
    for (const iterations of [-1, 2.5, 1001, Number.NaN]) {
      await expect(vae.inpaint(x, mask, { iterations })).rejects.toThrow(
        /inpaint: iterations must be an integer in \[0, 1000\]/,
      );
    }
    const bad = x.slice();
    bad[7] = Number.POSITIVE_INFINITY;
    await expect(vae.inpaint(bad, mask)).rejects.toThrow(/inpaint: x\[7\] is Infinity/);
    await expect(vae.inpaint(x, mask, { labels: 1 })).rejects.toThrow(/labels were given/);
    vae.destroy();
    model.destroy();
  });

  it.each([
    ['a plain model', undefined],
    ['a model reading the mask', { kind: 'pixels', p: 0.3, channels: true, fill: 0.25 }],
  ] as const)(
    '%s: observed pixels bit-exact, missing ones from the decoder, passes reported',
    async (_name, masking) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const model = VaeModel.create(rt, small(masking), { seed });
      // Planned sizes of at most 8 rows: 19 rows run in three chunks.
      const vae = VaeInference.create(model, { batchSizes: [1, 8] });
      const rows = 19;
      const { x, mask } = inputs(rows, seed);
      const fill = masking?.fill ?? 0;
      const seen: number[] = [];
      const out = await vae.inpaint(x, mask, {
        iterations: 3,
        onIteration: (i, images) => {
          seen.push(i);
          expect(images.length).toBe(rows * D);
        },
      });
      expect(seen).toEqual([1, 2, 3]);
      const bits = new Uint32Array(out.buffer);
      const inBits = new Uint32Array(x.buffer);
      for (let i = 0; i < rows * D; i++) {
        if (mask[i] === 0) {
          expect(bits[i], `observed pixel ${i} (seed ${seed})`).toBe(inBits[i]);
        } else {
          // Bernoulli probabilities, never the fill value.
          expect(out[i]! > 0 && out[i]! < 1 && out[i] !== fill, `pixel ${i}: ${out[i]}`).toBe(true);
        }
      }
      // No passes: the input with the missing pixels at the fill value.
      const zero = await vae.inpaint(x, mask, { iterations: 0 });
      expect(Array.from(zero)).toEqual(Array.from(x, (v, i) => (mask[i] === 1 ? fill : v)));
      vae.destroy();
      model.destroy();
    },
  );

  it.each([
    ['a plain model', undefined],
    [
      'a model reading the mask',
      { kind: 'block', minSize: 2, maxSize: 4, channels: true } as const,
    ],
  ] as const)(
    '%s: one pass is the reconstruction of the filled images, written into the missing pixels; later passes reconstruct the completion',
    async (_name, masking) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const model = VaeModel.create(rt, small(masking), { seed });
      const vae = VaeInference.create(model);
      const rows = 11;
      const { x, mask } = inputs(rows, seed, 0.5);
      const fill = 0.3;
      const filled = Float32Array.from(x, (v, i) => (mask[i] === 1 ? fill : v));
      const once = await vae.inpaint(x, mask, { iterations: 1, fill });
      if (!masking) {
        const { images } = await vae.reconstruct(filled);
        expect(Array.from(once)).toEqual(Array.from(x, (v, i) => (mask[i] === 1 ? images[i] : v)));
      } else {
        // The first pass reads the mask: it differs from the reconstruction, which reads none.
        const { images } = await vae.reconstruct(filled);
        expect(Array.from(once)).not.toEqual(
          Array.from(x, (v, i) => (mask[i] === 1 ? images[i] : v)),
        );
      }
      // A second pass starts from that completion.
      const twice = await vae.inpaint(x, mask, { iterations: 2, fill });
      const again = await vae.reconstruct(once);
      expect(Array.from(twice)).toEqual(
        Array.from(x, (v, i) => (mask[i] === 1 ? again.images[i] : v)),
      );
      vae.destroy();
      model.destroy();
    },
  );
});

describe('inpaint on a trained model (llvmpipe)', () => {
  it('lowers the missing-pixel error over the passes (quadrant and block masks)', async () => {
    const rt = await runtimeFor('llvmpipe');
    const { train, test } = await loadEmbeddedDigits({ trainCount: 2000, testCount: 64, seed: 3 });
    const model = VaeModel.create(
      rt,
      {
        version: 2,
        inputSize: 784,
        latentSize: 16,
        encoder: { hidden: [256], activation: 'relu' },
        decoder: { hidden: [256], activation: 'relu' },
        likelihood: { kind: 'bernoulli' },
      },
      { seed: 4 },
    );
    const trainer = await Trainer.create(model, { batchSize: 50, lr: 2e-3, seed: 5 });
    // 2000 digits in batches of 50: 400 steps.
    await trainer.fit({ images: train.images, count: train.count }, { epochs: 10 });
    const vae = VaeInference.create(model);
    const x = test.images;
    const rows = test.count;
    const seed = freshSeed();
    const r = makeRng(seed);
    // The bottom-right quadrant, or a random 12×12 block, per digit.
    const mask = new Float32Array(rows * 784);
    for (let b = 0; b < rows; b++) {
      const quadrant = b % 2 === 0;
      const [top, left] = quadrant ? [14, 14] : [Math.floor(r() * 17), Math.floor(r() * 17)];
      const size = quadrant ? 14 : 12;
      for (let h = top; h < top + size; h++)
        mask.fill(1, b * 784 + h * 28 + left, b * 784 + h * 28 + left + size);
    }
    const errors: number[] = [];
    await vae.inpaint(x, mask, {
      iterations: 20,
      onIteration: (_i, images) => errors.push(missingBce(images, x, mask)),
    });
    const where = `seed ${seed}, BCE per missing pixel by pass: ${errors.map((e) => e.toFixed(4)).join(' ')}`;
    // Zeros in the hole are reconstructed as a digit with a hole; each pass fills it in further.
    expect(errors[4]!, where).toBeLessThan(errors[0]!);
    // Not monotone: a model trained on whole images can drift back after its best pass (the
    // RESULTS table's quadrants: best at 5 passes), so the best pass is what must beat the first.
    expect(Math.min(...errors.slice(1)), where).toBeLessThan(0.95 * errors[0]!);
    vae.destroy();
    trainer.destroy();
    model.destroy();
    // 400 training steps: 11–72 s in CI runs here, over 180 s once on an oversubscribed machine.
  }, 400_000);
});
