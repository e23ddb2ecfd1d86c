// Conditional completion (Sohn, Lee & Yan 2015, the CVAE paper's MNIST quadrant task): the model is
// conditioned on the observed quadrants x_obs of an image and generates the missing ones. The
// recognition network q(z|x_obs, x_miss) reads the whole image; the generator p(x_miss|z, x_obs)
// reads z and x_obs; a conditional prior (prior kind 'conditional') p(z|x_obs) reads x_obs; the
// likelihood scores the missing pixels only. x_obs is the image with its missing quadrants set to
// `fill`: a graph input fed with the images again, masked in the graph by a fixed-quadrant mask
// (random_mask's 'quadrants' pattern, the same every row and step).
import type { MaskPattern } from '../../kernels/mask.js';
import { maskedFill } from '../../graph/ops/elementwise.js';
import { randomMask } from '../../graph/ops/mask.js';
import { concatCols } from '../../graph/ops/select.js';
import { repeatRows } from '../../graph/ops/util.js';
import { checkNumber, fail } from '../fields.js';
import { scoreMissing } from '../masking/graph.js';
import { imageShapeOf } from '../masking/kinds.js';
import type { ConditionKind, ModelShape } from '../sections.js';

/**
 * Conditional completion of the MNIST quadrant task (Sohn et al. 2015): the model completes an
 * image from `observed` of its quadrants. Quadrants are laid out as in the published Pyro
 * reproduction: 1 observes the bottom-left, 2 the left half, 3 everything but the bottom-right.
 * Needs a square image (or inputShape) of at least 2×2; the likelihood must be Bernoulli.
 *
 * @example `{ kind: 'quadrants', observed: 2, fill: -1 }` with `prior: { kind: 'conditional' }`.
 */
export interface QuadrantsConditionConfig {
  /** The condition's kind. */
  kind: 'quadrants';
  /** How many quadrants are observed: 1, 2 or 3 (required). */
  observed: 1 | 2 | 3;
  /** The value missing pixels take in x_obs (default −1, which no pixel in [0, 1] takes). */
  fill: number;
}

/** The missing quadrants of each task as a bit set (bit q: 0 top-left … 3 bottom-right). */
const MISSING: Readonly<Record<1 | 2 | 3, number>> = {
  1: 0b1011, // the bottom-left observed
  2: 0b1010, // the left half observed
  3: 0b1000, // all but the bottom-right observed
};

/** The fixed mask pattern (1 = missing) of a completion task. */
export function quadrantsPattern(c: QuadrantsConditionConfig): MaskPattern {
  return { kind: 'quadrants', missing: MISSING[c.observed] };
}

export const quadrantsCondition: ConditionKind<QuadrantsConditionConfig> = {
  kind: 'quadrants',
  fields: ['observed', 'fill'],
  resolve(raw, path) {
    const observed = raw.observed;
    if (observed !== 1 && observed !== 2 && observed !== 3) {
      fail(
        `${path}.observed must be 1, 2 or 3 (quadrants observed), got ${JSON.stringify(observed)}`,
      );
    }
    return { kind: 'quadrants', observed, fill: checkNumber(`${path}.fill`, raw.fill ?? -1) };
  },
  check(c, path, model) {
    const shape = imageShapeOf(model.inputSize, model.inputShape);
    if (!shape || shape[1] < 2 || shape[2] < 2) {
      fail(
        `${path}.kind 'quadrants' needs an image of at least 2×2: give inputShape [C, H, W] ` +
          `(inputSize ${model.inputSize} is not a square)`,
      );
    }
    if (model.likelihood.kind !== 'bernoulli') {
      fail(
        `${path}.kind 'quadrants' scores the missing pixels with a Bernoulli likelihood; ` +
          `likelihood is '${model.likelihood.kind}'`,
      );
    }
  },
  widths: (_c, _conv, model: ModelShape) => ({
    encoderChannels: 0,
    encoderFeatures: 0,
    decoderFeatures: model.inputSize,
    context: model.inputSize,
  }),
  inputs: (_c, model) => [{ name: 'x_obs.image', field: 'images', width: model.inputSize }],
  build(ctx, c, inputs) {
    const g = ctx.g;
    const image = inputs['x_obs.image']!;
    const shape = imageShapeOf(ctx.config.inputSize, ctx.config.inputShape);
    if (!shape) throw new Error(`graph: condition 'quadrants' has no image shape`);
    const missing = randomMask(g, 'x_obs.mask', image.rows, {
      pattern: quadrantsPattern(c),
      shape,
      seed: ctx.seed,
      stream: ctx.stream(),
    });
    const observed = maskedFill(g, 'x_obs', image, missing, c.fill);
    return {
      context: observed,
      missing,
      // The recognition network reads the whole image (x_obs and x_miss), nothing appended.
      latent: (z, samples) => {
        const rows = samples === 1 ? observed : repeatRows(g, 'x_obs.repeat', observed, samples);
        return concatCols(g, `${z.name}.conditioned`, [z, rows]);
      },
      scored: (output, target, samples) => scoreMissing(g, missing, output, target, samples),
    };
  },
};
