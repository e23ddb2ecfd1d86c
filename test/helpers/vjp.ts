// Helpers for the tests of ops with a backward: the vector-Jacobian product of a float64 reference
// forward by central differences, against which the reference backward (and through it the GPU
// backward) is checked.
import { finiteDifference } from './reference.js';

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * d/dx_i Σ_k dy[k]·f(x)[k] by central differences in float64, for every element of x or for
 * `indices` only (the others stay 0).
 */
export function differenceVjp(
  f: (x: Float64Array) => ArrayLike<number>,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  eps = 1e-6,
  indices?: readonly number[],
): Float64Array {
  return finiteDifference((z) => dot(f(z), dy), Float64Array.from(x), eps, indices);
}

/** Up to `count` evenly spread indices of an array of length n (all when n <= count). */
export function someIndices(n: number, count = 64): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * (n - 1)) / (count - 1)));
}

/** The values of `a` at `indices`. */
export function pick(a: ArrayLike<number>, indices: readonly number[]): number[] {
  return indices.map((i) => a[i]!);
}

/** a - b element by element (the part a kernel added to a prior value when accumulating). */
export function minus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: b.length }, (_, i) => a[i]! - b[i]!);
}

/**
 * Compares with a bound per element (|actual - expected| <= bound[i]); NaN always fails. Returns a
 * message listing the first mismatches, or null.
 */
export function outsideBounds(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  bound: ArrayLike<number>,
  name: string,
): string | null {
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= bound[i]!)) {
      count++;
      if (bad.length < 8)
        bad.push(
          `  [${i}] got ${actual[i]}, expected ${expected[i]} (diff ${err.toExponential(2)}, bound ${bound[i]!.toExponential(2)})`,
        );
    }
  }
  return count
    ? `${name}: ${count} of ${expected.length} outside the bound:\n${bad.join('\n')}`
    : null;
}

/** f32 bound of a tree sum of `count` terms whose absolute values sum to `abs` (32-term blocks). */
export function treeSumBound(abs: number, count: number): number {
  const passes = Math.max(1, Math.ceil(Math.log(Math.max(count, 2)) / Math.log(32)));
  return 4 * (passes + 1) * 2 ** -24 * abs + 1e-30;
}
