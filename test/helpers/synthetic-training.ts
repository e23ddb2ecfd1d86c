// The posterior kinds' training check: a small 2-D VAE (2-32-2, tanh, learned-σ Gaussian) on 1000
// points of the notes' rotated Gaussian, 15 epochs of batch 50 (300 steps). Returns the loss
// before and after, the epoch reports, and the trained model with its trainer (the caller frees
// them, after any checks of its own).
import { generateSynthetic } from '../../src/data/synthetic.js';
import type { GpuRuntime } from '../../src/gpu/runtime.js';
import type { ObjectiveConfig, PosteriorConfig } from '../../src/vae/kinds.js';
import { VaeModel } from '../../src/vae/model.js';
import { Trainer } from '../../src/vae/trainer.js';

export async function trainRotatedGaussian(
  rt: GpuRuntime,
  posterior: PosteriorConfig,
  objective: ObjectiveConfig,
) {
  const points = generateSynthetic('rotated-gaussian', {
    count: 1000,
    seed: 5,
    noiseVariance: 0.2,
  });
  const data = { images: points.data, count: points.count };
  const model = VaeModel.create(
    rt,
    {
      version: 2,
      inputSize: 2,
      latentSize: 2,
      encoder: { hidden: [32], activation: 'tanh' },
      decoder: { hidden: [32], activation: 'tanh' },
      posterior,
      likelihood: { kind: 'gaussian-learned' },
      objective,
    },
    { seed: 7 },
  );
  const trainer = await Trainer.create(model, { batchSize: 50, lr: 3e-3, seed: 8 });
  const before = await trainer.evaluate(data);
  // 1000 points in batches of 50: 20 steps an epoch.
  const reports = await trainer.fit(data, { epochs: 15 });
  const after = await trainer.evaluate(data);
  return { points, model, trainer, before, after, reports };
}
