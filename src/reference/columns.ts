// Float64 references of the column-block ops (src/kernels/columns.ts): concat and slice along the
// columns of row-major (rows, cols) tensors, with their vector-Jacobian products (backward: the
// upstream gradient first, then the forward's arguments).
import { expectLength, expectSizes } from './shape.js';

/** An input of a concat: its values (rows, cols); the backward needs only `cols`. */
export interface ConcatPart64 {
  x?: ArrayLike<number>;
  cols: number;
}

function checkParts(fn: string, parts: readonly ConcatPart64[], rows: number): number {
  expectSizes(fn, { rows, inputs: parts.length });
  parts.forEach((p, i) => expectSizes(fn, { [`inputs[${i}].cols`]: p.cols }));
  return parts.reduce((s, p) => s + p.cols, 0);
}

/** out (rows, Σ cols) = [x0 | x1 | …]; each part (rows, cols). */
export function concatColsForward64(parts: readonly ConcatPart64[], rows: number): Float64Array {
  const total = checkParts('concatColsForward64', parts, rows);
  const out = new Float64Array(rows * total);
  let offset = 0;
  parts.forEach(({ x, cols }, i) => {
    if (!x) throw new Error(`concatColsForward64: inputs[${i}] has no values`);
    expectLength('concatColsForward64', `inputs[${i}].x`, x, rows * cols, 'rows*cols');
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out[r * total + offset + c] = x[r * cols + c]!;
    offset += cols;
  });
  return out;
}

/** dx_i (rows, cols_i) = dout[:, block i]; dout (rows, Σ cols). */
export function concatColsBackward64(
  dout: ArrayLike<number>,
  parts: readonly ConcatPart64[],
  rows: number,
): Float64Array[] {
  const total = checkParts('concatColsBackward64', parts, rows);
  expectLength('concatColsBackward64', 'dout', dout, rows * total, 'rows*Σcols');
  let offset = 0;
  return parts.map(({ cols }) => {
    const dx = sliceColsForward64(dout, rows, total, offset, cols);
    offset += cols;
    return dx;
  });
}

function checkSlice(fn: string, rows: number, cols: number, offset: number, width: number): void {
  expectSizes(fn, { rows, cols, width });
  if (!Number.isInteger(offset) || offset < 0 || offset + width > cols) {
    throw new Error(`${fn}: block [${offset}, ${offset} + ${width}) is not inside ${cols} columns`);
  }
}

/** y (rows, width) = x[:, offset : offset + width]; x (rows, cols). */
export function sliceColsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  offset: number,
  width: number,
): Float64Array {
  checkSlice('sliceColsForward64', rows, cols, offset, width);
  expectLength('sliceColsForward64', 'x', x, rows * cols, 'rows*cols');
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < width; c++) y[r * width + c] = x[r * cols + offset + c]!;
  return y;
}

/** dx (rows, cols): dy (rows, width) in the block [offset, offset + width), 0 elsewhere. */
export function sliceColsBackward64(
  dy: ArrayLike<number>,
  _x: ArrayLike<number> | undefined,
  rows: number,
  cols: number,
  offset: number,
  width: number,
): Float64Array {
  checkSlice('sliceColsBackward64', rows, cols, offset, width);
  expectLength('sliceColsBackward64', 'dy', dy, rows * width, 'rows*width');
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < width; c++) dx[r * cols + offset + c] = dy[r * width + c]!;
  return dx;
}
