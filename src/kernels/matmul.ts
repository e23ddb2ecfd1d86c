// The matmul family: C(M,N) = op(A)·op(B) [+ bias] then an activation, in three layouts, with
// several kernel variants (shaders/matmul_*.wgsl); which variant a matmul uses is decided by
// matmul-select.ts (pinned, measured, persisted, or the shipped default).
//
//   layout NN: C = A·B     a: (M, K), b: (K, N)
//   layout TN: C = Aᵀ·B    a: (K, M), b: (K, N)     (e.g. dW = Xᵀ·dZ)
//   layout NT: C = A·Bᵀ    a: (M, K), b: (N, K)     (e.g. dX = dZ·Wᵀ, or X·Wᵀ with W stored (N, K))
//
// Epilogue (override constants, so each combination is a pipeline with the rest compiled out; see
// matmul_common.wgsl): optional bias (N) added per column, optional pre-activation output `pre`
// (M, N), an activation with parameter alpha (a uniform), and accumulate (c += act(z) instead of
// c = act(z); `pre` is always assigned).
import { placeholderBuffer } from '../gpu/placeholder.js';
import type { BufferRange } from '../gpu/buffers.js';
import { WGSL_SOURCES, type ShaderFile } from '../shaders/wgsl.generated.js';
import { defineKernel, dispatch1d, type KernelDef } from '../gpu/kernel.js';
import { buildProgram, Program } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { activationCode, defaultAlpha, type Activation } from './activation-codes.js';
import { checkDim } from './checks.js';
import { appendPack, weightPacksOf, type PackLayout } from './matmul-pack.js';
import { resolveMatmulVariant } from './matmul-select.js';

export type MatmulLayout = 'NN' | 'TN' | 'NT';

export const MATMUL_LAYOUTS: readonly MatmulLayout[] = ['NN', 'TN', 'NT'];

/**
 * - `naive`: one output per invocation (reference; every shape).
 * - `rb`: 8×8 register block per invocation, scalar loads, no workgroup memory (every shape).
 * - `rb4`: 8×8 register block, vec4 loads (strides read as vec4 must be multiples of 4).
 * - `rb4x16`: 16×8 register block, vec4 loads (same eligibility as rb4).
 * - `tiled`: 32×32 tiles staged in workgroup memory, 4×4 per invocation (real GPUs; every shape).
 * - `tex`: 16×8 register block reading both operands from rgba32float textures (every layout and
 *   shape whose textures fit in 4096×4096 texels). A is packed on every run, by a dispatch encoded
 *   before the matmul; B too, unless it is a weight (a buffer with WeightPacks, matmul-pack.ts),
 *   whose pack is shared and recorded once per change of the weights.
 * - `sgtex`: 16×8 register block, A read from its buffer with rows shared across a subgroup of 4
 *   (subgroupBroadcast), B from a texture as for `tex` (layouts NN and NT with K % 4 == 0, devices
 *   with the 'subgroups' feature): the fastest on SwiftShader.
 */
export type MatmulVariant = 'naive' | 'rb' | 'rb4' | 'rb4x16' | 'tiled' | 'tex' | 'sgtex';

export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  'naive',
  'rb',
  'rb4',
  'rb4x16',
  'tiled',
  'tex',
  'sgtex',
];

/** Texture side that every device supports (compatibility mode's default maxTextureDimension2D). */
const TEX_MAX = 4096;

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
}

interface VariantInfo {
  file: ShaderFile;
  /** Entry point; for vec4 variants one per layout (suffix _nn/_tn/_nt). */
  entry: string;
  perLayoutEntry: boolean;
  /** The layout is handled outside the kernel (no TRANS_A / TRANS_B overrides). */
  layoutFree?: boolean;
  /** a and b are bound as array<vec4<f32>>. */
  vec4: boolean;
  workgroupSize: readonly [number, number];
  /** Output rows and columns one invocation computes. */
  block: readonly [number, number];
  /** Device features the kernel needs. */
  requires?: readonly string[];
}

// Workgroup sizes measured on llvmpipe (128×784×400, 1024×512×256): consecutive invocations in x
// take consecutive column blocks; each workgroup runs on one thread, so keep enough of them.
const VARIANTS: Record<MatmulVariant, VariantInfo> = {
  naive: {
    file: 'matmul_naive.wgsl',
    entry: 'matmul_naive',
    perLayoutEntry: false,
    vec4: false,
    workgroupSize: [16, 4],
    block: [1, 1],
  },
  rb: {
    file: 'matmul_rb.wgsl',
    entry: 'matmul_rb',
    perLayoutEntry: false,
    vec4: false,
    workgroupSize: [16, 2],
    block: [8, 8],
  },
  rb4: {
    file: 'matmul_rb4.wgsl',
    entry: 'matmul_rb4',
    perLayoutEntry: true,
    vec4: true,
    workgroupSize: [16, 4],
    block: [8, 8],
  },
  rb4x16: {
    file: 'matmul_rb4x16.wgsl',
    entry: 'matmul_rb4x16',
    perLayoutEntry: true,
    vec4: true,
    workgroupSize: [8, 4],
    block: [16, 8],
  },
  tiled: {
    file: 'matmul_tiled.wgsl',
    entry: 'matmul_tiled',
    perLayoutEntry: false,
    vec4: false,
    workgroupSize: [8, 8],
    block: [4, 4],
  },
  tex: {
    file: 'matmul_tex.wgsl',
    entry: 'matmul_tex',
    perLayoutEntry: false,
    layoutFree: true,
    vec4: false,
    workgroupSize: [8, 4],
    block: [16, 8],
  },
  sgtex: {
    file: 'matmul_sgtex.wgsl',
    entry: 'matmul_sgtex',
    perLayoutEntry: false,
    layoutFree: true,
    vec4: true,
    workgroupSize: [8, 4],
    block: [16, 8],
    requires: ['subgroups'],
  },
};

/** Whether the device has what a variant needs (the 'subgroups' feature for sgtex). */
export function matmulSupported(rt: GpuRuntime, variant: MatmulVariant): boolean {
  return (VARIANTS[variant].requires ?? []).every((f) => rt.info.features.has(f));
}

function checkShape(shape: MatmulShape): void {
  for (const key of ['M', 'N', 'K'] as const) checkDim('matmul', key, shape[key]);
}

function checkLayout(layout: string): asserts layout is MatmulLayout {
  if (!MATMUL_LAYOUTS.includes(layout as MatmulLayout)) {
    throw new Error(`matmul: unknown layout '${layout}' (known: ${MATMUL_LAYOUTS.join(', ')})`);
  }
}

/**
 * Whether a variant can compute this layout and shape. The vec4 variants read rows of a and b as
 * vec4, so the row lengths they read that way must be multiples of 4; the texture variant needs
 * its textures (M × ceil(K/4) and 4·ceil(K/4) × ceil(N/4) texels) within 4096 on a side.
 */
export function matmulEligible(
  variant: MatmulVariant,
  layout: MatmulLayout,
  shape: MatmulShape,
): boolean {
  const { M, N, K } = shape;
  const bTexFits = 4 * Math.ceil(K / 4) <= TEX_MAX && Math.ceil(N / 4) <= TEX_MAX;
  // TN (a weight gradient: linear epilogue) splits a K beyond one texture into chunks (texChunks).
  if (variant === 'tex') {
    return M <= TEX_MAX && Math.ceil(N / 4) <= TEX_MAX && (layout === 'TN' || bTexFits);
  }
  if (variant === 'sgtex') return layout !== 'TN' && K % 4 === 0 && bTexFits;
  if (!VARIANTS[variant].vec4) return true;
  switch (layout) {
    case 'NN':
      return K % 4 === 0 && N % 4 === 0;
    case 'TN':
      return M % 4 === 0 && N % 4 === 0;
    case 'NT':
      return K % 4 === 0;
  }
}

export function eligibleMatmulVariants(layout: MatmulLayout, shape: MatmulShape): MatmulVariant[] {
  return MATMUL_VARIANTS.filter((v) => matmulEligible(v, layout, shape));
}

/**
 * A hash of everything that decides the variants' speed (their WGSL and launch shapes): persisted
 * choices made for other kernels are ignored.
 */
export function matmulKernelsVersion(): string {
  const files = [...new Set(Object.values(VARIANTS).map((v) => v.file))].sort();
  let text = JSON.stringify(VARIANTS);
  for (const f of [...files, 'matmul_common.wgsl', 'matmul_pack.wgsl'] as ShaderFile[]) {
    text += WGSL_SOURCES[f] ?? '';
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Shape of a matmul kernel: M, N, K, and 1 or 0 for whether bias and pre are bound. */
type MatmulKernelShape = 'M' | 'N' | 'K' | 'hasBias' | 'storePre';

const kernels = new Map<string, KernelDef<MatmulKernelShape>>();

/** The registered kernel for a variant and layout (all are registered when this module loads). */
export function matmulKernel(
  variant: MatmulVariant,
  layout: MatmulLayout,
): KernelDef<MatmulKernelShape> {
  const name = `matmul_${variant}_${layout.toLowerCase()}`;
  const existing = kernels.get(name);
  if (existing) return existing;
  const info = VARIANTS[variant];
  const [wgX, wgY] = info.workgroupSize;
  const [rows, cols] = info.block;
  const colsPerGroup = wgX * cols;
  const rowsPerGroup = wgY * rows;
  const words = info.vec4 ? 4 : 1;
  const def = defineKernel<MatmulKernelShape>({
    name,
    file: info.file,
    entryPoint: info.perLayoutEntry ? `${info.entry}_${layout.toLowerCase()}` : info.entry,
    workgroupSize: [wgX, wgY],
    ...(info.requires ? { requires: info.requires } : {}),
    constants:
      info.perLayoutEntry || info.layoutFree
        ? {}
        : { TRANS_A: layout === 'TN' ? 1 : 0, TRANS_B: layout === 'NT' ? 1 : 0 },
    dispatch: ({ M, N }) => dispatch1d(Math.ceil(N / colsPerGroup) * Math.ceil(M / rowsPerGroup)),
    elements: ({ M, N, K, hasBias, storePre }) => ({
      c: M * N,
      pre: storePre ? M * N : 1,
      bias: hasBias ? N : 1,
      a: (M * K) / words,
      b: (K * N) / words,
    }),
  });
  kernels.set(name, def);
  return def;
}

for (const variant of MATMUL_VARIANTS)
  for (const layout of MATMUL_LAYOUTS) matmulKernel(variant, layout);

// ---- placeholders for unused `bias` / `pre` bindings ----

function placeholderFor(rt: GpuRuntime): { pre: BufferRange; bias: BufferRange } {
  return { pre: placeholderBuffer(rt, 'matmul.pre'), bias: placeholderBuffer(rt, 'matmul.bias') };
}

// ---- the high-level entry ----

export interface MatmulOptions extends MatmulShape {
  layout: MatmulLayout;
  /** (M, K), or (K, M) for TN. */
  a: BufferRange;
  /** (K, N), or (N, K) for NT. */
  b: BufferRange;
  /** Output (M, N); read too when `accumulate`. */
  c: BufferRange;
  /** (N), added to every row. */
  bias?: BufferRange;
  /** Optional output (M, N): the pre-activation z = op(A)·op(B) + bias. */
  pre?: BufferRange;
  act?: Activation;
  /** Activation parameter (default: defaultAlpha(act)). */
  alpha?: number;
  /** c += act(z) instead of c = act(z). */
  accumulate?: boolean;
  /** Pin a variant (error when not eligible); default: WEBGPU_VAE_MATMUL, else the selector. */
  variant?: MatmulVariant;
  /** Appended to the kernel name in labels. */
  label?: string;
  /** Extra override constants of the kernel (tests: sgtex's PLAIN path, which other GPUs take). */
  constants?: Readonly<Record<string, number>>;
}

/**
 * Prepares C = act(op(A)·op(B) [+ bias]) (or C += ...) as a replayable program: one dispatch, or
 * for the 'tex' variant the texture packs followed by the matmul (A packed on every run; B too,
 * unless it is a weight with WeightPacks: then a shared pack recorded once per change).
 */
export async function prepareMatmul(rt: GpuRuntime, options: MatmulOptions): Promise<Program> {
  const { layout, M, N, K } = options;
  checkLayout(layout);
  checkShape({ M, N, K });
  const weightPacks = weightPacksOf(options.b.buffer);
  const { variant } = await resolveMatmulVariant(
    rt,
    layout,
    { M, N, K },
    options.variant,
    weightPacks !== undefined,
  );
  const act = options.act ?? 'identity';
  const unused = placeholderFor(rt);
  const shape = { M, N, K, hasBias: options.bias ? 1 : 0, storePre: options.pre ? 1 : 0 };
  // Ranges larger than the shape needs are trimmed, so a vec4 binding's size is a multiple of 16.
  const fit = (range: BufferRange, elements: number): BufferRange =>
    range.size > 4 * elements ? { ...range, size: 4 * elements } : range;
  const a = fit(options.a, M * K);
  const b = fit(options.b, K * N);
  const common = {
    c: fit(options.c, M * N),
    pre: options.pre ? fit(options.pre, M * N) : unused.pre,
    bias: options.bias ? fit(options.bias, N) : unused.bias,
  };
  const kernel = matmulKernel(variant, layout);
  const label = options.label ? `${kernel.name}[${options.label}]` : kernel.name;
  return buildProgram(rt, label, async (program) => {
    const chunks = variant === 'tex' ? texChunks(K) : [];
    if (chunks.length > 1) {
      // K beyond one texture: op(A)·op(B) = Σ over K chunks, each packed from where it starts
      // and added into C by the accumulating epilogue (the bias with the first chunk only).
      if (act !== 'identity' || options.pre) {
        throw new Error(
          `matmul: tex ${layout} ${M}×${N}×${K} splits K into ${chunks.length} chunks, which needs a linear epilogue (no activation, no pre-activation output)`,
        );
      }
      const suffix = options.label ? `.${options.label}` : '';
      for (const [i, { start, size }] of chunks.entries()) {
        const packs = texturePackLayouts(layout, M, N, size, start, K);
        const aTex = await appendPack(program, `a_tex${i}`, a, packs.a, `a${suffix}.k${i}`);
        const bTex = await appendPack(program, `b_tex${i}`, b, packs.b, `b${suffix}.k${i}`);
        const withBias = i === 0 && options.bias !== undefined;
        await program.dispatch(kernel, {
          bindings: {
            ...common,
            bias: withBias ? common.bias : unused.bias,
            a_tex: aTex,
            b_tex: bTex,
          },
          shape: { M, N, K: size, hasBias: withBias ? 1 : 0, storePre: 0 },
          uniforms: { alpha: 0 },
          constants: {
            HAS_BIAS: withBias ? 1 : 0,
            STORE_PRE: 0,
            ACT: activationCode('identity'),
            ACCUMULATE: i > 0 || options.accumulate ? 1 : 0,
            ...options.constants,
          },
          label: `${options.label ?? 'matmul'}.k${i}`,
        });
      }
      return;
    }
    let operands: Record<string, BufferRange | GPUTextureView> = { a, b };
    if (variant === 'tex' || variant === 'sgtex') {
      const suffix = options.label ? `.${options.label}` : '';
      const packs = texturePackLayouts(layout, M, N, K);
      const aView =
        variant === 'tex'
          ? await appendPack(program, 'a_tex', a, packs.a, `a${suffix}`)
          : undefined;
      let bView: GPUTextureView;
      if (weightPacks) {
        const shared = await weightPacks.acquire(b, packs.b);
        program.onDestroy(() => shared.release());
        program.append(shared.dispatch);
        bView = shared.view;
      } else {
        bView = await appendPack(program, 'b_tex', b, packs.b, `b${suffix}`);
      }
      operands = aView ? { a_tex: aView, b_tex: bView } : { a, b_tex: bView };
    }
    await program.dispatch(kernel, {
      bindings: { ...common, ...operands },
      shape,
      uniforms: { alpha: options.alpha ?? defaultAlpha(act) },
      // The epilogue is chosen by override constants (see matmul_common.wgsl): a pipeline per
      // epilogue, with the unused branches compiled out.
      constants: {
        HAS_BIAS: options.bias ? 1 : 0,
        STORE_PRE: options.pre ? 1 : 0,
        ACT: activationCode(act),
        ACCUMULATE: options.accumulate ? 1 : 0,
        ...options.constants,
      },
      ...(options.label !== undefined ? { label: options.label } : {}),
    });
  });
}

/**
 * How the texture variant packs op(A) (M × K) and op(B) (K × N); B's texture has 4·ceil(K/4) rows
 * so that the last k4 step reads zeros past K.
 */
function texturePackLayouts(
  layout: MatmulLayout,
  M: number,
  N: number,
  K: number,
  kStart = 0,
  kTotal = kStart + K,
): { a: PackLayout; b: PackLayout } {
  // The strides are those of the whole operands (kTotal along K); a chunk starts kStart steps
  // along K: op(A)'s columns, op(B)'s rows.
  const aStrides =
    layout === 'TN' ? { rowStride: 1, colStride: M } : { rowStride: kTotal, colStride: 1 };
  const bStrides =
    layout === 'NT' ? { rowStride: 1, colStride: kTotal } : { rowStride: N, colStride: 1 };
  return {
    a: { rows: M, cols: K, ...aStrides, offset: kStart * aStrides.colStride, textureRows: M },
    b: {
      rows: K,
      cols: N,
      ...bStrides,
      offset: kStart * bStrides.rowStride,
      textureRows: 4 * Math.ceil(K / 4),
    },
  };
}

/**
 * The K chunks of a texture-fed matmul: one when B's texture (4·ceil(K/4) rows) fits, else
 * equal chunks of a multiple of 4, each within one texture.
 */
export function texChunks(K: number): { start: number; size: number }[] {
  const count = Math.ceil((4 * Math.ceil(K / 4)) / TEX_MAX);
  const size = 4 * Math.ceil(K / (4 * count));
  const chunks = [];
  for (let start = 0; start < K; start += size)
    chunks.push({ start, size: Math.min(size, K - start) });
  return chunks;
}

/** The variant of a prepared matmul (from its last dispatch's kernel name), or undefined. */
export function matmulVariantOf(p: Program | PreparedDispatch): MatmulVariant | undefined {
  const d = p instanceof Program ? p.dispatches.at(-1) : p;
  const m = d && /^matmul_(naive|rb4x16|rb4|rb|tiled|sgtex|tex)_(nn|tn|nt)$/.exec(d.kernel.name);
  return m ? (m[1] as MatmulVariant) : undefined;
}
