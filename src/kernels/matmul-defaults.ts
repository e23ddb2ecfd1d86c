// The shipped default matmul variant per adapter class and shape class: what a matmul uses before
// (or instead of) measuring on this adapter, so that nothing is measured on the critical path.
// Rules are tried in order; the first whose conditions hold and whose variant is eligible for the
// shape wins. The CPU adapters' rules come from `npx tsx bench/matmul.ts --defaults <adapter>`
// (see bench/RESULTS.md); real GPUs get the workgroup-tiled kernel, the one written for them.
import type { AdapterKind } from '../gpu/device.js';
import {
  matmulEligible,
  type MatmulLayout,
  type MatmulShape,
  type MatmulVariant,
} from './matmul.js';

/** Adapter classes the table distinguishes. */
export type AdapterClass = 'llvmpipe' | 'swiftshader' | 'cpu-other' | 'gpu';

export function adapterClass(kind: AdapterKind): AdapterClass {
  return kind === 'browser' ? 'gpu' : kind;
}

export interface DefaultRule {
  variant: MatmulVariant;
  layout?: MatmulLayout;
  /** B is a weight packed once per change (texture-fed matmuls do not repack it per run). */
  packedB?: boolean;
  /** Inclusive bounds on 2·M·N·K. */
  minFlops?: number;
  maxFlops?: number;
  /** Inclusive bound on min(M, N): skinny outputs are dispatch-bound. */
  maxSide?: number;
}

/**
 * Smallest 2·M·N·K for which llvmpipe's dW (TN), and a forward (NT) the vec4 kernels cannot take,
 * go through textures.
 */
export const TEX_MIN_FLOPS = 8e6;

// One variant per layout where it can (each is one pipeline to compile at start-up, the larger
// cost on CPU adapters); every list ends with variants eligible for every shape. The CPU
// adapters' picks: bench/RESULTS.md ("Matmul kernels" and "Start-up"), from the quiet-machine
// tables of bench/matmul.ts and /work/shared/notes/cpu-webgpu.md (A shared across a subgroup with B
// in a texture is SwiftShader's fastest kernel; a weight's texture is packed once per change).
export const DEFAULT_MATMUL_RULES: Readonly<Record<AdapterClass, readonly DefaultRule[]>> = {
  swiftshader: [
    // Forward and dX read a weight as B: A shared across the subgroup, B packed once.
    { variant: 'sgtex', packedB: true },
    // dW (Aᵀ·B of two activations): both operands through textures.
    { variant: 'tex', layout: 'TN' },
    { variant: 'rb4x16' },
    { variant: 'tex' },
    { variant: 'rb' },
  ],
  llvmpipe: [
    // dW through textures only where its arithmetic outweighs the two pack dispatches: at 2 MFLOP
    // and below (the 2-D experiments' 128×128×32, the MNIST VAE's 400×20×128) one register-blocked
    // dispatch was ahead in 10 of 12 runs; from 30 MFLOP up the textures were (bench/RESULTS.md,
    // "Weight gradients on llvmpipe").
    { variant: 'tex', layout: 'TN', minFlops: TEX_MIN_FLOPS },
    { variant: 'rb4x16' },
    // A forward whose K is not a multiple of 4 (a label-conditioned first layer reads [x, one-hot
    // y], K = 794) cannot take the vec4 kernels; B in a texture beats the scalar register-blocked
    // one there: 6.2 vs 3.1 GFLOP/s at 128×400×794, 13.4 vs 4.8 at M2's 1100×500×794
    // (bench/RESULTS.md, "Matmul kernels"). Small ones stay off textures, as for dW.
    { variant: 'tex', layout: 'NT', minFlops: TEX_MIN_FLOPS },
    { variant: 'rb' },
  ],
  'cpu-other': [{ variant: 'rb4x16' }, { variant: 'rb' }],
  // Real GPUs: the workgroup-memory tile, written for them (no measurement here to say otherwise).
  gpu: [{ variant: 'tiled' }],
};

function holds(rule: DefaultRule, layout: MatmulLayout, s: MatmulShape, packedB: boolean): boolean {
  const flops = 2 * s.M * s.N * s.K;
  return (
    (rule.layout === undefined || rule.layout === layout) &&
    (rule.packedB === undefined || rule.packedB === packedB) &&
    (rule.minFlops === undefined || flops >= rule.minFlops) &&
    (rule.maxFlops === undefined || flops <= rule.maxFlops) &&
    (rule.maxSide === undefined || Math.min(s.M, s.N) <= rule.maxSide)
  );
}

/**
 * The shipped default for this adapter class, layout and shape: the first rule that holds, whose
 * variant is eligible for the shape and `supported` by the device (its features).
 */
export function defaultMatmulVariant(
  adapter: AdapterClass,
  layout: MatmulLayout,
  shape: MatmulShape,
  packedB = false,
  supported: (variant: MatmulVariant) => boolean = () => true,
): MatmulVariant {
  for (const rule of DEFAULT_MATMUL_RULES[adapter]) {
    if (
      holds(rule, layout, shape, packedB) &&
      matmulEligible(rule.variant, layout, shape) &&
      supported(rule.variant)
    ) {
      return rule.variant;
    }
  }
  return 'naive';
}
