// Training end to end: the ELBO improves on a synthetic set, runs are reproducible, the IWAE
// estimate is exact where the posterior is, checkpoints round-trip and resume, bad input is named.
import { describe, expect, it } from 'vitest';
import { encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { resolveVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel } from '../src/vae/model.js';
import { learningRateAt } from '../src/optim/schedule.js';
import { Trainer, type StepReport } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng, randomNormal } from './helpers/reference.js';

const twoD: VaeConfig = {
  inputSize: 2,
  latentSize: 2,
  encoder: { hidden: [16], activation: 'tanh' },
  decoder: { hidden: [16], activation: 'tanh' },
  likelihood: { kind: 'gaussian-learned' },
};

/** log N(x; b, w wᵀ + σ² I) in float64 (Sherman–Morrison): the exact marginal of a linear VAE. */
function linearGaussianLogPx(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  sigma: number,
): number {
  const D = x.length;
  const s2 = sigma * sigma;
  const wtw = w.reduce((a, v) => a + v * v, 0);
  let rr = 0;
  let wr = 0;
  for (let i = 0; i < D; i++) {
    const r = x[i]! - b[i]!;
    rr += r * r;
    wr += w[i]! * r;
  }
  const quad = (rr - (wr * wr) / (s2 + wtw)) / s2;
  const logDet = D * Math.log(s2) + Math.log(1 + wtw / s2);
  return -0.5 * (D * Math.log(2 * Math.PI) + logDet + quad);
}

// The end-to-end runs train for hundreds of steps: on the first adapter only (SwiftShader is ~10×
// slower; the graph tests cover both adapters step by step against PyTorch).
describe.each(TEST_ADAPTERS.slice(0, 1))('trainer on %s', (adapter) => {
  it('improves the test ELBO of the stretched Gaussian past the threshold, reproducibly', async () => {
    const rt = await runtimeFor(adapter);
    const train = generateSynthetic('stretched-gaussian', { count: 1500, seed: 11 });
    const test = generateSynthetic('stretched-gaussian', { count: 500, seed: 12 });
    const run = async () => {
      const model = VaeModel.create(rt, twoD, { seed: 5 });
      const trainer = await Trainer.create(model, { batchSize: 100, lr: 1e-2, seed: 9 });
      const testSet = { images: test.data, count: test.count };
      const before = await trainer.evaluate(testSet);
      const windows: StepReport[] = [];
      const reports = await trainer.fit(
        { images: train.data, count: train.count },
        { epochs: 6, test: testSet, onStep: (r) => windows.push(r) },
      );
      const weights = await model.readWeights();
      trainer.destroy();
      model.destroy();
      return { before, reports, windows, weights };
    };
    const a = await run();
    // The data is N(0, diag(9, 1/9)) plus noise of variance 0.02: its entropy is 2.92 nats, the
    // best test loss any model can reach; an untrained one is near 5 to 10.
    expect(a.before.loss).toBeGreaterThan(4.5);
    const last = a.reports.at(-1)!;
    expect(last.test!.loss).toBeLessThan(3.1);
    expect(last.test!.values.elbo!).toBeGreaterThan(-3.1);
    // Every step's metrics arrive, each counted once.
    expect(a.windows.reduce((s, w) => s + w.steps, 0)).toBe(6 * 15);
    expect(a.windows.reduce((s, w) => s + w.examples, 0)).toBe(6 * 1500);
    expect(a.reports.map((r) => r.train.examples)).toEqual(Array(6).fill(1500));
    // Same seeds: the same losses and weights, bit for bit.
    const b = await run();
    expect(b.reports.map((r) => [r.train.loss, r.test!.loss])).toEqual(
      a.reports.map((r) => [r.train.loss, r.test!.loss]),
    );
    for (const [name, w] of a.weights) expect(b.weights.get(name), name).toEqual(w);
  });

  it('gives the exact log p(x) when the encoder is the exact posterior, and a bound otherwise', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const rt = await runtimeFor(adapter);
    const D = 3;
    const sigma = 0.5;
    const config = resolveVaeConfig({
      inputSize: D,
      latentSize: 1,
      encoder: { hidden: [] },
      decoder: { hidden: [] },
      likelihood: { kind: 'gaussian', sigma },
    });
    const w = Float64Array.from(randomNormal(rng, D));
    const b = Float64Array.from(randomNormal(rng, D, 0.5));
    // Linear-Gaussian posterior: s² = 1 / (1 + wᵀw/σ²), m(x) = s² wᵀ(x − b) / σ².
    const s2 = 1 / (1 + w.reduce((a, v) => a + v * v, 0) / (sigma * sigma));
    const exact = (perturb: number) =>
      new Map<string, Float32Array>([
        ['encoder.mu.weight', Float32Array.from(w, (v) => (s2 * v) / (sigma * sigma) + perturb)],
        [
          'encoder.mu.bias',
          Float32Array.of(-w.reduce((a, v, i) => a + v * b[i]!, 0) * (s2 / (sigma * sigma))),
        ],
        ['encoder.logvar.weight', new Float32Array(D)],
        ['encoder.logvar.bias', Float32Array.of(Math.log(s2) + 3 * perturb)],
        ['decoder.out.weight', Float32Array.from(w)],
        ['decoder.out.bias', Float32Array.from(b)],
      ]);
    const count = 23;
    const data = randomNormal(rng, count * D, 1.5);
    const want = Array.from({ length: count }, (_, i) =>
      linearGaussianLogPx(Float64Array.from(data.subarray(i * D, (i + 1) * D)), w, b, sigma),
    );
    const meanWant = want.reduce((a, v) => a + v, 0) / count;
    const dataset = { images: data, count };

    const model = VaeModel.create(rt, config, { weights: exact(0) });
    // Pinned matmul: the per-shape selection would time variants on shapes this test uses once.
    const trainer = await Trainer.create(model, { batchSize: 8, matmulVariant: 'rb' });
    // Chunks of 7 samples over k = 30: five chunks, the last one shorter.
    const iw = await trainer.logLikelihood(dataset, { k: 30, chunk: 7, batchSize: 5 });
    iw.perExample.forEach((v, i) =>
      expect(v, `example ${i}, seed ${seed}`).toBeCloseTo(want[i]!, 3),
    );
    // The single-sample ELBO (analytic KL) is unbiased but noisy: average it over 200 copies.
    const copies = 200;
    const repeated = new Float32Array(copies * data.length);
    for (let c = 0; c < copies; c++) repeated.set(data, c * data.length);
    const elbo = await trainer.evaluate(
      { images: repeated, count: copies * count },
      copies * count,
    );
    expect(Math.abs(elbo.values.elbo! - meanWant), `seed ${seed}`).toBeLessThan(0.05);
    trainer.destroy();
    model.destroy();

    // An encoder off the posterior: the ELBO drops, the k = 2000 estimate stays within a
    // quarter of that (the ratio's worst of 30 seeds 0.14 here; at a perturbation of 0.4 the
    // proposal sat so far off that seed 1794421365 reached 0.26).
    const off = VaeModel.create(rt, config, { weights: exact(0.2) });
    const offTrainer = await Trainer.create(off, { batchSize: 8, matmulVariant: 'rb' });
    // Averaged over the copies too: one draw per example left the gap itself noisy (seed
    // 2088191976: 0.03 nats where the copies give the true gap).
    const offElbo = (
      await offTrainer.evaluate({ images: repeated, count: copies * count }, copies * count)
    ).values.elbo!;
    const offIw = (
      await offTrainer.logLikelihood(dataset, { k: 2000, chunk: 1000, batchSize: count })
    ).logPx;
    expect(offElbo, `seed ${seed}`).toBeLessThan(meanWant - 0.01);
    expect(offIw, `seed ${seed}`).toBeGreaterThan(offElbo);
    expect(Math.abs(offIw - meanWant), `seed ${seed}`).toBeLessThan(
      Math.abs(offElbo - meanWant) / 4,
    );
    offTrainer.destroy();
    off.destroy();
  });
});

describe.each(TEST_ADAPTERS)('checkpoints on %s', (adapter) => {
  it('round-trips a checkpoint with optimizer state and resumes identically', async () => {
    const rt = await runtimeFor(adapter);
    const data = generateSynthetic('three-blobs', { count: 400, seed: 3 });
    const model = VaeModel.create(rt, twoD, { seed: 2 });
    const trainer = await Trainer.create(model, { batchSize: 50, lr: 5e-3, seed: 4 });
    const batch = (i: number) => data.data.subarray(i * 100, i * 100 + 100);
    for (let i = 0; i < 4; i++) await trainer.trainStep(batch(i), 50);
    const bytes = await model.toCheckpoint(await trainer.optimizerState());
    const { model: loaded, checkpoint } = VaeModel.fromCheckpoint(rt, bytes, 'ckpt');
    expect(loaded.config).toEqual(model.config);
    const before = await model.readWeights();
    expect(await loaded.readWeights()).toEqual(before);
    const resumed = await Trainer.create(loaded, { batchSize: 50, lr: 5e-3, seed: 4 });
    resumed.loadOptimizerState(checkpoint.optimizer!);
    expect(resumed.step).toBe(4);
    for (let i = 4; i < 7; i++) {
      await trainer.trainStep(batch(i), 50);
      await resumed.trainStep(batch(i), 50);
    }
    const a = await model.readWeights();
    const b = await loaded.readWeights();
    for (const [name, w] of a) expect(b.get(name), name).toEqual(w);
    expect(a.get('decoder.out.weight')).not.toEqual(before.get('decoder.out.weight'));
    trainer.destroy();
    resumed.destroy();
    model.destroy();
    loaded.destroy();
  });
});

describe.each(TEST_ADAPTERS)('texture-fed weights on %s', (adapter) => {
  it('are packed once per Adam step (after it, in the step) and give the same training', async () => {
    const rt = await runtimeFor(adapter);
    const config: VaeConfig = {
      inputSize: 24,
      latentSize: 4,
      encoder: { hidden: [20] },
      decoder: { hidden: [20] },
    };
    const rng = makeRng(freshSeed());
    const batches = Array.from({ length: 5 }, () => randomNormal(rng, 16 * 24));
    const run = async (variant: 'tex' | 'rb') => {
      const model = VaeModel.create(rt, config, { seed: 3 });
      const trainer = await Trainer.create(model, {
        batchSize: 16,
        lr: 1e-2,
        seed: 5,
        matmulVariant: variant,
      });
      const losses: number[] = [];
      trainer.onMetrics((r) => losses.push(r.loss));
      const counts: number[] = [];
      for (const b of batches) {
        await trainer.trainStep(b, 16);
        counts.push(model.packs.recorded);
      }
      await trainer.flush();
      const weights = await model.readWeights();
      const packs = model.packs.size;
      // Inference over the same model, beside the trainer: the decoder reads the packs the last
      // step made, so a decode packs nothing; an upload of the weights (a load) makes the next
      // decode pack them, once.
      const inference = VaeInference.create(model, { matmulVariant: variant, batchSizes: [3] });
      const z = randomNormal(rng, 3 * 4);
      const before = model.packs.recorded;
      const first = await inference.decode(z);
      await inference.decode(z);
      const afterDecodes = model.packs.recorded - before;
      model.writeWeights(weights);
      expect(await inference.decode(z)).toEqual(first);
      await inference.decode(z);
      const afterLoad = model.packs.recorded - before - afterDecodes;
      inference.destroy();
      trainer.destroy();
      model.destroy();
      return { losses, weights, counts, packs, afterDecodes, afterLoad };
    };
    const tex = await run('tex');
    const rb = await run('rb');
    // The forward and dX matmuls read each weight matrix through a shared pack (5 layers: the
    // forward NT for all, the dX NN for all but encoder.0, whose input needs no gradient): packed
    // at the first step's first use, then once per step right after Adam, never per run.
    expect(tex.packs).toBe(5 + 4);
    expect(tex.counts).toEqual(batches.map((_, i) => tex.packs * (i + 2)));
    expect(rb.packs).toBe(0);
    expect(tex.afterDecodes).toBe(0);
    expect(tex.afterLoad).toBe(2); // decoder.0 and decoder.out, once

    // Fresh packs every step: training through textures follows the plain kernel's.
    expect(tex.losses.length).toBe(rb.losses.length);
    tex.losses.forEach((l, i) => expect(l).toBeCloseTo(rb.losses[i]!, 3));
    for (const [name, w] of rb.weights) {
      const t = tex.weights.get(name)!;
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(t[i]! - w[i]!));
      expect(worst, name).toBeLessThan(1e-4);
    }
  });
});

describe('trainer and model errors', () => {
  const adapter = TEST_ADAPTERS[0]!;

  it('rejects truncated, corrupt and mismatched checkpoints with a named problem', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, twoD, { seed: 1 });
    const bytes = await model.toCheckpoint();
    expect(() =>
      VaeModel.fromCheckpoint(rt, bytes.subarray(0, bytes.length - 9), 'cut.safetensors'),
    ).toThrow(/cut\.safetensors/);
    const garbage = bytes.slice();
    garbage.fill(0x7b, 8, 40);
    expect(() => VaeModel.fromCheckpoint(rt, garbage, 'bad.safetensors')).toThrow(
      /bad\.safetensors/,
    );
    const weights = await model.readWeights();
    const wrongShape = encodeCheckpoint({
      params: [...weights].map(([n, d]) => [n, { shape: [d.length], data: d }] as const),
      config: { ...twoD, inputSize: 3 },
    });
    expect(() => VaeModel.fromCheckpoint(rt, wrongShape, 'shape.safetensors')).toThrow(
      /shape\.safetensors: .*encoder\.0\.weight/,
    );
    const noConfig = encodeCheckpoint({
      params: [...weights].map(([n, d]) => [n, { shape: [d.length], data: d }] as const),
    });
    expect(() => VaeModel.fromCheckpoint(rt, noConfig, 'nocfg')).toThrow(
      /nocfg: the checkpoint has no model config/,
    );
    const missing = new Map(weights);
    missing.delete('decoder.out.bias');
    expect(() => model.writeWeights(missing)).toThrow(/missing decoder\.out\.bias/);
    const nan = new Map(weights);
    nan.set('decoder.out.bias', Float32Array.of(0, Number.NaN));
    expect(() => model.writeWeights(nan)).toThrow(/'decoder\.out\.bias'\[1\] is NaN/);
    model.destroy();
  });

  it('names bad configs, batches and data', async () => {
    const rt = await runtimeFor(adapter);
    expect(() => resolveVaeConfig({ ...twoD, latentSize: 300 })).toThrow(
      /latentSize must be an integer in \[1, 256\]/,
    );
    expect(() =>
      resolveVaeConfig({ ...twoD, encoder: { hidden: [4], activation: 'swish' as never } }),
    ).toThrow(/encoder\.activation "swish" is unknown/);
    expect(() => resolveVaeConfig({ ...twoD, likelihood: { kind: 'gaussian', sigma: 0 } })).toThrow(
      /sigma/,
    );
    expect(() => resolveVaeConfig({ ...twoD, capacity: null as never })).not.toThrow();
    const model = VaeModel.create(rt, twoD, { seed: 1 });
    const trainer = await Trainer.create(model, { batchSize: 4 });
    await expect(trainer.trainStep(new Float32Array(8), 5)).rejects.toThrow(
      /rows must be an integer in \[1, 4\]/,
    );
    await expect(trainer.trainStep(new Float32Array(7), 4)).rejects.toThrow(
      /batch holds 7 values, 4 rows of 2 need 8/,
    );
    const bad = Float32Array.of(0, 1, 2, Number.NaN, 4, 5);
    await expect(trainer.fit({ images: bad, count: 3 }, { epochs: 1 })).rejects.toThrow(
      /value NaN at example 1, position 1/,
    );
    await expect(trainer.evaluate({ images: new Float32Array(5), count: 3 })).rejects.toThrow(
      /holds 5 values, 3 examples of 2 need 6/,
    );
    await expect(
      trainer.logLikelihood({ images: new Float32Array(6), count: 3 }, { k: 6000 }),
    ).rejects.toThrow(/k must be an integer in \[1, 5000\]/);
    await expect(Trainer.create(model, { batchSize: 0 })).rejects.toThrow(
      /batchSize must be an integer >= 1/,
    );
    trainer.destroy();
    model.destroy();
  });

  it('computes the learning-rate schedules', () => {
    const ctx = { stepsPerEpoch: 10, totalSteps: 100 };
    expect(learningRateAt({ kind: 'constant' }, 1e-3, 57, ctx)).toBe(1e-3);
    expect(learningRateAt({ kind: 'step', stepSize: 2, gamma: 0.5 }, 1, 19, ctx)).toBe(1);
    expect(learningRateAt({ kind: 'step', stepSize: 2, gamma: 0.5 }, 1, 20, ctx)).toBe(0.5);
    expect(learningRateAt({ kind: 'step', stepSize: 2, gamma: 0.5 }, 1, 45, ctx)).toBe(0.25);
    expect(learningRateAt({ kind: 'cosine' }, 1, 0, ctx)).toBe(1);
    expect(learningRateAt({ kind: 'cosine' }, 1, 50, ctx)).toBeCloseTo(0.5, 12);
    expect(learningRateAt({ kind: 'cosine', minLr: 0.1 }, 1, 100, ctx)).toBeCloseTo(0.1, 12);
  });
});
