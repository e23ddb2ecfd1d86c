// Conv op types for the graph (kernels: src/kernels/conv.ts, shaders/conv2d.wgsl), NCHW, PyTorch
// weight layouts:
//   conv2d            x, W (Cout, Cin, kh, kw), b (Cout) -> y [, pre]   y = act(conv(x, W) + b)
//   conv_transpose2d  x, W (Cin, Cout, kh, kw), b (Cout) -> y [, pre]   y = act(convT(x, W) + b)
//   reshape           x -> y, the same values under another shape (a copy)
// and the backward ops their gradient rules emit.
//
// Views: a conv op takes its geometry (channels, height, width) from its attributes and reads or
// writes any tensor holding B·C·H·W values in NCHW order (B = shape[0]). So flattening a conv
// output for a linear layer, or viewing a dense output as (C, h, w) for a transposed conv, needs
// no op and no copy: the tensor is one row-major buffer either way. `reshape` is the explicit
// op for graphs that want the other shape as a tensor of its own (a planned temp is a whole
// buffer, so it is a copy; its gradient is a copy back, or an add when accumulating).
import { asProgram } from '../gpu/program.js';
import type { Activation } from '../kernels/activation-codes.js';
import {
  prepareConv2dBackwardInput,
  prepareConv2dBackwardWeight,
  prepareConv2dForward,
  prepareConvBiasBackward,
  prepareConvTranspose2dBackwardInput,
  prepareConvTranspose2dBackwardWeight,
  prepareConvTranspose2dForward,
  conv2dOutputSize,
  type Conv2dShape,
} from '../kernels/conv.js';
import { addIntoKernel, repeatRowsKernel } from '../kernels/graph-util.js';
import type { Graph, GradContext, Op, Tensor } from './graph.js';
import {
  preActivationGrad,
  registerOp,
  type AccumulateAttrs,
  type OpDef,
  type PrepareContext,
  type PreparedOp,
} from './ops.js';

/** Geometry of a conv layer without the batch (taken from the input tensor's first dimension). */
export type ConvGeometry = Omit<Conv2dShape, 'batch'>;

export interface ConvAttrs extends ConvGeometry {
  act: Activation;
  alpha?: number;
}

export interface ConvBackwardAttrs extends ConvGeometry {
  accumulate: boolean;
}

export interface ConvBiasBackwardAttrs extends AccumulateAttrs {
  channels: number;
  height: number;
  width: number;
}

function geometry(a: ConvGeometry): ConvGeometry {
  const g: ConvGeometry = {
    inChannels: a.inChannels,
    outChannels: a.outChannels,
    height: a.height,
    width: a.width,
    kernelH: a.kernelH,
    kernelW: a.kernelW,
    stride: a.stride,
    padding: a.padding,
  };
  if (a.outputPadding !== undefined) g.outputPadding = a.outputPadding;
  return g;
}

/** The batch of a conv op from its input, checking both tensors hold what the geometry says. */
function convBatch(
  op: Op,
  g: ConvGeometry,
  transposed: boolean,
  x: Tensor,
  y: Tensor,
  xName = 'input',
  yName = 'output',
): number {
  const B = x.shape[0]!;
  const { height: outH, width: outW } = conv2dOutputSize({ ...g, batch: B }, transposed);
  const want = [
    [x, xName, B * g.inChannels * g.height * g.width, [g.inChannels, g.height, g.width]],
    [y, yName, B * g.outChannels * outH * outW, [g.outChannels, outH, outW]],
  ] as const;
  for (const [t, what, n, chw] of want) {
    if (t.size !== n || t.shape[0] !== B) {
      throw new Error(
        `graph: ${op.type} '${op.name}': ${what} ${t.toString()} is not ${B} × ${chw.join('×')}`,
      );
    }
  }
  return B;
}

function convOp(transposed: boolean): OpDef<ConvAttrs> {
  const kind = transposed ? 'conv_transpose2d' : 'conv2d';
  return {
    async prepare({ rt, buffer }, op) {
      const [x, w, b] = op.inputs as [Tensor, Tensor, Tensor | undefined];
      const [y, pre] = op.outputs as [Tensor, Tensor | undefined];
      const batch = convBatch(op, op.attrs, transposed, x, y);
      if (pre && pre.size !== y.size) {
        throw new Error(`graph: ${kind} '${op.name}': pre ${pre.toString()} is not shaped as y`);
      }
      const prepare = transposed ? prepareConvTranspose2dForward : prepareConv2dForward;
      return asProgram(
        await prepare(rt, {
          ...geometry(op.attrs),
          batch,
          x: buffer(x),
          weight: buffer(w),
          y: buffer(y),
          ...(b ? { bias: buffer(b) } : {}),
          ...(pre ? { pre: buffer(pre) } : {}),
          act: op.attrs.act,
          ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
          label: op.name,
        }),
      );
    },
    grad(g: Graph, op: Op<ConvAttrs>, ctx: GradContext) {
      const [x, w, b] = op.inputs as [Tensor, Tensor, Tensor | undefined];
      const dpre = preActivationGrad(g, op, ctx, kind);
      if (!dpre) return;
      const geo = geometry(op.attrs);
      if (ctx.needs(x)) {
        const s = ctx.slot(x);
        g.op<ConvBackwardAttrs>(`${kind}_backward_input`, `${op.name}.dx`, [dpre, w], [s.grad], {
          ...geo,
          accumulate: s.accumulate,
        });
      }
      if (ctx.needs(w)) {
        const s = ctx.slot(w);
        g.op<ConvBackwardAttrs>(`${kind}_backward_weight`, `${op.name}.dW`, [x, dpre], [s.grad], {
          ...geo,
          accumulate: s.accumulate,
        });
      }
      if (b && ctx.needs(b)) {
        const s = ctx.slot(b);
        const { height, width } = conv2dOutputSize({ ...geo, batch: 1 }, transposed);
        g.op<ConvBiasBackwardAttrs>('conv_bias_backward', `${op.name}.db`, [dpre], [s.grad], {
          channels: geo.outChannels,
          height,
          width,
          accumulate: s.accumulate,
        });
      }
    },
  };
}

/** dx (shaped as the forward input) from dy and W. */
function backwardInputOp(transposed: boolean): OpDef<ConvBackwardAttrs> {
  return {
    async prepare({ rt, buffer }, op) {
      const [dy, w] = op.inputs as [Tensor, Tensor];
      const dx = op.outputs[0]!;
      const batch = convBatch(op, op.attrs, transposed, dx, dy, 'dx', 'dy');
      const prepare = transposed ? prepareConvTranspose2dBackwardInput : prepareConv2dBackwardInput;
      return asProgram(
        await prepare(rt, {
          ...geometry(op.attrs),
          batch,
          dy: buffer(dy),
          weight: buffer(w),
          dx: buffer(dx),
          accumulate: op.attrs.accumulate,
          label: op.name,
        }),
      );
    },
  };
}

/** dW from the forward input x and dy. */
function backwardWeightOp(transposed: boolean): OpDef<ConvBackwardAttrs> {
  return {
    async prepare({ rt, buffer }, op) {
      const [x, dy] = op.inputs as [Tensor, Tensor];
      const batch = convBatch(op, op.attrs, transposed, x, dy, 'x', 'dy');
      const prepare = transposed
        ? prepareConvTranspose2dBackwardWeight
        : prepareConv2dBackwardWeight;
      return asProgram(
        await prepare(rt, {
          ...geometry(op.attrs),
          batch,
          x: buffer(x),
          dy: buffer(dy),
          dw: buffer(op.outputs[0]!),
          accumulate: op.attrs.accumulate,
          label: op.name,
        }),
      );
    },
  };
}

/** db (C) = Σ over batch and pixels of dy (B, C, H, W). */
const convBiasBackward: OpDef<ConvBiasBackwardAttrs> = {
  async prepare({ rt, buffer }, op) {
    const dy = op.inputs[0]!;
    const { channels, height, width } = op.attrs;
    const batch = dy.shape[0]!;
    if (dy.size !== batch * channels * height * width) {
      throw new Error(
        `graph: conv_bias_backward '${op.name}': dy ${dy.toString()} is not ` +
          `${batch} × ${channels}×${height}×${width}`,
      );
    }
    return asProgram(
      await prepareConvBiasBackward(rt, {
        batch,
        channels,
        height,
        width,
        dy: buffer(dy),
        db: buffer(op.outputs[0]!),
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
};

/** y = x (accumulate: y += x) over n values: the copy kernel is repeat_rows with one row, once. */
async function prepareCopy(
  ctx: PrepareContext,
  op: Op,
  src: Tensor,
  dst: Tensor,
  accumulate: boolean,
): Promise<PreparedOp> {
  if (src.size !== dst.size) {
    throw new Error(
      `graph: ${op.type} '${op.name}': ${src.toString()} and ${dst.toString()} differ in size`,
    );
  }
  const n = src.size;
  const d = accumulate
    ? await ctx.rt.prepare(addIntoKernel, {
        bindings: { acc: ctx.buffer(dst), add_src: ctx.buffer(src) },
        shape: { n, offset: 0 },
        label: op.name,
      })
    : await ctx.rt.prepare(repeatRowsKernel, {
        bindings: { repeated: ctx.buffer(dst), rows_in: ctx.buffer(src) },
        shape: { B: 1, K: 1, D: n },
        label: op.name,
      });
  return asProgram(d);
}

/** y = x under another shape of the same size (a copy); its gradient is copied (or added) back. */
const reshape: OpDef<Record<string, never>> = {
  prepare(ctx, op) {
    return prepareCopy(ctx, op, op.inputs[0]!, op.outputs[0]!, false);
  },
  grad(g, op, ctx) {
    const x = op.inputs[0]!;
    const dy = ctx.grad(op.outputs[0]!);
    if (!dy || !ctx.needs(x)) return;
    const s = ctx.slot(x);
    g.op<AccumulateAttrs>('reshape_backward', `${op.name}.dx`, [dy], [s.grad], {
      accumulate: s.accumulate,
    });
  },
};

const reshapeBackward: OpDef<AccumulateAttrs> = {
  prepare(ctx, op) {
    return prepareCopy(ctx, op, op.inputs[0]!, op.outputs[0]!, op.attrs.accumulate);
  },
};

registerOp('conv2d', convOp(false));
registerOp('conv_transpose2d', convOp(true));
registerOp('conv2d_backward_input', backwardInputOp(false));
registerOp('conv2d_backward_weight', backwardWeightOp(false));
registerOp('conv_transpose2d_backward_input', backwardInputOp(true));
registerOp('conv_transpose2d_backward_weight', backwardWeightOp(true));
registerOp('conv_bias_backward', convBiasBackward);
registerOp('reshape', reshape);
registerOp('reshape_backward', reshapeBackward);

/** Adds a reshape op: x -> a tensor of `shape` holding the same values (a copy). */
export function reshapeOp(g: Graph, name: string, x: Tensor, shape: readonly number[]): Tensor {
  return g.op('reshape', name, [x], [{ name, shape }], {}).outputs[0]!;
}
