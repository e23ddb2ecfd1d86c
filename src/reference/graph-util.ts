// Float64 references of the graph's utility kernels (src/kernels/graph-util.ts): repeat_rows (K
// copies of each row, the targets of K samples), with its vector-Jacobian product.
import { expectLength, expectSizes } from './shape.js';

/** The element of x (rows, cols) that element o of the repeated (rows·copies, cols) copies. */
function repeatSource(o: number, cols: number, copies: number): number {
  const row = Math.floor(o / cols);
  return Math.floor(row / copies) * cols + (o - row * cols);
}

/** out (rows·copies, cols): row r of x (rows, cols) repeated `copies` times, in order. */
export function repeatRowsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  copies: number,
): Float64Array {
  expectSizes('repeatRowsForward64', { rows, cols, copies });
  expectLength('repeatRowsForward64', 'x', x, rows * cols, 'rows*cols');
  return Float64Array.from(
    { length: rows * copies * cols },
    (_, o) => x[repeatSource(o, cols, copies)]!,
  );
}

/** dx (rows, cols) = Σ over the copies of dy (rows·copies, cols). */
export function repeatRowsBackward64(
  dy: ArrayLike<number>,
  _x: ArrayLike<number>,
  rows: number,
  cols: number,
  copies: number,
): Float64Array {
  expectSizes('repeatRowsBackward64', { rows, cols, copies });
  expectLength('repeatRowsBackward64', 'dy', dy, rows * copies * cols, 'rows*copies*cols');
  const dx = new Float64Array(rows * cols);
  for (let o = 0; o < dy.length; o++) {
    const i = repeatSource(o, cols, copies);
    dx[i] = dx[i]! + dy[o]!;
  }
  return dx;
}
