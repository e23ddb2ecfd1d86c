// vq checkpoints move both ways between our library and the PyTorch twin: a Trainer's checkpoint
// with EMA updates (the codebook and posterior.ema.count/sum are non-parameter tensors) loads in
// the twin with the same EMA state, resumes there for a step, and the twin's checkpoint (zero
// Adam moments for those tensors, as ours) loads back into a model and a Trainer; an MLP model
// and a conv grid (the twin's module names and shapes are ours: its strict load_state_dict).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { pythonScript, tempDir } from './helpers/python.js';
import { makeRng, mismatches, randomUniform } from './helpers/reference.js';

// Both: 6 codes of 3 values.
const MLP: VaeConfig = {
  version: 2,
  inputSize: 12,
  latentSize: 6,
  encoder: { hidden: [8], activation: 'tanh' },
  decoder: { hidden: [8], activation: 'tanh' },
  posterior: { kind: 'vq', codes: 6, dim: 3, update: 'ema', decay: 0.9 },
};
/** 1×5×7 -> a 3×4 grid of 3-vectors -> deconv back to 1×5×7. */
const GRID: VaeConfig = {
  version: 2,
  inputSize: 35,
  inputShape: [1, 5, 7],
  latentSize: 36,
  encoder: { conv: [{ channels: 4, kernel: 3, stride: 2, padding: 1 }], hidden: [] },
  decoder: { hidden: [], deconv: [{ channels: 1, kernel: 3, stride: 2, padding: 1 }] },
  posterior: { kind: 'vq', codes: 6, dim: 3, update: 'ema', decay: 0.9, grid: true },
};
const EMA = ['posterior.codebook', 'posterior.ema.count', 'posterior.ema.sum'];

describe('vq checkpoints with the PyTorch twin', () => {
  const tmp = tempDir('webgpu-vae-vq-twin-');
  afterAll(() => tmp.remove());

  it.each([
    ['mlp', MLP],
    ['conv grid', GRID],
  ] as const)(
    '%s: ours -> twin -> ours: EMA state, weights, Adam moments and step',
    async (name, config) => {
      const path = (file: string) => join(tmp.dir, `${name.replace(' ', '-')}.${file}`);
      const rt = await runtimeFor(TEST_ADAPTERS[0]!);
      const model = VaeModel.create(rt, config, { seed: 4 });
      const trainer = await Trainer.create(model, { batchSize: 8, lr: 1e-2, seed: 1 });
      const rng = makeRng(7);
      const images = randomUniform(rng, 32 * config.inputSize, 0, 1);
      await trainer.fit({ images, count: 32 }, { epochs: 1 });
      const ours = await model.readWeights();
      // The EMA moved off its initial state (count 1 per code).
      expect(ours.get('posterior.ema.count')!.some((v) => v !== 1)).toBe(true);
      writeFileSync(
        path('ts.safetensors'),
        await model.toCheckpoint(await trainer.optimizerState()),
      );
      trainer.destroy();
      model.destroy();

      const report = JSON.parse(
        await pythonScript('test/helpers/vq_roundtrip.py', [
          path('ts.safetensors'),
          path('py.safetensors'),
        ]),
      ) as { loaded: Record<string, number[]>; step: number };
      expect(report.step).toBe(4);
      expect(Object.keys(report.loaded)).toEqual(EMA);
      for (const name of EMA) expect(report.loaded[name]).toEqual([...ours.get(name)!]);

      const back = VaeModel.fromCheckpoint(rt, readFileSync(path('py.safetensors')), 'py');
      const resumed = await Trainer.create(back.model, { batchSize: 8 });
      resumed.loadOptimizerState(back.checkpoint.optimizer!);
      expect(resumed.step).toBe(5);
      const after = await back.model.readWeights();
      // The twin's step moved the EMA state; the codebook is still m_k / N̂_k of that state.
      expect(
        mismatches(after.get('posterior.ema.count')!, ours.get('posterior.ema.count')!, {
          atol: 1e-7,
          rtol: 0,
        }),
      ).not.toBeNull();
      const count = after.get('posterior.ema.count')!;
      const sum = after.get('posterior.ema.sum')!;
      const n = count.reduce((a, b) => a + b, 0);
      const want = Array.from(sum, (m, i) => {
        const k = Math.floor(i / 3);
        return m / (((count[k]! + 1e-5) / (n + 6 * 1e-5)) * n);
      });
      expect(
        mismatches(after.get('posterior.codebook')!, want, { atol: 1e-6, rtol: 1e-5 }, 'codebook'),
      ).toBeNull();
      resumed.destroy();
      back.model.destroy();
    },
  );
});
