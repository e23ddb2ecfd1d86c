// Float64 references of the elementwise ops (src/kernels/elementwise.ts) on row-major (rows, cols)
// tensors: a OP b with b broadcast, scale by a constant, masked fill. Outputs are new
// Float64Arrays; backward functions return the input gradients for an upstream gradient.
import type { BinaryOp, Broadcast } from '../kernels/elementwise.js';

/** Index into an operand of shape `broadcast` for element (r, c) of a (rows, cols) tensor. */
function operandIndex(broadcast: Broadcast, r: number, c: number, cols: number): number {
  switch (broadcast) {
    case 'none':
      return r * cols + c;
    case 'row':
      return c;
    case 'column':
      return r;
    case 'scalar':
      return 0;
  }
}

function operandSize(broadcast: Broadcast, rows: number, cols: number): number {
  return { none: rows * cols, row: cols, column: rows, scalar: 1 }[broadcast];
}

/** out (rows, cols) = a OP b; b of shape `broadcast` ((rows, cols), (1, cols), (rows, 1), (1, 1)). */
export function binaryForward64(
  op: BinaryOp,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  cols: number,
  broadcast: Broadcast = 'none',
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const u = a[r * cols + c]!;
      const v = b[operandIndex(broadcast, r, c, cols)]!;
      out[r * cols + c] = op === 'add' ? u + v : op === 'sub' ? u - v : u * v;
    }
  }
  return out;
}

/** da (rows, cols) and db (b's shape: summed over the broadcast axes) for dout (rows, cols). */
export function binaryBackward64(
  op: BinaryOp,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dout: ArrayLike<number>,
  rows: number,
  cols: number,
  broadcast: Broadcast = 'none',
): { da: Float64Array; db: Float64Array } {
  const da = new Float64Array(rows * cols);
  const db = new Float64Array(operandSize(broadcast, rows, cols));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const j = operandIndex(broadcast, r, c, cols);
      const g = dout[i]!;
      da[i] = op === 'mul' ? g * b[j]! : g;
      db[j] = db[j]! + (op === 'mul' ? g * a[i]! : op === 'sub' ? -g : g);
    }
  }
  return { da, db };
}

/** y = scale * x. */
export function scaleForward64(x: ArrayLike<number>, scale: number): Float64Array {
  return Float64Array.from(x, (v) => scale * v);
}

/** dx = scale * dy. */
export function scaleBackward64(dy: ArrayLike<number>, scale: number): Float64Array {
  return scaleForward64(dy, scale);
}

/** out (rows, cols) = mask != 0 ? value : x; mask of shape `broadcast`. */
export function maskedFillForward64(
  x: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
  broadcast: Broadcast,
  value: number,
): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const masked = mask[operandIndex(broadcast, r, c, cols)]! !== 0;
      out[r * cols + c] = masked ? value : x[r * cols + c]!;
    }
  }
  return out;
}

/** dx (rows, cols) = mask != 0 ? 0 : dout. */
export function maskedFillBackward64(
  dout: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
  broadcast: Broadcast,
): Float64Array {
  return maskedFillForward64(dout, mask, rows, cols, broadcast, 0);
}
