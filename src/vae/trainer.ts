// Training of a VaeModel. A step is one submit: the batch's feeds and the objective's per-step
// hyperparameters are written, then the compiled graph (forward + backward) and the optimizer are
// recorded into one compute pass. The graph's named metrics are summed on the GPU into an
// accumulator that a ring of staging buffers reads asynchronously, so a step never waits on a
// readback; only the number of steps in flight is bounded (the GPU's progress, not a readback,
// paces the CPU). Nothing here knows a model kind: the graph, its feeds, hyperparameters and
// metrics all come from the model's sections.
//
// A step whose gradient is not finite (NaN in a batch, an overflow) is skipped on the GPU by the
// optimizer (weights and moments unchanged); its running count rides along with each metric
// readback, so the trainer reports which steps were skipped without a readback of its own. fit()
// can start at any step of a run: epoch e's batch order and dynamic binarization are pure functions
// of (seed, e, batch), and the posterior noise of (seed, step), so a resumed run repeats an
// uninterrupted one. GPU failures (a lost device) are reported with the step that was running.
import type { BufferRange } from '../gpu/buffers.js';
import { ReadbackRing } from '../gpu/readback-ring.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import type { AdamHyper } from '../kernels/adam.js';
import { CompiledGraph } from '../graph/executor.js';
import { Batcher, CyclicBatcher } from '../data/batches.js';
import { binarizeInto } from '../data/idx.js';
import { createRng, deriveSeed } from '../data/rng.js';
import type { OptimizerStateInput, OptimizerState } from '../checkpoint/checkpoint.js';
import { DEFAULT_LR, Optimizer, type ParamGroup } from '../optim/optimizer.js';
import { checkSchedule, learningRateAt, type LrSchedule } from '../optim/schedule.js';
import { buildModelGraph, METRICS_STATE, type ModelGraph } from './build.js';
import { Evaluator, hyperAt, type LogLikelihoodOptions } from './evaluator.js';
import { checkDataset, writeFeeds, type BatchData, type Dataset } from './feeds.js';
import { metricsFrom, type Metrics } from './metrics.js';
import type { VaeModel } from './model.js';
import { kindsOf } from './kinds.js';
import type { DataSizes } from './sections.js';

export type { Dataset, BatchData } from './feeds.js';
export type { Metrics } from './metrics.js';

/**
 * Options of {@link Trainer.create}: the batch size, Adam's hyperparameters (lr default 1e-3,
 * beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0, maxNorm off), the schedule, parameter groups,
 * and how steps are pipelined. Note `decoupled` defaults to false here: classic Adam with L2
 * weight decay, as torch.optim.Adam (true gives AdamW). A step whose gradients are not finite is
 * skipped on the GPU (the weights and moments stay as they were).
 */
export interface TrainerOptions extends Omit<AdamHyper, 'skipNonFinite'> {
  /** Rows per step, an integer >= 1 (default 128); evaluation uses it too. */
  batchSize?: number;
  /**
   * Rows of the labeled stream per step for objectives that read one (M2: labeled rows beside
   * batchSize unlabeled ones), an integer >= 1 (default batchSize).
   */
  labeledBatchSize?: number;
  /** Learning-rate schedule over the run (default constant); fit() tells it the run's length. */
  schedule?: LrSchedule;
  /** Parameter groups: frozen, or with their own lr / weight decay (first match wins). */
  groups?: readonly ParamGroup[];
  /** Seed of the posterior noise (default 0); with the model seed it fixes a run. */
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

export interface StepReport extends Metrics {
  /** The last step (1-based) the window includes. */
  step: number;
  /** The learning rate of the last submitted step when the report was made. */
  lr: number;
  /** Steps of the window skipped for a non-finite gradient (its metrics then hold NaN or Inf). */
  skipped: number;
}

/** Steps skipped for a non-finite gradient: weights and optimizer moments stayed as they were. */
export interface SkipReport {
  /** How many steps were skipped, among steps first..last (1-based; first = last for one). */
  count: number;
  first: number;
  last: number;
}

/** What {@link Trainer.fit} reports after each epoch (and returns, one per epoch). */
export interface EpochReport {
  /** The epoch, 1-based. */
  epoch: number;
  /** Per-example averages over the epoch's training steps (each with the weights of its step). */
  train: Metrics;
  /** {@link Trainer.evaluate} on FitOptions.test after the epoch; undefined without a test set. */
  test: Metrics | undefined;
  /** Wall-clock seconds of the epoch's training steps (GPU included; the test evaluation not). */
  seconds: number;
  /** Training steps of the epoch per second of `seconds`. */
  stepsPerSecond: number;
  /** Steps of this epoch skipped for a non-finite gradient (left out of `train`). */
  skipped: number;
}

/** Options of {@link Trainer.fit}. */
export interface FitOptions {
  /** Passes over the training set, an integer >= 0. */
  epochs: number;
  /** Evaluated after every epoch (EpochReport.test). */
  test?: Dataset;
  /** Shuffle seed (default: the trainer's seed). */
  shuffleSeed?: number;
  /**
   * 'dynamic': each batch is a fresh Bernoulli draw of the images (values in [0, 1] are the
   * probabilities of 1), seeded from the shuffle seed; 'none' (default): the values as they are.
   */
  binarize?: 'none' | 'dynamic';
  /** Drop the last partial batch (default false, like PyTorch's DataLoader). */
  dropLast?: boolean;
  /**
   * Steps of this run already taken (resuming it with the same data, batch size, seed and
   * dropLast; default 0): training starts at epoch ⌊startStep / stepsPerEpoch⌋ + 1, at that
   * batch of its order, and `epochs` counts the whole run. A resumed trainer passes its `step`.
   */
  startStep?: number;
  /**
   * Called with the per-example averages of a window of steps as each metric readback arrives
   * (asynchronously: it never blocks a step, and one window may cover several steps when the
   * readbacks lag or readEvery > 1). Not called after fit() returns.
   */
  onStep?: (report: StepReport) => void;
  /** Called when a readback shows skipped steps (a non-finite gradient; see SkipReport). */
  onSkip?: (report: SkipReport) => void;
  /** Called after each epoch, with the test metrics when a test set is given. */
  onEpoch?: (report: EpochReport) => void;
  /** Called after each submitted step with its number (progress bars). */
  onSubmit?: (step: number, epoch: number, stepInEpoch: number, stepsPerEpoch: number) => void;
  /** Checked before each step: once aborted, fit() rejects with the signal's reason. */
  signal?: AbortSignal;
}

interface TrainGraph {
  mg: ModelGraph;
  cg: CompiledGraph;
  /** Byte ranges of the gradients this graph never writes (cleared every step, never stale). */
  unreached: { offset: number; size: number }[];
}

/**
 * Trains a {@link VaeModel} with Adam on the GPU. A step is one submit (the batch's inputs, the
 * compiled forward and backward graph, the optimizer) that never waits for a readback: the
 * objective's metrics are summed on the GPU and read back asynchronously. The model's config
 * decides everything the graph computes (objective, posterior, condition). The model stays the
 * caller's; {@link Trainer.destroy} frees what the trainer made.
 *
 * @example
 * ```ts
 * const model = VaeModel.create(rt, mlpVaePreset(20), { seed: 1 });
 * const trainer = await Trainer.create(model, { batchSize: 128, lr: 1e-3 });
 * const reports = await trainer.fit(train, {
 *   epochs: 10,
 *   test,
 *   binarize: 'dynamic',
 *   onEpoch: (r) => console.log(r.epoch, r.test && formatMetrics(r.test)),
 * });
 * const bytes = await model.toCheckpoint(await trainer.optimizerState()); // to resume later
 * trainer.destroy();
 * ```
 */
export class Trainer {
  /** Rows per full step (TrainerOptions.batchSize). */
  readonly batchSize: number;
  /** Rows of the labeled stream per step, for objectives that read one (M2). */
  readonly labeledBatchSize: number;
  /** The training data's sizes while fit() runs (per-step hyperparameters such as M2's α). */
  private dataSizes: DataSizes | undefined;
  private readonly baseLr: number;
  private lr: number;
  private readonly schedule: LrSchedule;
  private scheduleContext = { stepsPerEpoch: 1, totalSteps: 1 };
  private readonly trainGraphs = new Map<number, TrainGraph>();
  private metricNames: readonly string[] = [];
  private readonly ring: ReadbackRing;
  private inFlight: Promise<unknown>[] = [];
  private readonly maxInFlight: number;
  private readonly readEvery: number;
  private windowListener: ((r: StepReport) => void) | undefined;
  private skipListener: ((r: SkipReport) => void) | undefined;
  /** The optimizer's skip count as last read back (see Optimizer.skipCountPerStep). */
  private skipCount = 0;
  private epochSums: number[] = [];
  private epochSteps = 0;
  private epochExamples = 0;
  private epochSkipped = 0;
  private destroyed = false;

  private constructor(
    readonly model: VaeModel,
    readonly optimizer: Optimizer,
    private readonly metricsAcc: BufferRange,
    readonly evaluator: Evaluator,
    readonly options: TrainerOptions,
  ) {
    this.batchSize = options.batchSize ?? 128;
    this.labeledBatchSize = options.labeledBatchSize ?? this.batchSize;
    if (!Number.isInteger(this.labeledBatchSize) || this.labeledBatchSize < 1) {
      throw new Error(
        `trainer: labeledBatchSize must be an integer >= 1, got ${this.labeledBatchSize}`,
      );
    }
    this.baseLr = options.lr ?? DEFAULT_LR;
    this.lr = this.baseLr;
    this.schedule = checkSchedule(options.schedule ?? { kind: 'constant' });
    this.maxInFlight = options.maxInFlight ?? 2;
    this.readEvery = options.readEvery ?? 1;
    this.ring = new ReadbackRing(
      model.rt,
      this.metricsAcc,
      options.readbackRing ?? 4,
      `${model.label}.metrics`,
      ({ sums, steps, examples, lastStep, tail }) => {
        const count = tail[0]!;
        const per = optimizer.skipCountPerStep;
        const skipped = per > 0 ? Math.round((count - this.skipCount) / per) : 0;
        this.skipCount = count;
        if (skipped > 0) {
          // The window's sums hold the skipped steps' non-finite values: left out of the epoch.
          this.epochSkipped += skipped;
          this.skipListener?.({ count: skipped, first: lastStep - steps + 1, last: lastStep });
        } else {
          sums.forEach((v, i) => (this.epochSums[i] = (this.epochSums[i] ?? 0) + v));
          this.epochSteps += steps;
          this.epochExamples += examples;
        }
        this.windowListener?.({
          ...metricsFrom(model.config, this.metricNames, sums, steps, examples),
          step: lastStep,
          lr: this.lr,
          skipped,
        });
      },
      // The optimizer's count of skipped steps (stats[1]) rides along with every readback.
      { buffer: optimizer.stats.buffer, offset: optimizer.stats.offset + 4, size: 4 },
    );
  }

  /**
   * A trainer for `model`: its optimizer (gradient buffer, Adam moments at zero, step 0) and its
   * evaluator. The training graph compiles on the first step, or ahead with {@link Trainer.prepare}
   * (fit() does it).
   *
   * @throws Error naming the option when batchSize, maxInFlight, readbackRing or readEvery is not
   *   an integer >= 1, the schedule is invalid, an Adam hyperparameter is out of range, or a group
   *   has a bad lr or weight decay or selects no parameter.
   */
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
    const optimizer = await Optimizer.create(
      rt,
      { buffer: model.params, offset: 0, size: model.flatSize * 4 },
      model.flatSize,
      model.flatParams(),
      { ...options, label: model.label },
    );
    // Sized by the first graph's metrics; every training graph of a model has the same ones.
    const probe = buildModelGraph(model.config, { batch: 1, training: false, seed: 0 });
    const metrics = rt.buffers.storage(`${model.label}.metrics`, 4 * probe.metrics.length);
    const evaluator = new Evaluator(model, {
      batchSize,
      seed: options.seed ?? 0,
      ...(options.matmulVariant ? { matmulVariant: options.matmulVariant } : {}),
    });
    const trainer = new Trainer(model, optimizer, metrics, evaluator, options);
    trainer.metricNames = probe.metrics.map((m) => m.name);
    return trainer;
  }

  /** Optimizer steps taken so far. */
  get step(): number {
    return this.optimizer.step;
  }

  /** The learning rate of the last submitted step (the schedule applied; lr before any step). */
  get learningRate(): number {
    return this.lr;
  }

  /** Names of the metrics every report carries (loss first; not the '_' denominators). */
  get metrics(): readonly string[] {
    return this.metricNames.filter((name) => !name.startsWith('_'));
  }

  /** Sets how the schedules count (fit() does this from the data size and epochs). */
  setScheduleContext(stepsPerEpoch: number, totalSteps: number): void {
    this.scheduleContext = { stepsPerEpoch, totalSteps };
  }

  /** Called with per-window averages as readbacks arrive (never blocks a step). */
  onMetrics(listener: ((r: StepReport) => void) | undefined): void {
    this.windowListener = listener;
  }

  /** Called when a readback shows steps skipped for a non-finite gradient. */
  onSkip(listener: ((r: SkipReport) => void) | undefined): void {
    this.skipListener = listener;
  }

  private async trainGraph(rows: number): Promise<TrainGraph> {
    let g = this.trainGraphs.get(rows);
    if (g) return g;
    const mg = buildModelGraph(this.model.config, {
      batch: rows,
      labeledBatch: this.labeledBatchSize,
      training: true,
      seed: this.options.seed ?? 0,
      trainable: (name) => this.optimizer.trains(name),
    });
    const cg = await CompiledGraph.compile(this.model.rt, mg.graph, {
      params: this.model.paramBuffers(this.optimizer.grads.buffer),
      external: new Map([[METRICS_STATE, this.metricsAcc]]),
      ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
      label: `${this.model.label}.train${rows}`,
    });
    const written = new Set(mg.paramGrads.map((t) => t.gradOf!.name));
    const unreached = [...this.model.layout.values()]
      .filter((e) => !written.has(e.spec.name))
      .map((e) => ({ offset: e.offset, size: 4 * e.shape.reduce((a, b) => a * b, 1) }));
    g = { mg, cg, unreached };
    this.trainGraphs.set(rows, g);
    return g;
  }

  /** Compiles the graph for batches of `rows` ahead of time (fit() does it for you). */
  async prepare(rows = this.batchSize): Promise<void> {
    await this.trainGraph(rows);
  }

  /**
   * One training step on `rows` examples: `batch` is the images ((rows, D) row-major) or the
   * images with their labels (and, for M2, `labeled`: labeledBatchSize labeled rows). A single
   * submit; waits only when maxInFlight steps are already running on the GPU.
   */
  async trainStep(batch: Float32Array | BatchData, rows = this.batchSize): Promise<void> {
    return this.runStep(batch, rows, undefined);
  }

  /** trainStep, with where the step is in a fit() run for error messages. */
  private async runStep(
    batch: Float32Array | BatchData,
    rows: number,
    where: string | undefined,
  ): Promise<void> {
    this.checkAlive();
    const data: BatchData = batch instanceof Float32Array ? { images: batch } : batch;
    const D = this.model.config.inputSize;
    if (!Number.isInteger(rows) || rows < 1 || rows > this.batchSize) {
      throw new Error(`trainer: rows must be an integer in [1, ${this.batchSize}], got ${rows}`);
    }
    if (data.images.length < rows * D) {
      throw new Error(
        `trainer: batch holds ${data.images.length} values, ${rows} rows of ${D} need ${rows * D}`,
      );
    }
    const stepIndex = this.optimizer.step; // 0-based index of this step
    const doing = `training step ${stepIndex + 1}${where ? ` (${where})` : ''}`;
    const g = await this.gpuPhase(doing, () => this.trainGraph(rows));
    if (g.mg.feeds.some((f) => f.stream === 'labeled')) {
      const L = this.labeledBatchSize;
      const labeled = data.labeled;
      if (!labeled?.labels || labeled.images.length < L * D || labeled.labels.length < L) {
        throw new Error(
          `trainer: objective '${this.model.config.objective.kind}' needs the step's labeled rows ` +
            `(batch.labeled: ${L} rows of images and labels)`,
        );
      }
    }
    while (this.inFlight.length >= this.maxInFlight) {
      const oldest = this.inFlight.shift();
      await this.gpuPhase(doing, async () => oldest);
    }
    this.checkGpu(doing);
    const rt = this.model.rt;
    this.lr = learningRateAt(this.schedule, this.baseLr, stepIndex, this.scheduleContext);
    writeFeeds(g.cg, g.mg.feeds, data, 0, rows);
    g.cg.write(
      g.mg.hyper,
      Float32Array.from(hyperAt(this.model.config, stepIndex, this.dataSizes)),
    );
    g.cg.update({ step: stepIndex });
    this.optimizer.setStep(this.lr);
    const encoder = rt.device.createCommandEncoder({ label: `${this.model.label}.step` });
    const grads = this.optimizer.grads;
    for (const r of g.unreached) encoder.clearBuffer(grads.buffer, grads.offset + r.offset, r.size);
    const pass = encoder.beginComputePass({ label: `${this.model.label}.step` });
    g.cg.encode(pass);
    this.optimizer.program.encode(pass);
    // The update made the texture packs of the weights stale: record them here, once per step.
    this.model.packs.encodeStale(pass);
    pass.end();
    const copyNow = (stepIndex + 1) % this.readEvery === 0;
    const afterSubmit = this.ring.record(encoder, rows, stepIndex + 1, copyNow);
    rt.noteSubmitted([...g.cg.dispatches, this.optimizer.program]);
    rt.device.queue.submit([encoder.finish()]);
    afterSubmit?.();
    this.optimizer.advance();
    this.inFlight.push(rt.device.queue.onSubmittedWorkDone());
  }

  /** Waits for every submitted step and every metric readback. */
  async flush(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = [];
    await this.gpuPhase(`finishing training step ${this.step}`, async () => {
      await Promise.all(pending);
      await this.ring.flush();
    });
  }

  /**
   * Runs a phase that waits on the GPU; a failure (or a device found lost) becomes an error that
   * names the phase and, for a lost device, the work submitted last.
   */
  private async gpuPhase<T>(doing: string, phase: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await phase();
    } catch (e) {
      throw this.gpuFailure(doing, e);
    }
    this.checkGpu(doing);
    return result;
  }

  /** Throws when the device is lost or a readback failed. */
  private checkGpu(doing: string): void {
    const failed = this.ring.error;
    if (failed || this.model.rt.isLost) throw this.gpuFailure(doing, failed);
  }

  private gpuFailure(doing: string, cause: unknown): Error {
    if (cause instanceof TrainingError) return cause;
    const lost = this.model.rt.lossReport();
    const text =
      cause instanceof Error
        ? cause.message || cause.name
        : cause === undefined
          ? 'failed'
          : String(cause);
    return new TrainingError(`${doing}: ${lost ?? text}`, { cause });
  }

  /**
   * Trains for `epochs` over shuffled batches (a partial last batch included unless dropLast);
   * per-epoch train metrics and test evaluation. Sets the schedule's context from the data size
   * and the epochs.
   *
   * @returns One report per epoch.
   * @throws Error when the datasets do not fit the model (see {@link Dataset}), epochs is not an
   *   integer >= 0 or the training set makes no batch; the signal's reason when it aborts; a
   *   {@link TrainingError} naming the step when the GPU fails (a lost device, a failed readback).
   */
  async fit(train: Dataset, options: FitOptions): Promise<EpochReport[]> {
    this.checkAlive();
    const config = this.model.config;
    const D = config.inputSize;
    checkDataset('train', train, config);
    if (options.test) checkDataset('test', options.test, config);
    if (!Number.isInteger(options.epochs) || options.epochs < 0) {
      throw new Error(`fit: epochs must be an integer >= 0, got ${options.epochs}`);
    }
    const batcher = new Batcher(train.images.subarray(0, train.count * D), D, {
      batchSize: this.batchSize,
      seed: options.shuffleSeed ?? this.options.seed ?? 0,
      dropLast: options.dropLast ?? false,
      ...(train.labels ? { labels: train.labels } : {}),
    });
    const stepsPerEpoch = batcher.batchesPerEpoch;
    if (stepsPerEpoch < 1)
      throw new Error(`fit: ${train.count} examples make no batch of ${this.batchSize}`);
    const totalSteps = stepsPerEpoch * options.epochs;
    const startStep = options.startStep ?? 0;
    if (!Number.isSafeInteger(startStep) || startStep < 0 || startStep > totalSteps) {
      throw new Error(
        `fit: startStep must be an integer in [0, ${totalSteps}] (${options.epochs} epochs of ${stepsPerEpoch} steps), got ${startStep}`,
      );
    }
    this.setScheduleContext(stepsPerEpoch, totalSteps);
    // Dynamic binarization: a draw per (epoch, batch), so a resumed run draws what it would have.
    const binarizeSeed = (options.shuffleSeed ?? this.options.seed ?? 0) + 1;
    const binarized =
      options.binarize === 'dynamic' ? new Float32Array(this.batchSize * D) : undefined;
    // Objectives that read a labeled stream (M2) get train.labeled (or, without it, every
    // training example) beside each batch, cycled at its own pace: step s's labeled rows are a
    // pure function of (seed, s), so a resumed run draws them again.
    const semi = kindsOf(config).objective.rows !== undefined;
    const labeledSet = semi ? (train.labeled ?? train) : undefined;
    const shuffleSeed = options.shuffleSeed ?? this.options.seed ?? 0;
    const labeledStream = labeledSet
      ? new CyclicBatcher(
          labeledSet.images.subarray(0, labeledSet.count * D),
          D,
          this.labeledBatchSize,
          deriveSeed(shuffleSeed, LABELED_STREAM),
          labeledSet.labels,
        )
      : undefined;
    const labeledBinarized =
      labeledStream && binarized ? new Float32Array(this.labeledBatchSize * D) : undefined;
    if (labeledSet) {
      this.dataSizes = {
        examples: train.count + (train.labeled?.count ?? 0),
        labeled: labeledSet.count,
      };
    }
    await this.prepare(this.batchSize);
    const reports: EpochReport[] = [];
    this.onMetrics(options.onStep);
    this.onSkip(options.onSkip);
    const firstEpoch = Math.floor(startStep / stepsPerEpoch) + 1;
    try {
      for (let epoch = firstEpoch; epoch <= options.epochs; epoch++) {
        const started = performance.now();
        this.epochSums = [];
        this.epochSteps = 0;
        this.epochExamples = 0;
        this.epochSkipped = 0;
        batcher.startEpoch(epoch - 1);
        if (epoch === firstEpoch) batcher.skip(startStep % stepsPerEpoch);
        const firstBatch = batcher.batchInEpoch;
        let rows: number;
        let stepInEpoch = firstBatch;
        while ((rows = batcher.next()) > 0) {
          // Checked between steps: the running step always completes.
          if (options.signal?.aborted) throw abortReason(options.signal, this.step + 1);
          let images = batcher.batch;
          if (binarized) {
            const rng = createRng(deriveSeed(binarizeSeed, epoch - 1, stepInEpoch));
            binarizeInto(batcher.batch, binarized, rng, rows * D);
            images = binarized;
          }
          let labeled: BatchData | undefined;
          if (labeledStream) {
            labeledStream.fill(this.step);
            let labeledImages = labeledStream.batch;
            if (labeledBinarized) {
              const rng = createRng(deriveSeed(binarizeSeed, LABELED_STREAM, this.step));
              binarizeInto(labeledImages, labeledBinarized, rng, labeledImages.length);
              labeledImages = labeledBinarized;
            }
            labeled = { images: labeledImages, labels: labeledStream.batchLabels };
          }
          const where = `epoch ${epoch}, batch ${stepInEpoch + 1} of ${stepsPerEpoch}`;
          await this.runStep({ images, labels: batcher.batchLabels, labeled }, rows, where);
          stepInEpoch++;
          options.onSubmit?.(this.step, epoch, stepInEpoch, stepsPerEpoch);
        }
        await this.flush();
        const seconds = (performance.now() - started) / 1000;
        const trainMetrics = metricsFrom(
          config,
          this.metricNames,
          this.epochSums,
          this.epochSteps,
          this.epochExamples,
        );
        const testSet = options.test;
        const test = testSet
          ? await this.gpuPhase(`evaluating the test set after epoch ${epoch}`, () =>
              this.evaluate(testSet),
            )
          : undefined;
        const report: EpochReport = {
          epoch,
          train: trainMetrics,
          test,
          seconds,
          stepsPerSecond: (stepInEpoch - firstBatch) / seconds,
          skipped: this.epochSkipped,
        };
        reports.push(report);
        options.onEpoch?.(report);
      }
    } finally {
      this.onMetrics(undefined);
      this.onSkip(undefined);
    }
    return reports;
  }

  /** The objective's metrics per example over a dataset (see Evaluator.evaluate). */
  async evaluate(data: Dataset, batchSize = this.batchSize): Promise<Metrics> {
    this.checkAlive();
    await this.flush();
    return this.evaluator.evaluate(data, batchSize);
  }

  /** Importance-sampled log p(x) (see Evaluator.logLikelihood). */
  async logLikelihood(
    data: Dataset,
    options: LogLikelihoodOptions,
  ): Promise<{ logPx: number; perExample: Float64Array }> {
    this.checkAlive();
    await this.flush();
    return this.evaluator.logLikelihood(data, options);
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
      step: this.step,
      moments: {
        m: toTensors(await this.model.readFlat(this.optimizer.m.buffer)),
        v: toTensors(await this.model.readFlat(this.optimizer.v.buffer)),
      },
      hyper: {
        lr: this.baseLr,
        beta1: this.options.beta1 ?? 0.9,
        beta2: this.options.beta2 ?? 0.999,
        eps: this.options.eps ?? 1e-8,
        weightDecay: this.options.weightDecay ?? 0,
        decoupled: this.options.decoupled ?? false,
        schedule: this.schedule,
      },
    };
  }

  /** Restores the optimizer's moments and step count from a checkpoint (to resume training). */
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
      const target = moment === 'm' ? this.optimizer.m : this.optimizer.v;
      this.model.rt.device.queue.writeBuffer(target.buffer, target.offset, flat);
    }
    this.optimizer.restoreStep(state.step);
  }

  /** What one step holds on the GPU besides the weights. */
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
  compiledTrainGraph(): { mg: ModelGraph; cg: CompiledGraph } | undefined {
    return this.trainGraphs.get(this.batchSize);
  }

  /**
   * Frees the compiled graphs, the optimizer's buffers, the evaluator and the metric buffers (not
   * the model). Idempotent; trainStep, fit, evaluate and logLikelihood throw afterwards.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const g of this.trainGraphs.values()) g.cg.destroy();
    this.evaluator.destroy();
    this.optimizer.destroy();
    this.ring.destroy();
    this.model.rt.buffers.destroy(this.metricsAcc.buffer);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('trainer was destroyed');
  }
}

function abortReason(signal: AbortSignal, nextStep: number): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`fit: aborted before step ${nextStep}`);
}

/** Stream number of the labeled examples' order and binarization (derived from the seed). */
const LABELED_STREAM = 0x1abe1;

/** A failure while training on the GPU, naming the step or phase (and a lost device's last work). */
export class TrainingError extends Error {
  override name = 'TrainingError';
}
