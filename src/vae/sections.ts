// What a kind of each section of the model description provides. A variant of the VAE is a kind
// (one file under src/vae/posterior/, prior/, objective/ or condition/, listed once in kinds.ts):
// its config fields, its parameters, and the graph it adds — never a special case in the trainer.
//
//   posterior  q(z|x): heads on the encoder's top features, samples z, log q(z|x), analytic KL
//   prior      p(z): log p(z)
//   objective  the loss from the per-row terms, its per-step hyperparameters and its metrics
//   condition  extra inputs (labels…) and where they enter the encoder and the decoder
import type { Graph, Tensor } from '../graph/graph.js';
import type { Feed } from './build.js';
import type { ResolvedVaeConfig } from './config.js';
import type { Likelihood } from '../kernels/likelihood.js';
import type {
  ConvSpec,
  LinearSpec,
  ParameterSpec,
  ResolvedDecoderConfig,
  ResolvedEncoderConfig,
} from './layers.js';

/** What a section may read of the model while it is resolved. */
export interface ModelShape {
  inputSize: number;
  latentSize: number;
}

/** One kind of a section: its fields, validation and defaults. */
export interface SectionKind<C extends { kind: string }> {
  readonly kind: C['kind'];
  /** Fields of the section besides `kind`. */
  readonly fields: readonly string[];
  /** Validates the raw section (its kind is already checked; unknown fields already rejected). */
  resolve(raw: Readonly<Record<string, unknown>>, path: string, model: ModelShape): C;
}

/** Shared state while one graph is built. */
export interface BuildContext {
  readonly g: Graph;
  readonly config: ResolvedVaeConfig;
  /** A declared parameter by module name (e.g. 'encoder.mu.weight'). */
  param(name: string): Tensor;
  /** Whether the graph gets a backward pass (ops keep their pre-activations). */
  readonly training: boolean;
  /** PRNG seed of the graph's stochastic ops. */
  readonly seed: number;
  /** A PRNG stream number no other op of this graph uses. */
  stream(): number;
}

export interface PosteriorOptions {
  /** K samples per example. */
  samples: number;
  /** Noise (B·K, Z) written by the caller instead of drawn (golden tests, fixed ε). */
  eps?: Tensor | undefined;
}

/** q(z|x) in a graph. */
export interface PosteriorGraph {
  /** (B·K, Z): sample k of example b at row b·K + k. */
  readonly z: Tensor;
  readonly samples: number;
  /**
   * The posterior's location in the code space (B, latentSize): what reconstructions and
   * data-space interpolation decode (mu; a flow's output at mu; two stochastic layers: the code's
   * mean under q(z2|z1 = mu1)). Flows and hierarchies build it on first use, so graphs that never
   * read it do not pay for it.
   */
  readonly mean: Tensor;
  /** The sample the prior scores (B·K, latentSize) when it is not z: a hierarchy's top layer. */
  readonly top?: Tensor;
  /** The posterior's parameters by name (e.g. mu and logvar), each (B, width): encode() returns them. */
  readonly outputs: Readonly<Record<string, Tensor>>;
  /**
   * What encode() returns besides `outputs`, by name (full: scaleTril, L); its ops are added on the
   * first call, so only the encoder graph pays for them.
   */
  report?(): Readonly<Record<string, Tensor>>;
  /** log q(z|x) per sample row (B·K); its ops are added on the first call. */
  logq(): Tensor;
  /**
   * log p(z|top) per sample row (B·K): the generative layers between the prior's sample and z (a
   * hierarchy); absent: none.
   */
  logpBelow?(): Tensor;
  /** KL(q ‖ p) per example (B) in closed form, or undefined when the pair has none. */
  analyticKl(prior: PriorGraph): Tensor | undefined;
  /**
   * False when the objective has no KL term: a deterministic posterior (vq, whose KL to a uniform
   * prior over its codes is a constant). Absent: true.
   */
  readonly hasKl?: boolean;
  /**
   * Loss terms of the posterior itself (vq: codebook and commitment), each per example (B) with
   * its weight in the objective; each is also reported as a metric under its name. Absent: none.
   */
  readonly losses?: readonly PosteriorLoss[];
  /** Metrics of the posterior, each a batch sum (1) reported per example (vq: perplexity). */
  readonly metrics?: readonly Metric[];
}

/** A loss term a posterior adds to the objective. */
export interface PosteriorLoss {
  /** The term's and its metric's name. */
  readonly name: string;
  /** Its constant weight in the objective. */
  readonly weight: number;
  /** Per example (B). */
  readonly value: Tensor;
}

export interface PosteriorKind<
  C extends { kind: string } = { kind: string },
> extends SectionKind<C> {
  /** Linear layers from the encoder's top features (inSize) to the posterior's parameters. */
  heads(c: C, model: ModelShape, inSize: number): LinearSpec[];
  /**
   * Conv heads on the encoder's last conv output `grid` (C, h, w), declared after the linear heads
   * (vq with `grid`: a 1×1 conv encoder.ze); absent: none.
   */
  convHeads?(c: C, grid: readonly [number, number, number]): ConvSpec[];
  /**
   * The largest latentSize the raw section allows (vq with `grid`: a whole conv grid's values);
   * absent or undefined: MAX_LATENT_SIZE.
   */
  maxLatentSize?(raw: Readonly<Record<string, unknown>>): number | undefined;
  /**
   * Checks the encoder and decoder sections against the posterior once the encoder's geometry is
   * known and before the decoder's is checked; it may fill in decoder.reshape (vq grid). `grid`:
   * the last encoder conv layer's output (C, h, w), undefined without conv layers. Absent:
   * nothing to check.
   */
  checkLayers?(c: C, path: string, layers: PosteriorLayers): void;
  /**
   * Parameters of the posterior besides its heads (e.g. a flow's global u, w, b), declared after
   * the heads in module order; absent: none.
   */
  params?(c: C, model: ModelShape): ParameterSpec[];
  /**
   * Widths of the stochastic layers from the decoder's input z up to the prior's sample (default
   * [latentSize]); given noise holds them side by side in this order.
   */
  latents?(c: C, model: ModelShape): number[];
  /**
   * Values per row of the decoder graph's input in inference (default latentSize): vq takes code
   * indices, latentSize/dim per example.
   */
  codeWidth?(c: C, model: ModelShape): number;
  /** The decoder's input from codes (R, codeWidth) in inference graphs; absent: the codes. */
  decoderInput?(ctx: BuildContext, c: C, code: Tensor): Tensor;
  /**
   * False when q(z|x) has no density (vq): objectives that need log q (iwae) and log p(x)
   * estimates refuse it. Absent: true.
   */
  readonly density?: boolean;
  /** q(z|x) from the encoder's top features h (B, inSize). */
  build(ctx: BuildContext, c: C, h: Tensor, o: PosteriorOptions): PosteriorGraph;
}

/** What a posterior's checkLayers reads (and may complete) of the layer sections. */
export interface PosteriorLayers {
  readonly latentSize: number;
  readonly encoder: ResolvedEncoderConfig;
  /** Its reshape may be filled in. */
  readonly decoder: ResolvedDecoderConfig;
  readonly grid: readonly [number, number, number] | undefined;
  readonly widths: ConditionWidths;
}

/** p(z) in a graph. */
export interface PriorGraph {
  readonly kind: string;
  /** log p(z) per row of z (R, Z) -> (R); R = B·K rows score K samples per example. */
  logp(z: Tensor): Tensor;
  /**
   * A diagonal Gaussian p(z|c) = N(mu, diag exp(logvar)) per example (B, Z) each: a conditional
   * prior, for posteriors with a closed-form KL to it. Absent: the prior is not such a Gaussian.
   */
  readonly gaussian?: { readonly mu: Tensor; readonly logvar: Tensor };
}

export interface PriorKind<C extends { kind: string } = { kind: string }> extends SectionKind<C> {
  /**
   * Parameters of the prior, declared after the decoder's: a prior network reading the
   * condition's context of `contextWidth` values per example (conditional), or the MADE over a vq
   * posterior's codes (made: non-parameter tensors of the VAE that the prior stage trains); absent:
   * none.
   */
  params?(c: C, model: ResolvedVaeConfig, contextWidth: number): ParameterSpec[];
  /** True when the prior reads the condition's context: a condition with one is required. */
  readonly conditional?: boolean;
  /** Checks the prior against the rest of the description (made: a vq posterior); absent: none. */
  check?(c: C, config: ResolvedVaeConfig, path: string): void;
  build(ctx: BuildContext, c: C, condition: ConditionGraph): PriorGraph;
}

/** A named scalar the trainer sums over steps and reports per example. */
export interface Metric {
  readonly name: string;
  /** (1): the batch sum. */
  readonly value: Tensor;
}

/** What an objective builds on: the per-row terms of the model. */
export interface ObjectiveParts {
  /** −log p(x|z) per sample row (B·K). */
  nll: Tensor;
  posterior: PosteriorGraph;
  prior: PriorGraph;
  /** The per-step hyperparameters (H ≥ 1), entries as named by hyper(). */
  hyper: Tensor;
  batch: number;
  /** The rows the objective assembled (its rows() hook), when it has one. */
  rows?: ObjectiveRows | undefined;
}

/**
 * Sizes of the training data, for per-step hyperparameters that depend on them (M2's default α).
 * The trainer knows them inside fit(); elsewhere they are absent.
 */
export interface DataSizes {
  /** N: every training example, labeled and unlabeled. */
  examples: number;
  /** The labeled ones among them. */
  labeled: number;
}

/**
 * The rows an objective assembles from several data streams (M2: a labeled batch, and an
 * unlabeled batch repeated once per class): what the encoder and decoder run on instead of x.
 */
export interface ObjectiveRows {
  /** The rows of the model (R, D). */
  x: Tensor;
  /** The condition's inputs for those rows by name (y: labels (R)). */
  inputs: Readonly<Record<string, Tensor>>;
  /**
   * When the rows repeat fewer distinct images (M2: each unlabeled image once per class): those
   * images (U, D), and the map from a tensor with a row per image (U, w) to one with a row per
   * model row (R, w). The encoder's row-wise layers up to its first dense layer then run once per
   * image (x is expand(images)).
   */
  distinct?: { images: Tensor; expand(perImage: Tensor): Tensor };
  /** The graph inputs written from the data. */
  feeds: readonly Feed[];
  /** The objective's own tensors by name (M2: xl, yl, xu), for its build(). */
  tensors: Readonly<Record<string, Tensor>>;
}

export interface ObjectiveGraph {
  /** The root op's output (1): the batch sum of the per-example loss. */
  loss: Tensor;
  /** Reported by name (besides `loss`). */
  metrics: Metric[];
  /** Per-example terms kept for reading after a step (e.g. kl (B)), by name. */
  perExample?: Readonly<Record<string, Tensor>>;
}

export interface ObjectiveKind<
  C extends { kind: string } = { kind: string },
> extends SectionKind<C> {
  /** Samples per example while training. */
  samples(c: C): number;
  /** Whether the objective needs the posterior's density log q(z|x) (iwae: yes). */
  readonly needsDensity?: boolean;
  /** Names of the per-step hyperparameters (the `hyper` input's entries). */
  hyperNames(c: C): readonly string[];
  /** Their values at a 0-based step (with the training data's sizes, when known). */
  hyperAt(c: C, step: number, data?: DataSizes): number[];
  /** Checks the objective against the rest of the resolved description (absent: nothing to check). */
  check?(c: C, config: ResolvedVaeConfig): void;
  /** Parameters of the objective's own modules (M2's classifier), after the decoder's. */
  params?(c: C, config: ResolvedVaeConfig): ParameterSpec[];
  /**
   * The training and evaluation graphs' rows, assembled from the data (absent: x and the
   * condition's inputs, `batch` rows each). `labeledBatch`: rows of the labeled stream.
   */
  rows?(ctx: BuildContext, c: C, o: { batch: number; labeledBatch: number }): ObjectiveRows;
  /** Logits of q(y|x) (R, classes) for x (R, D), when the objective has a classifier (M2). */
  classify?(ctx: BuildContext, c: C, x: Tensor): Tensor;
  build(ctx: BuildContext, c: C, parts: ObjectiveParts): ObjectiveGraph;
  /** Metrics computed on the CPU from the per-example ones (e.g. the ELBO from recon and kl). */
  derive?(c: C, metrics: Readonly<Record<string, number>>): Record<string, number>;
}

/** Which dataset field feeds a graph input, and how many values per row. */
export interface DataInput {
  /** The graph input's name. */
  readonly name: string;
  /** 'labels' (class indices) or 'images' (the example's pixels again, as the condition reads them). */
  readonly field: 'labels' | 'images';
  readonly width: number;
  /**
   * 'labeled': written from the labeled examples of a semi-supervised step (BatchData.labeled);
   * absent: from the batch itself.
   */
  readonly stream?: 'labeled';
}

/** Where a condition enters the model. */
export interface ConditionGraph {
  /**
   * Planes appended to the encoder's image as channels (B, extra·H·W), after the image's own;
   * absent: the image as given.
   */
  readonly channels?: Tensor;
  /** Columns appended to the encoder's dense features (B, extra); absent: the features as given. */
  readonly features?: Tensor;
  /** The decoder's input z (B·K, Z) -> (B·K, Z + extra), the condition repeated K times. */
  latent(z: Tensor, samples: number): Tensor;
  /** What a conditional prior p(z|c) reads (B, widths.context); absent: context width 0. */
  readonly context?: Tensor;
  /** (B, D): 1 where a completion task generates the pixel, 0 where it is observed; absent: none. */
  readonly missing?: Tensor;
  /**
   * The likelihood's output and target (B·K, D) as the condition scores them: a completion task
   * scores only the pixels it does not observe. Absent: as given.
   */
  scored?(output: Tensor, target: Tensor, samples: number): { output: Tensor; target: Tensor };
}

/** Extra sizes a condition adds to the layers it enters. */
export interface ConditionWidths {
  /** Channels added to the first encoder conv layer's input. */
  encoderChannels: number;
  /** Features added to the encoder's first dense layer (or the heads). */
  encoderFeatures: number;
  /** Features added to the decoder's first layer. */
  decoderFeatures: number;
  /** Values per example a conditional prior reads (ConditionGraph.context); 0: none. */
  context: number;
}

export interface ConditionKind<
  C extends { kind: string } = { kind: string },
> extends SectionKind<C> {
  widths(c: C, hasEncoderConv: boolean, model: ModelShape): ConditionWidths;
  /** Graph inputs the condition reads from the data. */
  inputs(c: C, model: ModelShape): readonly DataInput[];
  /**
   * Checks the condition against the model's geometry once it is known (errors name the field);
   * absent: nothing to check.
   */
  check?(
    c: C,
    path: string,
    model: ModelShape & {
      inputShape: readonly [number, number, number] | undefined;
      likelihood: Likelihood;
    },
  ): void;
  build(ctx: BuildContext, c: C, inputs: Readonly<Record<string, Tensor>>): ConditionGraph;
}
