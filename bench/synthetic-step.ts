// Train steps per second of the lecture notes' 2-D model (src/experiments/settings.ts) with one of
// the experiments' posteriors, batch 32, in this tree: a step of this tiny model is bound by its
// number of dispatches, so this is the figure fused kernels move. Copy it into another tree to
// compare the two in one run (alternate them: the machine's speed drifts).
//   npx tsx bench/synthetic-step.ts [--posterior planar] [--steps 300] [--adapter llvmpipe]
//     [--cpu-threads 0] (llvmpipe's worker threads; default LP_NUM_THREADS, else Mesa's)
// Prints one JSON line: { posterior, adapter, stepsPerSecond }.
import { EXPERIMENT_POSTERIORS, experimentModel } from '../src/experiments/settings.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { option } from './portable.js';

const name = option('--posterior', 'planar');
const choice = Object.entries(EXPERIMENT_POSTERIORS).find(([k]) => k === name)?.[1];
if (!choice) {
  throw new Error(
    `--posterior: unknown '${name}' (${Object.keys(EXPERIMENT_POSTERIORS).join(', ')})`,
  );
}
const steps = Number(option('--steps', '300'));
const threads = option('--cpu-threads', '');
const rt = await createRuntime({
  adapter: option('--adapter', 'llvmpipe') as AdapterChoice,
  ...(threads === '' ? {} : { cpuThreads: Number(threads) }),
  tuning: { persist: false, background: false },
});
const model = VaeModel.create(rt, experimentModel(choice.section), { seed: 1 });
const trainer = await Trainer.create(model, { batchSize: 32, lr: 1e-3, seed: 1, readEvery: 50 });
const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * 2);
for (let i = 0; i < 20; i++) await trainer.trainStep(x, 32);
await trainer.flush();
const t0 = performance.now();
for (let i = 0; i < steps; i++) await trainer.trainStep(x, 32);
await trainer.flush();
const stepsPerSecond = steps / ((performance.now() - t0) / 1000);
console.log(
  JSON.stringify({ posterior: name, adapter: rt.info.name, cpuThreads: threads, stepsPerSecond }),
);
trainer.destroy();
model.destroy();
rt.destroy();
