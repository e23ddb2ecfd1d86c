// Inference kernels (shaders/latent.wgsl): latent code generation for interpolations, traversal
// grids and the 2-D manifold, and the decoder's output transform; with CPU float64 copies of the
// formulas for references and tests.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite } from './checks.js';
import { LOGSIGMA_CLAMP } from './likelihood.js';

const WG = 64;

/** How latent_codes fills its rows (LATENT_MODE in the WGSL). */
export const LATENT_MODES = { lerp: 0, slerp: 1, traverse: 2, manifold: 3 } as const;
export type LatentMode = keyof typeof LATENT_MODES;

/** codes_out (R, Z) from anchors (2, Z): one invocation per row. */
export const latentCodes = defineKernel<'R' | 'Z'>({
  name: 'latent_codes',
  file: 'latent.wgsl',
  entryPoint: 'latent_codes',
  workgroupSize: [WG],
  dispatch: ({ R }) => dispatch1d(ceilDiv(R, WG)),
  elements: ({ R, Z }) => ({ codes_out: R * Z, anchors: 2 * Z }),
});

/** image_sigma_out = sig_mean + alpha * exp(clamp(sig_log_sigma, -6, 6)).  (n) each. */
export const decodeOutputSigma = defineKernel<'n'>({
  name: 'decode_output_sigma',
  file: 'latent.wgsl',
  entryPoint: 'decode_output_sigma',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ image_sigma_out: n, sig_mean: n, sig_log_sigma: n }),
});

/** What latent_codes generates; see shaders/latent.wgsl for the exact formulas. */
export interface LatentCodeSpec {
  mode: LatentMode;
  /** Grid columns (traverse, manifold); default R. */
  cols?: number;
  /** traverse: first dimension (row i traverses dimA + i); manifold: the x dimension. */
  dimA?: number;
  /** manifold: the y dimension (default dimA + 1). */
  dimB?: number;
  /** traverse: add the value to the base (default true) or replace it. */
  relative?: boolean;
  /** traverse: values lo..hi (default -3..3); manifold: probabilities lo..hi (default 0.05..0.95). */
  lo?: number;
  hi?: number;
}

/** Uniform values of latent_codes for a spec (defaults filled in, ranges checked). */
export function latentCodeUniforms(
  spec: LatentCodeSpec,
  R: number,
  Z: number,
): Record<string, number> {
  const mode = spec.mode;
  if (!(mode in LATENT_MODES)) {
    throw new Error(
      `latent_codes: mode must be one of ${Object.keys(LATENT_MODES).join(', ')}, got ${String(mode)}`,
    );
  }
  checkDim('latent_codes', 'R', R);
  checkDim('latent_codes', 'Z', Z);
  const manifold = mode === 'manifold';
  const lo = spec.lo ?? (manifold ? 0.05 : -3);
  const hi = spec.hi ?? (manifold ? 0.95 : 3);
  checkFinite('latent_codes', 'lo', lo);
  checkFinite('latent_codes', 'hi', hi);
  if (manifold && !(lo > 0 && lo < 1 && hi > 0 && hi < 1)) {
    throw new Error(`latent_codes: manifold probabilities must lie in (0, 1), got ${lo}..${hi}`);
  }
  const cols = spec.cols ?? R;
  checkDim('latent_codes', 'cols', cols);
  const dimA = spec.dimA ?? 0;
  const dimB = spec.dimB ?? dimA + 1;
  for (const [name, d] of [
    ['dimA', dimA],
    ['dimB', dimB],
  ] as const) {
    if (!Number.isInteger(d) || d < 0 || (d >= Z && (manifold || name === 'dimA'))) {
      throw new Error(`latent_codes: ${name} must be an integer in [0, ${Z}), got ${d}`);
    }
  }
  if (manifold && dimA === dimB)
    throw new Error('latent_codes: the manifold needs two different dimensions');
  return {
    R,
    Z,
    cols,
    dim_a: dimA,
    dim_b: Math.min(dimB, 0xffffffff),
    relative: spec.relative === false ? 0 : 1,
    lo,
    hi,
  };
}

/** Prepares latent_codes writing `codes` (R, Z) from `anchors` (2, Z). */
export async function prepareLatentCodes(
  rt: GpuRuntime,
  o: {
    codes: BindingResource;
    anchors: BindingResource;
    spec: LatentCodeSpec;
    rows: number;
    latent: number;
    label?: string;
  },
): Promise<PreparedDispatch> {
  const uniforms = latentCodeUniforms(o.spec, o.rows, o.latent);
  return rt.prepare(latentCodes, {
    bindings: { codes_out: o.codes, anchors: o.anchors },
    shape: { R: o.rows, Z: o.latent },
    uniforms,
    constants: { LATENT_MODE: LATENT_MODES[o.spec.mode] },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

// ---- CPU formulas (float64) ----

const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
  -3.066479806614716e1, 2.506628277459239,
];
const B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
  -1.328068155288572e1,
];
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
  4.374664141464968, 2.938163982698783,
];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/** Inverse standard normal CDF (Acklam's approximation, as the WGSL; |rel. error| < 1.2e-9). */
export function inverseNormalCdf(pIn: number): number {
  const p = Math.min(Math.max(pIn, 1e-7), 1 - 1e-7);
  const pLow = 0.02425;
  if (p < pLow || p > 1 - pLow) {
    const q = Math.sqrt(-2 * Math.log(p < pLow ? p : 1 - p));
    const num = ((((C[0]! * q + C[1]!) * q + C[2]!) * q + C[3]!) * q + C[4]!) * q + C[5]!;
    const den = (((D[0]! * q + D[1]!) * q + D[2]!) * q + D[3]!) * q + 1;
    return p < pLow ? num / den : -num / den;
  }
  const q = p - 0.5;
  const r = q * q;
  const num = (((((A[0]! * r + A[1]!) * r + A[2]!) * r + A[3]!) * r + A[4]!) * r + A[5]!) * q;
  const den = ((((B[0]! * r + B[1]!) * r + B[2]!) * r + B[3]!) * r + B[4]!) * r + 1;
  return num / den;
}

/** The codes latent_codes writes, in float64: (R, Z) from a (and b for lerp/slerp). */
export function referenceLatentCodes(
  spec: LatentCodeSpec,
  R: number,
  a: ArrayLike<number>,
  b?: ArrayLike<number>,
): Float64Array {
  const Z = a.length;
  const u = latentCodeUniforms(spec, R, Z);
  const out = new Float64Array(R * Z);
  const spacing = (k: number, count: number) =>
    count <= 1 ? u.lo! : u.lo! + ((u.hi! - u.lo!) * k) / (count - 1);
  let wab: ((t: number) => [number, number]) | undefined;
  if (spec.mode === 'lerp') wab = (t) => [1 - t, t];
  if (spec.mode === 'slerp') {
    if (!b) throw new Error('referenceLatentCodes: slerp needs b');
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let j = 0; j < Z; j++) {
      ab += a[j]! * b[j]!;
      aa += a[j]! ** 2;
      bb += b[j]! ** 2;
    }
    const denom = Math.sqrt(aa) * Math.sqrt(bb);
    const omega = denom > 0 ? Math.acos(Math.min(1, Math.max(-1, ab / denom))) : 0;
    const so = Math.sin(omega);
    wab =
      denom > 0 && so >= 1e-6
        ? (t) => [Math.sin((1 - t) * omega) / so, Math.sin(t * omega) / so]
        : (t) => [1 - t, t];
  }
  for (let r = 0; r < R; r++) {
    const o = r * Z;
    if (wab) {
      if (!b) throw new Error('referenceLatentCodes: interpolation needs b');
      const [wa, wb] = wab(R > 1 ? r / (R - 1) : 0);
      for (let j = 0; j < Z; j++) out[o + j] = wa * a[j]! + wb * b[j]!;
      continue;
    }
    for (let j = 0; j < Z; j++) out[o + j] = a[j]!;
    const cols = u.cols!;
    const row = Math.floor(r / cols);
    const col = r - row * cols;
    if (spec.mode === 'traverse') {
      const d = u.dim_a! + row;
      if (d < Z) {
        const v = spacing(col, cols);
        out[o + d] = u.relative ? a[d]! + v : v;
      }
    } else {
      const rows = Math.ceil(R / cols);
      out[o + u.dim_a!] = inverseNormalCdf(spacing(col, cols));
      if (u.dim_b! < Z) out[o + u.dim_b!] = inverseNormalCdf(spacing(rows - 1 - row, rows));
    }
  }
  return out;
}

/**
 * Prepares a learned-σ decoder's image: image = mean + alpha·σ, σ = exp(clamp(logSigma, -6, 6))
 * (the other likelihoods' images need no pass of their own).
 */
export async function prepareDecodeOutputSigma(
  rt: GpuRuntime,
  o: {
    image: BindingResource;
    mean: BindingResource;
    logSigma: BindingResource;
    n: number;
    alpha?: number;
    label?: string;
  },
): Promise<PreparedDispatch> {
  checkDim('decode_output_sigma', 'n', o.n);
  const alpha = o.alpha ?? 0;
  checkFinite('decode_output_sigma', 'alpha', alpha);
  return rt.prepare(decodeOutputSigma, {
    bindings: { image_sigma_out: o.image, sig_mean: o.mean, sig_log_sigma: o.logSigma },
    shape: { n: o.n },
    uniforms: { alpha },
    constants: { LOGSIGMA_MIN: LOGSIGMA_CLAMP.min, LOGSIGMA_MAX: LOGSIGMA_CLAMP.max },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
