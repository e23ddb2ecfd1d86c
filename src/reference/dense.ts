// Float64 references of the dense kernels (src/kernels/matmul.ts): the plain product in the NN, TN
// and NT layouts with gradients to both operands, and the fused linear layer
// y = act(x·Wᵀ + b) (matmul NT with a bias and activation epilogue) with gradients to x, W and b.
import type { MatmulLayout } from '../kernels/matmul.js';
import { applyEpilogue64, epilogueBackward64, type Epilogue64 } from './activations.js';
import { expectLength, expectSizes } from './shape.js';

/** Strides (row, column) of op(A) (M, K) and op(B) (K, N) as stored for a layout. */
function strides(layout: MatmulLayout, M: number, N: number, K: number) {
  switch (layout) {
    case 'NN': // A (M, K), B (K, N)
      return { am: K, ak: 1, bk: N, bn: 1 };
    case 'TN': // A stored (K, M), B (K, N)
      return { am: 1, ak: M, bk: N, bn: 1 };
    case 'NT': // A (M, K), B stored (N, K)
      return { am: K, ak: 1, bk: 1, bn: K };
    default:
      throw new Error(`matmul64: unknown layout '${String(layout)}' (NN, TN, NT)`);
  }
}

function checkMatmul(
  op: string,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
) {
  expectSizes(op, { M, N, K });
  expectLength(op, 'a', a, M * K, 'M*K');
  expectLength(op, 'b', b, K * N, 'K*N');
}

/** c (M, N) = op(A)·op(B), op per layout: NN A (M, K) B (K, N); TN A (K, M); NT B (N, K). */
export function matmulForward64(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  layout: MatmulLayout = 'NN',
): Float64Array {
  checkMatmul('matmulForward64', a, b, M, N, K);
  const s = strides(layout, M, N, K);
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += a[m * s.am + k * s.ak]! * b[k * s.bk + n * s.bn]!;
      c[m * N + n] = acc;
    }
  }
  return c;
}

/** Gradients of Σ dc·c w.r.t. a and b, each in its own stored layout. dc: (M, N). */
export function matmulBackward64(
  dc: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  layout: MatmulLayout = 'NN',
): { da: Float64Array; db: Float64Array } {
  checkMatmul('matmulBackward64', a, b, M, N, K);
  expectLength('matmulBackward64', 'dc', dc, M * N, 'M*N');
  const s = strides(layout, M, N, K);
  const da = new Float64Array(M * K);
  const db = new Float64Array(K * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const g = dc[m * N + n]!;
      if (g === 0) continue;
      for (let k = 0; k < K; k++) {
        const ai = m * s.am + k * s.ak;
        const bi = k * s.bk + n * s.bn;
        da[ai] = da[ai]! + g * b[bi]!;
        db[bi] = db[bi]! + g * a[ai]!;
      }
    }
  }
  return { da, db };
}

/** pre (rows, out) = x·Wᵀ + b: x (rows, in), W (out, in), b (out) or none. */
function linearPre(
  op: string,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  rows: number,
  inSize: number,
  outSize: number,
): Float64Array {
  expectSizes(op, { rows, inSize, outSize });
  expectLength(op, 'x', x, rows * inSize, 'rows*inSize');
  expectLength(op, 'w', w, outSize * inSize, 'outSize*inSize');
  if (bias) expectLength(op, 'bias', bias, outSize, 'outSize');
  const pre = new Float64Array(rows * outSize);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outSize; o++) {
      let acc = bias ? bias[o]! : 0;
      for (let i = 0; i < inSize; i++) acc += x[r * inSize + i]! * w[o * inSize + i]!;
      pre[r * outSize + o] = acc;
    }
  }
  return pre;
}

/** y (rows, out) = act(x·Wᵀ + b): x (rows, in), W (out, in), b (out) or undefined (no bias). */
export function linearForward64(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  rows: number,
  inSize: number,
  outSize: number,
  epilogue: Epilogue64 = {},
): Float64Array {
  const pre = linearPre('linearForward64', x, w, bias, rows, inSize, outSize);
  return applyEpilogue64(pre, epilogue);
}

/**
 * Gradients of Σ dy·y w.r.t. x (rows, in), W (out, in) and b (out; undefined without a bias).
 * The pre-activation is recomputed from the inputs (the reference keeps no caches).
 */
export function linearBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  rows: number,
  inSize: number,
  outSize: number,
  epilogue: Epilogue64 = {},
): { dx: Float64Array; dw: Float64Array; db: Float64Array | undefined } {
  const op = 'linearBackward64';
  expectLength(op, 'dy', dy, rows * outSize, 'rows*outSize');
  if (bias) expectLength(op, 'bias', bias, outSize, 'outSize');
  // The pre-activation matters only through a non-identity activation.
  const dpre =
    (epilogue.act ?? 'identity') === 'identity'
      ? Float64Array.from(dy)
      : epilogueBackward64(dy, linearPre(op, x, w, bias, rows, inSize, outSize), epilogue);
  // y = x·Wᵀ is matmul NT with A = x (rows, in) and B = W (out, in).
  const { da: dx, db: dw } = matmulBackward64(dpre, x, w, rows, outSize, inSize, 'NT');
  let db: Float64Array | undefined;
  if (bias) {
    db = new Float64Array(outSize);
    for (let i = 0; i < dpre.length; i++) db[i % outSize] = db[i % outSize]! + dpre[i]!;
  }
  return { dx, dw, db };
}
