// Graph builders for the model's layers: a linear or conv layer from its spec and the model's
// declared parameters, with the pre-activation kept when training (its gradient needs it).
import type { Tensor } from '../graph/graph.js';
import type { Activation } from '../kernels/activation-codes.js';
import { conv2dOp, convTranspose2dOp, type ConvAttrs } from '../graph/ops/conv.js';
import { activationOp, linearOp } from '../graph/ops/dense.js';
import { add } from '../graph/ops/elementwise.js';
import { sliceCols } from '../graph/ops/select.js';
import { view } from '../graph/ops/util.js';
import type { ConvSpec, LinearSpec } from './layers.js';
import type { BuildContext } from './sections.js';

/** act(x·Wᵀ + b) for x (R, spec.inSize) -> (R, spec.outSize). */
export function linearLayer(
  ctx: BuildContext,
  spec: LinearSpec,
  x: Tensor,
  act: Activation,
): Tensor {
  const R = x.size / spec.inSize;
  if (!Number.isInteger(R)) {
    throw new Error(`graph: ${spec.name} takes ${spec.inSize} values per row, got ${x.toString()}`);
  }
  const shape = [R, spec.outSize];
  const keepPre = ctx.training && act !== 'identity';
  return ctx.g.add(
    linearOp,
    spec.name,
    { x, weight: ctx.param(`${spec.name}.weight`), bias: ctx.param(`${spec.name}.bias`) },
    keepPre ? { y: shape, pre: shape } : { y: shape },
    { act },
  ).out.y;
}

/**
 * act([expand(h), a]·Wᵀ + b), a linear layer over rows that repeat fewer distinct ones: h (U, F)
 * holds a row per distinct input (any shape with U rows), `expand` maps a tensor with a row per
 * distinct input (U, w) to one with a row per layer row (R, w), and `appended` (R, E) is
 * concatenated after each row's F features (absent: nothing). Computed as
 * act(expand(h·W_hᵀ + b) + a·W_aᵀ), W_h and W_a the weight's first F and last E columns, so that
 * the product with h runs once per distinct row; the parameters are the linear layer's.
 */
export function expandedLinear(
  ctx: BuildContext,
  spec: LinearSpec,
  h: Tensor,
  appended: Tensor | undefined,
  expand: (perInput: Tensor) => Tensor,
  act: Activation,
): Tensor {
  const g = ctx.g;
  const E = appended ? appended.size / appended.rows : 0;
  const F = spec.inSize - E;
  const U = h.size / F;
  if (!(F > 0) || !Number.isInteger(U)) {
    throw new Error(
      `graph: ${spec.name} takes ${spec.inSize} values per row (${E} appended), got ${h.toString()}`,
    );
  }
  const weight = ctx.param(`${spec.name}.weight`);
  const own = E ? sliceCols(g, `${spec.name}.weight.own`, weight, 0, F) : weight;
  const perInput = g.add(
    linearOp,
    `${spec.name}.distinct`,
    { x: view(g, h, [U, F]), weight: own, bias: ctx.param(`${spec.name}.bias`) },
    { y: [U, spec.outSize] },
    { act: 'identity' },
  ).out.y;
  let pre = expand(perInput);
  if (appended) {
    const added = g.add(
      linearOp,
      `${spec.name}.appended`,
      { x: appended, weight: sliceCols(g, `${spec.name}.weight.appended`, weight, F, E) },
      { y: [pre.rows, spec.outSize] },
      { act: 'identity' },
    ).out.y;
    pre = add(g, `${spec.name}.pre`, pre, added);
  }
  if (act === 'identity') return pre;
  return g.add(activationOp, spec.name, { x: pre }, { y: pre.shape }, { act }).out.y;
}

/**
 * A Conv2d or ConvTranspose2d layer: x holds (R, Cin, H, W) in NCHW order under any shape (R =
 * shape[0]); the output is (R, Cout, outH, outW), or `outShape` (the same values).
 */
export function convLayer(
  ctx: BuildContext,
  spec: ConvSpec,
  x: Tensor,
  act: Activation,
  outShape?: readonly number[],
): Tensor {
  const shape = outShape ?? [x.rows, spec.outChannels, spec.outHeight, spec.outWidth];
  const attrs: ConvAttrs = {
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    height: spec.height,
    width: spec.width,
    kernelH: spec.kernel,
    kernelW: spec.kernel,
    stride: spec.stride,
    padding: spec.padding,
    act,
  };
  if (spec.transposed) attrs.outputPadding = spec.outputPadding;
  const keepPre = ctx.training && act !== 'identity';
  return ctx.g.add(
    spec.transposed ? convTranspose2dOp : conv2dOp,
    spec.name,
    { x, weight: ctx.param(`${spec.name}.weight`), bias: ctx.param(`${spec.name}.bias`) },
    keepPre ? { y: shape, pre: shape } : { y: shape },
    attrs,
  ).out.y;
}
