// A conv geometry in one line, in the order of PyTorch's arguments (tests list many shapes).
import type { Conv2dShape } from '../../src/kernels/conv.js';

export function conv2dShape(
  batch: number,
  inChannels: number,
  outChannels: number,
  height: number,
  width: number,
  kernelH: number,
  kernelW: number,
  stride: number,
  padding: number,
  outputPadding?: number,
): Conv2dShape {
  return {
    batch,
    inChannels,
    outChannels,
    height,
    width,
    kernelH,
    kernelW,
    stride,
    padding,
    ...(outputPadding !== undefined ? { outputPadding } : {}),
  };
}
