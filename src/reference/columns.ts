// Float64 references of the column-block ops (src/kernels/columns.ts): concat and slice along the
// columns of row-major (rows, cols) tensors. Inputs are any array-likes of numbers, outputs new
// Float64Arrays; backward functions return the input gradients for an upstream gradient.

/** out (rows, Σ cols) = [x0 | x1 | …]; each part (rows, cols). */
export function concatColsForward64(
  parts: readonly { x: ArrayLike<number>; cols: number }[],
  rows: number,
): Float64Array {
  const total = parts.reduce((s, p) => s + p.cols, 0);
  const out = new Float64Array(rows * total);
  let offset = 0;
  for (const { x, cols } of parts) {
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) out[r * total + offset + c] = x[r * cols + c]!;
    offset += cols;
  }
  return out;
}

/** dx_i (rows, cols_i) = dout[:, block i]; dout (rows, Σ cols). */
export function concatColsBackward64(
  dout: ArrayLike<number>,
  rows: number,
  cols: readonly number[],
): Float64Array[] {
  const total = cols.reduce((s, c) => s + c, 0);
  let offset = 0;
  return cols.map((width) => {
    const dx = sliceColsForward64(dout, rows, total, offset, width);
    offset += width;
    return dx;
  });
}

/** y (rows, width) = x[:, offset : offset + width]; x (rows, cols). */
export function sliceColsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  offset: number,
  width: number,
): Float64Array {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < width; c++) y[r * width + c] = x[r * cols + offset + c]!;
  return y;
}

/** dx (rows, cols): dy (rows, width) in the block [offset, offset + width), 0 elsewhere. */
export function sliceColsBackward64(
  dy: ArrayLike<number>,
  rows: number,
  cols: number,
  offset: number,
  width: number,
): Float64Array {
  return concatColsForward64(
    [
      { x: new Float64Array(rows * offset), cols: offset },
      { x: dy, cols: width },
      { x: new Float64Array(rows * (cols - offset - width)), cols: cols - offset - width },
    ],
    rows,
  );
}
