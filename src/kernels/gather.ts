// Row lookups by integer-valued f32 labels (shaders/gather.wgsl), forward only:
//   out[r, :] = table[idx[r], :]            prepareGatherRows   (zeros for an out-of-range index)
//   out[r, c] = (c == y[r])                 prepareOneHot       (zeros for an out-of-range label)
//   out[r] = r mod classes                  prepareClassCycle   (every class in turn)
// The gradient of a gather w.r.t. the table is one_hot(idx)^T · dout, a matmul the graph builds from
// one_hot; the indices themselves have no gradient.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements } from './checks.js';

const WG = 64;

/** ga_out (rows, cols) = ga_table[ga_idx[r], :]. */
export const gatherRowsKernel = defineKernel<'rows' | 'cols' | 'table_rows'>({
  name: 'gather_rows',
  file: 'gather.wgsl',
  entryPoint: 'gather_rows',
  workgroupSize: [WG],
  dispatch: ({ rows, cols }) => dispatch1d(ceilDiv(rows * cols, WG)),
  elements: ({ rows, cols, table_rows }) => ({
    ga_out: rows * cols,
    ga_table: table_rows * cols,
    ga_idx: rows,
  }),
});

/** oh_out (rows, classes) = one-hot rows of oh_labels (rows). */
export const oneHotKernel = defineKernel<'rows' | 'classes'>({
  name: 'one_hot',
  file: 'gather.wgsl',
  entryPoint: 'one_hot',
  workgroupSize: [WG],
  dispatch: ({ rows, classes }) => dispatch1d(ceilDiv(rows * classes, WG)),
  elements: ({ rows, classes }) => ({ oh_out: rows * classes, oh_labels: rows }),
});

/** cc_out (rows) = r mod classes. */
export const classCycleKernel = defineKernel<'rows' | 'classes'>({
  name: 'class_cycle',
  file: 'gather.wgsl',
  entryPoint: 'class_cycle',
  workgroupSize: [WG],
  dispatch: ({ rows }) => dispatch1d(ceilDiv(rows, WG)),
  elements: ({ rows }) => ({ cc_out: rows }),
});

export interface GatherRowsOptions {
  /** Output (rows, cols). */
  out: BufferRange;
  /** (tableRows, cols), e.g. an embedding table. */
  table: BufferRange;
  /**
   * (rows): the table row of each output row, an integer-valued f32 (exact below 2^24). A value
   * that is not an integer in [0, tableRows) writes a row of zeros.
   */
  idx: BufferRange;
  rows: number;
  cols: number;
  tableRows: number;
  label?: string;
}

/** out[r, :] = table[idx[r], :]. */
export async function prepareGatherRows(
  rt: GpuRuntime,
  o: GatherRowsOptions,
): Promise<PreparedDispatch> {
  const name = 'gather_rows';
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'cols', o.cols);
  checkDim(name, 'tableRows', o.tableRows);
  if (o.tableRows > 2 ** 24) {
    throw new Error(`${name}: tableRows ${o.tableRows} exceeds 2^24 (indices are f32)`);
  }
  checkElements(name, 'out', o.rows * o.cols);
  checkElements(name, 'table', o.tableRows * o.cols);
  return rt.prepare(gatherRowsKernel, {
    bindings: { ga_out: o.out, ga_table: o.table, ga_idx: o.idx },
    shape: { rows: o.rows, cols: o.cols, table_rows: o.tableRows },
    label: o.label,
  });
}

export interface OneHotOptions {
  /** Output (rows, classes). */
  out: BufferRange;
  /**
   * (rows): class labels as integer-valued f32 (exact below 2^24). A value that is not an integer
   * in [0, classes) gives a row of zeros.
   */
  labels: BufferRange;
  rows: number;
  classes: number;
  label?: string;
}

/** out[r, c] = 1 where c == labels[r], else 0. */
export async function prepareOneHot(rt: GpuRuntime, o: OneHotOptions): Promise<PreparedDispatch> {
  const name = 'one_hot';
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'classes', o.classes);
  if (o.classes > 2 ** 24) {
    throw new Error(`${name}: classes ${o.classes} exceeds 2^24 (labels are f32)`);
  }
  checkElements(name, 'out', o.rows * o.classes);
  return rt.prepare(oneHotKernel, {
    bindings: { oh_out: o.out, oh_labels: o.labels },
    shape: { rows: o.rows, classes: o.classes },
    label: o.label,
  });
}

export interface ClassCycleOptions {
  /** Output (rows): r mod classes as integer-valued f32. */
  out: BufferRange;
  rows: number;
  classes: number;
  label?: string;
}

/** out[r] = r mod classes: the labels 0 … classes−1, repeated. */
export async function prepareClassCycle(
  rt: GpuRuntime,
  o: ClassCycleOptions,
): Promise<PreparedDispatch> {
  const name = 'class_cycle';
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'classes', o.classes);
  if (o.classes > 2 ** 24) {
    throw new Error(`${name}: classes ${o.classes} exceeds 2^24 (labels are f32)`);
  }
  checkElements(name, 'out', o.rows);
  return rt.prepare(classCycleKernel, {
    bindings: { cc_out: o.out },
    shape: { rows: o.rows, classes: o.classes },
    label: o.label,
  });
}
