// Random inpainting masks (shaders/mask.wgsl): one kernel that draws a mask (B, C·H·W) per call,
// 1 where a pixel is missing and 0 where it is observed, from the project's Philox stream with the
// op's own stream number. The patterns (MaskPattern) are those of the model description's
// `masking` section: pixel dropout, a random rectangle, one of the four quadrants, or a fixed set of
// quadrants (the conditional completion task).
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkU32 } from './checks.js';

const WG = 256;

/** Which pixels go missing: see shaders/mask.wgsl for the exact draws. */
export type MaskPattern =
  /** Each pixel independently with probability p in [0, 1]. */
  | { kind: 'pixels'; p: number }
  /** One rectangle per row, each side uniform in [minSize, maxSize], placed uniformly. */
  | { kind: 'block'; minSize: number; maxSize: number }
  /** One of the four quadrants per row, uniformly. */
  | { kind: 'quadrant' }
  /**
   * The same quadrants missing in every row and step (no draw): bit q of `missing` (1..15) for
   * quadrant q, 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
   */
  | { kind: 'quadrants'; missing: number };

const KIND_CODES = { pixels: 0, block: 1, quadrant: 2, quadrants: 3 } as const;

/** The 24-bit threshold pixel dropout compares against: probability exactly threshold / 2^24. */
export function pixelThreshold(p: number): number {
  return Math.round(p * 16777216);
}

/** mask_out (B, C·H·W) = 1 where missing. Uniforms: B, C, H, W, kind, threshold, lo, hi, quadrants, seed, step, stream. */
export const randomMask = defineKernel<'B' | 'C' | 'H' | 'W'>({
  name: 'random_mask',
  file: 'mask.wgsl',
  entryPoint: 'random_mask',
  workgroupSize: [WG],
  dispatch: ({ B, C, H, W }) => dispatch1d(ceilDiv(B * C * H * W, WG)),
  elements: ({ B, C, H, W }) => ({ mask_out: B * C * H * W }),
});

/** Throws unless a pattern fits an H×W image (named by `kernel` in the message). */
export function checkMaskPattern(kernel: string, pattern: MaskPattern, H: number, W: number): void {
  switch (pattern.kind) {
    case 'pixels':
      if (typeof pattern.p !== 'number' || !(pattern.p >= 0 && pattern.p <= 1)) {
        throw new Error(`${kernel}: p must be a number in [0, 1], got ${pattern.p}`);
      }
      return;
    case 'block': {
      const { minSize, maxSize } = pattern;
      const side = Math.min(H, W);
      if (!Number.isInteger(minSize) || !Number.isInteger(maxSize) || minSize < 1) {
        throw new Error(`${kernel}: block sides must be integers >= 1, got ${minSize}..${maxSize}`);
      }
      if (minSize > maxSize || maxSize > side) {
        throw new Error(
          `${kernel}: block sides must satisfy 1 <= minSize <= maxSize <= min(H, W) = ${side}, got ${minSize}..${maxSize}`,
        );
      }
      return;
    }
    case 'quadrants':
      if (!Number.isInteger(pattern.missing) || pattern.missing < 1 || pattern.missing > 15) {
        throw new Error(
          `${kernel}: missing must be a set of quadrants, an integer in 1..15, got ${pattern.missing}`,
        );
      }
    // falls through: quadrants need a 2×2 image
    case 'quadrant':
      if (H < 2 || W < 2) {
        throw new Error(`${kernel}: quadrants need an image of at least 2×2, got ${H}×${W}`);
      }
      return;
    default:
      throw new Error(`${kernel}: unknown mask kind ${JSON.stringify(pattern)}`);
  }
}

export interface RandomMaskOptions {
  /** Output (B, C·H·W): 1 missing, 0 observed. */
  out: BindingResource;
  batch: number;
  /** (C, H, W) of one row. */
  shape: readonly [number, number, number];
  pattern: MaskPattern;
  seed: number;
  /** Training step (u32); change it each step with setUniforms({ step }). */
  step?: number;
  /** The op's noise stream (u32): never one another stochastic op of the graph uses. */
  stream: number;
  label?: string;
}

/** Draws one mask per row (see MaskPattern); a new step draws new masks. */
export async function prepareRandomMask(
  rt: GpuRuntime,
  o: RandomMaskOptions,
): Promise<PreparedDispatch> {
  const kernel = 'random_mask';
  const [C, H, W] = o.shape;
  checkDim(kernel, 'batch', o.batch);
  checkDim(kernel, 'channels', C);
  checkDim(kernel, 'height', H);
  checkDim(kernel, 'width', W);
  checkElements(kernel, 'mask', o.batch * C * H * W);
  checkMaskPattern(kernel, o.pattern, H, W);
  checkU32(kernel, 'seed', o.seed);
  checkU32(kernel, 'step', o.step ?? 0);
  checkU32(kernel, 'stream', o.stream);
  const pattern = o.pattern;
  return rt.prepare(randomMask, {
    bindings: { mask_out: o.out },
    shape: { B: o.batch, C, H, W },
    uniforms: {
      kind: KIND_CODES[pattern.kind],
      threshold: pattern.kind === 'pixels' ? pixelThreshold(pattern.p) : 0,
      lo: pattern.kind === 'block' ? pattern.minSize : 1,
      hi: pattern.kind === 'block' ? pattern.maxSize : 1,
      quadrants: pattern.kind === 'quadrants' ? pattern.missing : 0,
      seed: o.seed,
      step: o.step ?? 0,
      stream: o.stream,
    },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
