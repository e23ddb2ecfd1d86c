// The VQ-VAE's second stage: the learned prior over a vq model's code indices (the 'made' prior,
// prior/made.ts), trained on the GPU and sampled from on the GPU.
//
// Training (PriorTrainer): a graph of its own over the prior's tensors only (codes (B, P) in,
// the MADE, the softmax cross-entropy per position, the objective), planned once per batch size and
// replayed: a step writes the batch's codes and records the graph and Adam into one compute pass
// and one submit; the loss is summed on the GPU and read back asynchronously through a ring of
// staging buffers, as the VAE's Trainer does. The optimizer covers the model's flat buffer with
// every tensor but the prior's excluded (the VAE's weights stay as they are), so the VAE's
// Trainer is untouched: the prior's tensors are non-parameter tensors to it.
//
// Sampling (PriorSampler): one graph (codes (R, P) in, the MADE, categorical_sample writing column
// position[0] of the codes in place, then position += 1) planned once and recorded P times into one
// compute pass: pass p draws position p from logits that depend only on the positions before it,
// which earlier passes have drawn. One submit, no GPU objects and no CPU work per pass.
import type { BufferRange } from '../gpu/buffers.js';
import { readFloats } from '../gpu/buffers.js';
import { ReadbackRing } from '../gpu/readback-ring.js';
import { CompiledGraph } from '../graph/executor.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { categoricalSample } from '../graph/ops/categorical.js';
import { objective } from '../graph/ops/objective.js';
import { softmaxCrossEntropy } from '../graph/ops/softmax.js';
import { addIntoOp, total, view } from '../graph/ops/util.js';
import { Batcher } from '../data/batches.js';
import { DEFAULT_LR, Optimizer } from '../optim/optimizer.js';
import { parameterSpecs, type ResolvedVaeConfig } from './config.js';
import type { VaeModel } from './model.js';
import { codeShape, madeLogits, type CodeShape, type MadePriorConfig } from './prior/made.js';

/** The prior's tensors are named `prior.*` in the model (and its checkpoint). */
export const PRIOR_PREFIX = 'prior.';

/** The made prior of a vq model and its code shape, or an error naming what is missing. */
export function madePriorOf(
  config: ResolvedVaeConfig,
  fn: string,
): { prior: MadePriorConfig; shape: CodeShape } {
  if (config.posterior.kind !== 'vq') {
    throw new Error(
      `${fn}: a learned prior models the codes of a 'vq' posterior; this model's is '${config.posterior.kind}'`,
    );
  }
  if (config.prior.kind !== 'made') {
    throw new Error(
      `${fn}: the model has no learned prior over its codes (prior '${config.prior.kind}'); ` +
        "give it prior { kind: 'made' } and train one (train-prior, PriorTrainer)",
    );
  }
  return { prior: config.prior, shape: codeShape(config) };
}

/** Declares the prior's tensors in `g` (trainable in a training graph). */
function priorParams(g: Graph, config: ResolvedVaeConfig, trainable: boolean): void {
  for (const spec of parameterSpecs(config)) {
    if (spec.name.startsWith(PRIOR_PREFIX)) g.param(spec.name, spec.shape, trainable);
  }
}

/** Checks codes: n rows of P integer-valued floats in [0, K). */
export function checkCodes(fn: string, codes: Float32Array, shape: CodeShape): number {
  const { positions: P, codes: K } = shape;
  if (!(codes instanceof Float32Array) || codes.length === 0 || codes.length % P !== 0) {
    throw new Error(
      `${fn}: codes must be a Float32Array of rows of ${P} code indices, got ${codes.length} values`,
    );
  }
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= K) {
      throw new Error(`${fn}: codes[${i}] is ${c}, not a code index in [0, ${K})`);
    }
  }
  return codes.length / P;
}

export interface PriorGraph {
  graph: Graph;
  codes: Tensor;
  /** (rows, P·K): position p's K logits at columns p·K … p·K + K − 1. */
  logits: Tensor;
  /** (1): the batch sum of −log p(codes) in nats. */
  loss: Tensor;
  metrics: Tensor;
}

/** codes (rows, P) -> the batch sum of the cross-entropy per position; with `training`, backward. */
export function buildPriorGraph(
  config: ResolvedVaeConfig,
  rows: number,
  training: boolean,
): PriorGraph {
  const { prior, shape } = madePriorOf(config, 'prior graph');
  const { positions: P, codes: K } = shape;
  const g = new Graph();
  priorParams(g, config, training);
  const codes = g.input('codes', [rows, P]);
  const hyper = g.input('hyper', [1]);
  const logits = madeLogits(g, (n) => g.paramNamed(n), prior, shape, codes, training);
  const ce = softmaxCrossEntropy(
    g,
    'prior.nll',
    view(g, logits, [rows * P, K], 'prior.logits.codes'),
    { labels: view(g, codes, [rows * P], 'prior.labels') },
  );
  const nll = total(g, ce, 'prior.nll_sum');
  // Mean over the batch's codes for the gradient; the loss itself stays the batch sum.
  const loss = objective(g, hyper, [{ name: 'nll', weight: 1, value: nll }], 1 / (rows * P));
  const metrics = g.state('prior.metrics', [1]);
  g.add(addIntoOp, 'prior.metrics.nll', { x: loss }, { acc: metrics }, { offset: 0 });
  loss.keep = true;
  logits.keep = true;
  if (training) g.backward();
  return { graph: g, codes, logits, loss, metrics };
}

/** Options of {@link PriorTrainer.create}. */
export interface PriorTrainerOptions {
  /** Code sequences per step, an integer >= 1 (default 128). */
  batchSize?: number;
  /** Adam's learning rate (default 1e-3). */
  lr?: number;
  /** Shuffle seed (default 0). */
  seed?: number;
  /** Steps submitted but not finished before a step waits (default 2). */
  maxInFlight?: number;
}

/** What {@link PriorTrainer.fit} reports after each epoch. */
export interface PriorEpochReport {
  epoch: number;
  /** Mean −log₂ p(code | earlier codes) over the epoch's training codes (weights of each step). */
  trainBits: number;
  /** The same on the test codes after the epoch, when given. */
  testBits: number | undefined;
  seconds: number;
}

const LN2 = Math.log(2);

/**
 * Trains a vq model's 'made' prior on code sequences (n, P) with Adam on the GPU: one submit per
 * step, the loss read back asynchronously. Only the prior's tensors change.
 *
 * @example
 * ```ts
 * const { codes } = await VaeInference.create(model).encode(train.images); // (n, P) indices
 * const trainer = await PriorTrainer.create(model, { batchSize: 128, lr: 1e-3 });
 * await trainer.fit(codes, { epochs: 10, onEpoch: (r) => console.log(r.trainBits) });
 * trainer.destroy();
 * ```
 */
export class PriorTrainer {
  readonly batchSize: number;
  readonly shape: CodeShape;
  private readonly graphs = new Map<number, { pg: PriorGraph; cg: CompiledGraph }>();
  private readonly evalGraphs = new Map<number, { pg: PriorGraph; cg: CompiledGraph }>();
  private readonly ring: ReadbackRing;
  private inFlight: Promise<unknown>[] = [];
  private sum = 0;
  private examples = 0;
  private destroyed = false;

  private constructor(
    readonly model: VaeModel,
    readonly optimizer: Optimizer,
    private readonly metrics: BufferRange,
    private readonly evalMetrics: BufferRange,
    private readonly options: PriorTrainerOptions,
  ) {
    this.batchSize = options.batchSize ?? 128;
    this.shape = madePriorOf(model.config, 'prior trainer').shape;
    this.ring = new ReadbackRing(
      model.rt,
      metrics,
      4,
      `${model.label}.prior.metrics`,
      ({ sums, examples }) => {
        this.sum += sums[0]!;
        this.examples += examples;
      },
    );
  }

  /**
   * A trainer for the 'made' prior of a vq model (its Adam state at zero).
   *
   * @throws Error when the model has no made prior over vq codes, or an option is out of range.
   */
  static async create(model: VaeModel, options: PriorTrainerOptions = {}): Promise<PriorTrainer> {
    madePriorOf(model.config, 'prior trainer');
    for (const [name, value] of [
      ['batchSize', options.batchSize],
      ['maxInFlight', options.maxInFlight],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new Error(`prior trainer: ${name} must be an integer >= 1, got ${value}`);
      }
    }
    const lr = options.lr ?? DEFAULT_LR;
    if (!(Number.isFinite(lr) && lr > 0)) {
      throw new Error(`prior trainer: lr must be a finite number > 0, got ${lr}`);
    }
    const rt = model.rt;
    // Everything but the prior is excluded, as the VAE's non-parameter tensors are.
    const flat = model.flatParams().map((p) => ({
      name: p.name,
      offset: p.offset,
      size: p.size,
      buffer: !p.name.startsWith(PRIOR_PREFIX),
    }));
    const optimizer = await Optimizer.create(
      rt,
      { buffer: model.params, offset: 0, size: model.flatSize * 4 },
      model.flatSize,
      flat,
      { lr, label: `${model.label}.prior` },
    );
    const metrics = rt.buffers.storage(`${model.label}.prior.metrics`, 4);
    const evalMetrics = rt.buffers.storage(`${model.label}.prior.eval`, 4);
    return new PriorTrainer(model, optimizer, metrics, evalMetrics, options);
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.optimizer.step;
  }

  private async graph(rows: number, training: boolean) {
    const cache = training ? this.graphs : this.evalGraphs;
    let e = cache.get(rows);
    if (e) return e;
    const pg = buildPriorGraph(this.model.config, rows, training);
    const cg = await CompiledGraph.compile(this.model.rt, pg.graph, {
      params: this.model.paramBuffers(training ? this.optimizer.grads.buffer : undefined),
      external: new Map([['prior.metrics', training ? this.metrics : this.evalMetrics]]),
      label: `${this.model.label}.prior.${training ? 'train' : 'eval'}${rows}`,
    });
    e = { pg, cg };
    cache.set(rows, e);
    return e;
  }

  /** One step on `rows` code sequences (codes (rows, P) row-major); waits only for the GPU's pace. */
  async trainStep(codes: Float32Array, rows: number): Promise<void> {
    this.checkAlive();
    const P = this.shape.positions;
    if (!Number.isInteger(rows) || rows < 1 || rows > this.batchSize) {
      throw new Error(
        `prior trainer: rows must be an integer in [1, ${this.batchSize}], got ${rows}`,
      );
    }
    if (codes.length < rows * P) {
      throw new Error(
        `prior trainer: the batch holds ${codes.length} codes, ${rows} rows of ${P} need ${rows * P}`,
      );
    }
    const { cg, pg } = await this.graph(rows, true);
    while (this.inFlight.length >= (this.options.maxInFlight ?? 2)) await this.inFlight.shift();
    const rt = this.model.rt;
    cg.write(pg.codes, codes.subarray(0, rows * P));
    this.optimizer.setStep(this.options.lr ?? DEFAULT_LR);
    const encoder = rt.device.createCommandEncoder({ label: `${this.model.label}.prior.step` });
    const pass = encoder.beginComputePass({ label: `${this.model.label}.prior.step` });
    cg.encode(pass);
    this.optimizer.program.encode(pass);
    this.model.packs.encodeStale(pass);
    pass.end();
    const afterSubmit = this.ring.record(encoder, rows, this.optimizer.step + 1, true);
    rt.device.queue.submit([encoder.finish()]);
    afterSubmit?.();
    this.optimizer.advance();
    this.inFlight.push(rt.device.queue.onSubmittedWorkDone());
  }

  /** Waits for every submitted step and every loss readback. */
  async flush(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = [];
    await Promise.all(pending);
    await this.ring.flush();
  }

  /**
   * Trains on code sequences (n, P) for `epochs` shuffled passes (a partial last batch included).
   *
   * @throws Error naming the bad code or option.
   */
  async fit(
    codes: Float32Array,
    options: {
      epochs: number;
      test?: Float32Array;
      onEpoch?: (r: PriorEpochReport) => void;
      onSubmit?: (step: number, stepInEpoch: number, stepsPerEpoch: number) => void;
      signal?: AbortSignal;
    },
  ): Promise<PriorEpochReport[]> {
    this.checkAlive();
    checkCodes('prior fit', codes, this.shape);
    if (options.test) checkCodes('prior fit: test', options.test, this.shape);
    if (!Number.isInteger(options.epochs) || options.epochs < 0) {
      throw new Error(`prior fit: epochs must be an integer >= 0, got ${options.epochs}`);
    }
    const batcher = new Batcher(codes, this.shape.positions, {
      batchSize: this.batchSize,
      seed: this.options.seed ?? 0,
      dropLast: false,
    });
    const reports: PriorEpochReport[] = [];
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const started = performance.now();
      this.sum = 0;
      this.examples = 0;
      batcher.startEpoch(epoch - 1);
      let rows: number;
      let inEpoch = 0;
      while ((rows = batcher.next()) > 0) {
        if (options.signal?.aborted) {
          throw options.signal.reason instanceof Error
            ? options.signal.reason
            : new Error(`prior fit: aborted before step ${this.step + 1}`);
        }
        await this.trainStep(batcher.batch, rows);
        options.onSubmit?.(this.step, ++inEpoch, batcher.batchesPerEpoch);
      }
      await this.flush();
      const trainBits = this.sum / (this.examples * this.shape.positions * LN2);
      const seconds = (performance.now() - started) / 1000;
      const testBits = options.test ? await this.evaluate(options.test) : undefined;
      const report = { epoch, trainBits, testBits, seconds };
      reports.push(report);
      options.onEpoch?.(report);
    }
    return reports;
  }

  /** Mean −log₂ p(code | earlier codes) per code over code sequences (n, P). */
  async evaluate(codes: Float32Array): Promise<number> {
    this.checkAlive();
    const n = checkCodes('prior evaluate', codes, this.shape);
    await this.flush();
    const rt = this.model.rt;
    rt.device.queue.writeBuffer(
      this.evalMetrics.buffer,
      this.evalMetrics.offset,
      new Float32Array(1),
    );
    const P = this.shape.positions;
    for (let start = 0; start < n; start += this.batchSize) {
      const rows = Math.min(this.batchSize, n - start);
      const { cg, pg } = await this.graph(rows, false);
      cg.write(pg.codes, codes.subarray(start * P, (start + rows) * P));
      rt.submit(cg.dispatches, `${this.model.label}.prior.eval`);
    }
    const [sum] = await readFloats(rt.device, this.evalMetrics);
    return sum! / (n * P * LN2);
  }

  /** Frees the graphs, the optimizer and the loss buffers (not the model). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const { cg } of [...this.graphs.values(), ...this.evalGraphs.values()]) cg.destroy();
    this.optimizer.destroy();
    this.ring.destroy();
    this.model.rt.buffers.destroy(this.metrics.buffer);
    this.model.rt.buffers.destroy(this.evalMetrics.buffer);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('prior trainer was destroyed');
  }
}

/**
 * Ancestral sampling from a vq model's 'made' prior for a fixed number of rows, on the GPU: one
 * planned graph recorded P times into one compute pass (see the top of the file). `codes` holds
 * the drawn indices (rows, P) after {@link PriorSampler.encode}'s work has run.
 */
export class PriorSampler {
  private constructor(
    readonly rows: number,
    readonly shape: CodeShape,
    private readonly cg: CompiledGraph,
    private readonly codesTensor: Tensor,
    private readonly temperature: Tensor,
    private readonly position: Tensor,
    private readonly one: Tensor,
  ) {}

  /** Compiles the sampler of `rows` rows of the model's prior, drawing with `seed`. */
  static async create(model: VaeModel, rows: number, seed: number): Promise<PriorSampler> {
    const config = model.config;
    const { prior, shape } = madePriorOf(config, 'sample');
    const g = new Graph();
    priorParams(g, config, false);
    const codes = g.input('codes', [rows, shape.positions]);
    const temperature = g.input('temperature', [1]);
    const one = g.input('one', [1]);
    const position = g.state('position', [1]);
    const logits = madeLogits(g, (n) => g.paramNamed(n), prior, shape, codes, false);
    categoricalSample(g, 'prior.sample', { logits, temperature, position }, codes, {
      classes: shape.codes,
      seed,
      stream: 0,
    });
    // The next replay draws the next position.
    g.add(addIntoOp, 'prior.position.next', { x: one }, { acc: position }, { offset: 0 });
    const cg = await CompiledGraph.compile(model.rt, g, {
      params: model.paramBuffers(),
      label: `${model.label}.prior.sample${rows}`,
    });
    return new PriorSampler(rows, shape, cg, codes, temperature, position, one);
  }

  /** The drawn codes (rows, P), integer-valued floats. */
  get codes(): BufferRange {
    return this.cg.buffer(this.codesTensor);
  }

  /**
   * Queues this draw's inputs (temperature >= 0; a new `step` or `sample` draws new numbers) and records the P
   * passes into `encoder`, as one compute pass.
   */
  encode(encoder: GPUCommandEncoder, temperature: number, step: number, sample = 0): void {
    const cg = this.cg;
    cg.write(this.codesTensor, new Float32Array(this.rows * this.shape.positions));
    cg.write(this.temperature, Float32Array.of(temperature));
    cg.write(this.one, Float32Array.of(1));
    cg.write(this.position, Float32Array.of(0));
    cg.update({ step, sample });
    const pass = encoder.beginComputePass({ label: 'prior.sample' });
    for (let p = 0; p < this.shape.positions; p++) cg.encode(pass);
    pass.end();
  }

  /** Frees the compiled graph and its buffers. */
  destroy(): void {
    this.cg.destroy();
  }
}
