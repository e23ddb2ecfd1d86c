// Which conv kernel variant runs a conv path: a fixed default per adapter class and shape class
// (measured with bench/conv.ts, see bench/RESULTS.md), pinnable per call (`variant`) or for the
// process (WEBGPU_VAE_CONV). Deterministic: nothing is timed here; bench/conv.ts times the
// candidates (with conv-measure.ts) to check the table.
import type { AdapterKind } from '../gpu/device.js';
import type { GpuRuntime } from '../gpu/runtime.js';

/**
 * - `direct`: conv2d.wgsl, 8 channels × 8 pixels per invocation on the unpacked tensors (the
 *   reference-checked baseline; every path and shape).
 * - `igemm`: conv_igemm.wgsl on NHWC4-packed operands (every path and shape).
 * - `igemm-tex`: the same with the packed operands in rgba32float textures (every path whose
 *   textures fit the device's maxTextureDimension2D).
 * - `igemm-sg`: igemm-tex with one operand shared within quads by subgroup broadcasts (every path
 *   igemm-tex runs, on devices with the `subgroups` feature: SwiftShader, GPUs).
 * - `igemm-narrow`: the same packing, 8 pixels × all output channels (data paths with ≤ 4).
 * - `im2col`: the gathered tensor packed as im2col rows, then the same GEMM kernels (data paths in
 *   direct mode: conv2d forward, conv_transpose2d input gradient; and weight gradients).
 * - `im2col-narrow`: im2col rows with the narrow kernel (direct mode, ≤ 4 output channels).
 */
export type ConvVariant =
  'direct' | 'igemm' | 'igemm-tex' | 'igemm-sg' | 'igemm-narrow' | 'im2col' | 'im2col-narrow';

export const CONV_VARIANTS: readonly ConvVariant[] = [
  'direct',
  'igemm',
  'igemm-tex',
  'igemm-sg',
  'igemm-narrow',
  'im2col',
  'im2col-narrow',
];

/** Environment variable that pins a variant wherever it is eligible, e.g. WEBGPU_VAE_CONV=direct. */
export const CONV_ENV = 'WEBGPU_VAE_CONV';

/** Most output channels the narrow kernel computes per invocation. */
export const NARROW_MAX_CHANNELS = 4;

/**
 * A conv path as the kernels see it: `data` paths write dst from src (direct mode: dst is the
 * small tensor; transposed mode: the big one), `weight` paths sum big × small into dW.
 * `texturesFit`: whether igemm-tex's textures fit the device; `subgroups`: whether the device has
 * the feature (both default false).
 */
export type ConvPathShape =
  | {
      kind: 'data';
      transposed: boolean;
      srcC: number;
      dstC: number;
      texturesFit?: boolean;
      subgroups?: boolean;
    }
  | { kind: 'weight'; bigC: number; smallC: number; texturesFit?: boolean; subgroups?: boolean };

export function convVariantEligible(variant: ConvVariant, p: ConvPathShape): boolean {
  switch (variant) {
    case 'direct':
    case 'igemm':
      return true;
    case 'igemm-tex':
      return p.texturesFit === true;
    case 'igemm-sg':
      return p.texturesFit === true && p.subgroups === true;
    case 'im2col':
      return p.kind === 'weight' || !p.transposed;
    case 'igemm-narrow':
      return p.kind === 'data' && p.dstC <= NARROW_MAX_CHANNELS;
    case 'im2col-narrow':
      return p.kind === 'data' && !p.transposed && p.dstC <= NARROW_MAX_CHANNELS;
  }
}

export function eligibleConvVariants(p: ConvPathShape): ConvVariant[] {
  return CONV_VARIANTS.filter((v) => convVariantEligible(v, p));
}

/** Adapter classes of the default table (other CPU implementations count as SwiftShader). */
export type ConvAdapterClass = 'llvmpipe' | 'swiftshader' | 'gpu';

export function convAdapterClass(kind: AdapterKind): ConvAdapterClass {
  if (kind === 'gpu' || kind === 'browser') return 'gpu';
  return kind === 'llvmpipe' ? 'llvmpipe' : 'swiftshader';
}

/**
 * Shape classes of the default table:
 * - `narrow`: a data path writing ≤ 4 channels;
 * - `few-src`: a direct-mode data path reading < 4 channels (a vec4 of NHWC4 would be mostly
 *   padding; im2col rows hold whole windows instead);
 * - `direct`, `transposed`: the other data paths;
 * - `weight-few-big`: a weight gradient whose big tensor has < 4 channels;
 * - `weight`: the other weight gradients.
 */
export type ConvShapeClass =
  'narrow' | 'narrow-few-src' | 'few-src' | 'direct' | 'transposed' | 'weight-few-big' | 'weight';

export function convShapeClass(p: ConvPathShape): ConvShapeClass {
  if (p.kind === 'weight') return p.bigC < 4 ? 'weight-few-big' : 'weight';
  const fewSrc = !p.transposed && p.srcC < 4;
  if (p.dstC <= NARROW_MAX_CHANNELS) return fewSrc ? 'narrow-few-src' : 'narrow';
  if (fewSrc) return 'few-src';
  return p.transposed ? 'transposed' : 'direct';
}

/**
 * The default variants per adapter class and shape class, best first (the first eligible one
 * runs: igemm-tex only where its textures fit, igemm-sg only with subgroups). llvmpipe and
 * SwiftShader: measured at the conv VAE's shapes with bench/conv.ts (bench/RESULTS.md); they agree but for igemm-sg, which llvmpipe cannot run (no subgroups in
 * compatibility mode) and which gained about 1.2× over igemm-tex on SwiftShader; weight gradients
 * with few big channels stay on the direct kernel, which packs nothing. GPU: unmeasured here (no
 * GPU at hand); the packed GEMM kernels load vec4s of consecutive channels, which suits GPUs too.
 */
const LLVMPIPE_DEFAULTS: Readonly<Record<ConvShapeClass, readonly ConvVariant[]>> = {
  narrow: ['igemm-narrow'],
  'narrow-few-src': ['im2col-narrow'],
  'few-src': ['im2col'],
  direct: ['igemm-tex', 'igemm'],
  transposed: ['igemm-tex', 'igemm'],
  'weight-few-big': ['direct'],
  weight: ['igemm-tex', 'igemm'],
};

const SWIFTSHADER_DEFAULTS: Readonly<Record<ConvShapeClass, readonly ConvVariant[]>> = {
  ...LLVMPIPE_DEFAULTS,
  direct: ['igemm-sg', 'igemm-tex', 'igemm'],
  transposed: ['igemm-sg', 'igemm-tex', 'igemm'],
  weight: ['igemm-sg', 'igemm-tex', 'igemm'],
};

export const CONV_DEFAULTS: Readonly<
  Record<ConvAdapterClass, Readonly<Record<ConvShapeClass, readonly ConvVariant[]>>>
> = {
  llvmpipe: LLVMPIPE_DEFAULTS,
  swiftshader: SWIFTSHADER_DEFAULTS,
  gpu: LLVMPIPE_DEFAULTS,
};

/** The table's choice for an adapter class and path (`direct` if nothing listed is eligible). */
export function defaultConvVariant(cls: ConvAdapterClass, p: ConvPathShape): ConvVariant {
  return CONV_DEFAULTS[cls][convShapeClass(p)].find((v) => convVariantEligible(v, p)) ?? 'direct';
}

function checkVariant(
  kernel: string,
  variant: string,
  source: string,
): asserts variant is ConvVariant {
  if (!CONV_VARIANTS.includes(variant as ConvVariant)) {
    throw new Error(
      `${kernel}: unknown variant '${variant}' from ${source} (known: ${CONV_VARIANTS.join(', ')})`,
    );
  }
}

function envVariant(kernel: string): ConvVariant | undefined {
  const value = typeof process !== 'undefined' ? process.env?.[CONV_ENV] : undefined;
  if (value === undefined || value === '') return undefined;
  checkVariant(kernel, value, CONV_ENV);
  return value;
}

function describe(p: ConvPathShape): string {
  return p.kind === 'weight'
    ? `a weight gradient (big ${p.bigC} channels, small ${p.smallC})`
    : `a ${p.transposed ? 'transposed' : 'direct'}-mode data path (${p.srcC} → ${p.dstC} channels)`;
}

/**
 * The variant a conv path uses: `requested` if given (an error naming the kernel when it is not
 * eligible), else WEBGPU_VAE_CONV where eligible, else the default for this adapter and shape.
 */
export function resolveConvVariant(
  rt: GpuRuntime,
  kernel: string,
  p: ConvPathShape,
  requested?: ConvVariant,
): ConvVariant {
  if (requested !== undefined) {
    checkVariant(kernel, requested, 'the variant option');
    if (!convVariantEligible(requested, p)) {
      throw new Error(
        `${kernel}: variant '${requested}' is not eligible for ${describe(p)} ` +
          `(eligible: ${eligibleConvVariants(p).join(', ')})`,
      );
    }
    return requested;
  }
  const pinned = envVariant(kernel);
  if (pinned && convVariantEligible(pinned, p)) return pinned;
  return defaultConvVariant(convAdapterClass(rt.info.kind), p);
}
