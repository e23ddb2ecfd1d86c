// Random inpainting masks as a graph op (no inputs, no gradient): a mask (B, C·H·W) drawn each step
// from the op's own PRNG stream (src/kernels/mask.ts), 1 where a pixel is missing.
//   random_mask  -> mask (B, C·H·W)
import { asProgram } from '../../gpu/program.js';
import { prepareRandomMask, type MaskPattern } from '../../kernels/mask.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { StepState } from '../prepare.js';

export interface RandomMaskAttrs {
  pattern: MaskPattern;
  /** (C, H, W) of one row. */
  shape: readonly [number, number, number];
  seed: number;
  /** The op's PRNG stream (unique in its graph). */
  stream: number;
}

export const randomMaskOp = defineOp<Record<string, never>, { mask: Tensor }, RandomMaskAttrs>({
  type: 'random_mask',
  async prepare({ rt, buffer }, op) {
    const d = await prepareRandomMask(rt, {
      out: buffer(op.out.mask),
      batch: op.out.mask.rows,
      shape: op.attrs.shape,
      pattern: op.attrs.pattern,
      seed: op.attrs.seed,
      stream: op.attrs.stream,
      label: op.name,
    });
    return Object.assign(asProgram(d), {
      update: (state: StepState) => d.setUniforms({ step: state.step >>> 0 }),
    });
  },
});

/** A new mask (rows, C·H·W) each step. */
export function randomMask(g: Graph, name: string, rows: number, attrs: RandomMaskAttrs): Tensor {
  const [C, H, W] = attrs.shape;
  return g.add(randomMaskOp, name, {}, { mask: [rows, C * H * W] }, attrs).out.mask;
}
