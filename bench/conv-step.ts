// Conv VAE train step throughput (convVaePreset, batch 128, Adam 1e-3) on seeded random batches
// in [0, 1], in samples/s. Uses only the public training API, so the same file runs against an
// older checkout (bench/conv-step-vs-parent.ts copies it into the parent commit's tree).
// Usage: npx tsx bench/conv-step.ts [--adapter llvmpipe|swiftshader|gpu|auto] [--steps N]
//          [--batch B] [--samples S]
// Prints one JSON line: { adapter, batch, samplesPerSecond: [one per sample of N steps] }.
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { convVaePreset } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const adapter = option('--adapter', 'llvmpipe') as AdapterChoice;
const steps = Number(option('--steps', '8'));
const batch = Number(option('--batch', '128'));
const samples = Number(option('--samples', '3'));

const rt = await createRuntime({ adapter });
const model = VaeModel.create(rt, convVaePreset(20), { seed: 1 });
const trainer = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed: 1 });
await trainer.prepare(batch);
let state = 12345;
const batches = Array.from({ length: 4 }, () =>
  Float32Array.from({ length: batch * 784 }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 32;
  }),
);
let next = 0;
const run = async (n: number) => {
  for (let i = 0; i < n; i++) await trainer.trainStep(batches[next++ % batches.length]!, batch);
  await trainer.flush();
};
await run(2); // warm-up: lazy compilation, first uploads
const rates: number[] = [];
for (let s = 0; s < samples; s++) {
  const t0 = performance.now();
  await run(steps);
  rates.push((steps * batch * 1000) / (performance.now() - t0));
}
console.log(JSON.stringify({ adapter: rt.info.name, batch, samplesPerSecond: rates }));
trainer.destroy();
model.destroy();
rt.destroy();
