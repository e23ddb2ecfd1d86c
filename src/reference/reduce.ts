// Float64 references of the reductions (src/kernels/reduce.ts): sums, means and sums of squares
// over rows, columns or everything, and the stable logsumexp of each row, with their
// vector-Jacobian products. The graph's `sum` op is reduceTotal with op 'sum'.
import type { ReduceOp } from '../kernels/reduce.js';
import { expectLength, expectSizes } from './shape.js';

/** t(v) of an op: v for sum and mean, v² for sumsq. */
const term = (op: ReduceOp, v: number) => (op === 'sumsq' ? v * v : v);
/** d t(v) / dv, times the 1 / count of a mean. */
const termSlope = (op: ReduceOp, v: number, count: number) =>
  op === 'sumsq' ? 2 * v : op === 'mean' ? 1 / count : 1;

function checkOp(fn: string, op: ReduceOp): void {
  if (op !== 'sum' && op !== 'mean' && op !== 'sumsq') {
    throw new Error(`${fn}: unknown op '${String(op)}' (sum, mean, sumsq)`);
  }
}

function checkMatrix(fn: string, x: ArrayLike<number>, rows: number, cols: number): void {
  expectSizes(fn, { rows, cols });
  expectLength(fn, 'x', x, rows * cols, 'rows*cols');
}

type Axis = 'rows' | 'cols';

/** Along an axis: the output length, the values per output and the output x[i] goes into. */
function along(axis: Axis, rows: number, cols: number) {
  return axis === 'rows'
    ? { n: rows, count: cols, at: (i: number) => Math.floor(i / cols) }
    : { n: cols, count: rows, at: (i: number) => i % cols };
}

function reduceForward(
  fn: string,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp,
  axis: Axis,
): Float64Array {
  checkOp(fn, op);
  checkMatrix(fn, x, rows, cols);
  const { n, count, at } = along(axis, rows, cols);
  const out = new Float64Array(n);
  for (let i = 0; i < x.length; i++) out[at(i)] = out[at(i)]! + term(op, x[i]!);
  return op === 'mean' ? out.map((v) => v / count) : out;
}

function reduceBackward(
  fn: string,
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp,
  axis: Axis,
): Float64Array {
  checkOp(fn, op);
  checkMatrix(fn, x, rows, cols);
  const { n, count, at } = along(axis, rows, cols);
  expectLength(fn, 'dy', dy, n, axis);
  // A plain loop: Float64Array.from with a map function is several times slower on large x.
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dx[i] = dy[at(i)]! * termSlope(op, x[i]!, count);
  return dx;
}

/** out (rows) = Σ_c t(x[r, c]) (divided by cols for 'mean'): x (rows, cols). */
export function reduceRowsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp = 'sum',
): Float64Array {
  return reduceForward('reduceRowsForward64', x, rows, cols, op, 'rows');
}

/** dx (rows, cols) = dy[r] * t'(x[r, c]) (/ cols for 'mean'): dy (rows). */
export function reduceRowsBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp = 'sum',
): Float64Array {
  return reduceBackward('reduceRowsBackward64', dy, x, rows, cols, op, 'rows');
}

/** out (cols) = Σ_r t(x[r, c]) (divided by rows for 'mean'): x (rows, cols). */
export function reduceColsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp = 'sum',
): Float64Array {
  return reduceForward('reduceColsForward64', x, rows, cols, op, 'cols');
}

/** dx (rows, cols) = dy[c] * t'(x[r, c]) (/ rows for 'mean'): dy (cols). */
export function reduceColsBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
  op: ReduceOp = 'sum',
): Float64Array {
  return reduceBackward('reduceColsBackward64', dy, x, rows, cols, op, 'cols');
}

/** out (1) = Σ t(x) (divided by n for 'mean') over all n values. */
export function reduceTotalForward64(x: ArrayLike<number>, op: ReduceOp = 'sum'): Float64Array {
  expectSizes('reduceTotalForward64', { n: x.length });
  return reduceRowsForward64(x, 1, x.length, op);
}

/** dx (n) = dy[0] * t'(x) (/ n for 'mean'): dy (1). */
export function reduceTotalBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  op: ReduceOp = 'sum',
): Float64Array {
  expectSizes('reduceTotalBackward64', { n: x.length });
  return reduceRowsBackward64(dy, x, 1, x.length, op);
}

/** lse (rows) = log Σ_c exp(x[r, c]), as m + log Σ exp(x − m) with m the row maximum. */
export function logSumExpRowsForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  checkMatrix('logSumExpRowsForward64', x, rows, cols);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
    if (m === -Infinity || m === Infinity) {
      out[r] = m;
      continue;
    }
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
    out[r] = m + Math.log(s);
  }
  return out;
}

/** dx (rows, cols) = dy[r] * softmax(x[r, :])[c]: dy (rows). */
export function logSumExpRowsBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  expectLength('logSumExpRowsBackward64', 'dy', dy, rows, 'rows');
  const lse = logSumExpRowsForward64(x, rows, cols);
  return Float64Array.from(x, (v, i) => {
    const r = Math.floor(i / cols);
    return dy[r]! * Math.exp(v - lse[r]!);
  });
}
