// Float64 references of the elementwise ops (src/kernels/elementwise.ts, sum-terms.ts) on row-major
// (rows, cols) tensors: a OP b with b broadcast, scale by a constant, a linear combination of terms,
// masked fill; with their vector-Jacobian products (backward: the upstream gradient first, then the
// forward's arguments).
import type { BinaryOp, Broadcast, UnaryFn } from '../kernels/elementwise.js';
import { expectLength, expectSizes } from './shape.js';

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

const OPERAND_SHAPES: Record<Broadcast, string> = {
  none: 'rows*cols',
  row: 'cols',
  column: 'rows',
  scalar: '1',
};

function operandSize(broadcast: Broadcast, rows: number, cols: number): number {
  return { none: rows * cols, row: cols, column: rows, scalar: 1 }[broadcast];
}

function checkOperands(
  fn: string,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  bName: string,
  rows: number,
  cols: number,
  broadcast: Broadcast,
): void {
  expectSizes(fn, { rows, cols });
  if (!(broadcast in OPERAND_SHAPES)) throw new Error(`${fn}: unknown broadcast '${broadcast}'`);
  expectLength(fn, 'a', a, rows * cols, 'rows*cols');
  expectLength(fn, bName, b, operandSize(broadcast, rows, cols), OPERAND_SHAPES[broadcast]);
}

function apply(op: BinaryOp, u: number, v: number): number {
  switch (op) {
    case 'add':
      return u + v;
    case 'sub':
      return u - v;
    case 'mul':
      return u * v;
  }
}

/** out (rows, cols) = a OP b; b of shape `broadcast` ((rows, cols), (1, cols), (rows, 1), (1, 1)). */
export function binaryForward64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  cols: number,
  op: BinaryOp,
  broadcast: Broadcast = 'none',
): Float64Array {
  checkOperands('binaryForward64', a, b, 'b', rows, cols, broadcast);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = apply(op, a[r * cols + c]!, b[operandIndex(broadcast, r, c, cols)]!);
    }
  }
  return out;
}

/** da (rows, cols) and db (b's shape: summed over the broadcast axes) for dout (rows, cols). */
export function binaryBackward64(
  dout: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  cols: number,
  op: BinaryOp,
  broadcast: Broadcast = 'none',
): { da: Float64Array; db: Float64Array } {
  checkOperands('binaryBackward64', a, b, 'b', rows, cols, broadcast);
  expectLength('binaryBackward64', 'dout', dout, rows * cols, 'rows*cols');
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
export function scaleBackward64(
  dy: ArrayLike<number>,
  _x: ArrayLike<number> | undefined,
  scale: number,
): Float64Array {
  return scaleForward64(dy, scale);
}

/** y = Σ_k coefficients[k] · terms[k], every term of one length. */
export function sumTermsForward64(
  terms: readonly ArrayLike<number>[],
  coefficients: readonly number[],
): Float64Array {
  const n = terms[0]?.length ?? 0;
  if (terms.length !== coefficients.length) {
    throw new Error(
      `sumTermsForward64: ${terms.length} terms, ${coefficients.length} coefficients`,
    );
  }
  terms.forEach((t, k) => expectLength('sumTermsForward64', `terms[${k}]`, t, n, 'n'));
  const y = new Float64Array(n);
  terms.forEach((t, k) => {
    for (let i = 0; i < n; i++) y[i]! += coefficients[k]! * t[i]!;
  });
  return y;
}

/** The gradient of each term: coefficients[k] · dy. */
export function sumTermsBackward64(
  dy: ArrayLike<number>,
  coefficients: readonly number[],
): Float64Array[] {
  return coefficients.map((c) => scaleForward64(dy, c));
}

/** out (rows, cols) = mask != 0 ? value : x; mask of shape `broadcast`. */
export function maskedFillForward64(
  x: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
  value: number,
  broadcast: Broadcast = 'none',
): Float64Array {
  checkOperands('maskedFillForward64', x, mask, 'mask', rows, cols, broadcast);
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
  _x: ArrayLike<number> | undefined,
  mask: ArrayLike<number>,
  rows: number,
  cols: number,
  _value: number,
  broadcast: Broadcast = 'none',
): Float64Array {
  return maskedFillForward64(dout, mask, rows, cols, 0, broadcast);
}

/** y = f(x + shift) for the unary op's f: identity, log|·| or 1/·. */
export function unaryForward64(x: ArrayLike<number>, fn: UnaryFn, shift: number): Float64Array {
  const f =
    fn === 'identity'
      ? (v: number) => v
      : fn === 'log_abs'
        ? (v: number) => Math.log(Math.abs(v))
        : (v: number) => 1 / v;
  return Float64Array.from(x, (v) => f(v + shift));
}

/** dx = dy · f'(x + shift): 1, 1/v, −1/v². */
export function unaryBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  fn: UnaryFn,
  shift: number,
): Float64Array {
  const df =
    fn === 'identity'
      ? () => 1
      : fn === 'log_abs'
        ? (v: number) => 1 / v
        : (v: number) => -1 / (v * v);
  return Float64Array.from(dy, (d, i) => d * df(x[i]! + shift));
}

/** y = x ⊙ mask (a constant 0/1 mask of x's size); also its backward dx = dy ⊙ mask. */
export function constantMask64(x: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  if (x.length !== mask.length) {
    throw new Error(`constantMask64: ${x.length} values but a mask of ${mask.length}`);
  }
  return Float64Array.from(x, (v, i) => v * mask[i]!);
}
