// Issue 16's long run: 10,000 training steps in one process, as the CLI trains (test evaluation
// after every epoch, the background checkpoint writer after every epoch and every 500 steps), and
// what stays alive: the count of live GPU buffers (rt.buffers.stats) after each epoch must not
// change after the first, and the JS heap after a full GC at the end must be within 5 % of the heap
// after the first epoch. Small model (784-64-8) on the embedded digits, batch 100 (80 steps an
// epoch, 125 epochs). The matmul variants' background measuring (bounded, not part of training) is
// off unless --tuning: its operands come and go while it measures. Buffers whose count or size
// changed between epochs are named.
//
//   node --expose-gc --import tsx bench/long-run.ts [--steps 10000] [--adapter llvmpipe] [--tuning]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointSaver } from '../src/cli/checkpoint-saver.js';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10000' },
    adapter: { type: 'string', default: 'llvmpipe' },
    tuning: { type: 'boolean', default: false },
  },
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (a full GC before each heap reading)');
const collect = () => {
  // Twice: finalizers of the first pass free more in the second.
  gc();
  gc();
  return process.memoryUsage();
};

const BATCH = 100;
const digits = await loadEmbeddedDigits({ trainCount: 8000, testCount: 500 });
const stepsPerEpoch = Math.ceil(digits.train.count / BATCH);
const epochs = Math.ceil(Number(values.steps) / stepsPerEpoch);
const rt = await createRuntime({
  adapter: values.adapter as AdapterChoice,
  tuning: { persist: false, background: values.tuning },
});
console.log(
  `long run: ${epochs * stepsPerEpoch} steps (${epochs} epochs of ${stepsPerEpoch}), ` +
    `adapter ${rt.info.name} (${rt.info.kind}), background matmul measuring ` +
    `${values.tuning ? 'on' : 'off'}, Node ${process.version}, ${new Date().toISOString()}`,
);
const model = VaeModel.create(
  rt,
  {
    inputSize: 784,
    latentSize: 8,
    encoder: { hidden: [64] },
    decoder: { hidden: [64] },
  },
  { seed: 1 },
);
const trainer = await Trainer.create(model, { batchSize: BATCH, lr: 1e-3, seed: 1 });
const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-long-run-'));
const saver = await CheckpointSaver.create(trainer, join(dir, 'model.safetensors'));

interface EpochSample {
  epoch: number;
  step: number;
  liveBuffers: number;
  liveBytes: number;
  heapUsed: number;
  external: number;
  testLoss: number;
}
const samples: EpochSample[] = [];
let windows = 0;
let lastLabels = new Map<string, { buffers: number; bytes: number }>();
const started = performance.now();
await trainer.fit(
  { images: digits.train.images, count: digits.train.count },
  {
    epochs,
    test: { images: digits.test.images, count: digits.test.count },
    onStep: () => windows++,
    onSubmit: (step, _epoch, stepInEpoch, total) => {
      if (stepInEpoch === total) saver.snapshot(step, true);
      else if (step % 500 === 0) saver.snapshot(step);
      else saver.catchUp(step);
    },
    onEpoch: (r) => {
      const mem = collect();
      const { liveBuffers, liveBytes } = rt.buffers.stats;
      // Name what changed since the last epoch (a leak's labels).
      const labels = rt.buffers.liveLabels();
      const text = (e: { buffers: number; bytes: number } | undefined) =>
        e ? `${e.buffers} (${e.bytes} bytes)` : '0';
      const changed = [...new Set([...labels.keys(), ...lastLabels.keys()])]
        .filter((l) => text(labels.get(l)) !== text(lastLabels.get(l)))
        .map((l) => `${l} ${text(lastLabels.get(l))} → ${text(labels.get(l))}`);
      if (r.epoch > 1 && changed.length > 0) {
        console.log(`epoch ${r.epoch}: live buffers changed: ${changed.join('; ')}`);
      }
      lastLabels = labels;
      samples.push({
        epoch: r.epoch,
        step: trainer.step,
        liveBuffers,
        liveBytes,
        heapUsed: mem.heapUsed,
        external: mem.external,
        testLoss: r.test!.loss,
      });
      if (r.epoch === 1 || r.epoch % 25 === 0) {
        console.log(
          `epoch ${r.epoch}: step ${trainer.step}, test loss ${r.test!.loss.toFixed(2)}, ` +
            `${liveBuffers} live GPU buffers (${(liveBytes / 1e6).toFixed(2)} MB), ` +
            `heap ${(mem.heapUsed / 1e6).toFixed(2)} MB, ${r.stepsPerSecond.toFixed(0)} steps/s`,
        );
      }
    },
  },
);
await saver.flush();
const seconds = (performance.now() - started) / 1000;
const first = samples[0]!;
const last = samples.at(-1)!;
const buffersAfterFirst = new Set(samples.map((s) => s.liveBuffers));
const bytesAfterFirst = new Set(samples.map((s) => s.liveBytes));
const heapGrowth = (last.heapUsed - first.heapUsed) / first.heapUsed;
const heapMax = Math.max(...samples.map((s) => s.heapUsed));
const ok = buffersAfterFirst.size === 1 && bytesAfterFirst.size === 1 && heapGrowth < 0.05;
console.log(
  `result: ${ok ? 'PASS' : 'FAIL'}: ${last.step} steps in ${seconds.toFixed(0)} s; ` +
    `live GPU buffers after each epoch: ${[...buffersAfterFirst].join(', ')} ` +
    `(${[...bytesAfterFirst].map((b) => `${b} bytes`).join(', ')}); ` +
    `JS heap after a full GC: ${(first.heapUsed / 1e6).toFixed(2)} MB after epoch 1, ` +
    `${(last.heapUsed / 1e6).toFixed(2)} MB after epoch ${last.epoch} ` +
    `(${(100 * heapGrowth).toFixed(2)} %; largest ${(heapMax / 1e6).toFixed(2)} MB); ` +
    `external ${(first.external / 1e6).toFixed(2)} → ${(last.external / 1e6).toFixed(2)} MB; ` +
    `${saver.written} checkpoints written, ${windows} metric readbacks; ` +
    `test loss ${first.testLoss.toFixed(2)} → ${last.testLoss.toFixed(2)}`,
);
saver.destroy();
trainer.destroy();
model.destroy();
rt.destroy();
rmSync(dir, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
