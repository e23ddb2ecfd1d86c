// The demo's engine, in a Web Worker: the GPU runtime, the digits model (unconditional,
// conditional on the digit class, or semi-supervised M2) with its trainer and inference, the
// latent views (drawn GPU-direct into transferred canvases, or through a readback where WebGPU
// canvases do not work, under the selected class for a conditional model), the synthetic
// experiments and checkpoints. The main thread (main.ts) only touches the DOM, so it stays
// responsive while this trains.
import { createRuntime, type GpuRuntime } from '../../src/gpu/runtime.js';
import { loadEmbeddedDigits, type EmbeddedDigits } from '../../src/data/embedded.js';
import { createRng } from '../../src/data/rng.js';
import { CyclicBatcher } from '../../src/data/batches.js';
import { labeledSubset } from '../../src/data/labeled-subset.js';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { sampleObservations } from '../../src/experiments/synthetic.js';
import type { Colormap } from '../../src/image/grid.js';
import { readCheckpointSource } from '../../src/checkpoint/source.js';
import { VaeModel } from '../../src/vae/model.js';
import { Trainer } from '../../src/vae/trainer.js';
import type { VaeConfig } from '../../src/vae/config.js';
import { VaeInference, type Decoded } from '../../src/vae/inference.js';
import { missingPixelBce } from '../../src/vae/inpaint.js';
import { serveEngine, type WorkerScope } from './rpc.js';
import {
  SYNTHETIC_POSTERIORS,
  VIEW_IDS,
  type DigitsKind,
  type DisplayMode,
  type Engine,
  type ModelInfo,
  type ViewId,
  type VqInfo,
} from './protocol.js';
import { Animator, createView, idleView, type DemoView } from './views.js';

const GRID = 16;
const TRAIN_BATCH = 64;
/**
 * M2's unlabelled and labelled rows per step: the model runs on L + U·10 rows, so a smaller batch
 * keeps its steps near the others' cost.
 */
const M2_BATCH = 16;
/** Labelled training digits of an M2 model unless the train panel says otherwise. */
const M2_LABELS = 100;
const DIGIT_CLASSES = 10;
const TRAIN_DIGITS = 8000;

/**
 * 784-400-Z; conditional: q(z|x, y) and p(x|z, y) with the digit's one-hot label; M2: that plus
 * the paper's softplus classifier q(y|x), with its α = 0.1·N / N_l for `labels` labelled digits (as
 * the library's default when fit() knows the sizes; this demo steps with trainStep).
 */
function digitsConfig(latent: number, kind: DigitsKind, labels: number): VaeConfig {
  return {
    version: 2,
    inputSize: 784,
    latentSize: latent,
    encoder: { hidden: [400], activation: 'relu' },
    decoder: { hidden: [400], activation: 'relu' },
    likelihood: { kind: 'bernoulli' },
    ...(kind !== 'plain' ? { condition: { kind: 'label', classes: DIGIT_CLASSES } } : {}),
    ...(kind === 'm2'
      ? {
          objective: {
            kind: 'm2',
            alpha: (0.1 * TRAIN_DIGITS) / labels,
            classifier: { hidden: [400], activation: 'softplus' },
          },
        }
      : {}),
  };
}

function digitsModel(latent: number, kind: DigitsKind, labels: number): VaeModel {
  return VaeModel.create(rt, digitsConfig(latent, kind, labels), {
    seed: 1,
    label: `digits-z${latent}-${kind}`,
  });
}

/**
 * The demo's VQ-VAE: 784-400-64, the 64 values read as a grid of 16 codes of 4 values from 32
 * codebook vectors, moved by EMA. A dense net trains in seconds on SwiftShader (a conv one would
 * not); decay 0.9 (not the usual 0.99) and the dead-code restart let the codebook follow the
 * encoder within a few dozen steps (in Node on SwiftShader, 60 steps put 31 of the 32 codes in use
 * over 500 test digits; 30 at decay 0.95 without restart).
 */
function vqDigitsConfig(): VaeConfig {
  return {
    version: 2,
    inputSize: 784,
    latentSize: 64,
    encoder: { hidden: [400], activation: 'relu' },
    posterior: {
      kind: 'vq',
      codes: 32,
      dim: 4,
      update: 'ema',
      decay: 0.9,
      restart: { threshold: 0.05 },
    },
    decoder: { hidden: [400], activation: 'relu' },
    likelihood: { kind: 'bernoulli' },
  };
}

function vqInfo(model: VaeModel): VqInfo | undefined {
  const p = model.config.posterior;
  if (p.kind !== 'vq') return undefined;
  return { codes: p.codes, dim: p.dim, vectors: model.config.latentSize / p.dim };
}

function infoOf(model: VaeModel): ModelInfo {
  const c = model.config.condition;
  const vq = vqInfo(model);
  return {
    latent: model.config.latentSize,
    classes: c.kind === 'label' ? c.classes : 0,
    classifier: model.config.objective.kind === 'm2',
    ...(vq ? { vq } : {}),
  };
}

/** An M2 model's training digits: the unlabelled ones, and the labelled stream beside them. */
interface SemiSupervised {
  unlabeled: Uint32Array;
  labeled: CyclicBatcher;
}

/** `labels` training digits, an equal share per class (by a fixed seed), and the rest. */
function semiSupervised(labels: number): SemiSupervised {
  const split = labeledSubset(digits.train.labels, labels, DIGIT_CLASSES, 1);
  const images = new Float32Array(labels * 784);
  split.labeled.forEach((k, i) =>
    images.set(digits.train.images.subarray(k * 784, (k + 1) * 784), i * 784),
  );
  const classOf = Array.from(split.labeled, (k) => digits.train.labels[k]!);
  return {
    unlabeled: split.unlabeled,
    labeled: new CyclicBatcher(images, 784, M2_BATCH, 2, classOf),
  };
}

interface Digits {
  model: VaeModel;
  /** Classes of a conditional model, 0 for an unconditional one. */
  classes: number;
  /** M2 models: the labelled and unlabelled training digits. */
  semi: SemiSupervised | undefined;
  trainer: Trainer;
  inference: VaeInference;
  animator: Animator;
}

let rt: GpuRuntime;
let display: DisplayMode = 'gpu';
let canvases: Record<ViewId, OffscreenCanvas>;
let digits: EmbeddedDigits;
let current: Digits | undefined;
let colormap: Colormap = 'gray';
let traversal = { dim: 0, range: 3 };
/** The class the views and the interpolation decode under (conditional models). */
let selectedClass = 0;
let animate = true;
let training = false;
let stopRequested = false;

function traversalSpec(latent: number) {
  return {
    mode: 'traverse' as const,
    cols: GRID,
    dimA: Math.max(0, Math.min(latent - 1, traversal.dim)),
    lo: -traversal.range,
    hi: traversal.range,
    relative: false,
  };
}

function state(): Digits {
  if (!current) throw new Error('demo: no model yet');
  return current;
}

async function setModel(model: VaeModel, labels = M2_LABELS): Promise<void> {
  const old = current;
  current = undefined;
  if (old) {
    await old.animator.stop();
    // Let work in flight finish before freeing its buffers.
    await rt.device.queue.onSubmittedWorkDone();
    for (const v of Object.values(old.animator.views)) v.destroy();
    old.inference.destroy();
    old.trainer.destroy();
    old.model.destroy();
  }
  const Z = model.config.latentSize;
  const { classes, classifier } = infoOf(model);
  selectedClass = 0;
  const semi = classifier ? semiSupervised(labels) : undefined;
  const trainer = await Trainer.create(model, {
    batchSize: semi ? M2_BATCH : TRAIN_BATCH,
    labeledBatchSize: M2_BATCH,
    lr: 1e-3,
    seed: 1,
    readEvery: 5,
    // Steps queued ahead of the GPU: in this worker a step's completion reaches JS late enough
    // that 2 (the default) left the GPU idle between steps (test/demo.test.ts on SwiftShader:
    // 9.72 -> 12.24 steps/s with the views paused, 7.25 -> 9.48 animating). Stop waits for at
    // most these 4 steps.
    maxInFlight: 4,
  });
  const inference = VaeInference.create(model, { batchSizes: [1, 16, 256] });
  const vq = vqInfo(model) !== undefined;
  const make = (id: ViewId, o: Omit<Parameters<typeof createView>[4], 'classLabel'>) =>
    vq
      ? Promise.resolve(idleView(id))
      : createView(display, id, inference, canvases[id], {
          ...o,
          ...(classes ? { classLabel: selectedClass } : {}),
        });
  // The training graph compiles beside the views (its pipelines concurrently with theirs), so that
  // Train starts stepping at once.
  const [slider, trav, manifold] = await Promise.all([
    make('slider-image', { rows: 1, cols: 1, padding: 0, spec: { mode: 'lerp' }, colormap }),
    make('traversal', { rows: GRID, cols: GRID, spec: traversalSpec(Z), colormap }),
    make('manifold', {
      rows: GRID,
      cols: GRID,
      spec: { mode: 'manifold', dimA: 0, dimB: 1, lo: 0.05, hi: 0.95 },
      colormap,
    }),
    trainer.prepare(),
  ]);
  const views: Record<ViewId, DemoView> = {
    'slider-image': slider,
    traversal: trav,
    manifold,
  };
  const animator = new Animator(
    views,
    Z,
    (frames, fps) => send('frame', { frames, fps }),
    (error) => send('error', error.message),
  );
  animator.animate = animate;
  current = { model, classes, semi, trainer, inference, animator };
  animator.start();
}

/** The current model when it is a vq one, with its codebook's shape. */
function vqState(): Digits & { vq: VqInfo } {
  const s = state();
  const vq = vqInfo(s.model);
  if (!vq) throw new Error('demo: the current model has no codebook (posterior is not vq)');
  return { ...s, vq };
}

function testDigit(index: number): { image: Float32Array; label: number } {
  const i = Math.max(0, Math.min(digits.test.count - 1, Math.floor(index) || 0));
  return { image: digits.test.images.slice(i * 784, (i + 1) * 784), label: digits.test.labels[i]! };
}

const engine: Engine = {
  async start(transferred, mode) {
    canvases = transferred;
    display = mode;
    rt = await createRuntime({ onError: (e) => send('error', e.message) });
    send('status', `WebGPU adapter: ${rt.info.name}. Loading the embedded digits…`);
    digits = await loadEmbeddedDigits({ trainCount: TRAIN_DIGITS, testCount: 2000 });
    await setModel(digitsModel(20, 'plain', M2_LABELS));
    return { adapter: rt.info.name };
  },

  async newModel(latent, kind, labels = M2_LABELS) {
    if (training) throw new Error('demo: stop training first');
    // Checked before the model is made: labeledSubset's message names the rule.
    if (kind === 'm2') labeledSubset(digits.train.labels, labels, DIGIT_CLASSES, 1);
    const model = digitsModel(latent, kind, labels);
    await setModel(model, labels);
    return infoOf(model);
  },

  async setCode(code) {
    state().animator.setCode(code);
  },

  async setClass(value) {
    const { classes, animator } = state();
    if (!classes) throw new Error('demo: this model is not conditional on a class');
    if (!Number.isInteger(value) || value < 0 || value >= classes) {
      throw new Error(`demo: class ${value} is not in [0, ${classes})`);
    }
    selectedClass = value;
    for (const id of VIEW_IDS) animator.views[id].setClass(value);
    animator.invalidate();
  },

  async setAnimate(on) {
    animate = on;
    if (current) {
      current.animator.animate = on;
      // Stopped: one more frame draws the grid at its resting code.
      current.animator.invalidate();
    }
  },

  async setTraversal(dim, range) {
    traversal = { dim, range };
    const s = state();
    s.animator.views.traversal.setSpec(traversalSpec(s.model.config.latentSize));
    s.animator.invalidate();
  },

  async setColormap(cm) {
    colormap = cm;
    const s = state();
    for (const id of VIEW_IDS) s.animator.views[id].setColormap(cm);
    s.animator.invalidate();
  },

  async train(steps, options = {}) {
    const { trainer, model, classes, semi, animator } = state();
    if (training) throw new Error('demo: already training');
    training = true;
    if (options.pauseViews) await animator.stop();
    stopRequested = false;
    animator.training = true;
    const losses: number[] = [];
    trainer.onMetrics((r) => {
      losses.push(r.loss);
      send('metrics', { step: r.step, loss: r.loss, values: r.values });
    });
    const D = model.config.inputSize;
    const B = trainer.batchSize;
    const rng = createRng(trainer.step + 7);
    const batch = new Float32Array(B * D);
    // A conditional model reads each digit's class with it (M2 reads only the labelled rows').
    const labels = classes && !semi ? new Uint8Array(B) : undefined;
    const framesBefore = animator.frames;
    const started = performance.now();
    let done = 0;
    try {
      for (; done < steps && !stopRequested; done++) {
        // M2: unlabelled digits only, with the step's labelled rows beside them.
        const pool = semi?.unlabeled;
        for (let r = 0; r < B; r++) {
          const draw = Math.floor(rng.next() * (pool ? pool.length : digits.train.count));
          const k = pool ? pool[draw]! : draw;
          batch.set(digits.train.images.subarray(k * D, (k + 1) * D), r * D);
          if (labels) labels[r] = digits.train.labels[k]!;
        }
        semi?.labeled.fill(trainer.step);
        const labeled = semi && { images: semi.labeled.batch, labels: semi.labeled.batchLabels };
        await trainer.trainStep({ images: batch, labels, labeled }, B);
        if (done % 10 === 9) {
          const seconds = (performance.now() - started) / 1000;
          send('train-progress', { step: trainer.step, stepsPerSecond: (done + 1) / seconds });
        }
      }
      await trainer.flush();
      // A frame started while training counts once it is drawn.
      await animator.idle();
    } finally {
      trainer.onMetrics(undefined);
      training = false;
      animator.training = false;
      animator.invalidate();
      if (options.pauseViews) animator.start();
      send('train-done', { step: trainer.step });
    }
    const stepsPerSecond = done / ((performance.now() - started) / 1000);
    return { losses, stepsPerSecond, steps: done, frames: animator.frames - framesBefore };
  },

  async stopTraining() {
    stopRequested = true;
  },

  async interpolate(a, b, method) {
    const x = testDigit(a);
    const y = testDigit(b);
    const steps = 10;
    const { inference, classes } = state();
    let out: Decoded;
    if (classes) {
      // Each digit's code under its own class (its style), decoded as the selected class.
      const Z = inference.config.latentSize;
      const both = new Float32Array(2 * 784);
      both.set(x.image, 0);
      both.set(y.image, 784);
      const { mu } = await inference.encode(both, [x.label, y.label]);
      out = await inference.interpolate(mu.slice(0, Z), mu.slice(Z, 2 * Z), steps, {
        method,
        space: 'latent',
        labels: selectedClass,
      });
    } else {
      out = await inference.interpolate(x.image, y.image, steps, { method });
    }
    const strip = new Float32Array((steps + 2) * 784);
    strip.set(x.image, 0);
    strip.set(out.images, 784);
    strip.set(y.image, (steps + 1) * 784);
    return { strip, n: steps + 2 };
  },

  async testImage(index) {
    return testDigit(index).image;
  },

  async inpaint(index, mask, iterations) {
    const { image, label } = testDigit(index);
    const { inference, classes } = state();
    const errors: number[] = [];
    const filled = await inference.inpaint(image, mask, {
      iterations,
      ...(classes ? { labels: label } : {}),
      onIteration: (iteration, images) => {
        errors.push(missingPixelBce(images, image, mask));
        send('inpaint-progress', { iteration, image: images });
      },
    });
    return { original: image, filled, errors };
  },

  async styleTransfer(index) {
    const { inference, classes, model } = state();
    if (!infoOf(model).classifier) {
      throw new Error('demo: this model has no classifier q(y|x): train or load an M2 model');
    }
    const { image, label } = testDigit(index);
    const out = await inference.styleTransfer(image, 1);
    return {
      image,
      label,
      probs: out.probs.slice(0, classes),
      predicted: out.predicted[0]!,
      styles: out.images,
    };
  },

  async synthetic(name, steps, posterior) {
    const count = 2000;
    const shown = 800;
    const set = generateSynthetic(name, { count, seed: 3 });
    const model = VaeModel.create(
      rt,
      {
        version: 2,
        inputSize: 2,
        latentSize: 2,
        encoder: { hidden: [64, 64], activation: 'tanh' },
        posterior: SYNTHETIC_POSTERIORS[posterior].section,
        decoder: { hidden: [64, 64], activation: 'tanh' },
        likelihood: { kind: 'gaussian-learned' },
      },
      { seed: 2, label: `synthetic-${posterior}` },
    );
    const trainer = await Trainer.create(model, {
      batchSize: 128,
      lr: 3e-3,
      seed: 4,
      readEvery: 10,
    });
    const inference = VaeInference.create(model, { batchSizes: [256, 1024] });
    const losses: number[] = [];
    trainer.onMetrics((r) => losses.push(r.loss));
    const animator = current?.animator;
    if (animator) animator.training = true;
    try {
      const rng = createRng(5);
      const batch = new Float32Array(128 * 2);
      const started = performance.now();
      for (let s = 0; s < steps; s++) {
        for (let r = 0; r < 128; r++) {
          const k = Math.floor(rng.next() * count);
          batch[2 * r] = set.data[2 * k]!;
          batch[2 * r + 1] = set.data[2 * k + 1]!;
        }
        await trainer.trainStep(batch, 128);
        if (s % 50 === 49) send('status', `synthetic ${name}: step ${s + 1}/${steps}`);
      }
      await trainer.flush();
      const seconds = (performance.now() - started) / 1000;
      const data = set.data.slice(0, shown * 2);
      // x ~ p(x|z) for z ~ p(z): the decoder mean plus sigma times noise (sigma from alpha = 1).
      const prior = await sampleObservations(inference, shown, 9);
      const recon = await inference.reconstruct(data, shown);
      return {
        data: shown,
        prior: shown,
        recon: recon.rows,
        loss: losses,
        points: { data, prior, recon: recon.images },
        seconds,
      };
    } finally {
      if (animator) animator.training = training;
      inference.destroy();
      trainer.destroy();
      model.destroy();
    }
  },

  async saveCheckpoint() {
    const { model, trainer } = state();
    const bytes = await model.toCheckpoint(undefined, {
      demo: 'webgpu-vae',
      steps: String(trainer.step),
    });
    return { bytes, latent: model.config.latentSize, step: trainer.step };
  },

  async loadCheckpoint(file) {
    if (training) throw new Error('demo: stop training first');
    const { bytes, name } = await readCheckpointSource(file);
    const { model } = VaeModel.fromCheckpoint(rt, bytes, name);
    if (model.config.inputSize !== 784) {
      model.destroy();
      throw new Error(
        `${name}: the demo shows 28×28 digits, this model has inputSize ${model.config.inputSize}`,
      );
    }
    await setModel(model);
    return { name, ...infoOf(model) };
  },

  async newVqModel() {
    if (training) throw new Error('demo: stop training first');
    const model = VaeModel.create(rt, vqDigitsConfig(), { seed: 1, label: 'digits-vq' });
    await setModel(model);
    return infoOf(model);
  },

  async vqEncode(index) {
    const { image, label } = testDigit(index);
    const { inference, classes } = vqState();
    const labels = classes ? { labels: label } : {};
    const { codes } = await inference.encode(image, 1, labels);
    if (!codes) throw new Error('demo: the vq encoder returned no codes');
    return { image, codes, decoded: await inference.decode(codes, 1, labels) };
  },

  async vqDecode(codes, index) {
    const { inference, classes, vq } = vqState();
    if (codes.length !== vq.vectors) {
      throw new Error(`demo: a code grid has ${vq.vectors} codes, got ${codes.length}`);
    }
    // decode() looks the indices up as given: one outside the codebook would read past it.
    for (const k of codes) {
      if (!Number.isInteger(k) || k < 0 || k >= vq.codes) {
        throw new Error(`demo: code ${k} is not an integer in [0, ${vq.codes})`);
      }
    }
    return inference.decode(codes, 1, classes ? { labels: testDigit(index).label } : {});
  },

  async codeUsage(count) {
    const { inference, classes } = vqState();
    const n = Math.max(1, Math.min(digits.test.count, Math.floor(count) || 0));
    const x = digits.test.images.subarray(0, n * 784);
    const labels = classes ? { labels: Array.from(digits.test.labels.subarray(0, n)) } : {};
    const { counts, vectors, inUse, perplexity } = await inference.codeUsage(x, n, labels);
    return { counts, vectors, digits: n, inUse, perplexity };
  },

  async snapshot(id) {
    // What the view shows once every change asked for so far is drawn.
    await state().animator.settled();
    return state().animator.views[id].snapshot();
  },

  async measureFps(ms) {
    const animator = state().animator;
    const before = animator.frames;
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const frames = animator.frames - before;
    return { fps: (frames * 1000) / (performance.now() - t0), frames };
  },
};

const send = serveEngine(globalThis as unknown as WorkerScope, engine);
