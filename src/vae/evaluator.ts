// Evaluation of a model over a dataset: the objective's metrics per example with one draw of the
// posterior (the same noise on every call), and the importance-sampled log p(x) with up to 5000
// samples per example in chunks (the IWAE bound, which tightens to log p(x) as k grows). Both
// work for every model kind: they run the graphs the model's sections build.
import { readFloats, type BufferRange } from '../gpu/buffers.js';
import { CompiledGraph } from '../graph/executor.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import { freeWhenMade, LruCache } from '../util/lru-cache.js';
import {
  buildLogWeightGraph,
  buildModelGraph,
  METRICS_STATE,
  type LogWeightGraph,
  type ModelGraph,
} from './build.js';
import { checkDataset, writeFeeds, type Dataset } from './feeds.js';
import { kindsOf } from './kinds.js';
import { metricsFrom, type Metrics } from './metrics.js';
import type { VaeModel } from './model.js';
import type { ResolvedVaeConfig } from './config.js';
import type { DataSizes } from './sections.js';

/** Options of the {@link Evaluator} constructor. */
export interface EvaluatorOptions {
  /** Rows per evaluation batch (default 128). */
  batchSize?: number;
  /** Seed of the evaluation noise (default 0). */
  seed?: number;
  /** Pin a matmul variant for every layer (default: selected per shape). */
  matmulVariant?: MatmulVariant;
}

/**
 * Options of {@link Evaluator.logLikelihood}. Graph runs take at most `chunk` samples for
 * `batchSize` rows; larger k runs several chunks whose log-weights combine on the CPU in float64.
 *
 * @example `{ k: 5000 }`: the usual log p(x) estimate (in chunks of 500 samples, 8 rows a run).
 */
export interface LogLikelihoodOptions {
  /** Importance samples per example, an integer in 1..5000. */
  k: number;
  /** Rows per graph run (default floor(4096 / chunk), at most the dataset's count). */
  batchSize?: number;
  /** Samples per graph run (default min(k, 500)); chunks combine on the CPU. */
  chunk?: number;
  /** Seed of the importance samples (default: from the evaluator's seed); fixes the estimate. */
  seed?: number;
}

/** Most compiled evaluation graphs kept per kind (batch sizes, chunk sizes). */
const CACHED_GRAPHS = 4;

/**
 * Evaluates a {@link VaeModel} over datasets without training it: the objective's metrics per
 * example ({@link Evaluator.evaluate}) and the importance-sampled log-likelihood
 * ({@link Evaluator.logLikelihood}). Works for every model kind (it runs the graphs the model's
 * sections build). Compiled graphs are kept in small LRU caches (4 per kind); the model stays the
 * caller's. A {@link Trainer} has one ({@link Trainer.evaluator}).
 *
 * @example Evaluate a model loaded from a checkpoint
 * ```ts
 * const { model } = VaeModel.fromCheckpoint(rt, bytes, 'model.safetensors');
 * const evaluator = new Evaluator(model, { batchSize: 500 });
 * const metrics = await evaluator.evaluate(test); // metrics.values.elbo, .recon, .kl
 * const { logPx } = await evaluator.logLikelihood(test, { k: 5000 });
 * evaluator.destroy();
 * model.destroy();
 * ```
 */
export class Evaluator {
  private readonly evalGraphs: LruCache<number, Promise<{ mg: ModelGraph; cg: CompiledGraph }>>;
  private readonly weightGraphs: LruCache<
    string,
    Promise<{ lg: LogWeightGraph; cg: CompiledGraph }>
  >;
  private acc: BufferRange | undefined;
  private destroyed = false;

  constructor(
    readonly model: VaeModel,
    readonly options: EvaluatorOptions = {},
  ) {
    this.evalGraphs = new LruCache(CACHED_GRAPHS, destroyCompiled);
    this.weightGraphs = new LruCache(CACHED_GRAPHS, destroyCompiled);
  }

  private compileOptions(label: string) {
    return {
      params: this.model.paramBuffers(),
      ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
      label: `${this.model.label}.${label}`,
    };
  }

  private evalGraph(rows: number): Promise<{ mg: ModelGraph; cg: CompiledGraph }> {
    return this.evalGraphs.getOrCreate(rows, async () => {
      const mg = buildModelGraph(this.model.config, {
        batch: rows,
        training: false,
        // >>> 0: XOR gives a signed 32-bit value, negative for seeds from 2^31 on.
        seed: ((this.options.seed ?? 0) ^ 0x5eed) >>> 0,
      });
      this.acc ??= this.model.rt.buffers.storage(
        `${this.model.label}.eval_metrics`,
        4 * mg.metrics.length,
      );
      const cg = await CompiledGraph.compile(this.model.rt, mg.graph, {
        ...this.compileOptions(`eval${rows}`),
        external: new Map([[METRICS_STATE, this.acc]]),
      });
      return { mg, cg };
    });
  }

  /**
   * The objective's metrics per example over a dataset, one posterior draw each (same noise each
   * call), in batches of `batchSize` rows.
   *
   * @throws Error when the dataset does not fit the model (see {@link Dataset}).
   */
  async evaluate(all: Dataset, batchSize = this.options.batchSize ?? 128): Promise<Metrics> {
    this.checkAlive();
    const config = this.model.config;
    // Every example is scored as it is: labeled objectives (M2) read the dataset's own labels.
    const { images, count, labels } = all;
    const data: Dataset = labels ? { images, count, labels } : { images, count };
    checkDataset('evaluate', data, config);
    const rt = this.model.rt;
    const first = await this.evalGraph(Math.min(batchSize, data.count));
    const acc = this.acc!;
    rt.device.queue.writeBuffer(acc.buffer, acc.offset, new Float32Array(first.mg.metrics.length));
    const hyper = Float32Array.from(hyperAt(this.model.config, 0));
    let batches = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const rows = Math.min(batchSize, data.count - start);
      const g = await this.evalGraph(rows);
      writeFeeds(g.cg, g.mg.feeds, data, start, rows);
      g.cg.write(g.mg.hyper, hyper);
      g.cg.update({ step: batches });
      rt.submit(g.cg.dispatches, `${this.model.label}.evaluate`);
      batches++;
      if (batches % 8 === 0) await rt.device.queue.onSubmittedWorkDone();
    }
    const sums = await readFloats(rt.device, acc);
    const names = first.mg.metrics.map((m) => m.name);
    return metricsFrom(config, names, sums, batches, data.count);
  }

  private weightGraph(
    rows: number,
    samples: number,
    seed: number,
  ): Promise<{ lg: LogWeightGraph; cg: CompiledGraph }> {
    return this.weightGraphs.getOrCreate(`${rows}x${samples}:${seed}`, async () => {
      const lg = buildLogWeightGraph(this.model.config, { batch: rows, samples, seed });
      const cg = await CompiledGraph.compile(
        this.model.rt,
        lg.graph,
        this.compileOptions(`logw${rows}x${samples}`),
      );
      return { lg, cg };
    });
  }

  /**
   * Importance-sampled log p(x) with k samples per example (the IWAE bound, which tightens to
   * log p(x) as k grows), in chunks of at most `chunk` samples; mean over the dataset, in nats.
   *
   * @returns `logPx`, the mean over the dataset, and `perExample`, each example's estimate (nats).
   * @throws Error when k is not an integer in [1, 5000] or the dataset does not fit the model.
   */
  async logLikelihood(
    data: Dataset,
    options: LogLikelihoodOptions,
  ): Promise<{ logPx: number; perExample: Float64Array }> {
    this.checkAlive();
    checkDataset('logLikelihood', data, this.model.config);
    const k = options.k;
    if (!Number.isInteger(k) || k < 1 || k > 5000) {
      throw new Error(`logLikelihood: k must be an integer in [1, 5000], got ${k}`);
    }
    const chunk = Math.min(k, options.chunk ?? 500);
    const batch = Math.max(1, Math.min(options.batchSize ?? Math.floor(4096 / chunk), data.count));
    // An unsigned 32-bit seed: ^ gives a signed int, negative for seeds >= 2^31.
    const seed = options.seed ?? ((this.options.seed ?? 0) ^ 0x1fae) >>> 0;
    const perExample = new Float64Array(data.count);
    const rt = this.model.rt;
    let counter = 0;
    for (let start = 0; start < data.count; start += batch) {
      const rows = Math.min(batch, data.count - start);
      const lse: Float32Array[] = [];
      for (let done = 0; done < k; done += chunk) {
        const K = Math.min(chunk, k - done);
        const g = await this.weightGraph(rows, K, seed);
        writeFeeds(g.cg, g.lg.feeds, data, start, rows);
        g.cg.update({ step: counter++ });
        rt.submit(g.cg.dispatches, `${this.model.label}.logpx`);
        lse.push(await g.cg.read(g.lg.logSumExp));
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

  /** Frees the compiled graphs and the metric buffer (not the model). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.evalGraphs.clear();
    this.weightGraphs.clear();
    if (this.acc) this.model.rt.buffers.destroy(this.acc.buffer);
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('evaluator was destroyed');
  }
}

/** Frees a cached compiled graph once it is made (an LruCache evict callback). */
export function destroyCompiled<T extends { cg: CompiledGraph }>(p: Promise<T>): void {
  freeWhenMade((e: T) => e.cg.destroy())(p);
}

/**
 * The objective's per-step hyperparameters at a step, as the `hyper` input holds them (H ≥ 1);
 * `data`: the training data's sizes, when known (M2's default α).
 */
export function hyperAt(config: ResolvedVaeConfig, step: number, data?: DataSizes): number[] {
  const values = kindsOf(config).objective.hyperAt(config.objective, step, data);
  return values.length > 0 ? values : [0];
}
