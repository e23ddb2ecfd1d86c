// Float64 references of the softmax family (src/kernels/softmax.ts) over the rows of (rows, cols)
// logits: softmax, log-softmax, softmax cross-entropy (class labels or probability rows) and the
// entropy of a softmax; with their vector-Jacobian products (backward: the upstream gradient first,
// then the forward's arguments).
import { expectLength, expectSizes } from './shape.js';

/** Stable log Σ_c exp(x[r, c]) per row. */
function rowLogSumExp(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  expectSizes('softmax references', { rows, cols });
  expectLength('softmax references', 'logits', x, rows * cols, 'rows*cols');
  const lse = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[r * cols + c]! - m);
    lse[r] = m + Math.log(s);
  }
  return lse;
}

/** log softmax (rows, cols) = x - lse. */
export function logSoftmaxForward64(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const lse = rowLogSumExp(x, rows, cols);
  return Float64Array.from({ length: rows * cols }, (_, i) => x[i]! - lse[Math.floor(i / cols)]!);
}

/** softmax (rows, cols) = exp(x - lse). */
export function softmaxForward64(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return logSoftmaxForward64(x, rows, cols).map(Math.exp);
}

/** dx (rows, cols) = y (dy - Σ_c dy y), y = softmax(x). */
export function softmaxBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const y = softmaxForward64(x, rows, cols);
  expectLength('softmaxBackward64', 'dy', dy, rows * cols, 'rows*cols');
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += dy[r * cols + c]! * y[r * cols + c]!;
    for (let c = 0; c < cols; c++) dx[r * cols + c] = y[r * cols + c]! * (dy[r * cols + c]! - s);
  }
  return dx;
}

/** dx (rows, cols) = dy - softmax(x) Σ_c dy. */
export function logSoftmaxBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const p = softmaxForward64(x, rows, cols);
  expectLength('logSoftmaxBackward64', 'dy', dy, rows * cols, 'rows*cols');
  const dx = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += dy[r * cols + c]!;
    for (let c = 0; c < cols; c++) dx[r * cols + c] = dy[r * cols + c]! - p[r * cols + c]! * s;
  }
  return dx;
}

/**
 * Cross-entropy targets: class labels (rows), each an integer-valued number (a value that is not an
 * integer in [0, cols) makes its row count 0), or probability rows (rows, cols).
 */
export type CrossEntropyTarget64 = { labels: ArrayLike<number> } | { probs: ArrayLike<number> };

/** The target distribution as (rows, cols) rows (labels become one-hot rows, or zero rows). */
function targetRows(target: CrossEntropyTarget64, rows: number, cols: number): ArrayLike<number> {
  if ('probs' in target) {
    expectLength('softmax cross-entropy', 'probs', target.probs, rows * cols, 'rows*cols');
    return target.probs;
  }
  expectLength('softmax cross-entropy', 'labels', target.labels, rows, 'rows');
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const k = target.labels[r]!;
    if (Number.isInteger(k) && k >= 0 && k < cols) t[r * cols + k] = 1;
  }
  return t;
}

/** ce (rows) = -Σ_c t[r, c] log softmax(logits[r])[c]. */
export function softmaxCrossEntropyForward64(
  logits: ArrayLike<number>,
  target: CrossEntropyTarget64,
  rows: number,
  cols: number,
): Float64Array {
  const logp = logSoftmaxForward64(logits, rows, cols);
  const t = targetRows(target, rows, cols);
  const ce = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s -= t[r * cols + c]! * logp[r * cols + c]!;
    ce[r] = s;
  }
  return ce;
}

/**
 * dlogits (rows, cols) = dce[r] (softmax Σ_c t - t), and for probability targets dprobs (rows, cols)
 * = -dce[r] log softmax.
 */
export function softmaxCrossEntropyBackward64(
  dce: ArrayLike<number>,
  logits: ArrayLike<number>,
  target: CrossEntropyTarget64,
  rows: number,
  cols: number,
): { dlogits: Float64Array; dprobs?: Float64Array } {
  const logp = logSoftmaxForward64(logits, rows, cols);
  const t = targetRows(target, rows, cols);
  expectLength('softmaxCrossEntropyBackward64', 'dce', dce, rows, 'rows');
  const dlogits = new Float64Array(rows * cols);
  const dprobs = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let tsum = 0;
    for (let c = 0; c < cols; c++) tsum += t[r * cols + c]!;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      dlogits[i] = dce[r]! * (Math.exp(logp[i]!) * tsum - t[i]!);
      dprobs[i] = -dce[r]! * logp[i]!;
    }
  }
  return 'probs' in target ? { dlogits, dprobs } : { dlogits };
}

/** H (rows) = -Σ_c p log p, p = softmax(logits[r]). */
export function softmaxEntropyForward64(
  logits: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const logp = logSoftmaxForward64(logits, rows, cols);
  const h = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s -= Math.exp(logp[r * cols + c]!) * logp[r * cols + c]!;
    h[r] = s;
  }
  return h;
}

/** dlogits (rows, cols) = -dh[r] p (log p + H[r]). */
export function softmaxEntropyBackward64(
  dh: ArrayLike<number>,
  logits: ArrayLike<number>,
  rows: number,
  cols: number,
): Float64Array {
  const logp = logSoftmaxForward64(logits, rows, cols);
  const h = softmaxEntropyForward64(logits, rows, cols);
  expectLength('softmaxEntropyBackward64', 'dh', dh, rows, 'rows');
  return logp.map((lp, i) => {
    const r = Math.floor(i / cols);
    return -dh[r]! * Math.exp(lp) * (lp + h[r]!);
  });
}
