// Conv ops (kernels: src/kernels/conv.ts, shaders/conv2d.wgsl), NCHW, PyTorch weight layouts:
//   conv2d            x, weight (Cout, Cin, kh, kw), bias (Cout) -> y [, pre]   act(conv(x, W) + b)
//   conv_transpose2d  x, weight (Cin, Cout, kh, kw), bias (Cout) -> y [, pre]   act(convT(x, W) + b)
// and the backward ops their gradient rules emit.
//
// A conv op takes its geometry (channels, height, width) from its attributes and reads or writes
// any tensor holding B·C·H·W values in NCHW order (B = shape[0]). So flattening a conv output for
// a linear layer, or viewing a dense output as (C, h, w) for a transposed conv, needs no op and no
// copy: the tensor is one row-major buffer either way.
import { asProgram } from '../../gpu/program.js';
import {
  conv2dOutputSize,
  prepareConv2dBackwardInput,
  prepareConv2dBackwardWeight,
  prepareConv2dForward,
  prepareConvBiasBackward,
  prepareConvTranspose2dBackwardInput,
  prepareConvTranspose2dBackwardWeight,
  prepareConvTranspose2dForward,
  type Conv2dShape,
} from '../../kernels/conv.js';
import { defineOp, type Op, type OpDef, type Tensor } from '../graph.js';
import { preActivationGrad, type ActAttrs, type FusedOutputs } from './dense.js';
import type { Accumulating } from './util.js';

/** Geometry of a conv layer without the batch (taken from the input tensor's first dimension). */
export type ConvGeometry = Omit<Conv2dShape, 'batch'>;

export type ConvAttrs = ConvGeometry & ActAttrs;

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
  const B = x.rows;
  const { height: outH, width: outW } = conv2dOutputSize({ ...g, batch: B }, transposed);
  const want = [
    [x, xName, B * g.inChannels * g.height * g.width, [g.inChannels, g.height, g.width]],
    [y, yName, B * g.outChannels * outH * outW, [g.outChannels, outH, outW]],
  ] as const;
  for (const [t, what, n, chw] of want) {
    if (t.size !== n || t.rows !== B) {
      throw new Error(
        `graph: ${op.type} '${op.name}': ${what} ${t.toString()} is not ${B} × ${chw.join('×')}`,
      );
    }
  }
  return B;
}

type ConvIn = { x: Tensor; weight: Tensor; bias?: Tensor | undefined };

/** dx (shaped as the forward input) from dy and W. */
function backwardInputOp(transposed: boolean) {
  return defineOp<{ dy: Tensor; weight: Tensor }, { dx: Tensor }, Accumulating<ConvGeometry>>({
    type: `${transposed ? 'conv_transpose2d' : 'conv2d'}_backward_input`,
    async prepare({ rt, buffer }, op) {
      const { dy, weight } = op.in;
      const batch = convBatch(op, op.attrs, transposed, op.out.dx, dy, 'dx', 'dy');
      const prepare = transposed ? prepareConvTranspose2dBackwardInput : prepareConv2dBackwardInput;
      return asProgram(
        await prepare(rt, {
          ...geometry(op.attrs),
          batch,
          dy: buffer(dy),
          weight: buffer(weight),
          dx: buffer(op.out.dx),
          accumulate: op.attrs.accumulate,
          label: op.name,
        }),
      );
    },
  });
}

/** dW from the forward input x and dy. */
function backwardWeightOp(transposed: boolean) {
  return defineOp<{ x: Tensor; dy: Tensor }, { dw: Tensor }, Accumulating<ConvGeometry>>({
    type: `${transposed ? 'conv_transpose2d' : 'conv2d'}_backward_weight`,
    prepare({ rt, buffer }, op) {
      const { x, dy } = op.in;
      const batch = convBatch(op, op.attrs, transposed, x, dy, 'x', 'dy');
      const prepare = transposed
        ? prepareConvTranspose2dBackwardWeight
        : prepareConv2dBackwardWeight;
      return prepare(rt, {
        ...geometry(op.attrs),
        batch,
        x: buffer(x),
        dy: buffer(dy),
        dw: buffer(op.out.dw),
        accumulate: op.attrs.accumulate,
        label: op.name,
      });
    },
  });
}

export interface ConvBiasBackwardAttrs {
  channels: number;
  height: number;
  width: number;
}

/** db (C) = Σ over batch and pixels of dy (B, C, H, W). */
export const convBiasBackwardOp = defineOp<
  { dy: Tensor },
  { db: Tensor },
  Accumulating<ConvBiasBackwardAttrs>
>({
  type: 'conv_bias_backward',
  prepare({ rt, buffer }, op) {
    const { dy } = op.in;
    const { channels, height, width } = op.attrs;
    const batch = dy.rows;
    if (dy.size !== batch * channels * height * width) {
      throw new Error(
        `graph: conv_bias_backward '${op.name}': dy ${dy.toString()} is not ` +
          `${batch} × ${channels}×${height}×${width}`,
      );
    }
    return prepareConvBiasBackward(rt, {
      batch,
      channels,
      height,
      width,
      dy: buffer(dy),
      db: buffer(op.out.db),
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
});

function convOp(transposed: boolean): OpDef<ConvIn, FusedOutputs, ConvAttrs> {
  const type = transposed ? 'conv_transpose2d' : 'conv2d';
  const backwardInput = backwardInputOp(transposed);
  const backwardWeight = backwardWeightOp(transposed);
  return defineOp<ConvIn, FusedOutputs, ConvAttrs>({
    type,
    async prepare({ rt, buffer }, op) {
      const { x, weight, bias } = op.in;
      const { y, pre } = op.out;
      const batch = convBatch(op, op.attrs, transposed, x, y);
      if (pre && pre.size !== y.size) {
        throw new Error(`graph: ${type} '${op.name}': pre ${pre.toString()} is not shaped as y`);
      }
      const prepare = transposed ? prepareConvTranspose2dForward : prepareConv2dForward;
      return asProgram(
        await prepare(rt, {
          ...geometry(op.attrs),
          batch,
          x: buffer(x),
          weight: buffer(weight),
          y: buffer(y),
          ...(bias ? { bias: buffer(bias) } : {}),
          ...(pre ? { pre: buffer(pre) } : {}),
          act: op.attrs.act,
          ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
          label: op.name,
        }),
      );
    },
    grad(g, op, ctx) {
      const { x, weight, bias } = op.in;
      const dpre = preActivationGrad(g, op, ctx);
      if (!dpre) return;
      const geo = geometry(op.attrs);
      if (ctx.needs(x)) {
        const s = ctx.slot(x);
        g.add(
          backwardInput,
          `${op.name}.dx`,
          { dy: dpre, weight },
          { dx: s.grad },
          {
            ...geo,
            accumulate: s.accumulate,
          },
        );
      }
      if (ctx.needs(weight)) {
        const s = ctx.slot(weight);
        g.add(
          backwardWeight,
          `${op.name}.dW`,
          { x, dy: dpre },
          { dw: s.grad },
          {
            ...geo,
            accumulate: s.accumulate,
          },
        );
      }
      if (ctx.needs(bias)) {
        const s = ctx.slot(bias);
        const { height, width } = conv2dOutputSize({ ...geo, batch: 1 }, transposed);
        g.add(
          convBiasBackwardOp,
          `${op.name}.db`,
          { dy: dpre },
          { db: s.grad },
          {
            channels: geo.outChannels,
            height,
            width,
            accumulate: s.accumulate,
          },
        );
      }
    },
  });
}

export const conv2dOp = convOp(false);
export const convTranspose2dOp = convOp(true);
