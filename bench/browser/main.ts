// The benchmark page. ?mode=startup | startup-tfjs measure the time from navigation start to the
// first finished train step on a fresh page (ours then measures the matmul variants in the
// background, as fast as it can, and persists them before reporting, so that a second load of the
// same profile finds them); ?mode=decode-startup | decode-startup-tfjs the time to the first decode
// of 256 latents from the checkpoint CHECKPOINT_URL (loaded, compiled, decoded, read back); ?mode=full (default) checks that both implementations
// agree, then times every workload on ours, TensorFlow.js WebGPU and TensorFlow.js WASM (the conv
// VAE and conv VQ-VAE train steps on ours only). &only=<group>[,<group>] limits mode=full to some
// workload groups: matmul, kernels, train (the MLP, conv VAE and conv VQ-VAE train steps and their
// memory), conv (the conv VAE train step only; no TensorFlow.js), vq (the conv VQ-VAE train step
// only), inference. The result lands in window.__bench (bench/run.ts
// collects it); progress goes to console.log.
import { loadEmbeddedDigits } from '../../src/data/embedded.js';
import { describeAdapter } from '../../src/gpu/device.js';
import { createRuntime } from '../../src/gpu/runtime.js';
import { decodeCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { matmulSelections, matmulTuningIdle } from '../../src/kernels/matmul-select.js';
import { VaeInference } from '../../src/vae/inference.js';
import { resolveVaeConfig } from '../../src/vae/config.js';
import { initialWeights, VaeModel } from '../../src/vae/model.js';
import { Trainer } from '../../src/vae/trainer.js';
import { Ours } from './ours.js';
import type { Tfjs } from './tfjs.js';
import {
  ADAM,
  CHECKPOINT_URL,
  CONV_REPEATS,
  CONV_TRAIN_BATCHES,
  CONV_VAE,
  CONV_VQ_VAE,
  DECODE_BATCHES,
  GRID,
  LR,
  MATMUL_CASES,
  MNIST_VAE,
  STREAM_ELEMENTS,
  TRAIN_BATCHES,
  agreement,
  randomArray,
  randomNormalArray,
  timeIt,
  traversalLatents,
  type Timed,
  type TimeOptions,
  type Timing,
} from './workloads.js';

export type SideName = 'ours' | 'tfjs-webgpu' | 'tfjs-wasm';

export interface Row {
  section: string;
  name: string;
  unit: string;
  /** Per side: the figure in `unit` (undefined: not measured). */
  values: Partial<Record<SideName, number>>;
  timings: Partial<Record<SideName, Timing>>;
  /** What was checked before timing, per side compared with ours. */
  checks: Partial<Record<SideName, string>>;
  note?: string;
}

/** A per-kernel GPU timing of one train step (GpuTimer: each dispatch in its own pass). */
export interface Breakdown {
  batch: number;
  kernels: { label: string; ms: number }[];
  /** Wall milliseconds of the timed (pipelined) step at that batch. */
  stepMs: number;
}

export type TrainMemory = Record<string, unknown>;

/** Workload groups of mode=full that &only= can pick. */
export const GROUPS = ['matmul', 'kernels', 'train', 'conv', 'vq', 'inference'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchPageResult {
  mode: string;
  /** The groups that ran (mode=full with &only=); absent: all. */
  only?: Group[];
  userAgent: string;
  adapter?: { vendor: string; architecture: string; description: string; device: string };
  adapterName?: string;
  features?: string[];
  backends?: Partial<Record<SideName, string>>;
  rows?: Row[];
  /** The MNIST MLP VAE step at batch 128. */
  breakdown?: Breakdown;
  memory?: TrainMemory;
  /** The conv VAE (convVaePreset) step at batch 128, ours only. */
  convBreakdown?: Breakdown;
  convMemory?: TrainMemory;
  startup?: Record<string, number | string>;
  /** ?mode=display: the traversal grid through src/display (GPU-direct, no readback). */
  display?: { fps: number; timing: Timing };
  totalSeconds?: number;
}

const params = new URLSearchParams(location.search);
const mode = params.get('mode') ?? 'full';
const only = params
  .get('only')
  ?.split(',')
  .filter((g): g is Group => (GROUPS as readonly string[]).includes(g));
/** Whether mode=full runs a group: 'conv' and 'vq' are part of 'train'. */
const wanted = (group: Group): boolean =>
  !only?.length ||
  only.includes(group) ||
  ((group === 'conv' || group === 'vq') && only.includes('train'));
const WASM_BASE = new URL('./tfjs-wasm/', location.href).href;
const SEED = 0;

function log(message: string): void {
  console.log(`[bench] ${message}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${message}\n`;
}

const weights = initialWeights(resolveVaeConfig(MNIST_VAE), SEED);

const DECODE_ROWS = GRID * GRID;

/** The check of a train step timed without a reference: did the loss read while timing fall? */
function lossFalls(losses: readonly number[]): string {
  const first = losses[0];
  const last = losses[losses.length - 1];
  if (first === undefined || last === undefined) return 'no metrics read back';
  const verdict = Number.isFinite(last) && last < first ? 'ok' : 'SUSPECT';
  return (
    `${verdict} (no reference to compare with; read while timing): loss per example ` +
    `${first.toFixed(1)} → ${last.toFixed(1)}`
  );
}

/** Startup on a fresh page: navigation start -> the first train step finished on the GPU. */
async function startupOurs(): Promise<BenchPageResult> {
  const t: Record<string, number | string> = { scriptStart: performance.now() };
  // Background measuring starts right after the first steps and may take the whole GPU here
  // (nothing else runs); what it measures is persisted for the next load of this profile.
  const rt = await createRuntime({ tuning: { backgroundDelayMs: 0, backgroundShare: 1 } });
  t.device = performance.now();
  const variant = params.get('variant');
  const model = VaeModel.create(rt, MNIST_VAE, { weights });
  const trainer = await Trainer.create(model, {
    batchSize: 128,
    lr: LR,
    ...ADAM,
    ...(variant ? { matmulVariant: variant as never } : {}),
  });
  await trainer.prepare();
  t.compiled = performance.now();
  await trainer.trainStep(randomArray(128 * 784, 7, 0, 1));
  await trainer.flush();
  t.firstStep = performance.now();
  await trainer.trainStep(randomArray(128 * 784, 8, 0, 1));
  await trainer.flush();
  t.secondStep = performance.now();
  t.pipelines = rt.cachedPipelineCount;
  if (variant) t.variant = variant;
  await matmulTuningIdle(rt);
  t.tuned = performance.now();
  const selections = await matmulSelections(rt);
  t.persistedChoices = [...selections.values()].filter((s) => s.source === 'persisted').length;
  t.measuredChoices = [...selections.values()].filter((s) => s.source === 'measured').length;
  const info = rt.info.adapter.info;
  return {
    mode,
    userAgent: navigator.userAgent,
    adapterName: describeAdapter(info),
    startup: t,
  };
}

async function startupTfjs(): Promise<BenchPageResult> {
  const t: Record<string, number | string> = { scriptStart: performance.now() };
  const { Tfjs } = await import('./tfjs.js');
  t.imported = performance.now();
  const tfw = await Tfjs.create('webgpu', WASM_BASE);
  t.device = performance.now();
  const { timed } = await tfw.train(weights, 128, [randomArray(128 * 784, 7, 0, 1)]);
  t.firstStep = performance.now();
  await timed.run(1);
  await timed.sync();
  t.secondStep = performance.now();
  return { mode, userAgent: navigator.userAgent, startup: t };
}

/** Navigation start -> the first decode of 256 latents from a checkpoint URL, read back. */
async function decodeStartupOurs(): Promise<BenchPageResult> {
  const t: Record<string, number | string> = { scriptStart: performance.now() };
  const rt = await createRuntime();
  t.device = performance.now();
  const inference = await VaeInference.fromCheckpoint(rt, CHECKPOINT_URL);
  t.loaded = performance.now();
  const images = await inference.decode(traversalLatents(GRID, MNIST_VAE.latentSize));
  t.firstDecode = performance.now();
  t.checksum = images.reduce((a, b) => a + b, 0);
  t.pipelines = rt.cachedPipelineCount;
  return {
    mode,
    userAgent: navigator.userAgent,
    adapterName: describeAdapter(rt.info.adapter.info),
    startup: t,
  };
}

async function decodeStartupTfjs(): Promise<BenchPageResult> {
  const t: Record<string, number | string> = { scriptStart: performance.now() };
  const { Tfjs } = await import('./tfjs.js');
  t.imported = performance.now();
  const tfw = await Tfjs.create('webgpu', WASM_BASE);
  t.device = performance.now();
  const response = await fetch(CHECKPOINT_URL);
  if (!response.ok) throw new Error(`${CHECKPOINT_URL}: HTTP ${response.status}`);
  const checkpoint = decodeCheckpoint(new Uint8Array(await response.arrayBuffer()));
  const loaded = new Map([...checkpoint.params].map(([name, tensor]) => [name, tensor.data]));
  t.loaded = performance.now();
  const images = await tfw.decodeImages(
    loaded,
    DECODE_ROWS,
    traversalLatents(GRID, MNIST_VAE.latentSize),
  );
  t.firstDecode = performance.now();
  t.checksum = images.reduce((a, b) => a + b, 0);
  return { mode, userAgent: navigator.userAgent, startup: t };
}

/** The GRID×GRID traversal through the library's GPU-direct display, on its own page. */
async function displayPage(): Promise<BenchPageResult> {
  const ours = await Ours.create();
  const canvas = document.createElement('canvas');
  document.body.appendChild(canvas);
  const target = params.get('target') === 'texture' ? 'texture' : 'canvas';
  const timed = await ours.displayTraversal(weights, canvas, target);
  const timing = await timeIt(timed);
  timed.dispose();
  return {
    mode,
    userAgent: navigator.userAgent,
    adapterName: describeAdapter(ours.rt.info.adapter.info),
    display: { fps: 1000 / timing.ms, timing },
  };
}

type Side = Ours | Tfjs;

async function full(): Promise<BenchPageResult> {
  const started = performance.now();
  const ours = await Ours.create();
  const info = ours.rt.info.adapter.info;
  const result: BenchPageResult = {
    mode,
    userAgent: navigator.userAgent,
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      description: info.description,
      device: info.device,
    },
    adapterName: describeAdapter(info),
    features: [...ours.rt.info.features],
    backends: { ours: `webgpu-vae (${describeAdapter(info)})` },
    rows: [],
  };
  log(`adapter: ${result.adapterName}`);
  if (only?.length) result.only = only;
  const rows = result.rows!;
  const rowGroups = new Map<Row, Group>();
  const row = (
    section: string,
    name: string,
    unit: string,
    note?: string,
    group = section as Group,
  ): Row => {
    const r: Row = { section, name, unit, values: {}, timings: {}, checks: {} };
    if (note) r.note = note;
    rows.push(r);
    rowGroups.set(r, group);
    return r;
  };

  // ---- shared inputs ----
  const digits = await loadEmbeddedDigits({ trainCount: 2048, testCount: 0 });
  const batchesFor = (B: number) =>
    Array.from({ length: Math.max(1, Math.min(4, Math.floor(2048 / B))) }, (_, i) =>
      digits.train.images.subarray(i * B * 784, (i + 1) * B * 784),
    );
  const matmulInputs = MATMUL_CASES.map((c, i) => ({
    a: randomArray(c.M * c.K, 100 + i),
    b: randomArray(c.K * c.N, 200 + i),
  }));
  const stream = randomArray(STREAM_ELEMENTS, 300, -1, 1);
  const streamPositive = randomArray(STREAM_ELEMENTS, 301, 0, 1);
  const decodeZ = new Map(DECODE_BATCHES.map((B) => [B, randomNormalArray(B * 20, 400 + B)]));
  const gridZ = traversalLatents(GRID, MNIST_VAE.latentSize);
  const checkB = 128;
  const checkX = digits.train.images.subarray(0, checkB * 784);
  const checkEps = randomNormalArray(checkB * 20, 500);
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = GRID * 28;
  document.body.appendChild(canvas);

  // Reference outputs from ours, compared with each tfjs backend before it is timed.
  const refs = new Map<string, Float32Array | number>();
  let refGrads: { loss: number; grads: Map<string, Float32Array> } | undefined;

  const matmulRows = MATMUL_CASES.map((c) =>
    row('matmul', `${c.what} ${c.layout} ${c.M}×${c.N}×${c.K}`, 'GFLOP/s'),
  );
  const reluRow = row(
    'kernels',
    `relu ${STREAM_ELEMENTS / (1 << 20)}M f32`,
    'GB/s',
    'read + write',
  );
  const sumRow = row('kernels', `sum ${STREAM_ELEMENTS / (1 << 20)}M f32`, 'GB/s', 'read');
  const trainRows = TRAIN_BATCHES.map((B) =>
    row('train', `MNIST VAE step, batch ${B}`, 'samples/s', 'forward + backward + Adam'),
  );
  const convNote =
    'forward + backward + Adam; ours only: TensorFlow.js has no equal conv VAE implementation here';
  const convTrainRows = CONV_TRAIN_BATCHES.map((B) =>
    row('train', `conv VAE step (convVaePreset), batch ${B}`, 'samples/s', convNote, 'conv'),
  );
  const vqNote =
    'forward + backward + Adam + EMA codebook update; ours only: TensorFlow.js has no VQ-VAE here';
  const vqTrainRows = CONV_TRAIN_BATCHES.map((B) =>
    row('train', `conv VQ-VAE step (convVqPreset), batch ${B}`, 'samples/s', vqNote, 'vq'),
  );
  const decodeRows = DECODE_BATCHES.map((B) => row('inference', `decode batch ${B}`, 'images/s'));
  const gridRow = row(
    'inference',
    `traversal ${GRID}×${GRID} grid + display`,
    'frames/s',
    'decode 256 latents, read back, sigmoid → RGBA on the CPU, putImageData (same on both sides)',
  );
  const readbackRow = row(
    'inference',
    'readback latency (4 floats)',
    'ms',
    'tiny kernel + mapAsync',
  );
  const memoryRow = row(
    'memory',
    'train state, batch 128',
    'MiB',
    'ours: params + Adam (grads, m, v) + planned step buffers; tfjs: numBytesInGPU after a step',
    'train',
  );
  const convMemoryRow = row(
    'memory',
    'conv VAE train state, batch 128',
    'MiB',
    'ours only: params + Adam (grads, m, v) + planned step buffers',
    'conv',
  );

  const time = async (
    side: Side,
    sideName: SideName,
    r: Row,
    timed: Timed,
    toValue: (ms: number) => number,
    options: TimeOptions = side instanceof Ours ? {} : { repeats: 3 },
  ) => {
    try {
      const t = await timeIt(timed, options);
      r.timings[sideName] = t;
      r.values[sideName] = toValue(t.ms);
      log(`${sideName} ${r.name}: ${r.values[sideName]!.toPrecision(4)} ${r.unit}`);
    } finally {
      timed.dispose();
    }
  };

  const check = (
    sideName: SideName,
    r: Row,
    key: string,
    got: Float32Array | number,
    atol: number,
    rtol = 1e-4,
  ): boolean => {
    if (sideName === 'ours') {
      refs.set(key, got);
      return true;
    }
    const ref = refs.get(key)!;
    const a = typeof got === 'number' ? [got] : got;
    const b = typeof ref === 'number' ? [ref] : ref;
    const { ok, worst, at } = agreement(a, b, atol, rtol);
    r.checks[sideName] = ok
      ? `agrees (worst ${worst.toPrecision(2)} of tolerance)`
      : `MISMATCH at ${at}: ${a[at]} vs ${b[at]}`;
    if (!ok) log(`${sideName} ${r.name}: ${r.checks[sideName]}`);
    return ok;
  };

  type Step = (side: Side, sideName: SideName) => Promise<void>;
  const steps: { group: Group; step: Step }[] = [];
  const addStep = (group: Group, step: Step) => {
    if (wanted(group)) steps.push({ group, step });
  };
  // Matmul.
  MATMUL_CASES.forEach((c, i) =>
    addStep('matmul', async (side, sideName) => {
      const r = matmulRows[i]!;
      const { a, b } = matmulInputs[i]!;
      const m = await side.matmul(c, a, b);
      if ('variant' in m) r.note = `ours: ${String(m.variant)}`;
      if (!check(sideName, r, `mm${i}`, m.out, 1e-6 * (c.K + 2), 1e-4)) return m.timed.dispose();
      await time(side, sideName, r, m.timed, (ms) => (2 * c.M * c.N * c.K) / (ms * 1e6));
    }),
  );
  // Elementwise and reduction.
  addStep('kernels', async (side, sideName) => {
    const relu = await side.relu(stream);
    if (!check(sideName, reluRow, 'relu', relu.out, 0, 0)) return relu.timed.dispose();
    await time(side, sideName, reluRow, relu.timed, (ms) => (8 * STREAM_ELEMENTS) / (ms * 1e6));
  });
  addStep('kernels', async (side, sideName) => {
    const sum = await side.sum(streamPositive);
    if (!check(sideName, sumRow, 'sum', sum.out, 0, 1e-4)) return sum.timed.dispose();
    await time(side, sideName, sumRow, sum.timed, (ms) => (4 * STREAM_ELEMENTS) / (ms * 1e6));
  });
  // Training: equal work checked on one step from the same weights, batch and noise.
  const trainOk = new Map<SideName, boolean>();
  addStep('train', async (side, sideName) => {
    const tc = await side.trainCheck(weights, checkX, checkEps, checkB);
    if (sideName === 'ours') {
      refGrads = tc;
      trainOk.set(sideName, true);
      return;
    }
    const ref = refGrads!;
    const lossAgree = agreement([tc.loss], [ref.loss], 0, 1e-4);
    let worstGrad = 0;
    let worstName = '';
    for (const [name, g] of ref.grads) {
      let scale = 0;
      for (const v of g) scale = Math.max(scale, Math.abs(v));
      const a = agreement(tc.grads.get(name)!, g, 1e-3 * scale + 1e-6, 1e-3);
      if (a.worst > worstGrad) {
        worstGrad = a.worst;
        worstName = name;
      }
    }
    const ok = lossAgree.ok && worstGrad <= 1;
    trainOk.set(sideName, ok);
    const msg =
      `loss ${tc.loss.toFixed(3)} vs ours ${ref.loss.toFixed(3)} ` +
      `(rel ${(Math.abs(tc.loss - ref.loss) / Math.abs(ref.loss)).toExponential(1)}); ` +
      `all gradients within ${worstGrad.toPrecision(2)} of tolerance (worst ${worstName})`;
    for (const r of trainRows) r.checks[sideName] = ok ? msg : `MISMATCH: ${msg}`;
    log(`${sideName} train check: ${msg}`);
  });
  TRAIN_BATCHES.forEach((B, i) =>
    addStep('train', async (side, sideName) => {
      if (!trainOk.get(sideName)) return;
      const t = await side.train(weights, B, batchesFor(B));
      if (side instanceof Ours && 'trainer' in t && B === 128) {
        const mem = t.memory;
        const total = mem.paramBytes + mem.optimizerBytes + mem.stepBytes;
        memoryRow.values.ours = total / 2 ** 20;
        result.memory = { ...mem, totalBytes: total, batch: B };
        // Warm it up before the per-kernel timing.
        await t.timed.run(2);
        await t.timed.sync();
        const kernels = await side.breakdown(t.trainer);
        if (kernels) result.breakdown = { batch: B, kernels, stepMs: 0 };
      } else if ('memoryBytes' in t && B === 128) {
        memoryRow.values[sideName] = t.memoryBytes / 2 ** 20;
      }
      await time(side, sideName, trainRows[i]!, t.timed, (ms) => (B * 1000) / ms);
      if (side instanceof Ours && B === 128 && result.breakdown)
        result.breakdown.stepMs = trainRows[i]!.timings.ours!.ms;
    }),
  );
  // The conv VAE train step, ours only (TensorFlow.js has no equal implementation here): seeded
  // weights, the same batches, few repeats (about 1–2 s a step at batch 128 on SwiftShader).
  CONV_TRAIN_BATCHES.forEach((B, i) =>
    addStep('conv', async (side, sideName) => {
      if (!(side instanceof Ours)) return;
      const r = convTrainRows[i]!;
      const t0 = performance.now();
      const t = await side.train(undefined, B, batchesFor(B), CONV_VAE);
      log(`ours conv VAE batch ${B}: compiled in ${(performance.now() - t0).toFixed(0)} ms`);
      // No second implementation to compare with: check that the loss stays finite and falls.
      const losses: number[] = [];
      t.trainer.onMetrics((m) => losses.push(m.loss));
      const mem = t.memory;
      const total = mem.paramBytes + mem.optimizerBytes + mem.stepBytes;
      if (B === 128) {
        convMemoryRow.values.ours = total / 2 ** 20;
        result.convMemory = { ...mem, totalBytes: total, batch: B };
        // Warm it up before the per-kernel timing.
        await t.timed.run(1);
        await t.timed.sync();
        const kernels = await side.breakdown(t.trainer);
        if (kernels) result.convBreakdown = { batch: B, kernels, stepMs: 0 };
      }
      await time(side, sideName, r, t.timed, (ms) => (B * 1000) / ms, { repeats: CONV_REPEATS });
      if (B === 128 && result.convBreakdown) result.convBreakdown.stepMs = r.timings.ours!.ms;
      r.checks.ours = lossFalls(losses);
      log(`ours ${r.name}: ${r.checks.ours}`);
    }),
  );
  // The conv VQ-VAE train step, ours only: its rate and, when the conv VAE step at the same batch
  // ran, the ratio of the two (the VQ step's cost over the conv VAE's on this machine).
  CONV_TRAIN_BATCHES.forEach((B, i) =>
    addStep('vq', async (side, sideName) => {
      if (!(side instanceof Ours)) return;
      const r = vqTrainRows[i]!;
      const t0 = performance.now();
      const t = await side.train(undefined, B, batchesFor(B), CONV_VQ_VAE);
      log(`ours conv VQ-VAE batch ${B}: compiled in ${(performance.now() - t0).toFixed(0)} ms`);
      const losses: number[] = [];
      t.trainer.onMetrics((m) => losses.push(m.loss));
      await time(side, sideName, r, t.timed, (ms) => (B * 1000) / ms, { repeats: CONV_REPEATS });
      const conv = convTrainRows[i]!.values.ours;
      const vq = r.values.ours;
      if (conv !== undefined && vq !== undefined) {
        r.note = `${vqNote}; ${(vq / conv).toFixed(2)}× the conv VAE step's samples/s`;
      }
      r.checks.ours = lossFalls(losses);
      log(`ours ${r.name}: ${r.checks.ours}`);
    }),
  );
  // Decode.
  DECODE_BATCHES.forEach((B, i) =>
    addStep('inference', async (side, sideName) => {
      const d = await side.decode(weights, B, decodeZ.get(B)!);
      if (!check(sideName, decodeRows[i]!, `decode${B}`, d.out, 1e-4, 1e-3))
        return d.timed.dispose();
      await time(side, sideName, decodeRows[i]!, d.timed, (ms) => (B * 1000) / ms);
    }),
  );
  addStep('inference', async (side, sideName) => {
    const t = await side.traversal(weights, gridZ, canvas);
    await time(side, sideName, gridRow, t, (ms) => 1000 / ms);
  });
  addStep('inference', async (side, sideName) => {
    await time(side, sideName, readbackRow, await side.readback(), (ms) => ms);
  });

  // Workload by workload, every side in turn, so that a change in the machine's load between
  // workloads does not bias a ratio.
  const sides: [SideName, Side][] = [['ours', ours]];
  const { Tfjs } = await import('./tfjs.js');
  // Only the conv VAE or VQ-VAE (ours only) selected: no TensorFlow.js backends to start.
  const oursOnly = (g: Group) => g === 'conv' || g === 'vq';
  const tfjsBackends = steps.some((s) => !oursOnly(s.group)) ? (['webgpu', 'wasm'] as const) : [];
  for (const backend of tfjsBackends) {
    const sideName: SideName = `tfjs-${backend}`;
    try {
      const tfs = await Tfjs.create(backend, WASM_BASE);
      result.backends![sideName] = await tfs.describe();
      log(`${sideName}: ${result.backends![sideName]}`);
      sides.push([sideName, tfs]);
    } catch (error) {
      log(`${sideName} failed: ${String(error)}`);
      result.backends![sideName] = `failed: ${String(error)}`;
    }
  }
  for (const { step } of steps) {
    for (const [sideName, side] of sides) {
      try {
        if (!(side instanceof Ours)) await side.activate();
        await step(side, sideName);
      } catch (error) {
        log(`${sideName} failed: ${String(error)}`);
        if (sideName === 'ours') throw error;
      }
    }
  }
  result.rows = rows.filter((r) => wanted(rowGroups.get(r)!));
  result.totalSeconds = (performance.now() - started) / 1000;
  return result;
}

const MODES: Record<string, () => Promise<BenchPageResult>> = {
  startup: startupOurs,
  'startup-tfjs': startupTfjs,
  'decode-startup': decodeStartupOurs,
  'decode-startup-tfjs': decodeStartupTfjs,
  display: displayPage,
  full,
};
const run = MODES[mode] ?? full;
run()
  .then((result) => {
    (window as unknown as { __bench: BenchPageResult }).__bench = result;
  })
  .catch((error: unknown) => {
    const message = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
    log(`error: ${message}`);
    (window as unknown as { __benchError: string }).__benchError = message;
  });
