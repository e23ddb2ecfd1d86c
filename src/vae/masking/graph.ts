// Where a masking section enters a graph: the mask (drawn each step, or a graph input when given),
// the encoder's input built from it, and what the likelihood scores.
import type { Graph, Tensor } from '../../graph/graph.js';
import { maskedFill, unary } from '../../graph/ops/elementwise.js';
import { randomMask } from '../../graph/ops/mask.js';
import { concatCols, sliceCols } from '../../graph/ops/select.js';
import { repeatRows } from '../../graph/ops/util.js';
import type { BuildContext } from '../sections.js';
import { maskImageShape, maskPattern, type RandomMaskingConfig } from './kinds.js';

/**
 * A logit whose Bernoulli term against target 1 is exactly 0 in f32 and float64 (softplus(−1e4)
 * underflows), with a zero gradient: observed pixels filled with it drop out of the likelihood.
 */
export const OBSERVED_LOGIT = 1e4;

export interface MaskingGraph {
  /** (rows, D): 1 where a pixel is missing. */
  readonly mask: Tensor;
  /** The encoder's input from the image: missing pixels filled, the mask appended as configured. */
  image(x: Tensor): Tensor;
  /**
   * The likelihood's output and target (rows·K, D): as given (loss 'all'), or with the observed
   * pixels set to a logit and target whose Bernoulli term is 0 (loss 'missing').
   */
  scored(output: Tensor, target: Tensor, samples: number): { output: Tensor; target: Tensor };
}

export interface MaskingGraphOptions {
  rows: number;
  /** The mask as an input written by the caller (golden tests, inference); absent: drawn. */
  given?: Tensor | undefined;
  /** Set the missing pixels to the section's fill value (inference passes completed images). */
  fill: boolean;
  /** Score only the missing pixels when the section says so (log p(x) always scores all). */
  lossAsConfigured: boolean;
}

export function buildMasking(
  ctx: BuildContext,
  c: RandomMaskingConfig,
  o: MaskingGraphOptions,
): MaskingGraph {
  const g = ctx.g;
  const config = ctx.config;
  const shape = maskImageShape(c, config.inputSize, config.inputShape);
  if (!shape) throw new Error(`graph: masking '${c.kind}' has no image shape`);
  const mask =
    o.given ??
    randomMask(g, 'mask', o.rows, {
      pattern: maskPattern(c),
      shape,
      seed: ctx.seed,
      stream: ctx.stream(),
    });
  const [C, H, W] = shape;
  return {
    mask,
    image(x) {
      let h = o.fill ? maskedFill(g, 'x.masked', x, mask, c.fill) : x;
      if (c.channels) {
        // Conv encoders get one mask plane (the pattern is the same in every channel).
        const conv = config.encoder.conv !== undefined;
        const part = conv && C > 1 ? sliceCols(g, 'mask.plane', mask, 0, H * W) : mask;
        h = concatCols(g, `${h.name}.mask`, [h, part]);
      }
      return h;
    },
    scored(output, target, samples) {
      if (!o.lossAsConfigured || c.loss === 'all') return { output, target };
      return scoreMissing(g, mask, output, target, samples);
    },
  };
}

/**
 * Bernoulli output and target (rows·K, D) that score only the missing pixels of `mask` (rows, D;
 * 1 missing): the observed ones get a logit and target whose term is exactly 0, with no gradient.
 */
export function scoreMissing(
  g: Graph,
  mask: Tensor,
  output: Tensor,
  target: Tensor,
  samples: number,
): { output: Tensor; target: Tensor } {
  const rowsMask = samples === 1 ? mask : repeatRows(g, `${mask.name}.repeat`, mask, samples);
  // mask − 1 is non-zero exactly where a pixel is observed.
  const observed = unary(g, `${mask.name}.observed`, rowsMask, 'identity', -1);
  return {
    output: maskedFill(g, `${output.name}.missing`, output, observed, OBSERVED_LOGIT),
    target: maskedFill(g, 'target.missing', target, observed, 1),
  };
}
