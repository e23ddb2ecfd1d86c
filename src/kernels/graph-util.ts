// Kernels the graph needs around the layers (shaders/graph_util.wgsl): metric accumulation, and
// row repetition for K-sample targets (and its backward).
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements } from './checks.js';

const WG = 256;
/** repeat_rows_backward: smaller workgroups, more of them for a small (B, D) (one CPU thread each). */
const BACKWARD_WG = 64;

/** acc[offset + i] += add_src[i], i < n.  acc: (offset + n); add_src: (n). */
export const addIntoKernel = defineKernel<'n' | 'offset'>({
  name: 'add_into',
  file: 'graph_util.wgsl',
  entryPoint: 'add_into',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n, offset }) => ({ acc: offset + n, add_src: n }),
});

/** Sizes of repeat_rows and its backward: B rows of D values, K copies of each. */
type RepeatShape = 'B' | 'K' | 'D';

/** repeated (B, K, D) = rows_in (B, D) with each row repeated K times. */
export const repeatRowsKernel = defineKernel<RepeatShape>({
  name: 'repeat_rows',
  file: 'graph_util.wgsl',
  entryPoint: 'repeat_rows',
  workgroupSize: [WG],
  dispatch: ({ B, K, D }) => dispatch1d(ceilDiv(B * K * D, WG)),
  elements: ({ B, K, D }) => ({ repeated: B * K * D, rows_in: B * D }),
});

/** rep_dx (B, D) (=|+=) Σ_k rep_dy[b*K + k, :]: the backward of repeat_rows. */
export const repeatRowsBackwardKernel = defineKernel<RepeatShape>({
  name: 'repeat_rows_backward',
  file: 'graph_util.wgsl',
  entryPoint: 'repeat_rows_backward',
  workgroupSize: [BACKWARD_WG],
  dispatch: ({ B, D }) => dispatch1d(ceilDiv(B * D, BACKWARD_WG)),
  elements: ({ B, K, D }) => ({ rep_dx: B * D, rep_dy: B * K * D }),
});

function checkRepeat(kernel: string, B: number, K: number, D: number): void {
  checkDim(kernel, 'rows', B);
  checkDim(kernel, 'copies', K);
  checkDim(kernel, 'cols', D);
  checkElements(kernel, 'the repeated tensor', B * K * D);
}

export interface RepeatRowsOptions {
  /** Output (rows * copies, cols): row b of x at rows b*copies .. b*copies + copies - 1. */
  y: BufferRange;
  /** (rows, cols). */
  x: BufferRange;
  rows: number;
  cols: number;
  copies: number;
  label?: string;
}

/** y = each row of x repeated `copies` times, consecutively. */
export async function prepareRepeatRows(
  rt: GpuRuntime,
  o: RepeatRowsOptions,
): Promise<PreparedDispatch> {
  checkRepeat('repeat_rows', o.rows, o.copies, o.cols);
  return rt.prepare(repeatRowsKernel, {
    bindings: { repeated: o.y, rows_in: o.x },
    shape: { B: o.rows, K: o.copies, D: o.cols },
    label: o.label,
  });
}

export interface RepeatRowsBackwardOptions {
  /** Gradient of x (rows, cols). */
  dx: BufferRange;
  /** Gradient of y (rows * copies, cols). */
  dy: BufferRange;
  rows: number;
  cols: number;
  copies: number;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/** dx[b, :] = Σ_k dy[b*copies + k, :]. */
export async function prepareRepeatRowsBackward(
  rt: GpuRuntime,
  o: RepeatRowsBackwardOptions,
): Promise<PreparedDispatch> {
  checkRepeat('repeat_rows_backward', o.rows, o.copies, o.cols);
  return rt.prepare(repeatRowsBackwardKernel, {
    bindings: { rep_dx: o.dx, rep_dy: o.dy },
    shape: { B: o.rows, K: o.copies, D: o.cols },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    label: o.label,
  });
}
