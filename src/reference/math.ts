// Special functions in float64 for the references: erf, erfc, the standard normal's density, CDF
// (Φ) and quantile (Φ⁻¹), and the stable logistic functions. Accurate to about 1e-12 relative where
// the kernels are tested (the f32 kernels are three orders of magnitude coarser).

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** (2/√π) Σ (-1)^n z^(2n+1) / (n! (2n+1)), the Maclaurin series of erf, for 0 <= z < 2.5. */
function erfSeries(z: number): number {
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n++) {
    term *= (-z * z) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc by its continued fraction (evaluated bottom-up), for z >= 2.5. */
function erfcContinuedFraction(z: number): number {
  let f = z;
  for (let k = 300; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

/** erf(x): series for |x| < 2.5 (no 1 - erfc cancellation near 0), continued fraction beyond. */
export function erf64(x: number): number {
  const a = Math.abs(x);
  return Math.sign(x) * (a < 2.5 ? erfSeries(a) : 1 - erfcContinuedFraction(a));
}

/** erfc(x) = 1 - erf(x), without cancellation in the right tail. */
export function erfc64(x: number): number {
  if (x < 0) return 2 - erfc64(-x);
  return x < 2.5 ? 1 - erfSeries(x) : erfcContinuedFraction(x);
}

/** φ(x), the standard normal density. */
export function normalPdf64(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** Φ(x), the standard normal CDF (accurate in the left tail, through erfc). */
export function normalCdf64(x: number): number {
  return 0.5 * erfc64(-x / Math.SQRT2);
}

/**
 * Φ⁻¹(p): Abramowitz & Stegun 26.2.23 as the start (|error| < 4.5e-4), then Halley steps on
 * Φ(x) - p, which converge cubically; the lower tail is solved directly and the upper one by
 * symmetry (1 - p is exact for p >= 0.5), so tiny tail probabilities keep their accuracy.
 */
export function inverseNormalCdf64(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) {
    throw new Error(`inverseNormalCdf64: p must be in [0, 1], got ${p}`);
  }
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p > 0.5) return -inverseNormalCdf64(1 - p);
  const t = Math.sqrt(-2 * Math.log(p));
  let x =
    -t +
    (2.515517 + t * (0.802853 + t * 0.010328)) /
      (1 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
  for (let i = 0; i < 6; i++) {
    const u = (normalCdf64(x) - p) / normalPdf64(x);
    const step = u / (1 + 0.5 * x * u);
    x -= step;
    if (Math.abs(step) <= 1e-15 * Math.max(1, Math.abs(x))) break;
  }
  return x;
}

/** 1 / (1 + exp(-x)), never exponentiating a positive number. */
export function sigmoid64(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** log(1 + exp(x)) without overflow. */
export function softplus64(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}
