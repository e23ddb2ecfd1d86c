// Image layouts in the graph (a conv encoder's grid as rows of per-pixel vectors, and back):
//   layout to 'nhwc'   x (B, C·H·W) NCHW rows -> y (B·H·W, C)
//   layout to 'nchw'   x (B·H·W, C)           -> y (B, C·H·W)
// Gradient rule: dx = the other direction of dy (a permutation's transpose is its inverse), by
// layout_backward with ACCUMULATE when x's gradient was written before.
import { asProgram } from '../../gpu/program.js';
import { prepareLayout, type LayoutDirection } from '../../kernels/layout.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { Accumulating } from './util.js';

export interface LayoutAttrs {
  to: LayoutDirection;
  /** C and H·W. */
  channels: number;
  pixels: number;
}

const other = (to: LayoutDirection): LayoutDirection => (to === 'nhwc' ? 'nchw' : 'nhwc');

/** B of a layout op from its NCHW-side tensor size. */
const batchOf = (size: number, a: LayoutAttrs) => size / (a.channels * a.pixels);

export const layoutBackwardOp = defineOp<{ dy: Tensor }, { dx: Tensor }, Accumulating<LayoutAttrs>>(
  {
    type: 'layout_backward',
    async prepare({ rt, buffer }, op) {
      const a = op.attrs;
      return asProgram(
        await prepareLayout(rt, {
          to: other(a.to),
          y: buffer(op.out.dx),
          x: buffer(op.in.dy),
          batch: batchOf(op.in.dy.size, a),
          channels: a.channels,
          pixels: a.pixels,
          accumulate: a.accumulate,
          label: op.name,
        }),
      );
    },
  },
);

export const layoutOp = defineOp<{ x: Tensor }, { y: Tensor }, LayoutAttrs>({
  type: 'layout',
  async prepare({ rt, buffer }, op) {
    const a = op.attrs;
    return asProgram(
      await prepareLayout(rt, {
        to: a.to,
        y: buffer(op.out.y),
        x: buffer(op.in.x),
        batch: batchOf(op.in.x.size, a),
        channels: a.channels,
        pixels: a.pixels,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      layoutBackwardOp,
      `${op.name}.dx`,
      { dy },
      { dx: s.grad },
      { ...op.attrs, accumulate: s.accumulate },
    );
  },
});

/** NCHW rows x (B, C·pixels) -> rows of channels (B·pixels, C). */
export function channelsLast(
  g: Graph,
  name: string,
  x: Tensor,
  channels: number,
  pixels: number,
): Tensor {
  if (x.cols !== channels * pixels) {
    throw new Error(
      `graph: layout '${name}': ${x.toString()} does not hold ${channels}×${pixels} per row`,
    );
  }
  const attrs = { to: 'nhwc' as const, channels, pixels };
  return g.add(layoutOp, name, { x }, { y: [x.rows * pixels, channels] }, attrs).out.y;
}

/** Rows of channels x (B·pixels, C) -> NCHW rows (B, C·pixels). */
export function channelsFirst(g: Graph, name: string, x: Tensor, pixels: number): Tensor {
  if (x.rows % pixels !== 0) {
    throw new Error(`graph: layout '${name}': ${x.toString()} is not whole images of ${pixels}`);
  }
  const attrs = { to: 'nchw' as const, channels: x.cols, pixels };
  return g.add(layoutOp, name, { x }, { y: [x.rows / pixels, x.cols * pixels] }, attrs).out.y;
}
