// The model's graphs, composed from its sections: the training/evaluation graph (encoder,
// posterior, decoder, likelihood, objective, metrics; with `training`, the backward pass too), the
// importance weights for log p(x), and the encoder and decoder halves for inference. Nothing here
// knows a variant: each section's kind (kinds.ts) adds its part.
import { Graph, type Tensor } from '../graph/graph.js';
import { likelihoodOp } from '../graph/ops/loss.js';
import { reparamOp } from '../graph/ops/latent.js';
import { softmax } from '../graph/ops/softmax.js';
import { concatCols } from '../graph/ops/select.js';
import { addIntoOp, repeatRowsOp } from '../graph/ops/util.js';
import {
  codeWidth,
  latentLayers,
  parameterSpecs,
  vaeLayers,
  type ResolvedVaeConfig,
} from './config.js';
import { kindsOf } from './kinds.js';
import { convLayer, expandedLinear, linearLayer } from './modules.js';
import { importanceWeights } from './objective/iwae.js';
import { buildMasking, type MaskingGraph } from './masking/graph.js';
import type {
  BuildContext,
  ConditionGraph,
  DataInput,
  Metric,
  ObjectiveRows,
  PosteriorGraph,
  PriorGraph,
} from './sections.js';

/** Name of the metrics accumulator state: [loss, then each metric] summed over steps. */
export const METRICS_STATE = 'metrics';

/** A graph input written from the data each step (x from images, y from labels, …). */
export interface Feed {
  readonly tensor: Tensor;
  /** 'images', 'masks' (inference: the mask of the missing pixels) or a DataInput field. */
  readonly field: 'images' | 'masks' | DataInput['field'];
  /** Values per row. */
  readonly width: number;
  /** 'labeled': from the step's labeled examples (BatchData.labeled); absent: the batch. */
  readonly stream?: 'labeled';
}

interface Started {
  ctx: BuildContext;
  x: Tensor;
  feeds: Feed[];
  condition: ConditionGraph;
  /** The masking section's part; undefined without masking (or where a graph needs none). */
  masking: MaskingGraph | undefined;
  /** The rows the objective assembled, when it has a rows() hook (M2). */
  rows: ObjectiveRows | undefined;
}

/**
 * How a graph treats a masking section: 'drawn' (training, evaluation: a mask per step, the
 * missing pixels filled), 'given' (the mask an input named `mask`, filled likewise: golden tests),
 * 'input' (inference encoders: images arrive completed, the mask an input fed with field 'masks'
 * only when the encoder reads it) or 'off' (decoders).
 */
type MaskMode = 'drawn' | 'given' | 'input' | 'off';

/** A context, the parameters (trainable for training graphs), x and the condition's inputs. */
function start(
  config: ResolvedVaeConfig,
  rows: number,
  o: {
    training: boolean;
    seed: number;
    trainable?: ((name: string) => boolean) | undefined;
    xName?: string;
    xWidth?: number;
    masks: MaskMode;
    /** Score only the missing pixels when the section says so (false for log p(x)). */
    maskedLoss?: boolean;
    /** Let the objective assemble the rows (its rows() hook), with this many labeled rows. */
    assemble?: { labeledBatch: number };
  },
): Started {
  const g = new Graph();
  for (const spec of parameterSpecs(config)) {
    const trainable = o.training && !spec.buffer && (o.trainable?.(spec.name) ?? true);
    g.param(spec.name, spec.shape, trainable);
  }
  let streams = 0;
  const ctx: BuildContext = {
    g,
    config,
    param: (name) => g.paramNamed(name),
    training: o.training,
    seed: o.seed,
    stream: () => streams++,
  };
  const kinds = kindsOf(config);
  const assembled =
    o.assemble &&
    kinds.objective.rows?.(ctx, config.objective, {
      batch: rows,
      labeledBatch: o.assemble.labeledBatch,
    });
  let x: Tensor;
  let feeds: Feed[];
  let inputs: Record<string, Tensor> = {};
  if (assembled) {
    x = assembled.x;
    feeds = [...assembled.feeds];
    inputs = { ...assembled.inputs };
  } else {
    const width = o.xWidth ?? config.inputSize;
    x = g.input(o.xName ?? 'x', [rows, width]);
    feeds = o.xName ? [] : [{ tensor: x, field: 'images', width }];
    for (const input of kinds.condition.inputs(config.condition, config)) {
      const t = g.input(input.name, [rows, input.width]);
      inputs[input.name] = t;
      feeds.push({ tensor: t, field: input.field, width: input.width });
    }
  }
  const condition = kinds.condition.build(ctx, config.condition, inputs);
  const c = config.masking;
  if (!c || o.masks === 'off' || (o.masks === 'input' && !c.channels)) {
    return { ctx, x, feeds, condition, masking: undefined, rows: assembled };
  }
  let given: Tensor | undefined;
  if (o.masks !== 'drawn') {
    given = g.input('mask', [rows, config.inputSize]);
    if (o.masks === 'input') feeds.push({ tensor: given, field: 'masks', width: config.inputSize });
  }
  const masking = buildMasking(ctx, c, {
    rows,
    given,
    fill: o.masks !== 'input',
    lossAsConfigured: o.maskedLoss ?? false,
  });
  return { ctx, x, feeds, condition, masking, rows: assembled };
}

/** Encoder trunk: conv layers on the (conditioned) image, then the dense hidden layers. */
function encoderTrunk(s: Started): Tensor {
  const { ctx, condition } = s;
  const g = ctx.g;
  const l = vaeLayers(ctx.config);
  const act = ctx.config.encoder.activation;
  const [first, ...rest] = l.encoderHidden;
  // Rows that repeat fewer distinct images (M2: the unlabeled batch once per class): the conv
  // layers and the first dense layer's product with the image features are row-wise, so they run
  // once per image; only what the condition appends (the label) is added per row.
  const distinct = s.rows?.distinct;
  if (distinct && first && !s.masking && !condition.channels) {
    let h = distinct.images;
    for (const spec of l.encoderConv) h = convLayer(ctx, spec, h, act);
    h = expandedLinear(ctx, first, h, condition.features, distinct.expand, act);
    for (const spec of rest) h = linearLayer(ctx, spec, h, act);
    return h;
  }
  let h = s.masking ? s.masking.image(s.x) : s.x;
  if (condition.channels) h = concatCols(g, 'x.labelled', [h, condition.channels]);
  for (const spec of l.encoderConv) h = convLayer(ctx, spec, h, act);
  // The first dense layer reads the conv output flattened: the same row-major values.
  if (condition.features) h = concatCols(g, `${h.name}.labelled`, [h, condition.features]);
  for (const spec of l.encoderHidden) h = linearLayer(ctx, spec, h, act);
  return h;
}

/**
 * z (R, Z) -> output (R, D) (logits or means) [, logSigma (R, D)]. With deconv layers, the last
 * dense output is read as (R, C, h, w) (decoder.reshape) and the last deconv layer writes the
 * output as (R, D): views of the same row-major values.
 */
function decoder(
  ctx: BuildContext,
  condition: ConditionGraph,
  z: Tensor,
  samples: number,
  outputActivation: 'identity' | 'sigmoid' = 'identity',
): { output: Tensor; logSigma: Tensor | undefined } {
  const config = ctx.config;
  const l = vaeLayers(config);
  let h = condition.latent(z, samples);
  for (const spec of l.decoderHidden) h = linearLayer(ctx, spec, h, config.decoder.activation);
  if (!l.out) {
    const R = z.rows;
    l.decoderDeconv.forEach((spec, i) => {
      const last = i === l.decoderDeconv.length - 1;
      const act = spec.activated ? config.decoder.activation : last ? outputActivation : 'identity';
      h = convLayer(ctx, spec, h, act, last ? [R, config.inputSize] : undefined);
    });
    return { output: h, logSigma: undefined };
  }
  return {
    output: linearLayer(ctx, l.out, h, outputActivation),
    logSigma: l.logSigma ? linearLayer(ctx, l.logSigma, h, 'identity') : undefined,
  };
}

/** The posterior (K samples per example), the prior, the decoder and the per-row NLL. */
function model(
  s: Started,
  samples: number,
  eps: Tensor | undefined,
): {
  posterior: PosteriorGraph;
  prior: PriorGraph;
  output: Tensor;
  logSigma: Tensor | undefined;
  nll: Tensor;
} {
  const { ctx } = s;
  const config = ctx.config;
  const kinds = kindsOf(config);
  const h = encoderTrunk(s);
  const posterior = kinds.posterior.build(ctx, config.posterior, h, { samples, eps });
  const prior = kinds.prior.build(ctx, config.prior, s.condition);
  const { output, logSigma } = decoder(ctx, s.condition, posterior.z, samples);
  const B = s.x.rows;
  const target =
    samples === 1
      ? s.x
      : ctx.g.add(
          repeatRowsOp,
          'x.repeat',
          { x: s.x },
          { y: [B * samples, config.inputSize] },
          {
            copies: samples,
          },
        ).out.y;
  const masked = s.masking?.scored(output, target, samples) ?? { output, target };
  const scored = s.condition.scored?.(masked.output, masked.target, samples) ?? masked;
  const nll = ctx.g.add(
    likelihoodOp,
    'likelihood',
    { output: scored.output, target: scored.target, logSigma },
    { nll: [B * samples] },
    { likelihood: config.likelihood },
  ).out.nll;
  return { posterior, prior, output, logSigma, nll };
}

export interface ModelGraph {
  graph: Graph;
  /** Inputs written from each batch (x, and the condition's inputs). */
  feeds: readonly Feed[];
  /** The batch (B, D). */
  x: Tensor;
  /** Per-step hyperparameters (H ≥ 1), named by the objective's hyperNames(). */
  hyper: Tensor;
  /** Given noise (B·K, Σ latentLayers: Z but for a hierarchy) when built with givenNoise. */
  eps: Tensor | undefined;
  /** With masking: the mask (B, D), 1 where missing (an input `mask` when built with givenMask). */
  mask: Tensor | undefined;
  posterior: PosteriorGraph;
  output: Tensor;
  logSigma: Tensor | undefined;
  /** Per-row NLL (B·K). */
  nll: Tensor;
  /** The objective (1): the batch sum of the per-example loss. */
  loss: Tensor;
  /** In accumulator order: loss first, then the objective's metrics. */
  metrics: readonly Metric[];
  /** The objective's per-example terms by name (ELBO: kl (B); IWAE: logWeights, logSumExp). */
  perExample: Readonly<Record<string, Tensor>>;
  /** The shared accumulator (metrics.length). */
  metricsState: Tensor;
  /** Gradients of the parameters (training graphs). */
  paramGrads: Tensor[];
}

export interface ModelGraphOptions {
  batch: number;
  /** Build the backward pass too. */
  training: boolean;
  /** PRNG seed of the graph's stochastic ops. */
  seed: number;
  /** Read the posterior's noise from an input `eps` instead of drawing it (golden tests). */
  givenNoise?: boolean;
  /** Which parameters get gradients (default all; frozen ones and buffers get none). */
  trainable?: (name: string) => boolean;
  /** With a masking section: read the mask from an input `mask` (B, D) instead of drawing it. */
  givenMask?: boolean;
  /**
   * Rows of the labeled stream for objectives that read one (M2; default `batch`): `batch` is
   * then the unlabeled rows.
   */
  labeledBatch?: number;
}

/**
 * The training (or evaluation) graph: every section's part, the objective's root, and the metrics
 * summed into the shared accumulator; with `training`, the backward pass too.
 */
export function buildModelGraph(config: ResolvedVaeConfig, o: ModelGraphOptions): ModelGraph {
  const s = start(config, o.batch, {
    training: o.training,
    seed: o.seed,
    trainable: o.trainable,
    masks: o.givenMask ? 'given' : 'drawn',
    maskedLoss: true,
    assemble: { labeledBatch: o.labeledBatch ?? o.batch },
  });
  const g = s.ctx.g;
  const kinds = kindsOf(config);
  const K = kinds.objective.samples(config.objective);
  const hyperNames = kinds.objective.hyperNames(config.objective);
  const hyper = g.input('hyper', [Math.max(1, hyperNames.length)]);
  const noiseWidth = latentLayers(config.posterior, config).reduce((a, b) => a + b);
  // The model's rows: the batch, or what the objective assembled from it (M2: more).
  const R = s.x.rows;
  const eps = o.givenNoise ? g.input('eps', [R * K, noiseWidth]) : undefined;
  const m = model(s, K, eps);
  const built = kinds.objective.build(s.ctx, config.objective, {
    nll: m.nll,
    posterior: m.posterior,
    prior: m.prior,
    hyper,
    batch: o.batch,
    rows: s.rows,
  });
  const metrics: Metric[] = [{ name: 'loss', value: built.loss }, ...built.metrics];
  const metricsState = g.state(METRICS_STATE, [metrics.length]);
  metrics.forEach((metric, i) => {
    g.add(
      addIntoOp,
      `metrics.${metric.name}`,
      { x: metric.value },
      { acc: metricsState },
      { offset: i },
    );
    metric.value.keep = true;
  });
  const perExample = built.perExample ?? {};
  for (const t of [m.posterior.z, m.output, m.nll, built.loss]) t.keep = true;
  if (m.posterior.top) m.posterior.top.keep = true;
  for (const t of Object.values(perExample)) t.keep = true;
  for (const t of Object.values(m.posterior.outputs)) t.keep = true;
  if (m.logSigma) m.logSigma.keep = true;
  // The step's masks stay readable after it (tests, displays of what the model saw).
  if (s.masking) s.masking.mask.keep = true;
  const paramGrads = o.training ? g.backward() : [];
  return {
    graph: g,
    feeds: s.feeds,
    x: s.x,
    hyper,
    eps,
    mask: s.masking?.mask,
    posterior: m.posterior,
    output: m.output,
    logSigma: m.logSigma,
    nll: m.nll,
    loss: built.loss,
    metrics,
    perExample,
    metricsState,
    paramGrads,
  };
}

export interface LogWeightGraph {
  graph: Graph;
  feeds: readonly Feed[];
  x: Tensor;
  /** log w (B, K). */
  logWeights: Tensor;
  /** logsumexp_k log w (B). */
  logSumExp: Tensor;
}

/**
 * The importance weights of K samples per example: log w_k = log p(x|z_k) + log p(z_k) −
 * log q(z_k|x), and their logsumexp; log p(x) ≈ logsumexp − log K (chunks combine on the CPU).
 * Any posterior and prior with log densities work.
 */
export function buildLogWeightGraph(
  config: ResolvedVaeConfig,
  o: { batch: number; samples: number; seed: number },
): LogWeightGraph {
  if (kindsOf(config).objective.rows) {
    // M2's p(x) sums over the labels, log Σ_y p(y) p(x|y): not what this graph estimates.
    throw new Error(
      `log p(x): not available for objective '${config.objective.kind}' (the model's rows ` +
        'are assembled per label); evaluate() reports its metrics',
    );
  }
  const s = start(config, o.batch, { training: false, seed: o.seed, masks: 'drawn' });
  const m = model(s, o.samples, undefined);
  const { logWeights, logSumExp } = importanceWeights(s.ctx, m.nll, m.posterior, m.prior);
  logWeights.keep = true;
  logSumExp.keep = true;
  return { graph: s.ctx.g, feeds: s.feeds, x: s.x, logWeights, logSumExp };
}

export interface EncoderGraph {
  graph: Graph;
  feeds: readonly Feed[];
  x: Tensor;
  /**
   * What encode() returns by name, each (rows, width): the posterior's parameters and report
   * (diagonal: mu, logvar (rows, Z); full: also lower (rows, Z(Z−1)/2) and scaleTril (rows, Z·Z)).
   */
  outputs: Readonly<Record<string, Tensor>>;
  /** The posterior's location (rows, Z). */
  mean: Tensor;
}

/** x [, condition inputs] -> the posterior's parameters (inference). */
export function buildEncoderGraph(config: ResolvedVaeConfig, rows: number, seed = 0): EncoderGraph {
  const s = start(config, rows, { training: false, seed, masks: 'input' });
  const kinds = kindsOf(config);
  const posterior = kinds.posterior.build(s.ctx, config.posterior, encoderTrunk(s), { samples: 1 });
  const outputs = { ...posterior.outputs, ...posterior.report?.() };
  for (const t of Object.values(outputs)) t.keep = true;
  posterior.mean.keep = true;
  return { graph: s.ctx.g, feeds: s.feeds, x: s.x, outputs, mean: posterior.mean };
}

export interface DecoderGraph {
  graph: Graph;
  /** The condition's inputs (labels…) written per call; z is written separately. */
  feeds: readonly Feed[];
  z: Tensor;
  /** The decoder's output: logits or means, or images when built with `images`. */
  output: Tensor;
  logSigma: Tensor | undefined;
}

/**
 * Codes z [, condition inputs] -> the decoder's output (inference; a hierarchy maps z first).
 * `images`: a Bernoulli decoder's last layer applies the sigmoid in its own epilogue, so the output
 * is the image (no separate output pass; a learned-σ decoder's image still needs σ added).
 */
export function buildDecoderGraph(
  config: ResolvedVaeConfig,
  rows: number,
  options: { images?: boolean } = {},
): DecoderGraph {
  const kind = kindsOf(config).posterior;
  const s = start(config, rows, {
    training: false,
    seed: 0,
    xName: 'z',
    xWidth: codeWidth(config),
    masks: 'off',
  });
  const z = kind.decoderInput?.(s.ctx, config.posterior, s.x) ?? s.x;
  const sigmoid = options.images === true && config.likelihood.kind === 'bernoulli';
  const { output, logSigma } = decoder(s.ctx, s.condition, z, 1, sigmoid ? 'sigmoid' : 'identity');
  output.keep = true;
  if (logSigma) logSigma.keep = true;
  return { graph: s.ctx.g, feeds: s.feeds, z: s.x, output, logSigma };
}

export interface CompletionGraph {
  graph: Graph;
  /** The images (the condition reads its observed pixels from them). */
  feeds: readonly Feed[];
  /** The decoder's output (rows, D) for one draw z ~ p(z|x_obs) per row. */
  output: Tensor;
  /** (rows, D): 1 where the pixel is generated, 0 where observed. */
  missing: Tensor;
}

/**
 * A completion of each row's missing pixels (inference): z ~ p(z|x_obs), one draw per row from
 * the conditional prior (noise drawn on the GPU, new for each step), decoded under x_obs. Needs a
 * condition that leaves pixels missing ('quadrants') and a conditional Gaussian prior.
 */
export function buildCompletionGraph(
  config: ResolvedVaeConfig,
  rows: number,
  seed: number,
): CompletionGraph {
  const s = start(config, rows, { training: false, seed, masks: 'off' });
  const { ctx, condition } = s;
  const prior = kindsOf(config).prior.build(ctx, config.prior, condition);
  if (!condition.missing || !prior.gaussian) {
    throw new Error(
      `complete: the model does not complete images (condition '${config.condition.kind}', ` +
        `prior '${config.prior.kind}'; completion needs condition 'quadrants' and prior 'conditional')`,
    );
  }
  const { mu, logvar } = prior.gaussian;
  const z = ctx.g.add(
    reparamOp,
    'reparam',
    { mu, logvar },
    { z: mu.shape, eps: mu.shape },
    { samples: 1, seed, stream: ctx.stream(), givenNoise: false },
  ).out.z;
  const { output } = decoder(ctx, condition, z, 1);
  output.keep = true;
  condition.missing.keep = true;
  return { graph: ctx.g, feeds: s.feeds, output, missing: condition.missing };
}

export interface ClassifierGraph {
  graph: Graph;
  /** x, written per call. */
  feeds: readonly Feed[];
  x: Tensor;
  /** Class probabilities q(y|x) (rows, classes). */
  probs: Tensor;
}

/** x -> q(y|x), for models whose objective has a classifier (M2; inference). */
export function buildClassifierGraph(config: ResolvedVaeConfig, rows: number): ClassifierGraph {
  const objective = kindsOf(config).objective;
  if (!objective.classify) {
    throw new Error(
      `classify: the model has no classifier q(y|x) (objective '${config.objective.kind}'; ` +
        "objective 'm2' has one)",
    );
  }
  const s = start(config, rows, { training: false, seed: 0, masks: 'off' });
  const logits = objective.classify(s.ctx, config.objective, s.x);
  const probs = softmax(s.ctx.g, 'classifier.probs', logits);
  probs.keep = true;
  // Only x: the condition's inputs (the labels q(y|x) predicts) are not read.
  const feeds = s.feeds.filter((f) => f.field === 'images');
  return { graph: s.ctx.g, feeds, x: s.x, probs };
}
