// The model description: a plain JSON object with a `version` and one section per part of the
// VAE (encoder, posterior, prior, decoder, likelihood, objective, condition), its validation, and
// the layers and parameters it implies. Every unknown or misplaced field is an error naming it.
// Version 1 (no `version` field; checkpoints written before sections existed) had beta, capacity
// and reduction at the top level and is read as version 2 with an ELBO objective section.
import type { Likelihood } from '../kernels/likelihood.js';
import { checkFields, checkKind, checkObject, checkSize, fail } from './fields.js';
import {
  CONDITIONS,
  OBJECTIVES,
  POSTERIORS,
  PRIORS,
  type ConditionConfig,
  type ObjectiveConfig,
  type PosteriorConfig,
  type PriorConfig,
} from './kinds.js';
import {
  convChain,
  convParams,
  linearChain,
  linearParams,
  resolveDecoder,
  resolveEncoder,
  resolveGeometry,
  resolveLikelihood,
  type ConvSpec,
  type DecoderConfig,
  type EncoderConfig,
  type LinearSpec,
  type ParameterSpec,
  type ResolvedDecoderConfig,
  type ResolvedEncoderConfig,
} from './layers.js';
import type { ConditionWidths, ModelShape, SectionKind } from './sections.js';
import {
  MASKINGS,
  checkMasking,
  maskingWidths,
  type MaskingConfig,
  type RandomMaskingConfig,
} from './masking/kinds.js';
import type { CapacityConfig } from './objective/elbo.js';

export type { ConditionConfig, ObjectiveConfig, PosteriorConfig, PriorConfig } from './kinds.js';
export type {
  ConvLayerConfig,
  ConvSpec,
  DecoderConfig,
  EncoderConfig,
  LinearSpec,
  MlpConfig,
  ParameterSpec,
  ResolvedConvLayer,
  ResolvedDecoderConfig,
  ResolvedEncoderConfig,
} from './layers.js';
export type { CapacityConfig } from './objective/elbo.js';
export type { M2ClassifierConfig, M2ObjectiveConfig } from './objective/m2.js';
export type {
  BlockMaskingConfig,
  MaskingCommon,
  MaskingConfig,
  NoMaskingConfig,
  PixelsMaskingConfig,
  QuadrantMaskingConfig,
  RandomMaskingConfig,
} from './masking/kinds.js';

/**
 * A `{ kind, ... }` section as written: its kind and any of that kind's fields; defaults fill the
 * others, and resolveVaeConfig names a required one that is missing.
 */
export type SectionInput<C extends { kind: string }> = C extends unknown
  ? { kind: C['kind'] } & Partial<Omit<C, 'kind'>>
  : never;

/** The version this library writes. */
export const MODEL_VERSION = 2;

/** The largest latent size a model description may have: `latentSize` must be in 1..256. */
export const MAX_LATENT_SIZE = 256;

/**
 * A model description as written by hand or stored in a checkpoint (version 2, or 1): plain JSON
 * data, one section per part of the VAE. {@link resolveVaeConfig} validates it and fills the
 * defaults; every model, trainer and checkpoint takes it. An unknown or misplaced field is an
 * error that names it.
 *
 * @example A conditional β-VAE on MNIST-sized inputs
 * ```ts
 * const config: VaeConfig = {
 *   version: 2,
 *   inputSize: 784,
 *   latentSize: 16,
 *   encoder: { hidden: [512, 256], activation: 'relu' },
 *   decoder: { hidden: [256, 512], activation: 'relu' },
 *   likelihood: { kind: 'bernoulli' },
 *   objective: { kind: 'elbo', beta: 4 },
 *   condition: { kind: 'label', classes: 10 },
 * };
 * ```
 */
export interface VaeConfig {
  /** 2 (absent: version 1). */
  version?: number;
  /** D: values per example (784 for 28×28 images). */
  inputSize: number;
  /**
   * (C, H, W) of an example, C·H·W = inputSize, NCHW. Needed by conv layers; default with conv
   * layers: [1, s, s] when inputSize = s² (784 → [1, 28, 28]).
   */
  inputShape?: readonly [number, number, number];
  /** Z: latent dimensions, 1..256. */
  latentSize: number;
  /** The encoder: optional conv layers, then dense hidden layers (see {@link EncoderConfig}). */
  encoder: EncoderConfig;
  /** q(z|x) (default { kind: 'diagonal' }). */
  posterior?: SectionInput<PosteriorConfig>;
  /** p(z) (default { kind: 'standard-normal' }). */
  prior?: SectionInput<PriorConfig>;
  /** The decoder: dense hidden layers, then optional deconv layers (see {@link DecoderConfig}). */
  decoder: DecoderConfig;
  /** Decoder likelihood p(x|z) (default Bernoulli on logits). */
  likelihood?: Likelihood;
  /** The loss (default { kind: 'elbo', beta: 1, reduction: 'sum' }). */
  objective?: SectionInput<ObjectiveConfig>;
  /** Extra inputs the model is conditioned on (default { kind: 'none' }). */
  condition?: SectionInput<ConditionConfig>;
  /** Random missing pixels while training, for inpainting (default { kind: 'none' }). */
  masking?: SectionInput<MaskingConfig>;
  /** Version 1 only: now objective.beta. */
  beta?: number;
  /** Version 1 only: now objective.capacity. */
  capacity?: CapacityConfig | null;
  /** Version 1 only: now objective.reduction. */
  reduction?: 'sum' | 'mean';
}

/** A model description with every default filled in (what checkpoints store). */
export interface ResolvedVaeConfig {
  /** Always 2: a version 1 description is resolved into version 2. */
  version: 2;
  /** D: values per example. */
  inputSize: number;
  /** (C, H, W); present when given or when the model has conv layers. */
  inputShape?: [number, number, number];
  /** Z: latent dimensions. */
  latentSize: number;
  /** The encoder with its activation and conv layers' defaults filled in. */
  encoder: ResolvedEncoderConfig;
  /** q(z|x). */
  posterior: PosteriorConfig;
  /** p(z). */
  prior: PriorConfig;
  /** The decoder with its activation, deconv layers' defaults and `reshape` filled in. */
  decoder: ResolvedDecoderConfig;
  /** p(x|z). */
  likelihood: Likelihood;
  /** The loss, with every field of its kind. */
  objective: ObjectiveConfig;
  /** The condition, with every field of its kind. */
  condition: ConditionConfig;
  /** Random missing pixels while training, with every field of its kind; absent: none. */
  masking?: RandomMaskingConfig;
}

const V2_FIELDS = [
  'version',
  'inputSize',
  'inputShape',
  'latentSize',
  'encoder',
  'posterior',
  'prior',
  'decoder',
  'likelihood',
  'objective',
  'condition',
  'masking',
] as const;
const V1_FIELDS = [
  'inputSize',
  'inputShape',
  'latentSize',
  'encoder',
  'decoder',
  'likelihood',
  'beta',
  'capacity',
  'reduction',
] as const;

/** Resolves a `{ kind, ... }` section with its kind's fields and defaults. */
function resolveSection<C extends { kind: string }>(
  path: string,
  raw: unknown,
  kinds: Readonly<Record<string, SectionKind<C>>>,
  fallback: string,
  model: ModelShape,
): C {
  const section =
    raw === undefined || raw === null
      ? { kind: fallback }
      : checkObject(
          path,
          raw,
          `{ kind: ${Object.keys(kinds)
            .map((k) => `'${k}'`)
            .join(' | ')}, ... }`,
        );
  const kind = checkKind(path, section, Object.keys(kinds));
  const def = kinds[kind]!;
  checkFields(section, path, ['kind', ...def.fields]);
  return def.resolve(section, path, model);
}

/** Version 1 fields as a version 2 description (objective section from beta/capacity/reduction). */
function fromVersion1(raw: Record<string, unknown>): Record<string, unknown> {
  checkFields(raw, '', V1_FIELDS, {
    posterior: 'a version 2 description (add "version": 2)',
    prior: 'a version 2 description (add "version": 2)',
    objective: 'a version 2 description (add "version": 2)',
    condition: 'a version 2 description (add "version": 2)',
  });
  const { beta, capacity, reduction, ...rest } = raw;
  const objective: Record<string, unknown> = { kind: 'elbo' };
  if (beta !== undefined) objective.beta = beta;
  if (capacity !== undefined && capacity !== null) objective.capacity = capacity;
  if (reduction !== undefined) objective.reduction = reduction;
  return { ...rest, version: MODEL_VERSION, objective };
}

/**
 * Validates a description (also one read from a checkpoint, version 1 or 2) and fills defaults.
 *
 * @returns The version 2 description every part of the library works from (what checkpoints store).
 * @throws Error `vae config: …` naming the first bad field: an unknown or misplaced field (with a
 *   suggestion), a missing or out-of-range size, an unknown kind or activation, or conv layer
 *   geometry that does not fit inputShape.
 * @example
 * ```ts
 * const resolved = resolveVaeConfig(mlpVaePreset(20));
 * resolved.objective; // { kind: 'elbo', beta: 1, reduction: 'sum' }
 * ```
 */
export function resolveVaeConfig(config: VaeConfig): ResolvedVaeConfig {
  let raw = checkObject('the model description', config, '{ version, inputSize, latentSize, ... }');
  if (raw.version === undefined) raw = fromVersion1(raw);
  else if (raw.version !== MODEL_VERSION) {
    fail(
      `version must be ${MODEL_VERSION} (or absent for version 1), got ${JSON.stringify(raw.version)}`,
    );
  } else {
    checkFields(raw, '', V2_FIELDS, {
      beta: 'objective (objective.beta)',
      capacity: 'objective (objective.capacity)',
      reduction: 'objective (objective.reduction)',
      hidden: 'encoder or decoder',
      activation: 'encoder or decoder',
      conv: 'encoder (encoder.conv)',
      deconv: 'decoder (decoder.deconv)',
      samples: 'objective (objective.samples, with kind iwae)',
      classes: 'condition (condition.classes, with kind label)',
    });
  }
  const model: ModelShape = {
    inputSize: checkSize('inputSize', raw.inputSize),
    latentSize: checkSize('latentSize', raw.latentSize, maxLatentSize(raw.posterior)),
  };
  const encoder = resolveEncoder(raw.encoder);
  const decoder = resolveDecoder(raw.decoder);
  const likelihood = resolveLikelihood(raw.likelihood);
  const condition = resolveSection('condition', raw.condition, CONDITIONS, 'none', model);
  const masking = resolveSection<MaskingConfig>('masking', raw.masking, MASKINGS, 'none', model);
  const widths = encoderWidths(condition, masking, encoder.conv !== undefined, model);
  const posterior = resolveSection('posterior', raw.posterior, POSTERIORS, 'diagonal', model);
  const inputShape = resolveGeometry(
    encoder,
    decoder,
    raw.inputShape,
    { ...model, latentSize: latentLayers(posterior, model)[0]!, likelihood, widths },
    (grid) =>
      POSTERIORS[posterior.kind]!.checkLayers?.(posterior, 'posterior', {
        latentSize: model.latentSize,
        encoder,
        decoder,
        grid,
        widths,
      }),
  );
  const resolved: ResolvedVaeConfig = {
    version: 2,
    inputSize: model.inputSize,
    latentSize: model.latentSize,
    encoder,
    posterior,
    prior: resolveSection('prior', raw.prior, PRIORS, 'standard-normal', model),
    decoder,
    likelihood,
    objective: resolveSection('objective', raw.objective, OBJECTIVES, 'elbo', model),
    condition,
  };
  if (inputShape) resolved.inputShape = inputShape;
  PRIORS[resolved.prior.kind]!.check?.(resolved.prior, resolved, 'prior');
  if (
    POSTERIORS[posterior.kind]!.density === false &&
    OBJECTIVES[resolved.objective.kind]!.needsDensity
  ) {
    fail(
      `objective.kind '${resolved.objective.kind}' needs the posterior's density log q(z|x); ` +
        `posterior.kind '${posterior.kind}' has none (use objective.kind 'elbo')`,
    );
  }
  CONDITIONS[condition.kind]!.check?.(condition, 'condition', { ...model, inputShape, likelihood });
  const priorKind = PRIORS[resolved.prior.kind]!;
  if (priorKind.conditional && widths.context === 0) {
    fail(
      `prior.kind '${resolved.prior.kind}' reads the condition; condition.kind '${condition.kind}' ` +
        `gives it nothing (use condition 'quadrants' or 'label')`,
    );
  }
  if (masking.kind !== 'none') {
    checkMasking(masking, 'masking', { inputSize: model.inputSize, inputShape, likelihood });
    resolved.masking = masking;
  }
  OBJECTIVES[resolved.objective.kind]!.check?.(resolved.objective, resolved);
  return resolved;
}

/** The bound on latentSize: MAX_LATENT_SIZE, or what the raw posterior section's kind allows. */
function maxLatentSize(raw: unknown): number {
  if (typeof raw !== 'object' || raw === null) return MAX_LATENT_SIZE;
  const section = raw as Record<string, unknown>;
  // Own keys only: 'toString' is `in` every object.
  const kind =
    typeof section.kind === 'string' && Object.hasOwn(POSTERIORS, section.kind)
      ? POSTERIORS[section.kind]
      : undefined;
  return kind?.maxLatentSize?.(section) ?? MAX_LATENT_SIZE;
}

/**
 * Widths of the posterior's stochastic layers from the decoder's input up to the code
 * (latentSize): [latentSize] but for a hierarchy. Given noise holds them side by side.
 */
export function latentLayers(posterior: PosteriorConfig, model: ModelShape): number[] {
  return POSTERIORS[posterior.kind]!.latents?.(posterior, model) ?? [model.latentSize];
}

/**
 * Values per row that decode() takes: latentSize, or what the posterior's decoder input reads
 * instead (vq: latentSize/dim code indices).
 */
export function codeWidth(config: ResolvedVaeConfig): number {
  return (
    POSTERIORS[config.posterior.kind]!.codeWidth?.(config.posterior, config) ?? config.latentSize
  );
}

/** Extra input widths of the layers: the condition's, plus the mask when fed to the encoder. */
export function encoderWidths(
  condition: ConditionConfig,
  masking: MaskingConfig | undefined,
  hasEncoderConv: boolean,
  model: ModelShape,
): ConditionWidths {
  const c = conditionWidths(condition, hasEncoderConv, model);
  const m = maskingWidths(masking, hasEncoderConv, model.inputSize);
  return {
    encoderChannels: c.encoderChannels + m.encoderChannels,
    encoderFeatures: c.encoderFeatures + m.encoderFeatures,
    decoderFeatures: c.decoderFeatures,
    context: c.context,
  };
}

export function conditionWidths(
  condition: ConditionConfig,
  hasEncoderConv: boolean,
  model: ModelShape,
): ConditionWidths {
  return CONDITIONS[condition.kind]!.widths(condition, hasEncoderConv, model);
}

/** Every layer of the model in module order (see parameterSpecs). */
export interface VaeLayers {
  encoderConv: ConvSpec[];
  encoderHidden: LinearSpec[];
  /**
   * The posterior's heads on the encoder's top features (diagonal: encoder.mu, encoder.logvar;
   * full: those and encoder.lower).
   */
  heads: LinearSpec[];
  /** The posterior's conv heads on the last encoder conv output (vq grid: encoder.ze). */
  convHeads: ConvSpec[];
  decoderHidden: LinearSpec[];
  /** (C, h, w) the last dense output is viewed as, with deconv layers. */
  decoderReshape: [number, number, number] | undefined;
  decoderDeconv: ConvSpec[];
  /** decoder.out: the output layer of MLP decoders; undefined with deconv layers. */
  out: LinearSpec | undefined;
  logSigma: LinearSpec | undefined;
}

/**
 * The model's layers in module order:
 *   encoder.conv.0 … (Conv2d, activation; flattened), encoder.0 … encoder.{n-1} (hidden,
 *   activation), the posterior's heads (encoder.mu, encoder.logvar for the diagonal Gaussian, and
 *   encoder.lower after them for the full-covariance one; a vq grid's 1×1 Conv2d encoder.ze on
 *   the last conv output instead),
 *   decoder.0 … decoder.{m-1} (hidden, activation), then either decoder.deconv.0 …
 *   (ConvTranspose2d on the last hidden output viewed as decoder.reshape; activation after all but
 *   the last) or decoder.out (logits or means), decoder.logsigma (gaussian-learned only).
 * A condition widens the first encoder conv layer (channels) or the first dense layer it enters,
 * and a masking section with `channels` the encoder's input (one channel, or D features),
 * and the decoder's first layer.
 */
export function vaeLayers(config: ResolvedVaeConfig): VaeLayers {
  const widths = encoderWidths(
    config.condition,
    config.masking,
    config.encoder.conv !== undefined,
    config,
  );
  let encoderConv: ConvSpec[] = [];
  if (config.encoder.conv) {
    const [c, h, w] = config.inputShape!;
    encoderConv = convChain(
      'encoder.conv',
      config.encoder.conv,
      [c + widths.encoderChannels, h, w],
      false,
    );
  }
  const lastConv = encoderConv.at(-1);
  const encIn =
    (lastConv ? lastConv.outChannels * lastConv.outHeight * lastConv.outWidth : config.inputSize) +
    widths.encoderFeatures;
  const encoderHidden = linearChain('encoder', encIn, config.encoder.hidden);
  const encOut = config.encoder.hidden.at(-1) ?? encIn;
  const posterior = POSTERIORS[config.posterior.kind]!;
  const heads = posterior.heads(config.posterior, config, encOut);
  const convHeads = lastConv
    ? (posterior.convHeads?.(config.posterior, [
        lastConv.outChannels,
        lastConv.outHeight,
        lastConv.outWidth,
      ]) ?? [])
    : [];
  const decIn = latentLayers(config.posterior, config)[0]! + widths.decoderFeatures;
  const decoderHidden = linearChain('decoder', decIn, config.decoder.hidden);
  const decOut = config.decoder.hidden.at(-1) ?? decIn;
  const reshape = config.decoder.deconv ? config.decoder.reshape : undefined;
  const decoderDeconv =
    config.decoder.deconv && reshape
      ? convChain('decoder.deconv', config.decoder.deconv, reshape, true)
      : [];
  const dense = decoderDeconv.length === 0;
  return {
    encoderConv,
    encoderHidden,
    heads,
    convHeads,
    decoderHidden,
    decoderReshape: dense ? undefined : reshape,
    decoderDeconv,
    out: dense ? { name: 'decoder.out', inSize: decOut, outSize: config.inputSize } : undefined,
    logSigma:
      dense && config.likelihood.kind === 'gaussian-learned'
        ? { name: 'decoder.logsigma', inSize: decOut, outSize: config.inputSize }
        : undefined,
  };
}

/** Every parameter in module order (weight then bias per layer): the flat buffer's layout. */
export function parameterSpecs(config: ResolvedVaeConfig): ParameterSpec[] {
  const l = vaeLayers(config);
  return [
    ...l.encoderConv.flatMap(convParams),
    ...[...l.encoderHidden, ...l.heads].flatMap(linearParams),
    ...l.convHeads.flatMap(convParams),
    ...(POSTERIORS[config.posterior.kind]!.params?.(config.posterior, config) ?? []),
    ...l.decoderHidden.flatMap(linearParams),
    ...l.decoderDeconv.flatMap(convParams),
    ...[...(l.out ? [l.out] : []), ...(l.logSigma ? [l.logSigma] : [])].flatMap(linearParams),
    ...(PRIORS[config.prior.kind]!.params?.(
      config.prior,
      config,
      conditionWidths(config.condition, config.encoder.conv !== undefined, config).context,
    ) ?? []),
    ...(OBJECTIVES[config.objective.kind]!.params?.(config.objective, config) ?? []),
  ];
}

/**
 * A conv VAE for 28×28 single-channel images (Bernoulli, relu), as a version 2 description with
 * `latentSize` latent dimensions (default 20): encoder Conv2d 1→32 (k4 s2 p1,
 * 28→14), Conv2d 32→64 (14→7), flatten, dense 256, mu/logvar; decoder dense 256, dense 64·7·7,
 * reshape (64, 7, 7), ConvTranspose2d 64→32 (7→14), ConvTranspose2d 32→1 (14→28) logits.
 */
export function convVaePreset(latentSize = 20): VaeConfig {
  const down = { kernel: 4, stride: 2, padding: 1 };
  return {
    version: MODEL_VERSION,
    inputSize: 784,
    inputShape: [1, 28, 28],
    latentSize,
    encoder: {
      conv: [
        { channels: 32, ...down },
        { channels: 64, ...down },
      ],
      hidden: [256],
      activation: 'relu',
    },
    decoder: {
      hidden: [256, 64 * 7 * 7],
      reshape: [64, 7, 7],
      deconv: [
        { channels: 32, ...down },
        { channels: 1, ...down },
      ],
      activation: 'relu',
    },
    likelihood: { kind: 'bernoulli' },
  };
}

/**
 * A conv VQ-VAE for 28×28 single-channel images (Bernoulli, relu): encoder Conv2d 1→32 (k4 s2 p1,
 * 28→14), Conv2d 32→64 (14→7), the 1×1 Conv2d head encoder.ze 64→`dim`; each of the 7×7
 * positions quantized to the nearest of `codes` codebook vectors (posterior.grid, latentSize
 * dim·49) with EMA updates (decay 0.99) and dead-code restarts (threshold 0.9: without them the
 * codes collapse onto one in the first steps on digits); decoder ConvTranspose2d dim→32 (7→14),
 * ConvTranspose2d 32→1 (14→28) logits.
 */
export function convVqPreset(codes = 64, dim = 16): VaeConfig {
  const down = { kernel: 4, stride: 2, padding: 1 };
  return {
    version: MODEL_VERSION,
    inputSize: 784,
    inputShape: [1, 28, 28],
    latentSize: dim * 7 * 7,
    encoder: {
      conv: [
        { channels: 32, ...down },
        { channels: 64, ...down },
      ],
      hidden: [],
      activation: 'relu',
    },
    posterior: {
      kind: 'vq',
      codes,
      dim,
      grid: true,
      update: 'ema',
      decay: 0.99,
      restart: { threshold: 0.9 },
    },
    decoder: {
      hidden: [],
      deconv: [
        { channels: 32, ...down },
        { channels: 1, ...down },
      ],
      activation: 'relu',
    },
    likelihood: { kind: 'bernoulli' },
  };
}

/**
 * The pytorch/examples MNIST VAE: 784-400-`latentSize` (default 20), ReLU, Bernoulli, summed ELBO,
 * as a version 2 description. To load that project's trained weights, see
 * {@link PYTORCH_EXAMPLES_VAE}.
 */
export function mlpVaePreset(latentSize = 20): VaeConfig {
  return {
    version: MODEL_VERSION,
    inputSize: 784,
    latentSize,
    encoder: { hidden: [400], activation: 'relu' },
    decoder: { hidden: [400], activation: 'relu' },
    likelihood: { kind: 'bernoulli' },
  };
}
