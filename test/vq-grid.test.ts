// The conv VQ-VAE (posterior 'vq' with `grid`): the config shape and its errors naming the field;
// the float64 interpreter's codes against nearest codes computed here from the encoder's NCHW
// output (one vector per position, row-major positions, a non-square grid), z as the codes'
// vectors back in NCHW, and decode(codes) = the training graph's output; the preset training on a
// few hundred embedded digits (loss falls, perplexity > 1, encode/decode on the code grid). The
// gradients against the PyTorch twin are in test/model-golden.test.ts (vae-golden-vq.json's grid
// case).
import { describe, expect, it } from 'vitest';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildDecoderGraph, buildModelGraph } from '../src/vae/build.js';
import {
  codeWidth,
  convVqPreset,
  parameterSpecs,
  resolveVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { stepInputs64 } from './helpers/model-graph.js';
import { makeRng, mismatches, randomNormal, randomUniform } from './helpers/reference.js';

/** 1×5×7 images, a 3×4 grid of 2-vectors (P = 12, non-square), 5 codes. */
const SMALL: VaeConfig = {
  version: 2,
  inputSize: 35,
  inputShape: [1, 5, 7],
  latentSize: 24,
  encoder: { conv: [{ channels: 3, kernel: 3, stride: 2, padding: 1 }], hidden: [] },
  posterior: { kind: 'vq', codes: 5, dim: 2, grid: true },
  decoder: { hidden: [], deconv: [{ channels: 1, kernel: 3, stride: 2, padding: 1 }] },
  likelihood: { kind: 'gaussian', sigma: 0.7 },
};

describe('conv vq config', () => {
  it('the preset: a 1×1 conv head, the codebook, deconv layers from the (dim, 7, 7) grid', () => {
    const config = resolveVaeConfig(convVqPreset(32, 8));
    expect(config.latentSize).toBe(8 * 49);
    expect(config.decoder.reshape).toEqual([8, 7, 7]);
    expect(codeWidth(config)).toBe(49);
    expect(parameterSpecs(config).map((s) => [s.name, s.shape, s.fanIn])).toEqual([
      ['encoder.conv.0.weight', [32, 1, 4, 4], 16],
      ['encoder.conv.0.bias', [32], 16],
      ['encoder.conv.1.weight', [64, 32, 4, 4], 512],
      ['encoder.conv.1.bias', [64], 512],
      ['encoder.ze.weight', [8, 64, 1, 1], 64],
      ['encoder.ze.bias', [8], 64],
      ['posterior.codebook', [32, 8], 32 * 32],
      ['posterior.ema.count', [32], 1],
      ['posterior.ema.sum', [32, 8], 1],
      ['decoder.deconv.0.weight', [8, 32, 4, 4], 512],
      ['decoder.deconv.0.bias', [32], 512],
      ['decoder.deconv.1.weight', [32, 1, 4, 4], 16],
      ['decoder.deconv.1.bias', [1], 16],
    ]);
    // grid is written only when true: the dense vq description resolves as before.
    const dense = resolveVaeConfig({
      ...SMALL,
      encoder: { hidden: [4] },
      decoder: { hidden: [4] },
      posterior: { kind: 'vq', codes: 5, dim: 2, grid: false },
    });
    expect('grid' in dense.posterior).toBe(false);
    expect(resolveVaeConfig(SMALL).posterior).toMatchObject({ grid: true });
  });

  const preset = convVqPreset(32, 16);
  const label = (inject: 'dense' | 'channels') =>
    ({ condition: { kind: 'label', classes: 10, inject } }) as Partial<VaeConfig>;
  it.each([
    [
      { posterior: { kind: 'vq', codes: 32, dim: 16, grid: 1 } },
      /posterior\.grid must be true or false, got 1/,
    ],
    [
      { encoder: { hidden: [] }, inputShape: undefined },
      /posterior\.grid quantizes the last encoder conv layer's output: it needs encoder\.conv layers/,
    ],
    [
      { encoder: { ...preset.encoder, hidden: [64] } },
      /posterior\.grid: the encoder\.ze head reads the conv grid, so encoder\.hidden must be \[\], got \[64\]/,
    ],
    [
      { latentSize: 16 * 48 },
      /posterior\.grid: latentSize must be dim·h·w = 16·7·7 = 784 .*got 768/,
    ],
    [
      { decoder: { hidden: [784] } },
      /posterior\.grid: the decoder starts from the quantized grid: it needs decoder\.deconv/,
    ],
    [
      { decoder: { ...preset.decoder, hidden: [784] } },
      /posterior\.grid: decoder\.deconv reads the quantized grid, so decoder\.hidden must be \[\], got \[784\]/,
    ],
    [
      { decoder: { ...preset.decoder, reshape: [4, 14, 14] } },
      /decoder\.reshape \[4, 14, 14\] must be the quantized grid \[16, 7, 7\] \(posterior\.grid/,
    ],
    [
      { decoder: { hidden: [], deconv: [{ channels: 1, kernel: 4, stride: 2, padding: 1 }] } },
      /decoder\.deconv: the last layer gives 1×14×14 per example, inputShape is 1×28×28/,
    ],
    [
      label('dense'),
      /posterior\.grid: the condition or masking section adds 10 features at the encoder's first dense layer/,
    ],
    [
      label('channels'),
      /posterior\.grid: the condition adds 10 features at the decoder's first dense layer/,
    ],
    // Without grid the dense bound stands.
    [
      { posterior: { kind: 'vq', codes: 32, dim: 16 } },
      /latentSize must be an integer in \[1, 256\], got 784/,
    ],
  ] as [Partial<VaeConfig>, RegExp][])('%j is refused', (change, message) => {
    expect(() => resolveVaeConfig({ ...preset, ...change })).toThrow(message);
  });
});

/** Codes, z and a decode of a small grid model in float64, from an NCHW reading done here. */
describe('conv vq in float64', () => {
  it('codes per position in row-major order, z their vectors in NCHW, decode(codes) agrees', () => {
    const config = resolveVaeConfig(SMALL);
    const [B, K, DIM, P] = [3, 5, 2, 12];
    const rng = makeRng(11);
    const weights = initialWeights(config, 3);
    // A spread-out codebook and head, so the vectors reach several codes.
    weights.set('posterior.codebook', randomNormal(rng, K * DIM));
    weights.set('encoder.ze.weight', randomNormal(rng, DIM * 3));
    const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const x = randomUniform(rng, B * 35, 0, 1);
    const mg = buildModelGraph(config, { batch: B, training: true, seed: 0 });
    const ref = runGraph64(mg.graph, { params, inputs: stepInputs64(mg, config, { x }) });
    const ze = ref.value(mg.posterior.outputs.ze!);
    const codes = [...ref.value(mg.posterior.outputs.codes!)];
    const e = params.get('posterior.codebook')!;
    const want: number[] = [];
    const z = new Float64Array(B * DIM * P);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < P; p++) {
        // Position p's vector: channel d at NCHW index (b, d, p).
        const v = Array.from({ length: DIM }, (_, d) => ze[b * DIM * P + d * P + p]!);
        const dist = Array.from({ length: K }, (_, k) =>
          v.reduce((s, vd, d) => s + (vd - e[k * DIM + d]!) ** 2, 0),
        );
        const k = dist.indexOf(Math.min(...dist));
        want.push(k);
        for (let d = 0; d < DIM; d++) z[b * DIM * P + d * P + p] = e[k * DIM + d]!;
      }
    }
    expect(codes).toEqual(want);
    expect(new Set(codes).size).toBeGreaterThan(1);
    const tol = { atol: 1e-12, rtol: 1e-12 };
    expect(mismatches(ref.value(mg.posterior.z), z, tol, 'z')).toBeNull();
    const dg = buildDecoderGraph(config, B);
    const dec = runGraph64(dg.graph, { params, inputs: new Map([['z', codes]]) });
    expect(mismatches(dec.value(dg.output), ref.value(mg.output), tol, 'decode')).toBeNull();
  });
});

describe.each(TEST_ADAPTERS.slice(0, 1))('conv vq preset on %s', (adapter) => {
  it('trains on embedded digits: the loss falls, several codes in use; encode/decode', async () => {
    const rt = await runtimeFor(adapter);
    const { train, test } = await loadEmbeddedDigits({ trainCount: 320, testCount: 32, seed: 1 });
    const model = VaeModel.create(rt, convVqPreset(32, 8), { seed: 2 });
    const trainer = await Trainer.create(model, { batchSize: 32, lr: 2e-3, seed: 4 });
    const before = await trainer.evaluate(test);
    const reports = await trainer.fit(train, { epochs: 2, test });
    const after = reports.at(-1)!.test!;
    // An untrained model is near 784·ln 2 ≈ 543 nats of reconstruction.
    expect(before.values.recon).toBeGreaterThan(450);
    expect(after.loss).toBeLessThan(before.loss - 100);
    // Several codes in use (the restarts revive codes that no vector picks).
    expect(after.values.perplexity).toBeGreaterThan(2);
    expect(reports.at(-1)!.train.values.perplexity).toBeGreaterThan(2);
    const inference = VaeInference.create(model);
    const x = test.images.subarray(0, 2 * 784);
    const enc = await inference.encode(x);
    expect(enc.codes!.length).toBe(2 * 49);
    for (const k of enc.codes!) expect(Number.isInteger(k) && k >= 0 && k < 32).toBe(true);
    const decoded = await inference.decode(enc.codes!);
    const recon = await inference.reconstruct(x);
    expect(
      mismatches(decoded, recon.images, { atol: 1e-5, rtol: 1e-5 }, 'decode(codes) = reconstruct'),
    ).toBeNull();
    inference.destroy();
    trainer.destroy();
    model.destroy();
  }, 120_000);
});
