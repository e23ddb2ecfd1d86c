// Steady-state throughput of one workload in Node: the MLP VAE (784-400-20, ReLU, Bernoulli, the
// pytorch/examples model), the conv VAE (convVaePreset(20)) or the conv VQ-VAE (convVqPreset(64,
// 16), a 7×7 grid of codes; train only), either its train step (batch B,
// Adam 1e-3, seeded random batches in [0, 1]: samples/s) or its decoder program over B latents
// (one submit per decode: images/s). Uses only API that older checkouts have, so
// bench/step-vs-parent.ts can copy this file (with portable.ts) into a parent commit's tree.
// Usage: npx tsx bench/step.ts [--model mlp|conv|vq] [--mode train|decode]
//          [--adapter llvmpipe|swiftshader|gpu|auto] [--steps N] [--batch B] [--samples S] [--tuned]
// --tuned: first measure the matmul variants for the workload's shapes (background measuring with
// no delay), then time a fresh trainer or program that uses the measured choices, as a run with
// persisted choices does. Trees without background measuring measured when they prepared anyway.
// Prints one JSON line: { adapter, model, mode, batch, perSecond: [one rate per sample of N runs] }.
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { convVaePreset } from '../src/vae/config.js';
import { CONV_VQ, MLP_VAE, option } from './portable.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

const adapter = option('--adapter', 'llvmpipe') as AdapterChoice;
const modelName = option('--model', 'conv');
const mode = option('--mode', 'train');
const steps = Number(option('--steps', '8'));
const batch = Number(option('--batch', mode === 'decode' ? '256' : '128'));
const samples = Number(option('--samples', '3'));
if (modelName !== 'mlp' && modelName !== 'conv' && modelName !== 'vq')
  throw new Error(`--model: mlp, conv or vq, got '${modelName}'`);
if (mode !== 'train' && mode !== 'decode')
  throw new Error(`--mode: train or decode, got '${mode}'`);
// Its decoder reads code indices, not the 20 latents the decode mode writes.
if (modelName === 'vq' && mode !== 'train') throw new Error('--model vq: --mode train only');

// Steady state: no background measuring of matmul variants while timing (older trees ignore it).
const tuned = process.argv.includes('--tuned');
const rt = await createRuntime({
  adapter,
  tuning: tuned
    ? { persist: false, background: true, backgroundDelayMs: 0, backgroundShare: 1 }
    : { persist: false, background: false },
});
// Loaded only here: older trees have no matmul-select module (and nothing to wait for).
const select = await import('../src/kernels/matmul-select.js').catch(() => undefined);
const settle = async () => {
  if (tuned && select) await select.matmulTuningIdle(rt);
};
const config = modelName === 'mlp' ? MLP_VAE : modelName === 'vq' ? CONV_VQ : convVaePreset(20);
const model = VaeModel.create(rt, config, { seed: 1 });
let state = 12345;
const uniform = (n: number) =>
  Float32Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 32;
  });

let run: (n: number) => Promise<void>;
let destroy: () => void;
if (mode === 'train') {
  const batches = Array.from({ length: 4 }, () => uniform(batch * 784));
  if (tuned) {
    const first = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed: 1 });
    await first.trainStep(batches[0]!, batch);
    await first.flush();
    await settle();
    first.destroy();
  }
  const trainer = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed: 1 });
  await trainer.prepare(batch);
  let next = 0;
  run = async (n) => {
    for (let i = 0; i < n; i++) await trainer.trainStep(batches[next++ % batches.length]!, batch);
    await trainer.flush();
  };
  destroy = () => trainer.destroy();
} else {
  const inference = VaeInference.create(model);
  if (tuned) {
    const first = await inference.createDecoderProgram(batch);
    rt.submit([first], 'decode');
    await rt.finish();
    await settle();
    first.destroy();
  }
  const program = await inference.createDecoderProgram(batch);
  const z = uniform(batch * 20).map((u) => 4 * u - 2);
  run = async (n) => {
    for (let i = 0; i < n; i++) {
      rt.device.queue.writeBuffer(program.z.buffer, program.z.offset, z);
      rt.submit([program], 'decode');
    }
    await rt.finish();
  };
  destroy = () => program.destroy();
}
await run(2); // warm-up: lazy compilation, first uploads
const rates: number[] = [];
for (let s = 0; s < samples; s++) {
  const t0 = performance.now();
  await run(steps);
  rates.push((steps * batch * 1000) / (performance.now() - t0));
}
console.log(
  JSON.stringify({ adapter: rt.info.name, model: modelName, mode, batch, perSecond: rates }),
);
destroy();
model.destroy();
rt.destroy();
