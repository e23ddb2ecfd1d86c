// Per-kernel GPU time of one train step in Node, the MLP VAE (784-400-20) or the conv VAE
// (convVaePreset(20)), batch 128 by default: each dispatch of the compiled step and of the
// optimizer timed in its own pass with timestamp queries (GpuTimer), median of 5, summed per
// kernel label (by the clock where there are no timestamp queries). Runs in an older tree too
// (copy this file and portable.ts into it), so two trees' steps can be compared kernel by kernel.
// Usage: npx tsx bench/step-kernels.ts [--adapter swiftshader|llvmpipe|gpu] [--batch 128]
//          [--model mlp|conv|iwae|synthetic|m2] [--k 5] (iwae: the IWAE paper's 784-200-200-50 tanh
//          model, k samples) [--posterior KIND] (synthetic: the notes' 2-D model with that posterior)
//          (m2: semi-supervised M2 at the paper's sizes, --batch unlabeled + --batch labeled rows)
// Prints one JSON line: { adapter, dispatches, totalMs, kernels: [{ kernel, count, ms }],
// each: [{ label, ms }] (every dispatch in order) }.
import type { PreparedDispatch } from '../src/gpu/runtime.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { convVaePreset, type VaeConfig } from '../src/vae/config.js';
import {
  EXPERIMENT_POSTERIORS,
  experimentModel,
  type ExperimentPosterior,
} from '../src/experiments/settings.js';
import { MLP_VAE, option, paperM2 } from './portable.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

const batch = Number(option('--batch', '128'));
const rt = await createRuntime({
  adapter: option('--adapter', 'swiftshader') as AdapterChoice,
  tuning: { persist: false, background: false },
});
const modelKind = option('--model', 'mlp');
const isExperimentPosterior = (name: string): name is ExperimentPosterior =>
  Object.hasOwn(EXPERIMENT_POSTERIORS, name);
const IWAE_VAE: VaeConfig = {
  version: 2,
  inputSize: 784,
  latentSize: 50,
  encoder: { hidden: [200, 200], activation: 'tanh' },
  decoder: { hidden: [200, 200], activation: 'tanh' },
  likelihood: { kind: 'bernoulli' },
  objective: { kind: 'iwae', samples: Number(option('--k', '5')), reduction: 'sum' },
};
// The notes' 2-D model with one of the experiments' posteriors (--posterior diagonal|full|planar|iaf).
const posteriorName = option('--posterior', 'diagonal');
const synthetic = (): VaeConfig => {
  if (!isExperimentPosterior(posteriorName))
    throw new Error(`unknown --posterior ${posteriorName}`);
  return experimentModel(EXPERIMENT_POSTERIORS[posteriorName].section);
};
const config =
  modelKind === 'conv'
    ? convVaePreset(20)
    : modelKind === 'iwae'
      ? IWAE_VAE
      : modelKind === 'synthetic'
        ? synthetic()
        : modelKind === 'm2'
          ? paperM2()
          : MLP_VAE;
const model = VaeModel.create(rt, config, { seed: 1 });
const trainer = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed: 1 });
const x = Float32Array.from(
  { length: batch * config.inputSize },
  (_, i) => ((i * 7919) % 1000) / 1000,
);
const labels = Array.from({ length: batch }, (_, i) => i % 10);
const step = modelKind === 'm2' ? { images: x, labeled: { images: x, labels } } : x;
for (let i = 0; i < 3; i++) await trainer.trainStep(step, batch);
await trainer.flush();
// The optimizer's dispatches: `optimizer.program` here, `adam` in trees before the model layer.
const t = trainer as unknown as {
  optimizer?: { program: { dispatches: PreparedDispatch[] } };
  adam?: { dispatches: PreparedDispatch[] };
};
const graph = trainer.compiledTrainGraph();
if (!graph) throw new Error('no compiled train graph after three steps');
const dispatches = [
  ...graph.cg.dispatches,
  ...(t.optimizer?.program.dispatches ?? t.adam?.dispatches ?? []),
];
// Without timestamp queries (llvmpipe), each dispatch is timed by the clock: submitted alone and
// waited for (adds the submit round trip, about 0.1 ms there).
const timeByClock = async (): Promise<number[]> => {
  const ms: number[] = [];
  for (const d of dispatches) {
    const t0 = performance.now();
    rt.submit([d], 'time');
    await rt.finish();
    ms.push(performance.now() - t0);
  }
  return ms;
};
const runs: number[][] = [];
for (let i = 0; i < 5; i++) {
  runs.push(rt.timer ? (await rt.timer.time(dispatches)).map((k) => k.ms) : await timeByClock());
}
const byKernel = new Map<string, { count: number; ms: number }>();
const each = dispatches.map((d, i) => ({
  label: d.label,
  ms: runs.map((r) => r[i]!).sort((a, b) => a - b)[2]!,
}));
each.forEach(({ label, ms }) => {
  const d = { label };
  const kernel = d.label.replace(/\[.*$/, '');
  const entry = byKernel.get(kernel) ?? { count: 0, ms: 0 };
  byKernel.set(kernel, { count: entry.count + 1, ms: entry.ms + ms });
});
const kernels = [...byKernel].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
console.log(
  JSON.stringify({
    adapter: rt.info.name,
    dispatches: dispatches.length,
    totalMs: kernels.reduce((s, k) => s + k.ms, 0),
    kernels,
    each,
  }),
);
trainer.destroy();
model.destroy();
rt.destroy();
