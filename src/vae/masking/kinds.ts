// The `masking` section: training with random missing pixels (inpainting), as in the lecture
// notes. Each step draws a mask per example on the GPU (src/kernels/mask.ts, the op's own PRNG
// stream); the encoder sees the image with its missing pixels set to `fill` (and, with `channels`,
// the mask itself as extra input features or one extra conv channel); the likelihood scores the
// whole image or only the missing pixels. The kinds differ only in the pattern they draw.
import { checkMaskPattern, type MaskPattern } from '../../kernels/mask.js';
import type { Likelihood } from '../../kernels/likelihood.js';
import { checkNumber, checkSize, fail } from '../fields.js';
import type { SectionKind } from '../sections.js';

/** What every masking kind has besides its pattern. */
export interface MaskingCommon {
  /** The value missing pixels are set to in the encoder's input (default 0). */
  fill: number;
  /**
   * Feed the mask (1 missing, 0 observed) to the encoder too (default false): as extra input
   * features after the image with an MLP encoder, as one extra channel with conv layers.
   */
  channels: boolean;
  /**
   * What the likelihood scores (default 'all'): the whole image, or only the 'missing' pixels
   * (Bernoulli likelihood only).
   */
  loss: 'all' | 'missing';
}

/** Pixel dropout: each pixel missing independently with probability p. */
export interface PixelsMaskingConfig extends MaskingCommon {
  /** The masking's kind. */
  kind: 'pixels';
  /** Probability a pixel is missing, in [0, 1] (default 0.5). */
  p: number;
}

/** One random rectangle missing per example, each side uniform in [minSize, maxSize]. */
export interface BlockMaskingConfig extends MaskingCommon {
  /** The masking's kind. */
  kind: 'block';
  /** Smallest side in pixels (required), >= 1. */
  minSize: number;
  /** Largest side in pixels (required), minSize..min(H, W). */
  maxSize: number;
}

/** One of the four quadrants missing per example, chosen uniformly. */
export interface QuadrantMaskingConfig extends MaskingCommon {
  /** The masking's kind. */
  kind: 'quadrant';
}

/** No masking, the default: every pixel observed. */
export interface NoMaskingConfig {
  /** The masking's kind. */
  kind: 'none';
}

/** A masking section that draws masks: pixels, block or quadrant. */
export type RandomMaskingConfig = PixelsMaskingConfig | BlockMaskingConfig | QuadrantMaskingConfig;

const COMMON_FIELDS = ['fill', 'channels', 'loss'] as const;

function common(raw: Readonly<Record<string, unknown>>, path: string): MaskingCommon {
  const channels = raw.channels ?? false;
  if (typeof channels !== 'boolean') {
    fail(`${path}.channels must be true or false, got ${JSON.stringify(channels)}`);
  }
  const loss = raw.loss ?? 'all';
  if (loss !== 'all' && loss !== 'missing') {
    fail(`${path}.loss must be 'all' or 'missing', got ${JSON.stringify(loss)}`);
  }
  return { fill: checkNumber(`${path}.fill`, raw.fill ?? 0), channels, loss };
}

export const noMasking: SectionKind<NoMaskingConfig> = {
  kind: 'none',
  fields: [],
  resolve: () => ({ kind: 'none' }),
};

export const pixelsMasking: SectionKind<PixelsMaskingConfig> = {
  kind: 'pixels',
  fields: ['p', ...COMMON_FIELDS],
  resolve(raw, path) {
    const p = checkNumber(`${path}.p`, raw.p ?? 0.5, 0);
    if (p > 1) fail(`${path}.p must be a probability in [0, 1], got ${p}`);
    return { kind: 'pixels', p, ...common(raw, path) };
  },
};

export const blockMasking: SectionKind<BlockMaskingConfig> = {
  kind: 'block',
  fields: ['minSize', 'maxSize', ...COMMON_FIELDS],
  resolve(raw, path) {
    const minSize = checkSize(`${path}.minSize`, raw.minSize, 1 << 16);
    const maxSize = checkSize(`${path}.maxSize`, raw.maxSize, 1 << 16);
    if (maxSize < minSize) {
      fail(`${path}.maxSize must be >= ${path}.minSize (${minSize}), got ${maxSize}`);
    }
    return { kind: 'block', minSize, maxSize, ...common(raw, path) };
  },
};

export const quadrantMasking: SectionKind<QuadrantMaskingConfig> = {
  kind: 'quadrant',
  fields: [...COMMON_FIELDS],
  resolve: (raw, path) => ({ kind: 'quadrant', ...common(raw, path) }),
};

/**
 * The `masking` section, random missing pixels while training (inpainting): 'none' (the default),
 * 'pixels' (dropout with probability p), 'block' (a random rectangle) or 'quadrant'.
 *
 * @example
 * ```ts
 * const masking: MaskingConfig = { kind: 'block', minSize: 7, maxSize: 14, fill: 0, channels: true, loss: 'all' };
 * ```
 */
export type MaskingConfig = NoMaskingConfig | RandomMaskingConfig;

export const MASKINGS: Readonly<Record<string, SectionKind<MaskingConfig>>> = {
  none: noMasking,
  pixels: pixelsMasking,
  block: blockMasking,
  quadrant: quadrantMasking,
};

/** The pattern the mask kernel draws for a masking section. */
export function maskPattern(c: RandomMaskingConfig): MaskPattern {
  switch (c.kind) {
    case 'pixels':
      return { kind: 'pixels', p: c.p };
    case 'block':
      return { kind: 'block', minSize: c.minSize, maxSize: c.maxSize };
    case 'quadrant':
      return { kind: 'quadrant' };
  }
}

/** The image's (C, H, W): inputShape, else [1, s, s] for a square inputSize; else undefined. */
export function imageShapeOf(
  inputSize: number,
  inputShape: readonly [number, number, number] | undefined,
): [number, number, number] | undefined {
  if (inputShape) return [...inputShape];
  const side = Math.round(Math.sqrt(inputSize));
  return side * side === inputSize ? [1, side, side] : undefined;
}

/**
 * The (C, H, W) masks are drawn on: the image's shape (imageShapeOf); pixel dropout also works on
 * any other size (as [1, 1, D]). Undefined where no shape fits.
 */
export function maskImageShape(
  c: RandomMaskingConfig,
  inputSize: number,
  inputShape: readonly [number, number, number] | undefined,
): [number, number, number] | undefined {
  const shape = imageShapeOf(inputSize, inputShape);
  if (shape) return shape;
  return c.kind === 'pixels' ? [1, 1, inputSize] : undefined;
}

/** Checks a masking section against the model's geometry and likelihood (errors name the field). */
export function checkMasking(
  c: RandomMaskingConfig,
  path: string,
  model: {
    inputSize: number;
    inputShape: readonly [number, number, number] | undefined;
    likelihood: Likelihood;
  },
): void {
  const shape = maskImageShape(c, model.inputSize, model.inputShape);
  if (!shape) {
    fail(
      `${path}.kind '${c.kind}' needs the image's geometry: give inputShape [C, H, W] ` +
        `(inputSize ${model.inputSize} is not a square)`,
    );
  }
  try {
    checkMaskPattern(path, maskPattern(c), shape[1], shape[2]);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (c.loss === 'missing' && model.likelihood.kind !== 'bernoulli') {
    fail(
      `${path}.loss 'missing' needs likelihood 'bernoulli' (got '${model.likelihood.kind}'); use loss 'all'`,
    );
  }
}

/** Extra encoder inputs of a masking section: the mask as one channel (conv) or D features (MLP). */
export function maskingWidths(
  c: MaskingConfig | undefined,
  hasEncoderConv: boolean,
  inputSize: number,
): { encoderChannels: number; encoderFeatures: number } {
  if (!c || c.kind === 'none' || !c.channels) return { encoderChannels: 0, encoderFeatures: 0 };
  return hasEncoderConv
    ? { encoderChannels: 1, encoderFeatures: 0 }
    : { encoderChannels: 0, encoderFeatures: inputSize };
}
