// Row argmin (shaders/argmin.wgsl), forward only: idx[r] = argmin_c x[r, c] as an integer-valued
// f32 (the lowest column among equal minima) and min[r] its value; NaN entries are skipped. A
// vector quantizer's nearest-code assignment runs it on the distance matrix.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkMatrix } from './checks.js';

const WG = 64;

/** am_idx (rows), am_min (rows) = argmin and min of each row of am_x (rows, cols). */
export const argminRowsKernel = defineKernel<'rows' | 'cols'>({
  name: 'argmin_rows',
  file: 'argmin.wgsl',
  entryPoint: 'argmin_rows',
  workgroupSize: [WG],
  dispatch: ({ rows }) => dispatch1d(ceilDiv(rows, WG)),
  elements: ({ rows, cols }) => ({ am_idx: rows, am_min: rows, am_x: rows * cols }),
});

export interface ArgminRowsOptions {
  /** (rows): the column of each row's minimum, an integer-valued f32. */
  idx: BufferRange;
  /** (rows): each row's minimum (NaN when the row has no other value). */
  min: BufferRange;
  /** (rows, cols). */
  x: BufferRange;
  rows: number;
  /** At most 2^24: the index is an exact f32. */
  cols: number;
  label?: string;
}

/** idx[r] = argmin_c x[r, c], min[r] = its value. */
export async function prepareArgminRows(
  rt: GpuRuntime,
  o: ArgminRowsOptions,
): Promise<PreparedDispatch> {
  const name = 'argmin_rows';
  checkDim(name, 'rows', o.rows);
  checkMatrix(name, 'x', o.rows, o.cols);
  if (o.cols > 2 ** 24) throw new Error(`${name}: cols ${o.cols} exceeds 2^24 (indices are f32)`);
  return rt.prepare(argminRowsKernel, {
    bindings: { am_idx: o.idx, am_min: o.min, am_x: o.x },
    shape: { rows: o.rows, cols: o.cols },
    label: o.label,
  });
}
