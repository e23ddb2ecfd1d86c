// Seeded random inputs, finite differences and checkers that print the first mismatches (the float64
// references themselves are in src/reference/).

/** Seeded PRNG (mulberry32) so a failing case can be rerun; the seed is new every run. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed per run (printed by tests on failure). */
export function freshSeed(): number {
  return (Math.random() * 0xffffffff) >>> 0;
}

export function randomUniform(rng: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

export function randomNormal(rng: () => number, n: number, std = 1, mean = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = 1 - rng();
    const u2 = rng();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

export interface Tolerance {
  /** Absolute tolerance: one for all elements, or one per element (a bound that scales with
   * something other than the expected value, e.g. a cancellation's operands). */
  atol: number | ArrayLike<number>;
  /** Relative tolerance (of |expected|). */
  rtol: number;
}

/**
 * Compares a GPU result with a float64 reference element by element: |a - e| <= atol + rtol*|e|.
 * NaN (e.g. an unwritten poisoned element) always fails. Returns a message listing the first
 * mismatches, or null when all agree.
 */
export function mismatches(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  name = 'result',
  shown = 8,
): string | null {
  if (actual.length < expected.length) {
    return `${name}: got ${actual.length} values, expected ${expected.length}`;
  }
  const bad: string[] = [];
  let count = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    const ok =
      Number.isFinite(a) === Number.isFinite(e) &&
      (a === e || err <= atolAt(tol, i) + tol.rtol * Math.abs(e));
    if (!ok) {
      count++;
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
      if (bad.length < shown)
        bad.push(
          `  [${i}] got ${a}, expected ${e} (diff ${err.toExponential(2)}, allowed ${(atolAt(tol, i) + tol.rtol * Math.abs(e)).toExponential(2)})`,
        );
    }
  }
  if (count === 0) return null;
  const atol = typeof tol.atol === 'number' ? tol.atol : 'per element';
  return `${name}: ${count} of ${expected.length} mismatched (worst ${worst.toExponential(2)}; atol ${atol}, rtol ${tol.rtol}):\n${bad.join('\n')}`;
}

function atolAt(tol: Tolerance, i: number): number {
  return typeof tol.atol === 'number' ? tol.atol : tol.atol[i]!;
}

/** Throws with the first mismatches listed (usable inside expect-free helpers). */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  name = 'result',
): void {
  const message = mismatches(actual, expected, tol, name);
  if (message) throw new Error(message);
}

/**
 * Central finite difference of a scalar function f(x) (float64), for every element of x, or for
 * `indices` only. Used to check analytic backward passes.
 */
export function finiteDifference(
  f: (x: Float64Array) => number,
  x: Float64Array,
  eps = 1e-5,
  indices?: readonly number[],
): Float64Array {
  const grad = new Float64Array(x.length);
  const which = indices ?? Array.from({ length: x.length }, (_, i) => i);
  for (const i of which) {
    const saved = x[i]!;
    x[i] = saved + eps;
    const plus = f(x);
    x[i] = saved - eps;
    const minus = f(x);
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * eps);
  }
  return grad;
}

/** What finiteDifferenceAt measured: the central difference, and the one-sided ones if it missed. */
export interface PointDerivative {
  ok: boolean;
  central: number;
  oneSided?: { forward: number; backward: number };
}

/**
 * Checks one analytic derivative of a scalar function of x (float64) at x[i] by finite differences
 * with step h: the central difference, and when `matches` rejects it, the one-sided second-order
 * stencils (−3f(x) + 4f(x ± h) − f(x ± 2h)) / (±2h). All are O(h²) accurate on a smooth stretch,
 * but a ReLU-family kink within h of x bends the central difference (seen: M2's conv bias at seed
 * 2652051954, a kink 3–10e-6 below the point: central 0.0298, the analytic 0.0230); the kink lies
 * on one side, so the stencil on the other side still measures the true derivative. A wrong
 * gradient matches none of the three. `f` reads x (restored after each evaluation).
 */
export function finiteDifferenceAt(
  f: () => number,
  x: Float64Array,
  i: number,
  h: number,
  matches: (fd: number) => boolean,
): PointDerivative {
  const saved = x[i]!;
  const at = (offset: number) => {
    x[i] = saved + offset;
    const value = f();
    x[i] = saved;
    return value;
  };
  const central = (at(h) - at(-h)) / (2 * h);
  if (matches(central)) return { ok: true, central };
  const here = at(0);
  const forward = (-3 * here + 4 * at(h) - at(2 * h)) / (2 * h);
  const backward = (3 * here - 4 * at(-h) + at(-2 * h)) / (2 * h);
  return { ok: matches(forward) || matches(backward), central, oneSided: { forward, backward } };
}

/** A finiteDifferenceAt result for a failure message. */
export function describeFd(fd: PointDerivative): string {
  const sides = fd.oneSided ? ` (one-sided ${fd.oneSided.forward} / ${fd.oneSided.backward})` : '';
  return `${fd.central}${sides}`;
}

/**
 * Checks a gradient written with ACCUMULATE: `acc` must be `prior` plus the freshly assigned
 * result, elementwise. Returns the mismatches, or null.
 */
export function accumulateMismatches(
  acc: ArrayLike<number>,
  fresh: ArrayLike<number>,
  prior: ArrayLike<number>,
  name: string,
  tol: Tolerance = { atol: 1e-6, rtol: 1e-6 },
): string | null {
  const want = Array.from(fresh, (v, i) => v + prior[i]!);
  return mismatches(acc, want, tol, `${name} (accumulated)`);
}

/**
 * Named float32 GPU results against float64 references, with a tolerance relative to each tensor's
 * scale (its largest |value|, at least 1e-3): the first mismatches of every tensor, [] when all
 * agree.
 */
export function scaledCheck(
  actual: ReadonlyMap<string, Float32Array>,
  expected: ReadonlyMap<string, Float64Array>,
  rel: number,
): string[] {
  const lines: string[] = [];
  for (const [name, want] of expected) {
    const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
    const got = actual.get(name) ?? new Float32Array();
    const m = mismatches(got, want, { atol: rel * scale, rtol: rel }, name, 4);
    if (m) lines.push(m);
  }
  return lines;
}
