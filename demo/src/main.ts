// The webgpu-vae demo: plain DOM + TypeScript over the library (see demo/README.md).
import { createRuntime, type GpuRuntime } from '../../src/gpu/runtime.js';
import { loadEmbeddedDigits, type EmbeddedDigits } from '../../src/data/embedded.js';
import { createRng } from '../../src/data/rng.js';
import {
  generateSynthetic,
  SYNTHETIC_NAMES,
  type SyntheticName,
} from '../../src/data/synthetic.js';
import { colorize, imageGrid, type Colormap } from '../../src/image/grid.js';
import { VaeModel } from '../../src/vae/model.js';
import { Trainer, type StepReport } from '../../src/vae/trainer.js';
import type { VaeConfig } from '../../src/vae/config.js';
import { VaeInference } from '../../src/vae/inference.js';
import { readCheckpointSource } from '../../src/checkpoint/source.js';
import { canvasTarget, gridLayout, LatentView, TraversalLoop } from '../../src/display/index.js';
import { drawChart, type Series } from './chart.js';
import { boxOf, drawScatter } from './scatter.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: no element #${id}`);
  return el as T;
};

const GRID = 16;
const status = (text: string) => ($('status').textContent = text);

interface DigitsState {
  model: VaeModel;
  trainer: Trainer;
  inference: VaeInference;
  slider: LatentView;
  sliderLoop: TraversalLoop;
  traversal: LatentView;
  traversalLoop: TraversalLoop;
  manifold: LatentView;
}

let rt: GpuRuntime;
let digits: EmbeddedDigits;
let state: DigitsState | undefined;
let code: Float32Array = new Float32Array(20);
let codeDirty = true;
let training = false;
let stopRequested = false;
let totalSteps = 0;
const series: Series[] = [
  { name: 'loss', color: '#d62728', points: [] },
  { name: 'recon', color: '#1f77b4', points: [] },
  { name: 'KL', color: '#2ca02c', points: [] },
];

function digitsConfig(latent: number): VaeConfig {
  return {
    inputSize: 784,
    latentSize: latent,
    encoder: { hidden: [400], activation: 'relu' },
    decoder: { hidden: [400], activation: 'relu' },
    likelihood: { kind: 'bernoulli' },
  };
}

// ---- digits model, views and loops ----

async function setModel(model: VaeModel): Promise<void> {
  destroyState();
  const Z = model.config.latentSize;
  const trainer = await Trainer.create(model, { batchSize: 64, lr: 1e-3, seed: 1, readEvery: 5 });
  const inference = VaeInference.create(model, { batchSizes: [1, 16, 256] });
  code = new Float32Array(Z);
  const slider = await LatentView.create(
    inference,
    canvasTarget(rt, $<HTMLCanvasElement>('slider-image'), gridLayout(1, 28, 28, { padding: 0 })),
    {
      rows: 1,
      cols: 1,
      padding: 0,
      spec: { mode: 'lerp' },
      label: 'slider-view',
    },
  );
  const travTarget = canvasTarget(
    rt,
    $<HTMLCanvasElement>('traversal'),
    gridLayout(GRID * GRID, 28, 28, { columns: GRID }),
  );
  const traversal = await LatentView.create(inference, travTarget, {
    rows: GRID,
    cols: GRID,
    spec: traversalSpec(Z),
    colormap: $<HTMLSelectElement>('colormap').value as Colormap,
    label: 'traversal-view',
  });
  const manTarget = canvasTarget(
    rt,
    $<HTMLCanvasElement>('manifold'),
    gridLayout(GRID * GRID, 28, 28, { columns: GRID }),
  );
  const manifold = await LatentView.create(inference, manTarget, {
    rows: GRID,
    cols: GRID,
    spec: { mode: 'manifold', dimA: 0, dimB: 1, lo: 0.05, hi: 0.95 },
    label: 'manifold-view',
  });
  $('manifold-note').textContent =
    Z === 2
      ? 'The whole 2-D latent space of this model.'
      : `This model has ${Z} latent dimensions: the grid spans dimensions 0 and 1, the others are the slider code.`;
  const sliderLoop = new TraversalLoop(slider, {
    beforeFrame: () => {
      if (codeDirty) {
        slider.setBase(code);
        manifold.setBase(code);
        void manifold.frame();
        codeDirty = false;
      }
    },
    onError: showError,
  });
  const traversalLoop = new TraversalLoop(traversal, {
    beforeFrame: (time) => {
      const animate = $<HTMLInputElement>('trav-animate').checked;
      const base = code.slice();
      if (animate) for (let j = 0; j < base.length; j++) base[j]! += 0.6 * Math.sin(time / 700 + j);
      traversal.setBase(base);
    },
    onFrame: (fps) => ($('fps').textContent = `${fps.toFixed(1)} fps`),
    onError: showError,
  });
  state = { model, trainer, inference, slider, sliderLoop, traversal, traversalLoop, manifold };
  buildSliders(Z);
  codeDirty = true;
  totalSteps = trainer.step;
  for (const s of series) s.points.length = 0;
  drawChart(
    $<HTMLCanvasElement>('chart'),
    series,
    'per-example loss, reconstruction and KL (nats)',
  );
  startLoops();
}

function traversalSpec(Z: number) {
  const dim = Math.max(0, Math.min(Z - 1, Number($<HTMLInputElement>('trav-dim').value) || 0));
  const range = Math.max(0.1, Number($<HTMLInputElement>('trav-range').value) || 3);
  return {
    mode: 'traverse' as const,
    cols: GRID,
    dimA: dim,
    lo: -range,
    hi: range,
    relative: false,
  };
}

function startLoops(): void {
  state?.sliderLoop.start();
  state?.traversalLoop.start();
}

function stopLoops(): void {
  state?.sliderLoop.stop();
  state?.traversalLoop.stop();
}

function destroyState(): void {
  if (!state) return;
  stopLoops();
  const s = state;
  state = undefined;
  // Let a frame in flight finish before freeing its buffers.
  void rt.device.queue.onSubmittedWorkDone().then(() => {
    s.slider.destroy();
    s.traversal.destroy();
    s.manifold.destroy();
    s.inference.destroy();
    s.trainer.destroy();
    s.model.destroy();
  });
}

function buildSliders(Z: number): void {
  const box = $('sliders');
  box.textContent = '';
  for (let j = 0; j < Z; j++) {
    const label = document.createElement('label');
    label.textContent = `z${j} `;
    const input = document.createElement('input');
    input.type = 'range';
    input.min = '-3';
    input.max = '3';
    input.step = '0.01';
    input.value = String(code[j] ?? 0);
    input.id = `slider-${j}`;
    input.addEventListener('input', () => {
      code[j] = Number(input.value);
      codeDirty = true;
    });
    label.append(input);
    box.append(label);
  }
}

function setCode(values: Float32Array): void {
  code = values;
  codeDirty = true;
  code.forEach((v, j) => {
    const input = document.getElementById(`slider-${j}`) as HTMLInputElement | null;
    if (input) input.value = String(v);
  });
}

// ---- training ----

async function train(steps: number): Promise<{ losses: number[]; stepsPerSecond: number }> {
  if (!state || training) throw new Error('demo: not ready, or already training');
  training = true;
  stopRequested = false;
  $<HTMLButtonElement>('train-start').disabled = true;
  $<HTMLButtonElement>('train-stop').disabled = false;
  stopLoops();
  const { trainer, model } = state;
  const losses: number[] = [];
  trainer.onMetrics((r: StepReport) => {
    losses.push(r.loss);
    series[0]!.points.push({ x: r.step, y: r.loss });
    series[1]!.points.push({ x: r.step, y: r.recon });
    series[2]!.points.push({ x: r.step, y: r.kl });
    drawChart(
      $<HTMLCanvasElement>('chart'),
      series,
      'per-example loss, reconstruction and KL (nats)',
    );
  });
  const D = model.config.inputSize;
  const B = trainer.batchSize;
  const rng = createRng(totalSteps + 7);
  const batch = new Float32Array(B * D);
  const started = performance.now();
  let done = 0;
  try {
    for (; done < steps && !stopRequested; done++) {
      for (let r = 0; r < B; r++) {
        const k = Math.floor(rng.next() * digits.train.count);
        batch.set(digits.train.images.subarray(k * D, (k + 1) * D), r * D);
      }
      await trainer.trainStep(batch, B);
      if (done % 10 === 9) {
        const seconds = (performance.now() - started) / 1000;
        $('train-readout').textContent =
          `step ${trainer.step}, ${((done + 1) / seconds).toFixed(1)} steps/s`;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    await trainer.flush();
  } finally {
    trainer.onMetrics(undefined);
    training = false;
    $<HTMLButtonElement>('train-start').disabled = false;
    $<HTMLButtonElement>('train-stop').disabled = true;
  }
  const stepsPerSecond = done / ((performance.now() - started) / 1000);
  totalSteps = trainer.step;
  const last = losses.at(-1);
  $('train-readout').textContent =
    `step ${trainer.step}, ${stepsPerSecond.toFixed(1)} steps/s` +
    (last !== undefined ? `, loss ${last.toFixed(1)} nats` : '');
  codeDirty = true;
  startLoops();
  return { losses, stepsPerSecond };
}

// ---- interpolation ----

function testDigit(index: number): Float32Array {
  const i = Math.max(0, Math.min(digits.test.count - 1, Math.floor(index) || 0));
  return digits.test.images.slice(i * 784, (i + 1) * 784);
}

function putGray(
  canvas: HTMLCanvasElement,
  images: Float32Array,
  n: number,
  columns: number,
): void {
  const grid = imageGrid(images, n, 28, 28, { columns });
  const rgb = colorize(grid.pixels, 'gray');
  canvas.width = grid.width;
  canvas.height = grid.height;
  canvas.style.width = `${grid.width * 2}px`;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(grid.width, grid.height);
  for (let i = 0; i < grid.pixels.length; i++) {
    data.data.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
  }
  ctx.putImageData(data, 0, 0);
}

async function interpolate(): Promise<void> {
  if (!state) return;
  const a = testDigit(Number($<HTMLInputElement>('interp-a').value));
  const b = testDigit(Number($<HTMLInputElement>('interp-b').value));
  const method = $<HTMLSelectElement>('interp-method').value as 'linear' | 'spherical';
  const steps = 10;
  const out = await state.inference.interpolate(a, b, steps, { method });
  const strip = new Float32Array((steps + 2) * 784);
  strip.set(a, 0);
  strip.set(out.images, 784);
  strip.set(b, (steps + 1) * 784);
  putGray($<HTMLCanvasElement>('interp'), strip, steps + 2, steps + 2);
}

// ---- synthetic 2-D experiments ----

async function synthetic(
  name: SyntheticName,
  steps: number,
): Promise<{ data: number; prior: number; recon: number; loss: number[] }> {
  const count = 2000;
  const shown = 800;
  $<HTMLSelectElement>('syn-data').value = name;
  const set = generateSynthetic(name, { count, seed: 3 });
  const model = VaeModel.create(
    rt,
    {
      inputSize: 2,
      latentSize: 2,
      encoder: { hidden: [64, 64], activation: 'tanh' },
      decoder: { hidden: [64, 64], activation: 'tanh' },
      likelihood: { kind: 'gaussian-learned' },
    },
    { seed: 2, label: 'synthetic' },
  );
  const trainer = await Trainer.create(model, { batchSize: 128, lr: 3e-3, seed: 4, readEvery: 10 });
  const inference = VaeInference.create(model, { batchSizes: [256, 1024] });
  const losses: number[] = [];
  trainer.onMetrics((r) => losses.push(r.loss));
  stopLoops();
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
      if (s % 50 === 49) {
        $('syn-readout').textContent = `step ${s + 1}/${steps}`;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    await trainer.flush();
    const seconds = (performance.now() - started) / 1000;
    const data = set.data.subarray(0, shown * 2);
    // x ~ p(x|z) for z ~ p(z): the decoder mean plus sigma times noise (sigma from alpha = 1).
    const prior = await inference.sample(shown, { seed: 9 });
    const plusSigma = await inference.sample(shown, { seed: 9, alpha: 1 });
    const noise = createRng(11);
    for (let i = 0; i < prior.images.length; i++) {
      prior.images[i] =
        prior.images[i]! + (plusSigma.images[i]! - prior.images[i]!) * noise.normal();
    }
    const recon = await inference.reconstruct(data, shown);
    const box = boxOf(data);
    drawScatter($<HTMLCanvasElement>('syn-data-plot'), data, box, '#1f77b4');
    drawScatter($<HTMLCanvasElement>('syn-prior-plot'), prior.images, box, '#d62728');
    drawScatter($<HTMLCanvasElement>('syn-recon-plot'), recon.images, box, '#2ca02c');
    $('syn-readout').textContent =
      `${name}: ${steps} steps in ${seconds.toFixed(1)} s` +
      (losses.length ? `, loss ${losses.at(-1)!.toFixed(2)} nats` : '');
    return { data: shown, prior: prior.rows, recon: recon.rows, loss: losses };
  } finally {
    inference.destroy();
    trainer.destroy();
    model.destroy();
    startLoops();
  }
}

// ---- checkpoints ----

async function saveCheckpoint(): Promise<void> {
  if (!state) return;
  const bytes = await state.model.toCheckpoint(undefined, {
    demo: 'webgpu-vae',
    steps: String(state.trainer.step),
  });
  const url = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }),
  );
  const a = document.createElement('a');
  a.href = url;
  a.download = `vae-z${state.model.config.latentSize}-step${state.trainer.step}.safetensors`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  $('ckpt-status').textContent = `saved ${bytes.length} bytes`;
}

async function loadCheckpoint(file: File): Promise<void> {
  const { bytes, name } = await readCheckpointSource(file);
  const { model } = VaeModel.fromCheckpoint(rt, bytes, name);
  if (model.config.inputSize !== 784) {
    model.destroy();
    throw new Error(
      `${name}: the demo shows 28×28 digits, this model has inputSize ${model.config.inputSize}`,
    );
  }
  await setModel(model);
  $('ckpt-status').textContent = `loaded ${name} (latent size ${model.config.latentSize})`;
}

// ---- canvas inspection (test hooks) ----

function canvasStats(id: string): {
  mean: number;
  std: number;
  hash: number;
  width: number;
  height: number;
} {
  const source = $<HTMLCanvasElement>(id);
  const copy = document.createElement('canvas');
  copy.width = source.width;
  copy.height = source.height;
  const ctx = copy.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  const { data } = ctx.getImageData(0, 0, copy.width, copy.height);
  let sum = 0;
  let sq = 0;
  let hash = 2166136261;
  const n = data.length / 4;
  for (let i = 0; i < n; i++) {
    const v = (data[4 * i]! + data[4 * i + 1]! + data[4 * i + 2]!) / 3;
    sum += v;
    sq += v * v;
    hash = Math.imul(hash ^ data[4 * i]!, 16777619) >>> 0;
  }
  const mean = sum / n;
  return {
    mean,
    std: Math.sqrt(Math.max(0, sq / n - mean * mean)),
    hash,
    width: copy.width,
    height: copy.height,
  };
}

function showError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  console.error(error);
  status(`Error: ${message}`);
}

// ---- start ----

function wire(): void {
  $('train-start').addEventListener('click', () => {
    void train(Number($<HTMLInputElement>('train-steps').value) || 100).catch(showError);
  });
  $('train-stop').addEventListener('click', () => (stopRequested = true));
  $('latent-size').addEventListener('change', () => {
    const Z = Number($<HTMLSelectElement>('latent-size').value);
    void setModel(VaeModel.create(rt, digitsConfig(Z), { seed: 1, label: `digits-z${Z}` })).catch(
      showError,
    );
  });
  $('sliders-random').addEventListener('click', () => {
    const rng = createRng(Math.floor(performance.now()));
    setCode(Float32Array.from(code, () => rng.normal()));
  });
  $('sliders-zero').addEventListener('click', () => setCode(new Float32Array(code.length)));
  const retraverse = () => {
    if (state) state.traversal.setSpec(traversalSpec(state.model.config.latentSize));
  };
  $('trav-dim').addEventListener('input', retraverse);
  $('trav-range').addEventListener('input', retraverse);
  $('colormap').addEventListener('change', () => {
    const cm = $<HTMLSelectElement>('colormap').value as Colormap;
    state?.traversal.setColormap(cm);
    state?.manifold.setColormap(cm);
    state?.slider.setColormap(cm);
    codeDirty = true;
  });
  $('interp-go').addEventListener('click', () => void interpolate().catch(showError));
  $('ckpt-save').addEventListener('click', () => void saveCheckpoint().catch(showError));
  $<HTMLInputElement>('ckpt-load').addEventListener('change', (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (file) void loadCheckpoint(file).catch(showError);
  });
  const select = $<HTMLSelectElement>('syn-data');
  for (const name of SYNTHETIC_NAMES) {
    const option = document.createElement('option');
    option.value = name;
    option.textContent = name;
    select.append(option);
  }
  $('syn-train').addEventListener('click', () => {
    const steps = Number($<HTMLInputElement>('syn-steps').value) || 600;
    void synthetic(select.value as SyntheticName, steps).catch(showError);
  });
}

interface DemoHooks {
  ready: boolean;
  error?: string;
  adapter?: string;
  train?: typeof train;
  synthetic?: typeof synthetic;
  interpolate?: typeof interpolate;
  canvasStats?: typeof canvasStats;
  setSlider?: (dim: number, value: number) => void;
  setAnimate?: (on: boolean) => void;
  measureFps?: (ms: number) => Promise<{ fps: number; frames: number }>;
  snapshot?: (id: 'traversal' | 'slider-image' | 'manifold') => ReturnType<typeof canvasStats>;
  frames?: () => number;
}

const hooks: DemoHooks = { ready: false };
(window as unknown as { __demo: DemoHooks }).__demo = hooks;

async function main(): Promise<void> {
  try {
    rt = await createRuntime({ onError: showError });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const box = $('no-webgpu');
    box.hidden = false;
    box.textContent =
      'This demo needs WebGPU, which this browser does not provide.\n\n' +
      `${message}\n\nUse a recent Chrome or Edge (113+), or Firefox/Safari with WebGPU enabled.`;
    status('WebGPU is not available');
    hooks.error = message;
    return;
  }
  status(`WebGPU adapter: ${rt.info.name}. Loading the embedded digits…`);
  hooks.adapter = rt.info.name;
  wire();
  digits = await loadEmbeddedDigits({ trainCount: 8000, testCount: 2000 });
  $('app').hidden = false;
  await setModel(VaeModel.create(rt, digitsConfig(20), { seed: 1, label: 'digits-z20' }));
  status(`WebGPU adapter: ${rt.info.name}. ${digits.train.count} training digits loaded.`);
  Object.assign(hooks, {
    train,
    synthetic,
    interpolate,
    canvasStats,
    setSlider: (dim: number, value: number) => {
      const input = $<HTMLInputElement>(`slider-${dim}`);
      input.value = String(value);
      input.dispatchEvent(new Event('input'));
    },
    setAnimate: (on: boolean) => ($<HTMLInputElement>('trav-animate').checked = on),
    measureFps: async (ms: number) => {
      const loop = state!.traversalLoop;
      const before = loop.frames;
      const t0 = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      const frames = loop.frames - before;
      return { fps: (frames * 1000) / (performance.now() - t0), frames };
    },
    frames: () => state?.traversalLoop.frames ?? 0,
    // Draws a frame and reads the canvas in the same task: a WebGPU canvas reads back blank once
    // its texture has been presented.
    snapshot: (id: 'traversal' | 'slider-image' | 'manifold') => {
      const s = state!;
      const view = id === 'traversal' ? s.traversal : id === 'manifold' ? s.manifold : s.slider;
      view.setBase(code);
      void view.frame();
      return canvasStats(id);
    },
  });
  hooks.ready = true;
}

void main().catch((error: unknown) => {
  showError(error);
  hooks.error = error instanceof Error ? error.message : String(error);
});
