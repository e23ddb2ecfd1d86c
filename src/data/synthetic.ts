// Synthetic 2-D data sets from the original lecture experiments. Every set is generated as a
// latent variable mapped to the plane, plus isotropic Gaussian noise:
//
//   x = f(latent) + ε,   ε ~ N(0, σ² I₂),   σ² = noiseVariance (default 0.02; the lectures also
//                                              use 0.2)
//
// with, for each set (D = diag(3, 1/3), R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]]):
//
//  'stretched-gaussian'  z ~ N(0, I₂),  f(z) = D z.
//                        x ~ N(0, diag(9, 1/9) + σ² I).
//  'rotated-gaussian'    z ~ N(0, I₂),  f(z) = R(π/3) D z.
//                        x ~ N(0, R(π/3) diag(9, 1/9) R(π/3)ᵀ + σ² I).
//  'figure-eight'        z ~ N(0, 1),   t = 2π Φ(z) − π (Φ = standard normal CDF, so t is uniform
//                        on (−π, π)),  f(z) = s · (sin t, sin t · cos t)  (lemniscate of Gerono,
//                        crossing itself at the origin), s = scale (default 2).
//                        Mean 0, covariance s² diag(1/2, 1/8) + σ² I; without noise the points
//                        satisfy y² = x² (1 − x²/s²).
//  'three-blobs'         k uniform on {0, 1, 2} (the component label), f(k) = r (cos θₖ, sin θₖ),
//                        θₖ = π/2 + 2πk/3, r = radius (default 2); each blob is N(cₖ, σ² I), i.e.
//                        its width is the noise. Mean 0, covariance (r²/2 + σ²) I.
//  'rotated-gaussians'   k uniform on {0, 1, 2}, z ~ N(0, I₂), f(k, z) = R(kπ/3) D z: three
//                        copies of the stretched Gaussian through the origin at 0°, 60°, 120°
//                        (a six-pointed star). Component k has covariance R(kπ/3) diag(9, 1/9)
//                        R(kπ/3)ᵀ + σ² I; the mixture has mean 0 and covariance (9 + 1/9)/2 I + σ² I.
//
// The random stream is consumed per point in a fixed order, so the same seed, count and options
// give bit-identical data.

import { createRng } from './rng.js';

/** The synthetic 2-D datasets (see generateSynthetic). */
export type SyntheticName =
  'stretched-gaussian' | 'rotated-gaussian' | 'figure-eight' | 'three-blobs' | 'rotated-gaussians';

/** Every synthetic dataset, for menus. */
export const SYNTHETIC_NAMES: readonly SyntheticName[] = [
  'stretched-gaussian',
  'rotated-gaussian',
  'figure-eight',
  'three-blobs',
  'rotated-gaussians',
];

/** Size and seed of a synthetic dataset. */
export interface SyntheticOptions {
  /** Number of points. */
  count: number;
  /** RNG seed (default 0). */
  seed?: number;
  /** Variance σ² of the additive Gaussian noise (default 0.02; 0.2 is the other lecture value). */
  noiseVariance?: number;
  /** 'figure-eight': the curve's half-width s (default 2). */
  scale?: number;
  /** 'three-blobs': radius r of the circle the blob centres lie on (default 2). */
  radius?: number;
}

/** Points of a synthetic dataset, with what is known about its true density. */
export interface SyntheticData {
  name: SyntheticName;
  /** Points, row-major (count, 2). */
  data: Float32Array;
  count: number;
  dim: 2;
  /** The continuous latent draws, row-major (count, latentDim); latentDim is 0 for three-blobs. */
  latent: Float32Array;
  latentDim: number;
  /** Mixture component of each point (three-blobs, rotated-gaussians); undefined otherwise. */
  labels?: Uint8Array;
  noiseVariance: number;
  /** 'figure-eight': the curve's half-width s. */
  scale?: number;
  /** 'three-blobs': the radius of the blob centres' circle. */
  radius?: number;
}

/** The stretch D = diag(3, 1/3) used by the Gaussian sets. */
export const STRETCH: readonly [number, number] = [3, 1 / 3];
/** The rotation angle of 'rotated-gaussian'. */
export const ROTATION = Math.PI / 3;

/** Standard normal CDF Φ(z), via erfc (Numerical Recipes' erfcc, fractional error < 1.2e-7). */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

function erfc(x: number): number {
  // Numerical Recipes erfcc: fractional error < 1.2e-7 everywhere.
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t *
                              (-1.13520398 +
                                t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Generates one of the synthetic 2-D sets (see the file comment for each generative process). */
export function generateSynthetic(name: SyntheticName, options: SyntheticOptions): SyntheticData {
  const { count } = options;
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`generateSynthetic: count must be a non-negative integer, got ${count}`);
  }
  const noiseVariance = options.noiseVariance ?? 0.02;
  if (!(noiseVariance >= 0) || !Number.isFinite(noiseVariance)) {
    throw new RangeError(`generateSynthetic: noiseVariance must be ≥ 0, got ${noiseVariance}`);
  }
  const sd = Math.sqrt(noiseVariance);
  const rng = createRng(options.seed ?? 0);
  const data = new Float32Array(count * 2);
  const [a, b] = STRETCH;
  let latentDim = 2;
  let labels: Uint8Array | undefined;
  let latent: Float32Array;

  switch (name) {
    case 'stretched-gaussian':
    case 'rotated-gaussian': {
      const th = name === 'rotated-gaussian' ? ROTATION : 0;
      const c = Math.cos(th);
      const s = Math.sin(th);
      latent = new Float32Array(count * 2);
      for (let i = 0; i < count; i++) {
        const z1 = rng.normal();
        const z2 = rng.normal();
        const u = a * z1;
        const v = b * z2;
        data[2 * i] = c * u - s * v + sd * rng.normal();
        data[2 * i + 1] = s * u + c * v + sd * rng.normal();
        latent[2 * i] = z1;
        latent[2 * i + 1] = z2;
      }
      break;
    }
    case 'figure-eight': {
      const scale = options.scale ?? 2;
      latentDim = 1;
      latent = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const z = rng.normal();
        const t = 2 * Math.PI * normalCdf(z) - Math.PI;
        const st = Math.sin(t);
        data[2 * i] = scale * st + sd * rng.normal();
        data[2 * i + 1] = scale * st * Math.cos(t) + sd * rng.normal();
        latent[i] = z;
      }
      break;
    }
    case 'three-blobs': {
      const r = options.radius ?? 2;
      latentDim = 0;
      latent = new Float32Array(0);
      labels = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const k = rng.int(3);
        const th = Math.PI / 2 + (2 * Math.PI * k) / 3;
        data[2 * i] = r * Math.cos(th) + sd * rng.normal();
        data[2 * i + 1] = r * Math.sin(th) + sd * rng.normal();
        labels[i] = k;
      }
      break;
    }
    case 'rotated-gaussians': {
      latent = new Float32Array(count * 2);
      labels = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const k = rng.int(3);
        const th = (k * Math.PI) / 3;
        const c = Math.cos(th);
        const s = Math.sin(th);
        const z1 = rng.normal();
        const z2 = rng.normal();
        const u = a * z1;
        const v = b * z2;
        data[2 * i] = c * u - s * v + sd * rng.normal();
        data[2 * i + 1] = s * u + c * v + sd * rng.normal();
        latent[2 * i] = z1;
        latent[2 * i + 1] = z2;
        labels[i] = k;
      }
      break;
    }
    default:
      throw new Error(
        `generateSynthetic: unknown set '${String(name)}' (known: ${SYNTHETIC_NAMES.join(', ')})`,
      );
  }
  const out: SyntheticData = { name, data, count, dim: 2, latent, latentDim, noiseVariance };
  if (labels) out.labels = labels;
  if (name === 'figure-eight') out.scale = options.scale ?? 2;
  if (name === 'three-blobs') out.radius = options.radius ?? 2;
  return out;
}

/** A 2-D Gaussian component: mean and covariance [[a, b], [b, c]]. */
interface Gaussian2 {
  mean: readonly [number, number];
  cov: readonly [number, number, number];
}

/** log N(x; m, Σ) for 2-D x. */
function logGaussian2(x: number, y: number, g: Gaussian2): number {
  const [a, b, c] = g.cov;
  const det = a * c - b * b;
  const dx = x - g.mean[0];
  const dy = y - g.mean[1];
  const quad = (c * dx * dx - 2 * b * dx * dy + a * dy * dy) / det;
  return -Math.log(2 * Math.PI) - 0.5 * Math.log(det) - 0.5 * quad;
}

/** R(θ) diag(9, 1/9) R(θ)ᵀ + σ² I: the stretched Gaussian rotated by θ, plus the noise. */
function stretchedCovariance(theta: number, noiseVariance: number): Gaussian2 {
  const [a, b] = STRETCH;
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  return {
    mean: [0, 0],
    cov: [
      c * c * a * a + s * s * b * b + noiseVariance,
      c * s * (a * a - b * b),
      s * s * a * a + c * c * b * b + noiseVariance,
    ],
  };
}

/** log of the mean of exp(terms), stably. */
function logMeanExp(terms: readonly number[]): number {
  const max = Math.max(...terms);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return max + Math.log(sum / terms.length);
}

/** Quadrature nodes over t for the figure-eight's density (see syntheticLogDensity). */
const FIGURE_EIGHT_NODES = 4096;

/**
 * The exact log-density log p(x) of a synthetic set's generative process at each point of
 * `points` (row-major (n, 2)), in float64: the Gaussians' and mixtures' in closed form; the
 * figure-eight's, p(x) = (1/2π) ∫ N(x; f(t), σ²I) dt over t ∈ (−π, π), by the trapezoid rule on
 * 4096 nodes (exact to rounding for a smooth periodic integrand: the nodes lie about 0.004 apart
 * on a curve of noise width σ ≥ 0.1).
 */
export function syntheticLogDensity(set: SyntheticData, points: Float32Array): Float64Array {
  if (points.length % 2 !== 0) {
    throw new RangeError(`syntheticLogDensity: points must be (n, 2), got ${points.length} values`);
  }
  const n = points.length / 2;
  const v = set.noiseVariance;
  if (!(v > 0)) {
    throw new RangeError(`syntheticLogDensity: the density needs noiseVariance > 0, got ${v}`);
  }
  let components: Gaussian2[];
  switch (set.name) {
    case 'stretched-gaussian':
      components = [stretchedCovariance(0, v)];
      break;
    case 'rotated-gaussian':
      components = [stretchedCovariance(ROTATION, v)];
      break;
    case 'rotated-gaussians':
      components = [0, 1, 2].map((k) => stretchedCovariance((k * Math.PI) / 3, v));
      break;
    case 'three-blobs': {
      const r = set.radius ?? 2;
      components = [0, 1, 2].map((k) => {
        const th = Math.PI / 2 + (2 * Math.PI * k) / 3;
        return { mean: [r * Math.cos(th), r * Math.sin(th)], cov: [v, 0, v] };
      });
      break;
    }
    case 'figure-eight': {
      const s = set.scale ?? 2;
      components = Array.from({ length: FIGURE_EIGHT_NODES }, (_, j) => {
        const t = -Math.PI + (2 * Math.PI * j) / FIGURE_EIGHT_NODES;
        const st = Math.sin(t);
        return { mean: [s * st, s * st * Math.cos(t)], cov: [v, 0, v] };
      });
      break;
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = points[2 * i]!;
    const y = points[2 * i + 1]!;
    out[i] = logMeanExp(components.map((g) => logGaussian2(x, y, g)));
  }
  return out;
}
