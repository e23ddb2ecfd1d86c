// Float64 references of the row lookups (src/kernels/gather.ts): gather rows of a table by index
// and one-hot rows of class labels. An index or label that is not an integer in range gives a row
// of zeros, as on the GPU. The GPU has no gather backward (the graph uses one_hot and a matmul);
// gatherRowsBackward64 is the scatter-add it must equal.
import { expectLength, expectSizes } from './shape.js';

/** The row an index names, or -1 when it is not an integer in [0, n). */
function rowOf(v: number, n: number): number {
  return Number.isInteger(v) && v >= 0 && v < n ? v : -1;
}

function checkGather(
  fn: string,
  table: ArrayLike<number> | undefined,
  idx: ArrayLike<number>,
  tableRows: number,
  cols: number,
): void {
  expectSizes(fn, { tableRows, cols, rows: idx.length });
  if (table) expectLength(fn, 'table', table, tableRows * cols, 'tableRows*cols');
}

/** out (rows, cols) = table[idx[r], :]; table (tableRows, cols), idx (rows). */
export function gatherRowsForward64(
  table: ArrayLike<number>,
  idx: ArrayLike<number>,
  tableRows: number,
  cols: number,
): Float64Array {
  checkGather('gatherRowsForward64', table, idx, tableRows, cols);
  const out = new Float64Array(idx.length * cols);
  for (let r = 0; r < idx.length; r++) {
    const k = rowOf(idx[r]!, tableRows);
    if (k >= 0) for (let c = 0; c < cols; c++) out[r * cols + c] = table[k * cols + c]!;
  }
  return out;
}

/** dtable (tableRows, cols) = Σ over the rows r with idx[r] = k of dout[r, :]; dout (rows, cols). */
export function gatherRowsBackward64(
  dout: ArrayLike<number>,
  table: ArrayLike<number> | undefined,
  idx: ArrayLike<number>,
  tableRows: number,
  cols: number,
): Float64Array {
  checkGather('gatherRowsBackward64', table, idx, tableRows, cols);
  expectLength('gatherRowsBackward64', 'dout', dout, idx.length * cols, 'rows*cols');
  const dtable = new Float64Array(tableRows * cols);
  for (let r = 0; r < idx.length; r++) {
    const k = rowOf(idx[r]!, tableRows);
    if (k >= 0) {
      for (let c = 0; c < cols; c++)
        dtable[k * cols + c] = dtable[k * cols + c]! + dout[r * cols + c]!;
    }
  }
  return dtable;
}

/** out (rows, classes): 1 at column labels[r] of row r, 0 elsewhere; labels (rows). */
export function oneHotForward64(labels: ArrayLike<number>, classes: number): Float64Array {
  expectSizes('oneHotForward64', { rows: labels.length, classes });
  const out = new Float64Array(labels.length * classes);
  for (let r = 0; r < labels.length; r++) {
    const k = rowOf(labels[r]!, classes);
    if (k >= 0) out[r * classes + k] = 1;
  }
  return out;
}

/** out (rows) = r mod classes: every class in turn. */
export function classCycleForward64(rows: number, classes: number): Float64Array {
  expectSizes('classCycleForward64', { rows, classes });
  return Float64Array.from({ length: rows }, (_, r) => r % classes);
}
