// Training and evaluation of a VaeModel. A step is one submit: the batch and a few uniforms are
// written, then the compiled graph (forward + backward) and Adam are recorded into one compute
// pass. The batch metrics are summed on the GPU into an accumulator that a ring of staging buffers
// reads asynchronously, so a step never waits on a readback; only the number of steps in flight
// is bounded (the GPU's progress, not a readback, paces the CPU).
import { readFloats, type BufferRange } from '../gpu/buffers.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { prepareAdam, type AdamHyper, type AdamStep } from '../kernels/adam.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import { CompiledGraph } from '../graph/executor.js';
import { Batcher } from '../data/batches.js';
import { createBinarizer } from '../data/idx.js';
import type { OptimizerStateInput, OptimizerState } from '../checkpoint/checkpoint.js';
import { capacityAt } from './config.js';
import {
  buildIwaeGraph,
  buildVaeGraph,
  METRICS_SIZE,
  METRICS_STATE,
  type IwaeGraph,
  type VaeGraph,
} from './graphs.js';
import type { VaeModel } from './model.js';
import { checkSchedule, learningRateAt, type LrSchedule } from './schedule.js';

export interface TrainerOptions extends Omit<AdamHyper, 'skipNonFinite'> {
  /** Rows per step (default 128). */
  batchSize?: number;
  schedule?: LrSchedule;
  /** Seed of the reparameterization noise (default 0); with the model seed it fixes a run. */
  seed?: number;
  /** Staging buffers for metric readbacks (default 4). */
  readbackRing?: number;
  /** Steps submitted but not finished on the GPU before step() waits (default 2). */
  maxInFlight?: number;
  /** Pin a matmul variant for every layer (default: selected per shape). */
  matmulVariant?: MatmulVariant;
  /** Steps between metric readback copies (default 1: every step, when a staging slot is free). */
  readEvery?: number;
}

/** Per-example averages over a window of steps or examples. */
export interface Metrics {
  /** Steps (or evaluation batches) included. */
  steps: number;
  examples: number;
  /** E[-log p(x|z)] per example. */
  recon: number;
  /** KL(q(z|x) ‖ p(z)) per example. */
  kl: number;
  /** recon + β·kl: the negative ELBO when β = 1. */
  loss: number;
  /** −(recon + kl): the evidence lower bound per example. */
  elbo: number;
}

export interface StepReport extends Metrics {
  /** The last step (1-based) the window includes. */
  step: number;
  lr: number;
}

export interface EpochReport {
  epoch: number;
  train: Metrics;
  test: Metrics | undefined;
  seconds: number;
  stepsPerSecond: number;
}

export interface Dataset {
  /** (count, D) row-major. */
  images: Float32Array;
  count: number;
}

export interface FitOptions {
  epochs: number;
  test?: Dataset;
  /** Shuffle seed (default: the trainer's seed). */
  shuffleSeed?: number;
  /** 'dynamic': a fresh Bernoulli draw of each batch (default 'none'). */
  binarize?: 'none' | 'dynamic';
  /** Drop the last partial batch (default false, like PyTorch's DataLoader). */
  dropLast?: boolean;
  onStep?: (report: StepReport) => void;
  onEpoch?: (report: EpochReport) => void;
  /** Called after each submitted step with its number (progress bars). */
  onSubmit?: (step: number, epoch: number, stepInEpoch: number, stepsPerEpoch: number) => void;
  signal?: AbortSignal;
}

interface TrainGraph {
  vg: VaeGraph;
  cg: CompiledGraph;
}

function metricsFrom(
  sums: Float32Array | number[],
  steps: number,
  examples: number,
  beta: number,
): Metrics {
  const recon = sums[0]! / Math.max(1, examples);
  const kl = sums[1]! / Math.max(1, examples);
  return { steps, examples, recon, kl, loss: recon + beta * kl, elbo: -(recon + kl) };
}

/** Reads a small accumulator through a ring of MAP_READ buffers without stalling the caller. */
class MetricsRing {
  private readonly slots: { buffer: GPUBuffer; busy: boolean }[];
  private pendingSteps = 0;
  private pendingExamples = 0;
  private lastStep = 0;
  private inflight: Promise<void>[] = [];

  constructor(
    private readonly rt: GpuRuntime,
    private readonly acc: BufferRange,
    size: number,
    label: string,
    private readonly deliver: (
      sums: Float32Array,
      steps: number,
      examples: number,
      lastStep: number,
    ) => void,
  ) {
    this.slots = Array.from({ length: size }, (_, i) => ({
      buffer: rt.buffers.create(
        `${label}.readback${i}`,
        acc.size,
        GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      ),
      busy: false,
    }));
  }

  /** Counts a recorded step; with copyNow and a free slot, records the copy and the reset. */
  record(
    encoder: GPUCommandEncoder,
    examples: number,
    step: number,
    copyNow: boolean,
  ): (() => void) | undefined {
    this.pendingSteps++;
    this.pendingExamples += examples;
    this.lastStep = step;
    return copyNow ? this.copy(encoder) : undefined;
  }

  /** Records acc -> a free staging buffer and acc = 0; returns what to call after the submit. */
  private copy(encoder: GPUCommandEncoder): (() => void) | undefined {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot || this.pendingSteps === 0) return undefined;
    slot.busy = true;
    encoder.copyBufferToBuffer(this.acc.buffer, this.acc.offset, slot.buffer, 0, this.acc.size);
    encoder.clearBuffer(this.acc.buffer, this.acc.offset, this.acc.size);
    const steps = this.pendingSteps;
    const examples = this.pendingExamples;
    const lastStep = this.lastStep;
    this.pendingSteps = 0;
    this.pendingExamples = 0;
    // Called after the submit: map and deliver when the GPU gets there.
    return () => {
      const done = slot.buffer.mapAsync(GPUMapMode.READ).then(
        () => {
          const sums = new Float32Array(slot.buffer.getMappedRange().slice(0));
          slot.buffer.unmap();
          slot.busy = false;
          this.deliver(sums, steps, examples, lastStep);
        },
        (error: unknown) => {
          slot.busy = false;
          throw error;
        },
      );
      this.inflight.push(done);
      void done.finally(() => {
        this.inflight = this.inflight.filter((p) => p !== done);
      });
    };
  }

  /** Reads everything accumulated so far (a final copy when steps are pending). */
  async flush(): Promise<void> {
    while (this.pendingSteps > 0) {
      if (!this.slots.some((s) => !s.busy)) {
        await Promise.race(this.inflight);
        continue;
      }
      const encoder = this.rt.device.createCommandEncoder({ label: 'metrics.flush' });
      const after = this.copy(encoder)!;
      this.rt.device.queue.submit([encoder.finish()]);
      after();
    }
    await Promise.all(this.inflight);
  }

  destroy(): void {
    for (const s of this.slots) this.rt.buffers.destroy(s.buffer);
  }
}

export class Trainer {
  readonly batchSize: number;
  readonly grads: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;
  /** Adam steps taken (1-based count of the last one). */
  private t = 0;
  private readonly baseLr: number;
  private lr: number;
  private readonly schedule: LrSchedule;
  private scheduleContext = { stepsPerEpoch: 1, totalSteps: 1 };
  private readonly trainGraphs = new Map<number, TrainGraph>();
  private readonly evalGraphs = new GraphCache<number, TrainGraph>(4);
  private readonly iwaeGraphs = new GraphCache<string, { ig: IwaeGraph; cg: CompiledGraph }>(4);
  private readonly metricsAcc: BufferRange;
  private readonly evalAcc: BufferRange;
  private readonly ring: MetricsRing;
  private inFlight: Promise<unknown>[] = [];
  private readonly maxInFlight: number;
  private readonly readEvery: number;
  private windowListener: ((r: StepReport) => void) | undefined;
  private epochSums: [number, number] = [0, 0];
  private epochSteps = 0;
  private epochExamples = 0;
  private destroyed = false;

  private constructor(
    readonly model: VaeModel,
    readonly adam: AdamStep,
    buffers: {
      grads: GPUBuffer;
      m: GPUBuffer;
      v: GPUBuffer;
      metrics: BufferRange;
      evalMetrics: BufferRange;
    },
    readonly options: TrainerOptions,
  ) {
    this.batchSize = options.batchSize ?? 128;
    this.grads = buffers.grads;
    this.m = buffers.m;
    this.v = buffers.v;
    this.metricsAcc = buffers.metrics;
    this.evalAcc = buffers.evalMetrics;
    this.baseLr = options.lr ?? 1e-3;
    this.lr = this.baseLr;
    this.schedule = checkSchedule(options.schedule ?? { kind: 'constant' });
    this.maxInFlight = options.maxInFlight ?? 2;
    this.readEvery = options.readEvery ?? 1;
    this.ring = new MetricsRing(
      model.rt,
      this.metricsAcc,
      options.readbackRing ?? 4,
      `${model.label}.metrics`,
      (sums, steps, examples, lastStep) => {
        this.epochSums[0] += sums[0]!;
        this.epochSums[1] += sums[1]!;
        this.epochSteps += steps;
        this.epochExamples += examples;
        this.windowListener?.({
          ...metricsFrom(sums, steps, examples, model.config.beta),
          step: lastStep,
          lr: this.lr,
        });
      },
    );
  }

  static async create(model: VaeModel, options: TrainerOptions = {}): Promise<Trainer> {
    const batchSize = options.batchSize ?? 128;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`trainer: batchSize must be an integer >= 1, got ${batchSize}`);
    }
    for (const [name, value, min] of [
      ['maxInFlight', options.maxInFlight, 1],
      ['readbackRing', options.readbackRing, 1],
      ['readEvery', options.readEvery, 1],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < min)) {
        throw new Error(`trainer: ${name} must be an integer >= ${min}, got ${value}`);
      }
    }
    checkSchedule(options.schedule ?? { kind: 'constant' });
    const rt = model.rt;
    const bytes = model.flatSize * 4;
    const label = model.label;
    const grads = rt.buffers.storage(`${label}.grads`, bytes).buffer;
    const m = rt.buffers.storage(`${label}.adam.m`, bytes).buffer;
    const v = rt.buffers.storage(`${label}.adam.v`, bytes).buffer;
    const metrics = rt.buffers.storage(`${label}.metrics`, 4 * METRICS_SIZE);
    const evalMetrics = rt.buffers.storage(`${label}.eval_metrics`, 4 * METRICS_SIZE);
    const hyper: AdamHyper = { ...options };
    const adam = await prepareAdam(rt, {
      ...hyper,
      decoupled: options.decoupled ?? false,
      params: { buffer: model.params, offset: 0, size: bytes },
      grads: { buffer: grads, offset: 0, size: bytes },
      m: { buffer: m, offset: 0, size: bytes },
      v: { buffer: v, offset: 0, size: bytes },
      n: model.flatSize,
      label: `${label}.adam`,
    });
    return new Trainer(model, adam, { grads, m, v, metrics, evalMetrics }, options);
  }

  /** Adam steps taken so far. */
  get step(): number {
    return this.t;
  }

  get learningRate(): number {
    return this.lr;
  }

  /** Sets how the schedules count (fit() does this from the data size and epochs). */
  setScheduleContext(stepsPerEpoch: number, totalSteps: number): void {
    this.scheduleContext = { stepsPerEpoch, totalSteps };
  }

  /** Called with per-window averages as readbacks arrive (never blocks a step). */
  onMetrics(listener: ((r: StepReport) => void) | undefined): void {
    this.windowListener = listener;
  }

  private async trainGraph(rows: number): Promise<TrainGraph> {
    let g = this.trainGraphs.get(rows);
    if (g) return g;
    const vg = buildVaeGraph(this.model.config, {
      batch: rows,
      training: true,
      seed: this.options.seed ?? 0,
    });
    const cg = await CompiledGraph.compile(this.model.rt, vg.graph, {
      params: this.model.paramBuffers(this.grads),
      external: new Map([[METRICS_STATE, this.metricsAcc]]),
      ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
      label: `${this.model.label}.train${rows}`,
    });
    g = { vg, cg };
    this.trainGraphs.set(rows, g);
    return g;
  }

  /** Compiles the graph for batches of `rows` ahead of time (fit() does it for you). */
  async prepare(rows = this.batchSize): Promise<void> {
    await this.trainGraph(rows);
  }

  /**
   * One training step on `rows` examples of `batch` ((rows, D) row-major): a single submit. Waits
   * only when maxInFlight steps are already running on the GPU.
   */
  async trainStep(batch: Float32Array, rows = this.batchSize): Promise<void> {
    this.checkAlive();
    const D = this.model.config.inputSize;
    if (!Number.isInteger(rows) || rows < 1 || rows > this.batchSize) {
      throw new Error(`trainer: rows must be an integer in [1, ${this.batchSize}], got ${rows}`);
    }
    if (batch.length < rows * D) {
      throw new Error(
        `trainer: batch holds ${batch.length} values, ${rows} rows of ${D} need ${rows * D}`,
      );
    }
    const g = await this.trainGraph(rows);
    while (this.inFlight.length >= this.maxInFlight) await this.inFlight.shift();
    const rt = this.model.rt;
    const stepIndex = this.t; // 0-based index of this step
    this.lr = learningRateAt(this.schedule, this.baseLr, stepIndex, this.scheduleContext);
    const capacity = this.model.config.capacity
      ? capacityAt(this.model.config.capacity, stepIndex)
      : 0;
    g.cg.write(g.vg.x, batch.subarray(0, rows * D));
    g.cg.update({ step: stepIndex, capacity });
    this.adam.setStep(stepIndex + 1, this.lr);
    const encoder = rt.device.createCommandEncoder({ label: `${this.model.label}.step` });
    const pass = encoder.beginComputePass({ label: `${this.model.label}.step` });
    g.cg.encode(pass);
    for (const d of this.adam.dispatches) d.encode(pass);
    // The update made the texture packs of the weights stale: record them here, once per step.
    this.model.packs.encodeStale(pass);
    pass.end();
    const copyNow = (stepIndex + 1) % this.readEvery === 0;
    const afterSubmit = this.ring.record(encoder, rows, stepIndex + 1, copyNow);
    rt.device.queue.submit([encoder.finish()]);
    afterSubmit?.();
    this.t = stepIndex + 1;
    this.inFlight.push(rt.device.queue.onSubmittedWorkDone());
  }

  /** Waits for every submitted step and every metric readback. */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.inFlight = [];
    await this.ring.flush();
  }

  /** Trains for `epochs` over shuffled batches; per-epoch train metrics and test evaluation. */
  async fit(train: Dataset, options: FitOptions): Promise<EpochReport[]> {
    this.checkAlive();
    const D = this.model.config.inputSize;
    checkDataset('train', train, D);
    if (options.test) checkDataset('test', options.test, D);
    if (!Number.isInteger(options.epochs) || options.epochs < 0) {
      throw new Error(`fit: epochs must be an integer >= 0, got ${options.epochs}`);
    }
    const batcher = new Batcher(train.images.subarray(0, train.count * D), D, {
      batchSize: this.batchSize,
      seed: options.shuffleSeed ?? this.options.seed ?? 0,
      dropLast: options.dropLast ?? false,
    });
    const stepsPerEpoch = options.dropLast
      ? Math.floor(train.count / this.batchSize)
      : Math.ceil(train.count / this.batchSize);
    if (stepsPerEpoch < 1)
      throw new Error(`fit: ${train.count} examples make no batch of ${this.batchSize}`);
    this.setScheduleContext(stepsPerEpoch, stepsPerEpoch * options.epochs);
    const binarize =
      options.binarize === 'dynamic'
        ? createBinarizer((options.shuffleSeed ?? this.options.seed ?? 0) + 1)
        : undefined;
    const binarized = binarize ? new Float32Array(this.batchSize * D) : undefined;
    await this.prepare(this.batchSize);
    const reports: EpochReport[] = [];
    this.onMetrics(options.onStep);
    try {
      for (let epoch = 1; epoch <= options.epochs; epoch++) {
        const started = performance.now();
        this.epochSums = [0, 0];
        this.epochSteps = 0;
        this.epochExamples = 0;
        batcher.startEpoch();
        let rows: number;
        let stepInEpoch = 0;
        while ((rows = batcher.next()) > 0) {
          if (options.signal?.aborted) throw new Error('fit: aborted');
          const batch = binarize ? binarize(batcher.batch, binarized!, rows * D) : batcher.batch;
          await this.trainStep(batch, rows);
          stepInEpoch++;
          options.onSubmit?.(this.t, epoch, stepInEpoch, stepsPerEpoch);
        }
        await this.flush();
        const seconds = (performance.now() - started) / 1000;
        const trainMetrics = metricsFrom(
          this.epochSums,
          this.epochSteps,
          this.epochExamples,
          this.model.config.beta,
        );
        const test = options.test ? await this.evaluate(options.test) : undefined;
        const report: EpochReport = {
          epoch,
          train: trainMetrics,
          test,
          seconds,
          stepsPerSecond: stepInEpoch / seconds,
        };
        reports.push(report);
        options.onEpoch?.(report);
      }
    } finally {
      this.onMetrics(undefined);
    }
    return reports;
  }

  private async evalGraph(rows: number): Promise<TrainGraph> {
    return this.evalGraphs.get(rows, async () => {
      const vg = buildVaeGraph(this.model.config, {
        batch: rows,
        training: false,
        seed: (this.options.seed ?? 0) ^ 0x5eed,
      });
      const cg = await CompiledGraph.compile(this.model.rt, vg.graph, {
        params: this.model.paramBuffers(),
        external: new Map([[METRICS_STATE, this.evalAcc]]),
        ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
        label: `${this.model.label}.eval${rows}`,
      });
      return { vg, cg };
    });
  }

  /** Single-sample ELBO, reconstruction and KL per example over a dataset (same noise each call). */
  async evaluate(data: Dataset, batchSize = this.batchSize): Promise<Metrics> {
    this.checkAlive();
    const D = this.model.config.inputSize;
    checkDataset('evaluate', data, D);
    await this.flush();
    const rt = this.model.rt;
    rt.device.queue.writeBuffer(
      this.evalAcc.buffer,
      this.evalAcc.offset,
      new Float32Array(METRICS_SIZE),
    );
    let batches = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const rows = Math.min(batchSize, data.count - start);
      const g = await this.evalGraph(rows);
      g.cg.write(g.vg.x, data.images.subarray(start * D, (start + rows) * D));
      g.cg.update({ step: batches, capacity: 0 });
      rt.submit(g.cg.dispatches, `${this.model.label}.evaluate`);
      batches++;
      if (batches % 8 === 0) await rt.device.queue.onSubmittedWorkDone();
    }
    const sums = await readFloats(rt.device, this.evalAcc);
    return metricsFrom(sums, batches, data.count, this.model.config.beta);
  }

  /**
   * Importance-sampled log p(x) with k samples per example (the IWAE bound, which tightens to
   * log p(x) as k grows), in chunks of at most `chunk` samples; mean over the dataset, in nats.
   */
  async logLikelihood(
    data: Dataset,
    options: { k: number; batchSize?: number; chunk?: number; seed?: number },
  ): Promise<{ logPx: number; perExample: Float64Array }> {
    this.checkAlive();
    const D = this.model.config.inputSize;
    checkDataset('logLikelihood', data, D);
    const k = options.k;
    if (!Number.isInteger(k) || k < 1 || k > 5000) {
      throw new Error(`logLikelihood: k must be an integer in [1, 5000], got ${k}`);
    }
    const chunk = Math.min(k, options.chunk ?? 500);
    const batch = Math.max(1, Math.min(options.batchSize ?? Math.floor(4096 / chunk), data.count));
    const seed = options.seed ?? (this.options.seed ?? 0) ^ 0x1fae;
    await this.flush();
    const perExample = new Float64Array(data.count);
    const rt = this.model.rt;
    let counter = 0;
    for (let start = 0; start < data.count; start += batch) {
      const rows = Math.min(batch, data.count - start);
      const lse: Float32Array[] = [];
      for (let done = 0; done < k; done += chunk) {
        const K = Math.min(chunk, k - done);
        const g = await this.iwaeGraph(rows, K, seed);
        g.cg.write(g.ig.x, data.images.subarray(start * D, (start + rows) * D));
        g.cg.update({ step: counter++, capacity: 0 });
        rt.submit(g.cg.dispatches, `${this.model.label}.iwae`);
        lse.push(await g.cg.read(g.ig.logSumExp));
      }
      for (let r = 0; r < rows; r++) {
        let max = -Infinity;
        for (const l of lse) max = Math.max(max, l[r]!);
        let s = 0;
        for (const l of lse) s += Math.exp(l[r]! - max);
        perExample[start + r] = max + Math.log(s) - Math.log(k);
      }
    }
    const logPx = perExample.reduce((a, b) => a + b, 0) / data.count;
    return { logPx, perExample };
  }

  private async iwaeGraph(
    rows: number,
    K: number,
    seed: number,
  ): Promise<{ ig: IwaeGraph; cg: CompiledGraph }> {
    const key = `${rows}x${K}:${seed}`;
    return this.iwaeGraphs.get(key, async () => {
      const ig = buildIwaeGraph(this.model.config, { batch: rows, samples: K, seed });
      const cg = await CompiledGraph.compile(this.model.rt, ig.graph, {
        params: this.model.paramBuffers(),
        ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
        label: `${this.model.label}.iwae${rows}x${K}`,
      });
      return { ig, cg };
    });
  }

  /** Optimizer state for a checkpoint (reads m and v back). */
  async optimizerState(): Promise<OptimizerStateInput> {
    await this.flush();
    const toTensors = (named: Map<string, Float32Array>) =>
      new Map(
        [...named].map(([name, data]) => [
          name,
          { shape: this.model.layout.get(name)!.shape, data },
        ]),
      );
    return {
      type: 'adam',
      step: this.t,
      moments: {
        m: toTensors(await this.model.readFlat(this.m)),
        v: toTensors(await this.model.readFlat(this.v)),
      },
      hyper: {
        lr: this.baseLr,
        beta1: this.options.beta1 ?? 0.9,
        beta2: this.options.beta2 ?? 0.999,
        eps: this.options.eps ?? 1e-8,
        weightDecay: this.options.weightDecay ?? 0,
        schedule: this.schedule,
      },
    };
  }

  /** Restores Adam's moments and step count from a checkpoint (to resume training). */
  loadOptimizerState(state: OptimizerState): void {
    if (state.type !== 'adam')
      throw new Error(`trainer: optimizer state is '${state.type}', expected 'adam'`);
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new Error(`trainer: optimizer step must be an integer >= 0, got ${state.step}`);
    }
    for (const moment of ['m', 'v'] as const) {
      const tensors = state.moments[moment];
      if (!tensors) throw new Error(`trainer: optimizer state has no '${moment}' moment`);
      const named = new Map([...tensors].map(([name, t]) => [name, t.data]));
      const flat = this.model.flatten(named, `optimizer moment '${moment}'`);
      this.model.rt.device.queue.writeBuffer(moment === 'm' ? this.m : this.v, 0, flat);
    }
    this.t = state.step;
  }

  /** Whole-graph timing and memory: what one step holds on the GPU besides the weights. */
  memory(): {
    paramBytes: number;
    optimizerBytes: number;
    stepBytes: number;
    unplannedBytes: number;
  } {
    const g = this.trainGraphs.get(this.batchSize);
    const bytes = this.model.flatSize * 4;
    return {
      paramBytes: bytes,
      optimizerBytes: 3 * bytes,
      stepBytes: g?.cg.memory.peakStepBytes ?? 0,
      unplannedBytes: g?.cg.memory.unplannedBytes ?? 0,
    };
  }

  /** The compiled training graph for full batches (tests, benchmarks). */
  compiledTrainGraph(): { vg: VaeGraph; cg: CompiledGraph } | undefined {
    return this.trainGraphs.get(this.batchSize);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const g of this.trainGraphs.values()) g.cg.destroy();
    this.evalGraphs.clear();
    this.iwaeGraphs.clear();
    this.adam.destroy();
    this.ring.destroy();
    const rt = this.model.rt;
    for (const b of [this.grads, this.m, this.v, this.metricsAcc.buffer, this.evalAcc.buffer])
      rt.buffers.destroy(b);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('trainer was destroyed');
  }
}

/** Compiled graphs by key, at most `capacity`: the least recently used one is destroyed. */
class GraphCache<K, V extends { cg: CompiledGraph }> {
  private readonly entries = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  async get(key: K, make: () => Promise<V>): Promise<V> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
    } else {
      entry = await make();
      if (this.entries.size >= this.capacity) {
        const [oldest, value] = this.entries.entries().next().value!;
        value.cg.destroy();
        this.entries.delete(oldest);
      }
    }
    this.entries.set(key, entry);
    return entry;
  }

  clear(): void {
    for (const v of this.entries.values()) v.cg.destroy();
    this.entries.clear();
  }
}

const checkedDatasets = new WeakSet<Float32Array>();

function checkDataset(what: string, data: Dataset, D: number): void {
  if (!Number.isInteger(data.count) || data.count < 1) {
    throw new Error(`${what}: dataset count must be an integer >= 1, got ${data.count}`);
  }
  if (!checkedDatasets.has(data.images)) {
    const n = Math.min(data.images.length, data.count * D);
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(data.images[i]!)) {
        throw new Error(
          `${what}: value ${data.images[i]} at example ${Math.floor(i / D)}, position ${i % D} (data must be finite)`,
        );
      }
    }
  }
  if (data.images.length < data.count * D) {
    throw new Error(
      `${what}: dataset holds ${data.images.length} values, ${data.count} examples of ${D} need ${data.count * D} ` +
        '(does the model inputSize match the images?)',
    );
  }
  checkedDatasets.add(data.images);
}
