// Inference over a VaeModel: forward-only graphs (no backward, parameters not trainable) compiled
// for a few planned batch sizes; a call with n rows runs on the smallest planned size >= n (the
// extra rows are padding, never read) and larger calls are split into chunks of the largest size.
// Compiled graphs are kept in a small LRU cache. Inputs and outputs are typed arrays, or GPU buffer
// ranges for apps that already hold their data on the GPU: a range input is copied on the GPU into
// the graph's input (no CPU round trip), and the GPU variants return the graph's own output range.
//
// What each function computes (Z latent dimensions, D values per example):
//   encode:      x (n, D) -> the parameters of q(z|x) by name: mu, logvar (n, Z) (full: also lower
//                and scaleTril, L (n, Z, Z))
//   decode:      z (n, Z) -> images (n, D): sigmoid(logits) for Bernoulli decoders, the means for
//                Gaussian ones, and mean + alpha * sigma for a learned sigma (alpha = 0: the mean)
//   sample:      z = temperature * eps, eps ~ N(0, I) drawn on the GPU (random_normal, Philox),
//                then decode
//   reconstruct: decode(mu(x)) (the posterior mean; one submit)
//   interpolate: codes between two inputs' mu (or two codes), linear or spherical, then decode
//   traverse:    a code with one (or several consecutive) latent dimensions swept over a range
//   manifold2d:  the Kingma & Welling grid: Phi^-1 of evenly spaced probabilities on two dims
// All code generation runs on the GPU (shaders/latent.wgsl). A conditional model (condition
// 'label') takes the labels of the rows with every call: an array (one per row) or one number for
// all of them (`labels` in the options; encode and decode also take the array as the second
// argument, where a number still means the row count).
import { readFloats, type BufferRange } from '../gpu/buffers.js';
import { Program } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { CompiledGraph } from '../graph/executor.js';
import type { Tensor } from '../graph/graph.js';
import {
  prepareDecodeOutputSigma,
  prepareLatentCodes,
  latentCodeUniforms,
  type LatentCodeSpec,
} from '../kernels/latent.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import { prepareRandomNormal } from '../kernels/reparam.js';
import { decodeCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import {
  openCheckpointSource,
  type CheckpointSource,
  type ReadSourceOptions,
} from '../checkpoint/source.js';
import { codeUsage, type CodeUsage } from './code-usage.js';
import { madePriorOf, PriorSampler } from './prior-stage.js';
import { codeWidth, resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from './config.js';
import {
  buildClassifierGraph,
  buildCompletionGraph,
  buildDecoderGraph,
  buildEncoderGraph,
  type Feed,
} from './build.js';
import { checkLabels, writeFeeds } from './feeds.js';
import {
  checkIterations,
  checkMask,
  fillMissing,
  writeMissing,
  type InpaintOptions,
} from './inpaint.js';
import { VaeModel } from './model.js';
import { freeWhenMade, LruCache } from '../util/lru-cache.js';

/** Batch sizes compiled on demand when none are given. */
export const DEFAULT_BATCH_SIZES: readonly number[] = [1, 16, 64, 256];

/** Options of {@link VaeInference.create} (and of {@link VaeInference.fromCheckpoint}). */
export interface InferenceOptions {
  /**
   * Planned batch sizes, integers in 1..65536 (default 1, 16, 64, 256): a call with n rows runs
   * on the smallest planned size >= n, larger calls in chunks of the largest.
   */
  batchSizes?: readonly number[];
  /**
   * Compiled graphs kept before the least recently used is destroyed (default 6; 1 counts as 2).
   * Not an integer >= 1: the constructor throws.
   */
  maxCachedGraphs?: number;
  /** Seed of sample() when none is given per call (default 0). */
  seed?: number;
  /** Pin a matmul variant for every layer (default: selected per shape). */
  matmulVariant?: MatmulVariant;
}

/**
 * What {@link VaeInference.encode} returns: the posterior's parameters by name, each (n, width)
 * row-major. Every posterior has mu and logvar (n, Z); the full-covariance one also has lower
 * (n, Z(Z−1)/2) and scaleTril (n, Z, Z), its factor L with covariance L Lᵀ; the flows (planar,
 * iaf) have zK (n, Z), the flow's output at z0 = mu; two stochastic layers ('hierarchical') have
 * mu and logvar of the code z2 and mu1, logvar1 (n, lower) of z1.
 */
export type Encoded = { mu: Float32Array; logvar: Float32Array } & Readonly<
  Record<string, Float32Array>
>;

/** Class labels of the rows: one per row, or one for every row. */
export type Labels = ArrayLike<number> | number;

/** The labels option every inference call takes (conditional models only). */
export interface LabelOptions {
  /** Conditional models: the label of each row (or one label for all rows). */
  labels?: Labels;
}

/** Options of every call that decodes codes into images. */
export interface LatentDecodeOptions extends LabelOptions {
  /** Learned-sigma decoders: image = mean + alpha * sigma (default 0). Ignored otherwise. */
  alpha?: number;
}

/** Options of {@link VaeInference.sample}. */
export interface SampleOptions extends LatentDecodeOptions {
  /**
   * Scale of the prior's standard deviation, finite and >= 0 (default 1; 0 decodes z = 0); for a
   * vq model's learned prior, the softmax temperature (0: the most likely codes).
   */
  temperature?: number;
  /**
   * PRNG seed, an integer in [0, 2^32); with a seed the draw is reproducible (step 0), without
   * one each call differs (InferenceOptions.seed and a call counter).
   */
  seed?: number;
}

/** What {@link VaeInference.complete} returns. */
export interface Completed {
  /** (rows, D): the observed pixels as given, the missing ones generated. */
  images: Float32Array;
  /** (rows, D): 1 where a pixel was generated, 0 where it was observed. */
  missing: Float32Array;
  rows: number;
}

/** Options of {@link VaeInference.complete}. */
export interface CompleteOptions {
  /**
   * Which draw, an integer in [0, 2^32): the same seed completes the same images the same way
   * (a call split into chunks uses seed, seed + 1, …); absent, each call draws anew.
   */
  seed?: number;
}

/** How {@link VaeInference.interpolate} moves between two codes: a straight line or slerp. */
export type InterpolationMethod = 'linear' | 'spherical';

/** Options of {@link VaeInference.interpolate}. */
export interface InterpolateOptions extends LatentDecodeOptions {
  /** 'linear' (default) or 'spherical' (slerp). */
  method?: InterpolationMethod;
  /** 'data' (default): a and b are inputs (D values) encoded to their mu; 'latent': codes (Z). */
  space?: 'data' | 'latent';
}

/** Options of {@link VaeInference.traverse}. */
export interface TraverseOptions extends LatentDecodeOptions {
  /** Values along the dimension, evenly spaced over `range` ends included (default 11). */
  steps?: number;
  /** Range swept (default [-3, 3]). */
  range?: readonly [number, number];
  /** Add the values to the code (default true) or replace the code's value. */
  relative?: boolean;
  /** Consecutive dimensions to traverse from `dim`, one grid row each (default 1). */
  dims?: number;
}

/** Options of {@link VaeInference.manifold2d}. */
export interface ManifoldOptions extends LatentDecodeOptions {
  /** Probabilities of the first and last grid lines (default [0.05, 0.95]). */
  range?: readonly [number, number];
  /** The two dimensions spanned (default [0, 1]). */
  dims?: readonly [number, number];
  /** Values of the other dimensions: a code of Z values (default all 0). */
  base?: Float32Array;
}

/** Codes and their decoded images, row-major. */
export interface Decoded {
  /** (rows, Z) the codes that were decoded. */
  codes: Float32Array;
  /** (rows, D) the decoded images (see {@link VaeInference.decode} for what the values are). */
  images: Float32Array;
  /** Rows of codes and images. */
  rows: number;
}

/**
 * Options of {@link VaeInference.fromCheckpoint}: those of the inference object, of reading the
 * source (progress, size limit, abort), and which decoders to compile while the weights download.
 */
export interface LoadOptions extends InferenceOptions, ReadSourceOptions {
  /**
   * Decoder batch sizes compiled while the weights download (default: every planned size; [] for
   * none). Compiling starts as soon as the checkpoint's header (the model config) has arrived.
   */
  warm?: readonly number[];
}

interface EncodeEntry {
  rows: number;
  x: Tensor;
  feeds: readonly Feed[];
  /** Absent for a posterior without them (vq: codes and ze). */
  mu: Tensor | undefined;
  logvar: Tensor | undefined;
  /** The posterior's location (PosteriorGraph.mean): what reconstructions and data-space
   * interpolation decode (mu, or a flow's output at mu). */
  code: Tensor;
  /** Everything encode() returns, by name (mu and logvar among them). */
  outputs: Readonly<Record<string, Tensor>>;
  cg: CompiledGraph;
  destroy(): void;
}

interface CompletionEntry {
  rows: number;
  feeds: readonly Feed[];
  output: Tensor;
  missing: Tensor;
  cg: CompiledGraph;
  destroy(): void;
}

interface ClassifyEntry {
  cg: CompiledGraph;
  /** x. */
  feeds: readonly Feed[];
  /** q(y|x) (rows, classes). */
  probs: Tensor;
  destroy(): void;
}

interface DecodeEntry {
  rows: number;
  z: Tensor;
  /** The condition's inputs (labels) of the decoder. */
  feeds: readonly Feed[];
  cg: CompiledGraph;
  /** The decoded images (rows, D): the graph's output, or post's when σ is added. */
  image: BufferRange;
  /** image = mean + alpha·σ for a learned-σ decoder; absent where the graph's output is the image. */
  post: PreparedDispatch | undefined;
  codes: Map<string, PreparedDispatch>;
  noise: PreparedDispatch | undefined;
  destroy(): void;
}

/**
 * A decoder compiled for a fixed number of rows as one {@link Program}, owned by the caller (frame
 * loops; {@link VaeInference.createDecoderProgram} makes it): write codes into `z` on the GPU,
 * record `encode(pass)`, and `images` holds the decoded images. `destroy()` frees it.
 */
export type DecoderProgram = Program & {
  /** Rows decoded per run. */
  readonly rows: number;
  /** (rows, Z) input codes. */
  readonly z: BufferRange;
  /** (rows, D) output images. */
  readonly images: BufferRange;
  /** Learned-sigma decoders: images = mean + alpha·sigma from the next run (queued write). */
  setAlpha(alpha: number): void;
  /** Conditional models: the labels the rows are decoded under (queued write). */
  setLabels(labels: Labels): void;
};

function sliceRange(r: BufferRange, bytes: number): BufferRange {
  return { buffer: r.buffer, offset: r.offset, size: bytes };
}

/**
 * Inference over a trained VAE on the GPU: encode, decode, sample, reconstruct, interpolate,
 * traverse and manifold2d on typed arrays, encodeGpu/decodeGpu on GPU buffers, and decoder
 * programs for frame loops. Forward-only graphs are compiled for a few planned batch sizes and
 * kept in a small LRU cache; calls run one at a time, in call order. Images are sigmoid(logits)
 * for Bernoulli decoders and the means for Gaussian ones; codes are (rows, Z), images (rows, D),
 * row-major. A conditional model (condition 'label') takes the labels of the rows with every
 * call. Bad arguments throw errors that name the call and the argument.
 *
 * @example
 * ```ts
 * const vae = await VaeInference.fromCheckpoint(rt, '/models/mnist.safetensors');
 * const { images } = await vae.sample(64, { temperature: 0.8, seed: 1 });
 * const { mu } = await vae.encode(digits, 2); // two inputs of D values
 * const path = await vae.interpolate(digits.subarray(0, 784), digits.subarray(784, 1568), 10);
 * vae.destroy();
 * ```
 */
export class VaeInference {
  /** The model's resolved description. */
  readonly config: ResolvedVaeConfig;
  /** The planned batch sizes, ascending without duplicates. */
  readonly batchSizes: readonly number[];
  private readonly cache: LruCache<string, Promise<{ destroy(): void }>>;
  /** Calls run one at a time, so no cached graph is evicted while a call uses it. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly anchors: BufferRange;
  private sampleCalls = 0;
  /** Draws complete() has used (each chunk one): calls without a seed never repeat one. */
  private completionDraws = 0;
  private destroyed = false;

  private constructor(
    readonly model: VaeModel,
    private readonly options: InferenceOptions,
    private readonly ownsModel: boolean,
    private loaded: Checkpoint | undefined,
  ) {
    this.config = model.config;
    const sizes = options.batchSizes ?? DEFAULT_BATCH_SIZES;
    if (sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 1 || s > 65536)) {
      throw new Error(
        `inference: batchSizes must be integers in [1, 65536], got [${sizes.join(', ')}]`,
      );
    }
    this.batchSizes = [...new Set(sizes)].sort((a, b) => a - b);
    const maxCached = options.maxCachedGraphs ?? 6;
    if (!Number.isInteger(maxCached) || maxCached < 1) {
      throw new Error(`inference: maxCachedGraphs must be an integer >= 1, got ${maxCached}`);
    }
    // A call uses at most two entries (encode and decode), so at least two are kept.
    this.cache = new LruCache(
      Math.max(2, maxCached),
      freeWhenMade((e) => e.destroy()),
    );
    this.anchors = model.rt.buffers.storage(`${model.label}.anchors`, 8 * this.config.latentSize);
  }

  /** The decoded checkpoint when made by fromCheckpoint. */
  get checkpoint(): Checkpoint | undefined {
    return this.loaded;
  }

  /**
   * Inference over an existing model (the model stays the caller's). Nothing compiles until the
   * first call (or {@link VaeInference.warm}).
   *
   * @throws Error when a batch size is not an integer in [1, 65536].
   */
  static create(model: VaeModel, options: InferenceOptions = {}): VaeInference {
    return new VaeInference(model, options, false, undefined);
  }

  /**
   * Loads a checkpoint (bytes, a File/Blob, or a URL) into a new model owned by the result. The
   * decoder graphs (options.warm) compile while the weights download: the model config is in the
   * checkpoint's header, which arrives first.
   *
   * @throws Error naming the source when it cannot be read (HTTP status, size limit, abort), is
   *   not a valid checkpoint, or its weights do not fit its config.
   */
  static async fromCheckpoint(
    rt: GpuRuntime,
    source: CheckpointSource,
    options: LoadOptions = {},
  ): Promise<VaeInference> {
    const opened = openCheckpointSource(source, options);
    // From the header alone: a model with no weights yet, and its decoders compiling. Any problem
    // here is left to the full decode below, which names it.
    const early = opened.header
      .then((header) => {
        const config = resolveVaeConfig(JSON.parse(header.metadata.config ?? 'null') as VaeConfig);
        const model = VaeModel.empty(rt, config);
        let inference: VaeInference;
        try {
          inference = new VaeInference(model, options, true, undefined);
        } catch (error) {
          model.destroy();
          throw error;
        }
        inference.warm(options.warm ?? inference.batchSizes).catch(() => undefined);
        return inference;
      })
      .catch(() => undefined);
    let checkpoint: Checkpoint;
    try {
      checkpoint = decodeCheckpoint(await opened.bytes, { source: opened.name });
    } catch (error) {
      (await early)?.destroy();
      throw error;
    }
    // The header the early model was made from is part of these bytes: the same config.
    const inference = await early;
    if (inference) {
      try {
        inference.model.writeWeights(new Map([...checkpoint.params].map(([k, t]) => [k, t.data])));
      } catch (error) {
        inference.destroy();
        throw new Error(`${opened.name}: ${(error as Error).message}`, { cause: error });
      }
      inference.loaded = checkpoint;
      return inference;
    }
    const model = VaeModel.fromDecoded(rt, checkpoint, opened.name);
    return new VaeInference(model, options, true, checkpoint);
  }

  /**
   * Compiles the decoders for these batch sizes ahead of the first call (their pipelines compile
   * concurrently). Calls made meanwhile wait for it; a failure here is left to the call that
   * needs the graph.
   */
  warm(sizes: readonly number[]): Promise<void> {
    const planned = [...new Set(sizes.map((n) => this.plannedSize(n)))].slice(
      0,
      this.cache.capacity - 1,
    );
    return this.run(async () => {
      await Promise.allSettled(planned.map((rows) => this.decodeEntry(rows, {})));
    });
  }

  /** The runtime of the model. */
  get rt(): GpuRuntime {
    return this.model.rt;
  }

  /** The planned size a call with n rows runs on (the largest planned size when n exceeds it). */
  plannedSize(n: number): number {
    return this.batchSizes.find((s) => s >= n) ?? this.batchSizes.at(-1)!;
  }

  // ---- typed-array API ----

  /**
   * The parameters of q(z|x) for n inputs (n defaults to x.length / D), each (n, width) row-major:
   * mu and logvar (n, Z) for every posterior; the full-covariance one adds lower (n, Z(Z−1)/2) and
   * scaleTril, its factor L (n, Z, Z) with Σ = L Lᵀ; the flows (planar, iaf) add zK (n, Z), the
   * flow's output at z0 = mu; two stochastic layers give mu and logvar of the code z2 (q(z2|z1) at
   * z1 = mu1) and add mu1, logvar1 (n, lower) of z1. A conditional model takes the inputs' labels
   * (q(z|x, y)): as the second argument, or in the options.
   */
  async encode(
    x: Float32Array,
    nOrLabels?: number | ArrayLike<number>,
    options: LabelOptions = {},
  ): Promise<Encoded> {
    const D = this.config.inputSize;
    const { n, labels } = splitArgs(nOrLabels, options);
    const rows = this.rowsOf('encode', 'x', x, D, n);
    checkFiniteArray('encode', 'x', x, rows * D);
    const y = this.labelsFor('encode', labels, rows);
    return this.run(async () => {
      const result: Record<string, Float32Array> = {};
      for (const [start, count] of this.chunks(rows)) {
        const e = await this.encodeEntry(this.plannedSize(count));
        writeFeeds(e.cg, e.feeds, { images: x, labels: y }, start, count);
        this.rt.submit(e.cg.dispatches, 'inference.encode');
        const outputs = Object.entries(e.outputs);
        const values = await Promise.all(
          outputs.map(([, t]) =>
            readFloats(this.rt.device, sliceRange(e.cg.buffer(t), count * t.cols * 4)),
          ),
        );
        outputs.forEach(([name, t], i) => {
          const out = (result[name] ??= new Float32Array(rows * t.cols));
          out.set(values[i]!.subarray(0, count * t.cols), start * t.cols);
        });
      }
      return result as Encoded;
    });
  }

  /**
   * How a vq model uses its codebook on n inputs: their code indices (encode()'s `codes`) counted
   * per code, with the perplexity of the codes' frequencies and the codes in use. Labels as
   * encode(); other posteriors have no codes.
   */
  async codeUsage(
    x: Float32Array,
    nOrLabels?: number | ArrayLike<number>,
    options: LabelOptions = {},
  ): Promise<CodeUsage> {
    const posterior = this.config.posterior;
    if (posterior.kind !== 'vq') {
      throw new Error(
        `codeUsage: a '${posterior.kind}' posterior has no codebook (posterior.kind 'vq' has)`,
      );
    }
    const { codes } = await this.encode(x, nOrLabels, options);
    if (!codes) throw new Error('codeUsage: the vq encoder returned no codes');
    return codeUsage(codes, posterior.codes);
  }

  /**
   * Images for n codes (n defaults to z.length / Z); a conditional model takes the labels to
   * decode under (p(x|z, y)): as the second argument, or in the options. Each image is
   * sigmoid(logits) for a Bernoulli decoder, the mean for a Gaussian one, and mean + alpha·sigma
   * for a learned sigma (options.alpha, default 0).
   *
   * @returns (n, D) images, row-major.
   */
  async decode(
    z: Float32Array,
    nOrLabels?: number | ArrayLike<number>,
    options: LatentDecodeOptions = {},
  ): Promise<Float32Array> {
    // vq: code indices, latentSize/dim per row.
    const Z = codeWidth(this.config);
    const { n, labels } = splitArgs(nOrLabels, options);
    const rows = this.rowsOf('decode', 'z', z, Z, n);
    checkFiniteArray('decode', 'z', z, rows * Z);
    const y = this.labelsFor('decode', labels, rows);
    return this.run(async () => {
      const D = this.config.inputSize;
      const images = new Float32Array(rows * D);
      for (const [start, count] of this.chunks(rows)) {
        const d = await this.decodeEntry(this.plannedSize(count), options);
        d.cg.write(d.z, z.subarray(start * Z, (start + count) * Z));
        this.writeLabels(d, y, start, count);
        this.submitDecode(d);
        images.set(await this.readImages(d, count), start * D);
      }
      return images;
    });
  }

  /**
   * n draws from the prior, z = temperature * N(0, I) (noise drawn on the GPU), decoded (two
   * stochastic layers: z is the code z2, decoded through the mean of p(z1|z2)). A vq model draws
   * its code indices from its learned prior (prior 'made', trained by `PriorTrainer`):
   * ancestral sampling on the GPU from softmax(logits / temperature) position by position
   * (temperature 0: the most likely code each time); `codes` are then the indices (n, P).
   */
  async sample(n: number, options: SampleOptions = {}): Promise<Decoded> {
    checkCount('sample', 'n', n);
    const temperature = options.temperature ?? 1;
    if (!Number.isFinite(temperature) || temperature < 0) {
      throw new Error(`sample: temperature must be a finite number >= 0, got ${temperature}`);
    }
    const seed = options.seed ?? this.options.seed ?? 0;
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`sample: seed must be an integer in [0, 2^32), got ${seed}`);
    }
    const step = options.seed === undefined ? this.sampleCalls++ : 0;
    if (this.config.posterior.kind === 'vq') {
      return this.samplePrior(n, temperature, seed, step, options);
    }
    const y = this.labelsFor('sample', options.labels, n);
    return this.run(async () => {
      const Z = this.config.latentSize;
      const D = this.config.inputSize;
      const codes = new Float32Array(n * Z);
      const images = new Float32Array(n * D);
      let chunk = 0;
      for (const [start, count] of this.chunks(n)) {
        const d = await this.decodeEntry(this.plannedSize(count), options);
        this.writeLabels(d, y, start, count);
        const rowsZ = d.rows * Z;
        d.noise ??= await prepareRandomNormal(this.rt, {
          out: d.cg.buffer(d.z),
          n: rowsZ,
          seed,
          label: `inference.sample${d.rows}`,
        });
        // Chunks use the sample counter of the stream, so a chunked draw never repeats numbers.
        d.noise.setUniforms({ seed, step, sample: chunk++, stddev: temperature, mean: 0 });
        this.submitDecode(d, [d.noise]);
        codes.set(await this.readCodes(d, count), start * Z);
        images.set(await this.readImages(d, count), start * D);
      }
      return { codes, images, rows: n };
    });
  }

  /**
   * Completions of n images from their observed pixels (condition 'quadrants' with prior
   * 'conditional': the CVAE of Sohn et al. 2015): per row z ~ p(z|x_obs), drawn on the GPU from
   * the prior network's Gaussian, decoded under x_obs. The observed pixels come back exactly as
   * given; the missing ones are the decoder's sigmoid(logits). What x holds at missing pixels is
   * never read.
   *
   * @throws Error for a model that does not complete images, a seed outside [0, 2^32), rows or
   *   values as for encode().
   */
  async complete(x: Float32Array, n?: number, options: CompleteOptions = {}): Promise<Completed> {
    const D = this.config.inputSize;
    const rows = this.rowsOf('complete', 'x', x, D, n);
    checkFiniteArray('complete', 'x', x, rows * D);
    const seed = options.seed;
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) {
      throw new Error(`complete: seed must be an integer in [0, 2^32), got ${seed}`);
    }
    return this.run(async () => {
      const images = new Float32Array(rows * D);
      const missing = new Float32Array(rows * D);
      let chunk = 0;
      for (const [start, count] of this.chunks(rows)) {
        const c = await this.completionEntry(this.plannedSize(count));
        const step = seed === undefined ? this.completionDraws++ : seed + chunk;
        chunk++;
        writeFeeds(c.cg, c.feeds, { images: x }, start, count);
        c.cg.update({ step: step >>> 0 });
        await this.rt.submitChecked(c.cg.dispatches, 'inference.complete');
        const logits = (await c.cg.read(c.output)).subarray(0, count * D);
        const mask = (await c.cg.read(c.missing)).subarray(0, count * D);
        for (let i = 0; i < count * D; i++) {
          const at = start * D + i;
          missing[at] = mask[i]!;
          images[at] = mask[i] === 1 ? 1 / (1 + Math.exp(-logits[i]!)) : x[at]!;
        }
      }
      return { images, missing, rows };
    });
  }

  /**
   * A vq model's sample(): codes drawn from its learned prior (ancestral sampling on the GPU,
   * softmax(logits / temperature) per position; temperature 0 takes the most likely code), decoded
   * in the same submit.
   */
  private samplePrior(
    n: number,
    temperature: number,
    seed: number,
    step: number,
    options: SampleOptions,
  ): Promise<Decoded> {
    madePriorOf(this.config, 'sample');
    if (options.labels !== undefined) {
      throw new Error('sample: labels were given, but the model has no condition (condition none)');
    }
    return this.run(async () => {
      const P = codeWidth(this.config);
      const D = this.config.inputSize;
      const codes = new Float32Array(n * P);
      const images = new Float32Array(n * D);
      let chunk = 0;
      for (const [start, count] of this.chunks(n)) {
        const rows = this.plannedSize(count);
        const d = await this.decodeEntry(rows, options);
        const sampler = await this.cached(`prior${rows}.${seed}`, () =>
          PriorSampler.create(this.model, rows, seed),
        );
        const encoder = this.rt.device.createCommandEncoder({ label: 'inference.sample' });
        sampler.encode(encoder, temperature, step, chunk++);
        copy(encoder, sampler.codes, d.cg.buffer(d.z));
        this.encodeDecode(encoder, d, []);
        this.rt.device.queue.submit([encoder.finish()]);
        codes.set(await this.readCodes(d, count), start * P);
        images.set(await this.readImages(d, count), start * D);
      }
      return { codes, images, rows: n };
    });
  }

  /** Reconstructions decode(mu(x)) of n inputs. */
  async reconstruct(
    x: Float32Array,
    n?: number,
    options: LatentDecodeOptions = {},
  ): Promise<Decoded> {
    const D = this.config.inputSize;
    const Z = codeWidth(this.config);
    const rows = this.rowsOf('reconstruct', 'x', x, D, n);
    checkFiniteArray('reconstruct', 'x', x, rows * D);
    const y = this.labelsFor('reconstruct', options.labels, rows);
    return this.run(async () => {
      const codes = new Float32Array(rows * Z);
      const images = new Float32Array(rows * D);
      for (const [start, count] of this.chunks(rows)) {
        const R = this.plannedSize(count);
        const e = await this.encodeEntry(R);
        const d = await this.decodeEntry(R, options);
        writeFeeds(e.cg, e.feeds, { images: x, labels: y }, start, count);
        this.writeLabels(d, y, start, count);
        this.submitEncodeDecode(e, d, R);
        codes.set(await this.readCodes(d, count), start * Z);
        images.set(await this.readImages(d, count), start * D);
      }
      return { codes, images, rows };
    });
  }

  /**
   * Fills the missing pixels of n images (n = x.length / D) by iterative completion (Rezende et
   * al. 2014): the missing pixels (mask 1) start at the fill value; each pass encodes the current
   * images, decodes the posterior's location and writes the decoded values (probabilities for
   * Bernoulli decoders) into the missing pixels only. A model trained with masking.channels reads
   * the mask in the first pass (the filled image, as in training) and an all-observed mask in the
   * later ones (the completion is encoded as a whole image). Observed pixels (mask 0) are copied
   * from x, so they stay bit-exact. More passes help models trained on complete images; for a
   * model trained with masks the first pass is the best (bench/inpaint.ts).
   *
   * @param mask (n, D): 1 where a pixel is missing, 0 where it is observed.
   * @returns (n, D) the completed images.
   * @throws Error naming the argument: a mask of another size or with values other than 0/1,
   *   iterations outside [0, 1000], non-finite pixels, labels as for encode().
   * @example
   * ```ts
   * const mask = new Float32Array(784);
   * for (let i = 0; i < 784; i++) mask[i] = i % 28 >= 14 && i >= 392 ? 1 : 0; // bottom right
   * const filled = await vae.inpaint(digit, mask, { iterations: 20 });
   * ```
   */
  async inpaint(
    x: Float32Array,
    mask: Float32Array,
    options: InpaintOptions = {},
  ): Promise<Float32Array> {
    const fn = 'inpaint';
    const D = this.config.inputSize;
    const rows = this.rowsOf(fn, 'x', x, D);
    checkFiniteArray(fn, 'x', x, rows * D);
    checkMask(fn, mask, rows, D);
    const iterations = checkIterations(fn, options.iterations ?? 10);
    const fill = options.fill ?? this.config.masking?.fill ?? 0;
    if (!Number.isFinite(fill)) throw new Error(`${fn}: fill must be finite, got ${fill}`);
    const y = this.labelsFor(fn, options.labels, rows);
    return this.run(async () => {
      const current = fillMissing(x, mask, fill);
      for (let it = 1; it <= iterations; it++) {
        for (const [start, count] of this.chunks(rows)) {
          const R = this.plannedSize(count);
          const e = await this.encodeEntry(R);
          const d = await this.decodeEntry(R, {});
          // Later passes encode the completion as a whole image (no pixel missing).
          const masks = it === 1 ? mask : undefined;
          writeFeeds(e.cg, e.feeds, { images: current, labels: y, masks }, start, count);
          this.writeLabels(d, y, start, count);
          this.submitEncodeDecode(e, d, R);
          writeMissing(current, await this.readImages(d, count), mask, start * D);
        }
        options.onIteration?.(it, current.slice());
      }
      return current;
    });
  }

  /** `steps` codes from a to b (inclusive), linear or spherical, decoded. */
  async interpolate(
    a: Float32Array,
    b: Float32Array,
    steps: number,
    options: InterpolateOptions = {},
  ): Promise<Decoded> {
    const method = options.method ?? 'linear';
    if (method !== 'linear' && method !== 'spherical') {
      throw new Error(`interpolate: method must be 'linear' or 'spherical', got ${String(method)}`);
    }
    const space = options.space ?? 'data';
    if (space !== 'data' && space !== 'latent') {
      throw new Error(`interpolate: space must be 'data' or 'latent', got ${String(space)}`);
    }
    const size = space === 'data' ? this.config.inputSize : this.config.latentSize;
    for (const [name, v] of [
      ['a', a],
      ['b', b],
    ] as const) {
      if (!(v instanceof Float32Array) || v.length !== size) {
        throw new Error(
          `interpolate: ${name} must be a Float32Array of ${size} values (${space === 'data' ? 'an input' : 'a code'}), got ${describe(v)}`,
        );
      }
      checkFiniteArray('interpolate', name, v, size);
    }
    this.checkGridRows('interpolate', 'steps', steps);
    const spec: LatentCodeSpec = { mode: method === 'linear' ? 'lerp' : 'slerp' };
    if (options.labels !== undefined && typeof options.labels !== 'number') {
      throw new Error('interpolate: give one label (a number) for the whole interpolation');
    }
    const label = this.labelsFor('interpolate', options.labels, steps);
    return this.run(async () => {
      const Z = this.config.latentSize;
      const D = this.config.inputSize;
      const R = this.plannedSize(steps);
      const d = await this.decodeEntry(R, options);
      this.writeLabels(d, label, 0, steps);
      const codes = await this.prepareCodes(d, spec, steps);
      const encoder = this.rt.device.createCommandEncoder({ label: 'inference.interpolate' });
      if (space === 'data') {
        const e = await this.encodeEntry(this.plannedSize(2));
        const both = new Float32Array(2 * D);
        both.set(a, 0);
        both.set(b, D);
        writeFeeds(e.cg, e.feeds, { images: both, labels: label }, 0, 2);
        const pass = encoder.beginComputePass({ label: 'inference.encode' });
        e.cg.encode(pass);
        pass.end();
        const code = e.cg.buffer(e.code);
        encoder.copyBufferToBuffer(code.buffer, code.offset, this.anchors.buffer, 0, 2 * Z * 4);
      } else {
        const both = new Float32Array(2 * Z);
        both.set(a, 0);
        both.set(b, Z);
        this.rt.device.queue.writeBuffer(this.anchors.buffer, 0, both);
      }
      this.encodeDecode(encoder, d, [codes]);
      this.rt.device.queue.submit([encoder.finish()]);
      return {
        codes: await this.readCodes(d, steps),
        images: await this.readImages(d, steps),
        rows: steps,
      };
    });
  }

  /** The code with dimension `dim` (and the next dims - 1 ones, a row each) swept over a range. */
  async traverse(code: Float32Array, dim: number, options: TraverseOptions = {}): Promise<Decoded> {
    const Z = this.config.latentSize;
    this.checkCode('traverse', code);
    const steps = options.steps ?? 11;
    const dims = options.dims ?? 1;
    checkCount('traverse', 'steps', steps);
    checkCount('traverse', 'dims', dims);
    if (!Number.isInteger(dim) || dim < 0 || dim + dims > Z) {
      throw new Error(
        `traverse: dimensions ${dim}..${dim + dims - 1} are not all in [0, ${Z}) (latent size ${Z})`,
      );
    }
    const [lo, hi] = options.range ?? [-3, 3];
    const spec: LatentCodeSpec = {
      mode: 'traverse',
      cols: steps,
      dimA: dim,
      lo,
      hi,
      relative: options.relative ?? true,
    };
    return this.decodeGenerated('traverse', spec, steps * dims, code, options);
  }

  /** A size × size grid over two latent dimensions, spaced by the inverse normal CDF. */
  async manifold2d(size: number, options: ManifoldOptions = {}): Promise<Decoded> {
    const Z = this.config.latentSize;
    checkCount('manifold2d', 'size', size);
    const [dimA, dimB] = options.dims ?? [0, 1];
    if (Z < 2) throw new Error(`manifold2d: needs a latent size >= 2, the model has ${Z}`);
    const base = options.base ?? new Float32Array(Z);
    this.checkCode('manifold2d', base);
    const [lo, hi] = options.range ?? [0.05, 0.95];
    const spec: LatentCodeSpec = { mode: 'manifold', cols: size, dimA, dimB, lo, hi };
    return this.decodeGenerated('manifold2d', spec, size * size, base, options);
  }

  /** Only the codes latent_codes generates for a spec (a base code, and b for lerp/slerp). */
  async latentCodes(
    spec: LatentCodeSpec,
    rows: number,
    a: Float32Array,
    b?: Float32Array,
  ): Promise<Float32Array> {
    const Z = this.config.latentSize;
    this.checkCode('latentCodes', a);
    if (b) this.checkCode('latentCodes', b);
    this.checkGridRows('latentCodes', 'rows', rows);
    latentCodeUniforms(spec, rows, Z);
    return this.run(async () => {
      const d = await this.decodeEntry(this.plannedSize(rows), {});
      const codes = await this.prepareCodes(d, spec, rows);
      this.writeAnchors(a, b);
      this.rt.submit([codes], 'inference.codes');
      return this.readCodes(d, rows);
    });
  }

  /**
   * The classifier's class probabilities q(y|x) for n inputs (n defaults to x.length / D), for
   * models with one (objective 'm2').
   *
   * @returns (n, classes) probabilities, row-major; each row sums to 1.
   * @throws Error when the model has no classifier.
   */
  async classify(x: Float32Array, n?: number): Promise<Float32Array> {
    const D = this.config.inputSize;
    const rows = this.rowsOf('classify', 'x', x, D, n);
    checkFiniteArray('classify', 'x', x, rows * D);
    const C = classesOf(this.config, 'classify');
    return this.run(async () => {
      const out = new Float32Array(rows * C);
      for (const [start, count] of this.chunks(rows)) {
        const e = await this.classifyEntry(this.plannedSize(count));
        writeFeeds(e.cg, e.feeds, { images: x }, start, count);
        this.rt.submit(e.cg.dispatches, 'inference.classify');
        const probs = await readFloats(
          this.rt.device,
          sliceRange(e.cg.buffer(e.probs), count * C * 4),
        );
        out.set(probs.subarray(0, count * C), start * C);
      }
      return out;
    });
  }

  /**
   * Style transfer with M2 (Kingma et al. 2014, the analogies figure): each input is classified,
   * encoded under its predicted label, and its code decoded under every label, so the style the
   * code holds is drawn as each class.
   *
   * @returns `predicted` (n) labels, `probs` (n, classes), and `images` (n·classes, D): row
   *   i·classes + c is input i's style drawn as class c.
   */
  async styleTransfer(
    x: Float32Array,
    n?: number,
  ): Promise<{ predicted: Uint32Array; probs: Float32Array; images: Float32Array }> {
    const C = classesOf(this.config, 'styleTransfer');
    const rows = this.rowsOf('styleTransfer', 'x', x, this.config.inputSize, n);
    const probs = await this.classify(x, rows);
    const predicted = Uint32Array.from({ length: rows }, (_, i) => {
      let best = 0;
      for (let c = 1; c < C; c++) if (probs[i * C + c]! > probs[i * C + best]!) best = c;
      return best;
    });
    const { mu } = await this.encode(x, predicted);
    const Z = this.config.latentSize;
    const codes = new Float32Array(rows * C * Z);
    for (let r = 0; r < rows * C; r++) {
      codes.set(mu.subarray(Math.floor(r / C) * Z, (Math.floor(r / C) + 1) * Z), r * Z);
    }
    const labels = Float32Array.from({ length: rows * C }, (_, r) => r % C);
    const images = await this.decode(codes, labels);
    return { predicted, probs, images };
  }

  // ---- GPU-buffer API ----

  /**
   * encode() for inputs already on the GPU: `x` (n rows of D floats, COPY_SRC usage) is copied on
   * the GPU into the graph. Returns the graph's own mu and logvar ranges (n × Z floats each),
   * valid until the next call that uses the same planned size; or copies them into `out`. (A
   * full-covariance posterior's lower and scaleTril come from encode().)
   */
  async encodeGpu(
    x: BufferRange,
    n: number,
    out?: { mu: BufferRange; logvar: BufferRange },
    options: LabelOptions = {},
  ): Promise<{ mu: BufferRange; logvar: BufferRange }> {
    const D = this.config.inputSize;
    const Z = this.config.latentSize;
    this.checkGpuRows('encodeGpu', n);
    const y = this.labelsFor('encodeGpu', options.labels, n);
    checkRange('encodeGpu', 'x', x, n * D * 4, GPUBufferUsage.COPY_SRC, 'COPY_SRC');
    if (out) {
      checkRange('encodeGpu', 'out.mu', out.mu, n * Z * 4, GPUBufferUsage.COPY_DST, 'COPY_DST');
      checkRange(
        'encodeGpu',
        'out.logvar',
        out.logvar,
        n * Z * 4,
        GPUBufferUsage.COPY_DST,
        'COPY_DST',
      );
    }
    return this.run(async () => {
      const e = await this.encodeEntry(this.plannedSize(n));
      this.writeLabels(e, y, 0, n);
      const encoder = this.rt.device.createCommandEncoder({ label: 'inference.encodeGpu' });
      const xr = e.cg.buffer(e.x);
      encoder.copyBufferToBuffer(x.buffer, x.offset, xr.buffer, xr.offset, n * D * 4);
      const pass = encoder.beginComputePass({ label: 'inference.encodeGpu' });
      e.cg.encode(pass);
      pass.end();
      if (!e.mu || !e.logvar) {
        throw new Error(
          `encodeGpu: the '${this.config.posterior.kind}' posterior has no mu/logvar (use encode)`,
        );
      }
      const mu = sliceRange(e.cg.buffer(e.mu), n * Z * 4);
      const logvar = sliceRange(e.cg.buffer(e.logvar), n * Z * 4);
      if (out) {
        copy(encoder, mu, out.mu);
        copy(encoder, logvar, out.logvar);
      }
      this.rt.device.queue.submit([encoder.finish()]);
      return out
        ? { mu: sliceRange(out.mu, n * Z * 4), logvar: sliceRange(out.logvar, n * Z * 4) }
        : { mu, logvar };
    });
  }

  /**
   * decode() for codes already on the GPU: `z` (n rows of Z floats, COPY_SRC usage). Returns the
   * graph's own image range (n × D floats), valid until the next call with the same planned size,
   * or copies it into `out` (COPY_DST usage) and returns that.
   */
  async decodeGpu(
    z: BufferRange,
    n: number,
    options: LatentDecodeOptions & { out?: BufferRange } = {},
  ): Promise<BufferRange> {
    const D = this.config.inputSize;
    const Z = this.config.latentSize;
    this.checkGpuRows('decodeGpu', n);
    const y = this.labelsFor('decodeGpu', options.labels, n);
    checkRange('decodeGpu', 'z', z, n * Z * 4, GPUBufferUsage.COPY_SRC, 'COPY_SRC');
    if (options.out) {
      checkRange('decodeGpu', 'out', options.out, n * D * 4, GPUBufferUsage.COPY_DST, 'COPY_DST');
    }
    return this.run(async () => {
      const d = await this.decodeEntry(this.plannedSize(n), options);
      this.writeLabels(d, y, 0, n);
      const encoder = this.rt.device.createCommandEncoder({ label: 'inference.decodeGpu' });
      const zr = d.cg.buffer(d.z);
      encoder.copyBufferToBuffer(z.buffer, z.offset, zr.buffer, zr.offset, n * Z * 4);
      this.encodeDecode(encoder, d, []);
      const images = sliceRange(d.image, n * D * 4);
      if (options.out) copy(encoder, images, options.out);
      this.rt.device.queue.submit([encoder.finish()]);
      return options.out ? sliceRange(options.out, n * D * 4) : images;
    });
  }

  /**
   * A decoder for exactly `rows` codes, outside the cache and owned by the caller: the building
   * block of frame loops (src/display), which write codes into `z` on the GPU every frame.
   */
  async createDecoderProgram(
    rows: number,
    options: LatentDecodeOptions = {},
  ): Promise<DecoderProgram> {
    checkCount('createDecoderProgram', 'rows', rows);
    const label = `decoder${rows}.program`;
    const d = await this.buildDecodeEntry(rows, options, label);
    const program = new Program(
      label,
      [...d.cg.dispatches, ...(d.post ? [d.post] : [])],
      [() => d.destroy()],
    );
    const initial = this.labelsFor('createDecoderProgram', options.labels, rows);
    this.writeLabels(d, initial, 0, rows);
    return Object.assign(program, {
      rows,
      z: d.cg.buffer(d.z),
      images: d.image,
      // Only a learned-σ decoder's image depends on alpha.
      setAlpha: (alpha: number) => d.post?.setUniforms({ alpha }),
      setLabels: (labels: Labels) =>
        this.writeLabels(d, this.labelsFor('setLabels', labels, rows), 0, rows),
    });
  }

  /** Frees the cached graphs (and the model when this object loaded it). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.cache.clear();
    this.rt.buffers.destroy(this.anchors.buffer);
    if (this.ownsModel) this.model.destroy();
  }

  // ---- internals ----

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.destroyed) return Promise.reject(new Error('inference was destroyed'));
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private *chunks(n: number): Generator<[number, number]> {
    const max = this.batchSizes.at(-1)!;
    for (let start = 0; start < n; start += max) yield [start, Math.min(max, n - start)];
  }

  private rowsOf(fn: string, name: string, data: unknown, width: number, n?: number): number {
    if (!(data instanceof Float32Array)) {
      throw new Error(
        `${fn}: ${name} must be a Float32Array (use ${fn}Gpu for GPU buffers), got ${describe(data)}`,
      );
    }
    const rows = n ?? data.length / width;
    if (!Number.isInteger(rows) || rows < 1) {
      throw new Error(
        `${fn}: ${name} holds ${data.length} values, not a whole number >= 1 of rows of ${width}` +
          (n !== undefined ? ` (n = ${n})` : ''),
      );
    }
    if (data.length < rows * width) {
      throw new Error(
        `${fn}: ${name} holds ${data.length} values, ${rows} rows of ${width} need ${rows * width}`,
      );
    }
    return rows;
  }

  private checkCode(fn: string, code: unknown): void {
    const Z = this.config.latentSize;
    if (!(code instanceof Float32Array) || code.length !== Z) {
      throw new Error(
        `${fn}: the code must be a Float32Array of ${Z} values, got ${describe(code)}`,
      );
    }
    checkFiniteArray(fn, 'code', code, Z);
  }

  private checkGridRows(fn: string, name: string, n: number): void {
    checkCount(fn, name, n);
    const max = this.batchSizes.at(-1)!;
    if (n > max) {
      throw new Error(`${fn}: ${name} = ${n} exceeds the largest planned batch size ${max}`);
    }
  }

  private checkGpuRows(fn: string, n: number): void {
    this.checkGridRows(fn, 'n', n);
  }

  /** Whether the model reads labels (condition 'label'). */
  get conditional(): boolean {
    return this.config.condition.kind === 'label';
  }

  /**
   * The labels of `rows` rows, checked against the model: required by conditional models,
   * refused by the others; a single number applies to every row.
   */
  private labelsFor(
    fn: string,
    labels: Labels | undefined,
    rows: number,
  ): Float32Array | undefined {
    if (!this.conditional) {
      if (labels !== undefined) {
        throw new Error(
          `${fn}: labels were given, but the model has no condition (condition 'none')`,
        );
      }
      return undefined;
    }
    if (labels === undefined) {
      throw new Error(
        `${fn}: the model is conditioned on labels (condition 'label'); pass the labels of the rows`,
      );
    }
    const y =
      typeof labels === 'number' ? new Float32Array(rows).fill(labels) : Float32Array.from(labels);
    if (y.length < rows) throw new Error(`${fn}: ${y.length} labels for ${rows} rows`);
    checkLabels(fn, y, rows, this.config);
    return y;
  }

  /** Writes labels [start, start + rows) into an entry's condition inputs (none: nothing). */
  private writeLabels(
    e: { cg: CompiledGraph; feeds: readonly Feed[]; rows: number },
    y: Float32Array | undefined,
    start: number,
    rows: number,
  ): void {
    if (!y) return;
    const padded = new Float32Array(e.rows);
    padded.set(y.subarray(start, start + rows));
    for (const f of e.feeds) if (f.field === 'labels') e.cg.write(f.tensor, padded);
  }

  private async decodeGenerated(
    fn: string,
    spec: LatentCodeSpec,
    rows: number,
    base: Float32Array,
    options: LatentDecodeOptions,
  ): Promise<Decoded> {
    this.checkGridRows(fn, 'rows', rows);
    latentCodeUniforms(spec, rows, this.config.latentSize);
    const y = this.labelsFor(fn, options.labels, rows);
    return this.run(async () => {
      const d = await this.decodeEntry(this.plannedSize(rows), options);
      this.writeLabels(d, y, 0, rows);
      const codes = await this.prepareCodes(d, spec, rows);
      this.writeAnchors(base);
      this.submitDecode(d, [codes]);
      return {
        codes: await this.readCodes(d, rows),
        images: await this.readImages(d, rows),
        rows,
      };
    });
  }

  private writeAnchors(a: Float32Array, b?: Float32Array): void {
    const Z = this.config.latentSize;
    const both = new Float32Array(2 * Z);
    both.set(a, 0);
    if (b) both.set(b, Z);
    this.rt.device.queue.writeBuffer(this.anchors.buffer, 0, both);
  }

  /** The codes dispatch of an entry for a mode, with this spec's uniforms. */
  private async prepareCodes(
    d: DecodeEntry,
    spec: LatentCodeSpec,
    rows: number,
  ): Promise<PreparedDispatch> {
    const Z = this.config.latentSize;
    let p = d.codes.get(spec.mode);
    if (!p) {
      p = await prepareLatentCodes(this.rt, {
        codes: d.cg.buffer(d.z),
        anchors: this.anchors,
        spec: { ...spec },
        rows: d.rows,
        latent: Z,
        label: `inference.codes.${spec.mode}${d.rows}`,
      });
      d.codes.set(spec.mode, p);
    }
    p.setUniforms(latentCodeUniforms(spec, rows, Z));
    return p;
  }

  private encodeDecode(
    encoder: GPUCommandEncoder,
    d: DecodeEntry,
    before: readonly PreparedDispatch[],
  ): void {
    const pass = encoder.beginComputePass({ label: 'inference.decode' });
    for (const p of before) p.encode(pass);
    d.cg.encode(pass);
    d.post?.encode(pass);
    pass.end();
  }

  private submitDecode(d: DecodeEntry, before: readonly PreparedDispatch[] = []): void {
    const encoder = this.rt.device.createCommandEncoder({ label: 'inference.decode' });
    this.encodeDecode(encoder, d, before);
    this.rt.device.queue.submit([encoder.finish()]);
  }

  private submitEncodeDecode(e: EncodeEntry, d: DecodeEntry, R: number): void {
    const Z = codeWidth(this.config);
    const encoder = this.rt.device.createCommandEncoder({ label: 'inference.reconstruct' });
    const pass = encoder.beginComputePass({ label: 'inference.encode' });
    e.cg.encode(pass);
    pass.end();
    copy(encoder, sliceRange(e.cg.buffer(e.code), R * Z * 4), d.cg.buffer(d.z));
    this.encodeDecode(encoder, d, []);
    this.rt.device.queue.submit([encoder.finish()]);
  }

  private async readImages(d: DecodeEntry, rows: number): Promise<Float32Array> {
    const bytes = rows * this.config.inputSize * 4;
    return (await readFloats(this.rt.device, sliceRange(d.image, bytes))).subarray(0, bytes / 4);
  }

  private async readCodes(d: DecodeEntry, rows: number): Promise<Float32Array> {
    const bytes = rows * codeWidth(this.config) * 4;
    return (await readFloats(this.rt.device, sliceRange(d.cg.buffer(d.z), bytes))).subarray(
      0,
      bytes / 4,
    );
  }

  private cached<T extends { destroy(): void }>(key: string, build: () => Promise<T>): Promise<T> {
    return this.cache.getOrCreate(key, build) as Promise<T>;
  }

  /** Graphs currently compiled (tests): keys 'encode<rows>' and 'decode<rows>', LRU first. */
  get cachedGraphs(): string[] {
    return [...this.cache.keys()];
  }

  private classifyEntry(rows: number): Promise<ClassifyEntry> {
    return this.cached(`classify${rows}`, async () => {
      const cgr = buildClassifierGraph(this.config, rows);
      const cg = await CompiledGraph.compile(this.rt, cgr.graph, {
        params: this.model.paramBuffers(),
        ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
        label: `${this.model.label}.infer.classify${rows}`,
      });
      return { cg, feeds: cgr.feeds, probs: cgr.probs, destroy: () => cg.destroy() };
    });
  }

  private encodeEntry(rows: number): Promise<EncodeEntry> {
    return this.cached(`encode${rows}`, async () => {
      const eg = buildEncoderGraph(this.config, rows);
      const { mu, logvar } = eg.outputs;
      const cg = await CompiledGraph.compile(this.rt, eg.graph, {
        params: this.model.paramBuffers(),
        ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
        label: `${this.model.label}.infer.encode${rows}`,
      });
      return {
        rows,
        x: eg.x,
        feeds: eg.feeds,
        mu,
        logvar,
        code: eg.mean,
        outputs: eg.outputs,
        cg,
        destroy: () => cg.destroy(),
      };
    });
  }

  private completionEntry(rows: number): Promise<CompletionEntry> {
    return this.cached(`complete${rows}`, async () => {
      const cgraph = buildCompletionGraph(this.config, rows, this.options.seed ?? 0);
      const cg = await CompiledGraph.compile(this.rt, cgraph.graph, {
        params: this.model.paramBuffers(),
        ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
        label: `${this.model.label}.infer.complete${rows}`,
      });
      return {
        rows,
        feeds: cgraph.feeds,
        output: cgraph.output,
        missing: cgraph.missing,
        cg,
        destroy: () => cg.destroy(),
      };
    });
  }

  private async decodeEntry(rows: number, options: LatentDecodeOptions): Promise<DecodeEntry> {
    const alpha = options.alpha ?? 0;
    if (!Number.isFinite(alpha)) throw new Error(`decode: alpha must be finite, got ${alpha}`);
    const d = await this.cached(`decode${rows}`, () =>
      this.buildDecodeEntry(rows, {}, `infer.decode${rows}`),
    );
    d.post?.setUniforms({ alpha });
    return d;
  }

  private async buildDecodeEntry(
    rows: number,
    options: LatentDecodeOptions,
    label: string,
  ): Promise<DecodeEntry> {
    const D = this.config.inputSize;
    // Sigmoid (Bernoulli) and identity (fixed σ) happen in the last layer's epilogue: its output
    // is the image. Only a learned σ's mean + alpha·σ needs a pass of its own.
    const dg = buildDecoderGraph(this.config, rows, { images: true });
    if (dg.feeds.some((f) => f.field === 'images')) {
      // Its x_obs would have to come with every code; complete() draws z and decodes in one graph.
      throw new Error(
        `inference: the model's decoder reads the observed pixels of each image (condition ` +
          `'${this.config.condition.kind}'); decode, sample, reconstruct and the latent views do ` +
          'not take them: use complete(x)',
      );
    }
    const { z, output, logSigma } = dg;
    const cg = await CompiledGraph.compile(this.rt, dg.graph, {
      params: this.model.paramBuffers(),
      ...(this.options.matmulVariant ? { matmulVariant: this.options.matmulVariant } : {}),
      label: `${this.model.label}.${label}`,
    });
    let owned: BufferRange | undefined;
    let post: PreparedDispatch | undefined;
    if (logSigma) {
      try {
        owned = this.rt.buffers.storage(`${this.model.label}.${label}.image`, rows * D * 4);
        post = await prepareDecodeOutputSigma(this.rt, {
          image: owned,
          mean: cg.buffer(output),
          logSigma: cg.buffer(logSigma),
          n: rows * D,
          alpha: options.alpha ?? 0,
          label: `${label}.output`,
        });
      } catch (error) {
        cg.destroy();
        if (owned) this.rt.buffers.destroy(owned.buffer);
        throw error;
      }
    }
    const entry: DecodeEntry = {
      rows,
      z,
      feeds: dg.feeds,
      cg,
      image: owned ?? cg.buffer(output),
      post,
      codes: new Map(),
      noise: undefined,
      destroy: () => {
        cg.destroy();
        post?.destroy();
        for (const p of entry.codes.values()) p.destroy();
        entry.noise?.destroy();
        if (owned) this.rt.buffers.destroy(owned.buffer);
      },
    };
    return entry;
  }
}

function copy(encoder: GPUCommandEncoder, from: BufferRange, to: BufferRange): void {
  encoder.copyBufferToBuffer(from.buffer, from.offset, to.buffer, to.offset, from.size);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as Float32Array).length})`;
  if (typeof v === 'object' && 'buffer' in v) return 'a BufferRange';
  return typeof v;
}

function checkCount(fn: string, name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${fn}: ${name} must be an integer >= 1, got ${n}`);
  }
}

/** The classes of a model with a classifier (objective 'm2' on a label condition). */
function classesOf(config: ResolvedVaeConfig, fn: string): number {
  if (config.objective.kind !== 'm2' || config.condition.kind !== 'label') {
    throw new Error(
      `${fn}: the model has no classifier q(y|x) (objective '${config.objective.kind}'; objective 'm2' has one)`,
    );
  }
  return config.condition.classes;
}

function checkFiniteArray(fn: string, name: string, data: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new Error(`${fn}: ${name}[${i}] is ${data[i]} (inputs must be finite)`);
    }
  }
}

function checkRange(
  fn: string,
  name: string,
  r: BufferRange,
  bytes: number,
  usage: number,
  usageName: string,
): void {
  if (typeof r !== 'object' || r === null || !('buffer' in r) || !('offset' in r)) {
    throw new Error(`${fn}: ${name} must be a BufferRange { buffer, offset, size }`);
  }
  if (r.offset % 4 !== 0)
    throw new Error(`${fn}: ${name}.offset ${r.offset} is not a multiple of 4`);
  if (r.size < bytes || r.offset + bytes > r.buffer.size) {
    throw new Error(
      `${fn}: ${name} holds ${Math.floor(r.size / 4)} floats, ${bytes / 4} are needed`,
    );
  }
  if ((r.buffer.usage & usage) === 0) {
    throw new Error(`${fn}: ${name}'s buffer '${r.buffer.label}' lacks the ${usageName} usage`);
  }
}

/** encode(x, n) / encode(x, labels): a number is the row count, an array the labels. */
function splitArgs(
  nOrLabels: number | ArrayLike<number> | undefined,
  options: LabelOptions,
): { n: number | undefined; labels: Labels | undefined } {
  if (typeof nOrLabels === 'number' || nOrLabels === undefined) {
    return { n: nOrLabels, labels: options.labels };
  }
  if (options.labels !== undefined) {
    throw new Error('labels were given twice (as the second argument and in the options)');
  }
  return { n: undefined, labels: nOrLabels };
}
