// The page bench/compare-parent.ts builds twice, once over this tree's src/ and once over the
// parent commit's (a Vite alias swaps '../../src/' for the parent's), and runs alternately. It uses
// only API that both trees have. ?mode=
//   display:   the 16×16 traversal grid through LatentView into a WebGPU canvas, one frame after
//              the other (frames/s: what a frame costs)
//   loop:      the same view driven by the library's TraversalLoop (requestAnimationFrame, as an
//              app runs it): frames finished per second over 5 s
//   decode256: the decoder program for 256 latents, one submit per decode (images/s)
//   texture:   the display mode's view into a texture instead of a canvas, one frame after the
//              other (frames/s: what a frame costs without the canvas)
//   decode-await: the decode256 program awaited after each run (runs/s: what a decode costs one
//              at a time, as a frame waits for it)
//   train128:  the Trainer's MNIST VAE step at batch 128 (samples/s)
//   conv128:   the Trainer's conv VAE step (convVaePreset(20)) at batch 128 (samples/s)
//   startup:   navigation start to the first finished train step at batch 128 (ms; a fresh
//              browser profile each time, the runtime's defaults)
// With &tuned=1 (train128, conv128), ours first measures its matmul variants for the step's shapes
// (the background measuring, with no delay), then times a fresh trainer that uses the measured
// choices, as a second run with persisted choices would; the parent measured them when it
// prepared the step anyway. Without it, ours runs the shipped defaults.
// The result lands in window.__compare; progress goes to console.log.
import { loadEmbeddedDigits } from '../../src/data/embedded.js';
import { createRuntime } from '../../src/gpu/runtime.js';
import {
  canvasTarget,
  gridLayout,
  LatentView,
  textureTarget,
  TraversalLoop,
} from '../../src/display/index.js';
import { VaeInference } from '../../src/vae/inference.js';
import { VaeModel, initialWeights } from '../../src/vae/model.js';
import { convVaePreset, resolveVaeConfig } from '../../src/vae/config.js';
import { Trainer } from '../../src/vae/trainer.js';
import { matmulTuningIdle } from '../../src/kernels/matmul-select.js';
import {
  ADAM,
  GRID,
  LR,
  MNIST_VAE,
  randomNormalArray,
  timeIt,
  type Timed,
  type Timing,
} from '../browser/protocol.js';

export interface CompareResult {
  mode: string;
  value: number;
  unit: string;
  timing: Timing;
  /** The kernels of the decoder (display and decode modes): which matmul variants ran. */
  kernels?: string[];
}

const query = new URLSearchParams(location.search);
const mode = query.get('mode') ?? 'display';
const tuned = query.get('tuned') === '1';

/** Navigation start -> the first train step finished, with the runtime as an app gets it. */
async function startup(): Promise<CompareResult> {
  const rt = await createRuntime();
  const weights = initialWeights(resolveVaeConfig(MNIST_VAE), 0);
  const model = VaeModel.create(rt, MNIST_VAE, { weights });
  const trainer = await Trainer.create(model, { batchSize: 128, lr: LR, ...ADAM, seed: 1 });
  await trainer.prepare();
  await trainer.trainStep(randomNormalArray(128 * 784, 7).map((v) => Math.abs(v) % 1));
  await trainer.flush();
  const ms = performance.now();
  return { mode, value: ms, unit: 'ms', timing: { ms, inner: 1, repeats: 1, all: [ms] } };
}

async function main(): Promise<CompareResult> {
  if (mode === 'startup') return startup();
  // No persisted choices; no background measuring unless tuned (then measured before timing).
  const rt = await createRuntime({
    tuning: tuned
      ? { persist: false, background: true, backgroundDelayMs: 0, backgroundShare: 1 }
      : { persist: false, background: false },
  });
  const weights = initialWeights(resolveVaeConfig(MNIST_VAE), 0);
  const model = VaeModel.create(rt, MNIST_VAE, { weights });
  const n = GRID * GRID;
  let timed: Timed;
  let kernels: string[] | undefined;
  let toValue: (ms: number) => number;
  let unit: string;
  if (mode === 'loop') {
    const inference = VaeInference.create(model);
    const canvas = document.createElement('canvas');
    document.body.appendChild(canvas);
    const target = canvasTarget(rt, canvas, gridLayout(n, 28, 28, { columns: GRID }));
    const view = await LatentView.create(inference, target, {
      rows: GRID,
      cols: GRID,
      spec: { mode: 'traverse', dimA: 0 },
    });
    view.setBase(new Float32Array(MNIST_VAE.latentSize));
    const loop = new TraversalLoop(view);
    loop.start();
    await new Promise((resolve) => setTimeout(resolve, 2000)); // warm-up
    const before = loop.frames;
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const frames = loop.frames - before;
    const ms = (performance.now() - t0) / Math.max(1, frames);
    loop.stop();
    await rt.finish();
    view.destroy();
    const timing: Timing = { ms, inner: frames, repeats: 1, all: [ms] };
    return { mode, value: 1000 / ms, unit: 'frames/s', timing };
  }
  if (mode === 'display' || mode === 'texture') {
    const inference = VaeInference.create(model);
    const layout = gridLayout(n, 28, 28, { columns: GRID });
    let target;
    if (mode === 'texture') {
      target = textureTarget(rt, layout);
    } else {
      const canvas = document.createElement('canvas');
      document.body.appendChild(canvas);
      target = canvasTarget(rt, canvas, layout);
    }
    const view = await LatentView.create(inference, target, {
      rows: GRID,
      cols: GRID,
      spec: { mode: 'traverse', dimA: 0 },
    });
    view.setBase(new Float32Array(MNIST_VAE.latentSize));
    timed = {
      run: async (count) => {
        for (let i = 0; i < count; i++) await view.frame();
      },
      sync: () => rt.finish(),
      dispose: () => view.destroy(),
    };
    toValue = (ms) => 1000 / ms;
    unit = 'frames/s';
  } else if (mode === 'decode256' || mode === 'decode-await') {
    const inference = VaeInference.create(model);
    const program = await inference.createDecoderProgram(n);
    kernels = program.dispatches.map((d) => d.kernel.name);
    const z = Float32Array.from(randomNormalArray(n * MNIST_VAE.latentSize, 400));
    timed = {
      run: async (count) => {
        for (let i = 0; i < count; i++) {
          rt.device.queue.writeBuffer(program.z.buffer, program.z.offset, z);
          rt.submit([program], 'decode');
          if (mode === 'decode-await') await rt.device.queue.onSubmittedWorkDone();
        }
      },
      sync: () => rt.finish(),
      dispose: () => program.destroy(),
    };
    toValue = (ms) => (n * 1000) / ms;
    unit = 'images/s';
  } else if (mode === 'train128' || mode === 'conv128') {
    const B = 128;
    const digits = await loadEmbeddedDigits({ trainCount: 4 * B, testCount: 0 });
    const trained =
      mode === 'conv128' ? VaeModel.create(rt, convVaePreset(20), { seed: 1 }) : model;
    const options = { batchSize: B, lr: LR, ...ADAM, seed: 1 };
    if (tuned) {
      // One step queues the step's shape classes; the measured choices apply to graphs compiled
      // after they are made.
      const first = await Trainer.create(trained, options);
      await first.trainStep(digits.train.images.subarray(0, B * 784), B);
      await first.flush();
      await matmulTuningIdle(rt);
      first.destroy();
    }
    const trainer = await Trainer.create(trained, options);
    await trainer.prepare();
    let next = 0;
    timed = {
      run: async (count) => {
        for (let i = 0; i < count; i++) {
          const k = next++ % 4;
          await trainer.trainStep(digits.train.images.subarray(k * B * 784, (k + 1) * B * 784), B);
        }
      },
      sync: () => trainer.flush(),
      dispose: () => trainer.destroy(),
    };
    toValue = (ms) => (B * 1000) / ms;
    unit = 'samples/s';
  } else {
    throw new Error(`unknown mode '${mode}'`);
  }
  const timing = await timeIt(timed, { warmup: 2, repeats: 5 });
  timed.dispose();
  return { mode, value: toValue(timing.ms), unit, timing, ...(kernels ? { kernels } : {}) };
}

main()
  .then((result) => {
    (window as unknown as { __compare: CompareResult }).__compare = result;
  })
  .catch((error: unknown) => {
    const message = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
    console.log(`[compare] error: ${message}`);
    (window as unknown as { __compareError: string }).__compareError = message;
  });
