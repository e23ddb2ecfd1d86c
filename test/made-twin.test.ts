// The learned prior of a vq model (prior.kind 'made') with the PyTorch twin
// (python/webgpu_vae_torch/made.py, train_prior.py): our checkpoint loads in the twin with the
// same prior.* tensors, and the twin's MADE gives the logits and the cross-entropy per position
// that our prior graph gives (the float64 interpreter) for the same weights and codes; the twin
// trains the prior and writes the checkpoint back, which our model loads (VaeModel.fromCheckpoint)
// with the VAE's tensors unchanged, and there our logits, and the bits per code of our
// PriorTrainer on the GPU, are the twin's again.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGraph64 } from '../src/reference/graph.js';
import { resolveVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { buildPriorGraph, PriorTrainer } from '../src/vae/prior-stage.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { pythonScript, tempDir } from './helpers/python.js';
import { freshSeed, makeRng, mismatches } from './helpers/reference.js';

const [P, K, R] = [4, 5, 24];
const CONFIG: VaeConfig = {
  version: 2,
  inputSize: 6,
  latentSize: 2 * P,
  encoder: { hidden: [7], activation: 'tanh' },
  decoder: { hidden: [7], activation: 'tanh' },
  posterior: { kind: 'vq', codes: K, dim: 2, update: 'ema' },
  prior: { kind: 'made', hidden: [9, 6], activation: 'tanh' },
};

interface Report {
  loaded: Record<string, number[]>;
  logits: number[][];
  nll: number[][];
  logitsAfter: number[][];
  nllAfter: number[][];
}

/** Our float64 logits (R, P·K) and cross-entropy per position (R·P) at `weights`. */
function ours(weights: Map<string, Float32Array>, codes: Float32Array) {
  const pg = buildPriorGraph(resolveVaeConfig(CONFIG), R, false);
  const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
  const run = runGraph64(pg.graph, {
    params,
    inputs: new Map([
      ['codes', codes],
      ['hyper', Float32Array.of(0)],
    ]),
  });
  return { logits: run.value(pg.logits), loss: run.value(pg.loss)[0]! };
}

const sum = (rows: number[][]) => rows.flat().reduce((a, b) => a + b, 0);

describe('made prior checkpoints with the PyTorch twin', () => {
  const tmp = tempDir('webgpu-vae-made-twin-');
  const path = (name: string) => join(tmp.dir, name);
  afterAll(() => tmp.remove());

  it('ours -> twin: same logits and loss; twin-trained prior -> ours: the same again', async () => {
    const rt = await runtimeFor(TEST_ADAPTERS[0]!);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const model = VaeModel.create(rt, CONFIG, { seed });
    const weights = await model.readWeights();
    // Larger prior weights than the init's: conditionals far from uniform.
    for (const [name, w] of weights)
      if (name.startsWith('prior.')) w.forEach((v, i) => (w[i] = 4 * v));
    model.writeWeights(weights);
    writeFileSync(path('ts.safetensors'), await model.toCheckpoint());
    model.destroy();
    const codes = Float32Array.from({ length: R * P }, () => Math.floor(rng() * K));
    const rows = Array.from({ length: R }, (_, r) => [...codes.subarray(r * P, (r + 1) * P)]);
    writeFileSync(path('codes.json'), JSON.stringify(rows));

    const report = JSON.parse(
      await pythonScript('test/helpers/made_roundtrip.py', [
        path('ts.safetensors'),
        path('py.safetensors'),
        path('codes.json'),
      ]),
    ) as Report;
    const priorNames = [...weights.keys()].filter((n) => n.startsWith('prior.'));
    expect(Object.keys(report.loaded)).toEqual(priorNames);
    for (const name of priorNames) expect(report.loaded[name]).toEqual([...weights.get(name)!]);

    const tol = { atol: 1e-9, rtol: 1e-9 };
    const before = ours(weights, codes);
    expect(mismatches(before.logits, report.logits.flat(), tol, `logits seed=${seed}`)).toBeNull();
    expect(before.loss).toBeCloseTo(sum(report.nll), 9);

    const back = VaeModel.fromCheckpoint(rt, readFileSync(path('py.safetensors')), 'py');
    const after = await back.model.readWeights();
    for (const [name, w] of weights) {
      const moved = w.some((v, i) => v !== after.get(name)![i]);
      expect(moved, name).toBe(name.startsWith('prior.'));
    }
    const trained = ours(after, codes);
    expect(
      mismatches(trained.logits, report.logitsAfter.flat(), tol, `trained logits seed=${seed}`),
    ).toBeNull();
    expect(trained.loss).toBeCloseTo(sum(report.nllAfter), 9);
    expect(trained.loss).toBeLessThan(before.loss);
    // Our GPU prior stage on the twin's prior: the same bits per code (f32).
    const trainer = await PriorTrainer.create(back.model, { batchSize: 10 });
    const bits = await trainer.evaluate(codes);
    expect(Math.abs(bits - sum(report.nllAfter) / (R * P * Math.LN2))).toBeLessThan(1e-4);
    trainer.destroy();
    back.model.destroy();
  });
});
