// Graph builders for the model's layers: a linear or conv layer from its spec and the model's
// declared parameters, with the pre-activation kept when training (its gradient needs it).
import type { Tensor } from '../graph/graph.js';
import type { Activation } from '../kernels/activation-codes.js';
import { conv2dOp, convTranspose2dOp, type ConvAttrs } from '../graph/ops/conv.js';
import { linearOp } from '../graph/ops/dense.js';
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
