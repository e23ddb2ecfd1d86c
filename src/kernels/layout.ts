// Image layouts (shaders/layout.wgsl): NCHW rows (B, C·H·W) to rows of per-pixel channel vectors
// (B·H·W, C) and back. Each direction is the other's backward, so both take `accumulate`.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements } from './checks.js';

const WG = 256;

/** Which way: 'nhwc' takes NCHW rows to rows of channels, 'nchw' the other way. */
export type LayoutDirection = 'nhwc' | 'nchw';

const layoutKernel = (entryPoint: string) =>
  defineKernel<'B' | 'C' | 'P'>({
    name: entryPoint,
    file: 'layout.wgsl',
    entryPoint,
    workgroupSize: [WG],
    dispatch: ({ B, C, P }) => dispatch1d(ceilDiv(B * C * P, WG)),
    elements: ({ B, C, P }) => ({ lo_y: B * C * P, lo_x: B * C * P }),
  });

/** lo_y (B·P, C) = lo_x (B, C·P) per example transposed. */
export const nchwToNhwcKernel = layoutKernel('nchw_to_nhwc');
/** lo_y (B, C·P) = lo_x (B·P, C) per example transposed. */
export const nhwcToNchwKernel = layoutKernel('nhwc_to_nchw');

export interface LayoutOptions {
  /** 'nhwc': x (B, C·P) NCHW rows -> y (B·P, C); 'nchw': x (B·P, C) -> y (B, C·P). */
  to: LayoutDirection;
  y: BufferRange;
  x: BufferRange;
  batch: number;
  channels: number;
  /** H·W. */
  pixels: number;
  /** Add into y instead of overwriting it (a gradient written before). */
  accumulate?: boolean;
  label?: string;
}

/** One layout change (one dispatch). */
export async function prepareLayout(rt: GpuRuntime, o: LayoutOptions): Promise<PreparedDispatch> {
  const kernel = o.to === 'nhwc' ? nchwToNhwcKernel : nhwcToNchwKernel;
  const name = kernel.name;
  checkDim(name, 'batch', o.batch);
  checkDim(name, 'channels', o.channels);
  checkDim(name, 'pixels', o.pixels);
  checkElements(name, 'x', o.batch * o.channels * o.pixels);
  return rt.prepare(kernel, {
    bindings: { lo_y: o.y, lo_x: o.x },
    shape: { B: o.batch, C: o.channels, P: o.pixels },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    label: o.label ?? name,
  });
}
