// The matmul family: C(M,N) = op(A)·op(B) [+ bias] then an activation, in three layouts, with
// several kernel variants (shaders/matmul_*.wgsl) and a selector that measures which variant is
// fastest on this adapter for a class of shapes, once, and remembers it.
//
//   layout NN: C = A·B     a: (M, K), b: (K, N)
//   layout TN: C = Aᵀ·B    a: (K, M), b: (K, N)     (e.g. dW = Xᵀ·dZ)
//   layout NT: C = A·Bᵀ    a: (M, K), b: (N, K)     (e.g. dX = dZ·Wᵀ, or X·Wᵀ with W stored (N, K))
//
// Epilogue (override constants, so one WGSL source serves all): optional bias (N) added per column,
// optional pre-activation output `pre` (M, N), activation code ACT with uniform alpha, and
// ACCUMULATE (c += act(z) instead of c = act(z); `pre` is always assigned).
import type { BufferRange } from '../gpu/buffers.js';
import type { ShaderFile } from '../shaders/wgsl.generated.js';
import { defineKernel, dispatch1d, type KernelDef, type Shape } from '../gpu/kernel.js';
import { buildProgram, Program, type ProgramBuilder } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch, Work } from '../gpu/runtime.js';
import { activationCode, defaultAlpha, type Activation } from './activation-codes.js';
import { checkDim } from './checks.js';

export type MatmulLayout = 'NN' | 'TN' | 'NT';

export const MATMUL_LAYOUTS: readonly MatmulLayout[] = ['NN', 'TN', 'NT'];

/**
 * - `naive`: one output per invocation (reference; every shape).
 * - `rb`: 8×8 register block per invocation, scalar loads, no workgroup memory (every shape).
 * - `rb4`: 8×8 register block, vec4 loads (strides read as vec4 must be multiples of 4).
 * - `rb4x16`: 16×8 register block, vec4 loads (same eligibility as rb4).
 * - `tiled`: 32×32 tiles staged in workgroup memory, 4×4 per invocation (real GPUs; every shape).
 * - `tex`: 16×8 register block reading both operands from rgba32float textures, which two pack
 *   dispatches (encoded before it, in the same pass) fill from the buffers on every run (every
 *   layout and shape whose textures fit in 4096×4096 texels).
 */
export type MatmulVariant = 'naive' | 'rb' | 'rb4' | 'rb4x16' | 'tiled' | 'tex';

export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  'naive',
  'rb',
  'rb4',
  'rb4x16',
  'tiled',
  'tex',
];

/** Texture side that every device supports (compatibility mode's default maxTextureDimension2D). */
const TEX_MAX = 4096;

export interface MatmulShape {
  M: number;
  N: number;
  K: number;
}

/** Environment variable that pins a variant wherever it is eligible, e.g. WEBGPU_VAE_MATMUL=rb. */
export const MATMUL_ENV = 'WEBGPU_VAE_MATMUL';

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
};

function checkShape(shape: MatmulShape): void {
  for (const key of ['M', 'N', 'K'] as const) checkDim('matmul', key, shape[key]);
}

function checkLayout(layout: string): asserts layout is MatmulLayout {
  if (!MATMUL_LAYOUTS.includes(layout as MatmulLayout)) {
    throw new Error(`matmul: unknown layout '${layout}' (known: ${MATMUL_LAYOUTS.join(', ')})`);
  }
}

function checkVariant(variant: string, source: string): asserts variant is MatmulVariant {
  if (!MATMUL_VARIANTS.includes(variant as MatmulVariant)) {
    throw new Error(
      `matmul: unknown variant '${variant}' from ${source} (known: ${MATMUL_VARIANTS.join(', ')})`,
    );
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
  if (variant === 'tex') {
    return M <= TEX_MAX && 4 * Math.ceil(K / 4) <= TEX_MAX && Math.ceil(N / 4) <= TEX_MAX;
  }
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

const kernels = new Map<string, KernelDef>();

/** The registered kernel for a variant and layout (all are registered when this module loads). */
export function matmulKernel(variant: MatmulVariant, layout: MatmulLayout): KernelDef {
  const name = `matmul_${variant}_${layout.toLowerCase()}`;
  const existing = kernels.get(name);
  if (existing) return existing;
  const info = VARIANTS[variant];
  const [wgX, wgY] = info.workgroupSize;
  const [rows, cols] = info.block;
  const colsPerGroup = wgX * cols;
  const rowsPerGroup = wgY * rows;
  const words = info.vec4 ? 4 : 1;
  const def = defineKernel({
    name,
    file: info.file,
    entryPoint: info.perLayoutEntry ? `${info.entry}_${layout.toLowerCase()}` : info.entry,
    workgroupSize: [wgX, wgY],
    constants:
      info.perLayoutEntry || info.layoutFree
        ? {}
        : { TRANS_A: layout === 'TN' ? 1 : 0, TRANS_B: layout === 'NT' ? 1 : 0 },
    dispatch: ({ M, N }) => dispatch1d(Math.ceil(N! / colsPerGroup) * Math.ceil(M! / rowsPerGroup)),
    elements: ({ M, N, K, hasBias, storePre }) => ({
      c: M! * N!,
      pre: storePre ? M! * N! : 1,
      bias: hasBias ? N! : 1,
      a: (M! * K!) / words,
      b: (K! * N!) / words,
    }),
  });
  kernels.set(name, def);
  return def;
}

for (const variant of MATMUL_VARIANTS)
  for (const layout of MATMUL_LAYOUTS) matmulKernel(variant, layout);

// ---- placeholders for unused `bias` / `pre` bindings ----

const placeholders = new WeakMap<GpuRuntime, { pre: BufferRange; bias: BufferRange }>();

function placeholderFor(rt: GpuRuntime): { pre: BufferRange; bias: BufferRange } {
  let p = placeholders.get(rt);
  if (!p) {
    p = {
      pre: rt.buffers.storage('matmul:unused-pre', 16),
      bias: rt.buffers.storage('matmul:unused-bias', 16),
    };
    placeholders.set(rt, p);
  }
  return p;
}

// ---- selection ----

export interface MatmulSelection {
  variant: MatmulVariant;
  /** Median ms per dispatch of each variant measured (Infinity: far slower at first, or failed). */
  timings: Partial<Record<MatmulVariant, number>>;
  /** The shape actually measured (M may be reduced to bound the measuring time). */
  measuredShape: MatmulShape;
}

const MAX_SELECTIONS = 256;
const MEASURE_ORDER: readonly MatmulVariant[] = ['tex', 'rb4x16', 'rb4', 'rb', 'tiled', 'naive'];
const selections = new Map<string, Promise<MatmulSelection>>();
let measuring: Promise<void> = Promise.resolve();

function sizeClass(n: number): number {
  return n <= 8 ? n : 2 ** Math.ceil(Math.log2(n));
}

/**
 * Shape class used as the selector's cache key: each dimension rounded up to a power of two (exact
 * up to 8), plus which variants are eligible (the divisibility by 4 that the vec4 variants need).
 */
export function matmulShapeClass(layout: MatmulLayout, shape: MatmulShape): string {
  const { M, N, K } = shape;
  const eligible = eligibleMatmulVariants(layout, shape).join('+');
  return `${layout}:${sizeClass(M)}x${sizeClass(N)}x${sizeClass(K)}:${eligible}`;
}

/** Forgets every measured selection (tests, or after changing adapters). */
export function clearMatmulSelections(): void {
  selections.clear();
}

/** The selections made so far, by cache key (adapter name | shape class). */
export async function matmulSelections(): Promise<Map<string, MatmulSelection>> {
  const out = new Map<string, MatmulSelection>();
  for (const [key, p] of selections) {
    const s = await p.catch(() => undefined);
    if (s) out.set(key, s);
  }
  return out;
}

export interface SelectOptions {
  /** Timed runs per variant after one warm-up (default 3). */
  repeats?: number;
  /** Variants to consider (default: every eligible one). */
  candidates?: readonly MatmulVariant[];
  /** Upper bound on the FLOPs of the measured shape; M is reduced to meet it (default 3e8). */
  maxMeasureFlops?: number;
}

/**
 * Picks the fastest eligible variant for this adapter, layout and shape class by timing each on
 * scratch buffers (one warm-up, then `repeats` runs, median), once per adapter + shape class; the
 * choice is kept in memory (at most 256 classes, oldest dropped first).
 */
export function selectMatmulVariant(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  options: SelectOptions = {},
): Promise<MatmulVariant> {
  checkLayout(layout);
  checkShape(shape);
  const key = `${rt.info.name}|${matmulShapeClass(layout, shape)}`;
  let entry = selections.get(key);
  if (entry) {
    selections.delete(key);
    selections.set(key, entry);
  } else {
    // One measurement at a time, so concurrent selections do not time each other's work.
    entry = measuring.then(() => measureVariants(rt, layout, shape, options));
    measuring = entry.then(
      () => undefined,
      () => undefined,
    );
    selections.set(key, entry);
    entry.catch(() => selections.delete(key));
    while (selections.size > MAX_SELECTIONS)
      selections.delete(selections.keys().next().value as string);
  }
  return entry.then((s) => s.variant);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wall-clock milliseconds per dispatch of `count` dispatches in one submit. A pending promise
 * busy-polls the JS thread in Dawn for Node and slows CPU adapters' workers (by a third on
 * SwiftShader), so with an estimate it first sleeps for most of the expected time. (llvmpipe's
 * submit returns when the work is done, so nothing is left to sleep there.)
 */
async function timeRuns(rt: GpuRuntime, d: Work, count: number, estimate = 0): Promise<number> {
  const t0 = performance.now();
  rt.submit(
    Array.from({ length: count }, () => d),
    'matmul-select',
  );
  const left = 0.85 * estimate * count - (performance.now() - t0);
  if (left > 2) await sleep(left);
  await rt.finish();
  return (performance.now() - t0) / count;
}

function median(values: number[]): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

async function measureVariants(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  options: SelectOptions,
): Promise<MatmulSelection> {
  const repeats = options.repeats ?? 3;
  const maxFlops = options.maxMeasureFlops ?? 3e8;
  const { N, K } = shape;
  let M = shape.M;
  if (2 * M * N * K > maxFlops && M > 64) {
    // Fewer rows of C: same per-invocation work, fewer workgroups; a multiple of 64 keeps M % 4.
    M = Math.min(M, Math.max(64, 64 * Math.ceil(maxFlops / (2 * N * K) / 64)));
  }
  const measured = { M, N, K };
  // Likely fastest first, so that slow ones are dropped after a single run; the naive kernel only
  // competes on tiny problems (unless asked for).
  const candidates = (options.candidates ?? MEASURE_ORDER).filter(
    (v) =>
      matmulEligible(v, layout, shape) &&
      matmulEligible(v, layout, measured) &&
      (v !== 'naive' || options.candidates || 2 * M * N * K <= 1 << 22),
  );
  if (candidates.length === 0)
    throw new Error(`matmul: no candidate variant is eligible for ${layout} ${M}×${N}×${K}`);
  if (candidates.length === 1) {
    return {
      variant: candidates[0]!,
      timings: {},
      measuredShape: measured,
    };
  }
  const scratch = {
    a: rt.buffers.storage('matmul:select-a', 4 * M * K),
    b: rt.buffers.storage('matmul:select-b', 4 * K * N),
    c: rt.buffers.storage('matmul:select-c', 4 * M * N),
  };
  const timings: Partial<Record<MatmulVariant, number>> = {};
  const failures: string[] = [];
  let best = Infinity;
  try {
    for (const variant of candidates) {
      let d: Program;
      try {
        d = await prepareMatmul(rt, { layout, ...measured, ...scratch, variant, label: 'select' });
      } catch (error) {
        // A variant this device cannot build (limits, compiler) is left out of the choice.
        failures.push(`${variant}: ${(error as Error).message}`);
        timings[variant] = Infinity;
        continue;
      }
      try {
        // Warm-up (a first run may include lazy compilation); far slower than the best: dropped.
        await timeRuns(rt, d, 1);
        let estimate = await timeRuns(rt, d, 1);
        if (estimate > 4 * best) {
          timings[variant] = Infinity;
          continue;
        }
        // Samples of about 20 ms each (at most 16 dispatches), median.
        const count = Math.max(1, Math.min(16, Math.round(20 / Math.max(estimate, 0.05))));
        const times: number[] = [];
        for (let i = 0; i < repeats; i++) {
          const t = await timeRuns(rt, d, count, estimate);
          estimate = Math.min(estimate, t);
          times.push(t);
        }
        const t = median(times);
        timings[variant] = t;
        best = Math.min(best, t);
      } finally {
        d.destroy();
      }
    }
  } finally {
    for (const range of Object.values(scratch)) rt.buffers.destroy(range.buffer);
  }
  if (failures.length === candidates.length) {
    throw new Error(
      `matmul: no variant could be prepared for ${layout} ${M}×${N}×${K}:\n${failures.join('\n')}`,
    );
  }
  let variant = candidates.find((v) => timings[v] !== Infinity) ?? candidates[0]!;
  for (const v of candidates)
    if ((timings[v] ?? Infinity) < (timings[variant] ?? Infinity)) variant = v;
  return { variant, timings, measuredShape: measured };
}

function envVariant(): MatmulVariant | undefined {
  const value = typeof process !== 'undefined' ? process.env?.[MATMUL_ENV] : undefined;
  if (value === undefined || value === '') return undefined;
  checkVariant(value, `${MATMUL_ENV}`);
  return value;
}

/**
 * The variant a matmul will use: `requested` if given (an error when it is not eligible), else
 * WEBGPU_VAE_MATMUL where it is eligible for this layout and shape, else the measured selection.
 */
export async function resolveMatmulVariant(
  rt: GpuRuntime,
  layout: MatmulLayout,
  shape: MatmulShape,
  requested?: MatmulVariant,
): Promise<MatmulVariant> {
  if (requested !== undefined) {
    checkVariant(requested, 'the variant option');
    if (!matmulEligible(requested, layout, shape)) {
      throw new Error(
        `matmul: variant '${requested}' is not eligible for ${layout} ${shape.M}×${shape.N}×${shape.K} ` +
          `(vec4 variants need the strides they read as vec4 to be multiples of 4; eligible: ` +
          `${eligibleMatmulVariants(layout, shape).join(', ')})`,
      );
    }
    return requested;
  }
  const pinned = envVariant();
  if (pinned && matmulEligible(pinned, layout, shape)) return pinned;
  return selectMatmulVariant(rt, layout, shape);
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
}

/**
 * Prepares C = act(op(A)·op(B) [+ bias]) (or C += ...) as a replayable program: one dispatch, or
 * for the 'tex' variant the two texture packs followed by the matmul (packed on every run).
 */
export async function prepareMatmul(rt: GpuRuntime, options: MatmulOptions): Promise<Program> {
  const { layout, M, N, K } = options;
  checkLayout(layout);
  checkShape({ M, N, K });
  const variant = await resolveMatmulVariant(rt, layout, { M, N, K }, options.variant);
  const act = options.act ?? 'identity';
  const unused = placeholderFor(rt);
  const shape: Shape = { M, N, K, hasBias: options.bias ? 1 : 0, storePre: options.pre ? 1 : 0 };
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
    const textures =
      variant === 'tex' ? await appendTexturePacks(program, layout, options, a, b) : undefined;
    await program.dispatch(kernel, {
      bindings: textures
        ? { ...common, a_tex: textures.aView, b_tex: textures.bView }
        : { ...common, a, b },
      shape,
      uniforms: { alpha: options.alpha ?? defaultAlpha(act) },
      constants: {
        HAS_BIAS: options.bias ? 1 : 0,
        STORE_PRE: options.pre ? 1 : 0,
        ACT: activationCode(act),
        ACCUMULATE: options.accumulate ? 1 : 0,
      },
      ...(options.label !== undefined ? { label: options.label } : {}),
    });
  });
}

/** Fills an rgba32float texture with op(X), rows × cols (see matmul_pack.wgsl). */
export const matmulPack = defineKernel({
  name: 'matmul_pack',
  file: 'matmul_pack.wgsl',
  entryPoint: 'matmul_pack',
  workgroupSize: [8, 8],
  dispatch: ({ rows, cols }) => [Math.ceil(Math.ceil(cols! / 4) / 8), Math.ceil(rows! / 8), 1],
  elements: ({ rows, cols }) => ({ src: rows! * cols! }),
});

/** Appends the packs of op(A) and op(B) into textures owned by the program; returns their views. */
async function appendTexturePacks(
  program: ProgramBuilder,
  layout: MatmulLayout,
  options: MatmulOptions,
  a: BufferRange,
  b: BufferRange,
): Promise<{ aView: GPUTextureView; bView: GPUTextureView }> {
  const { M, N, K } = options;
  const make = (name: string, width: number, height: number) =>
    program.texture(name, {
      size: [width, height],
      format: 'rgba32float',
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
    });
  const K4 = Math.ceil(K / 4);
  // b_tex has 4·K4 rows so the last k4 step reads zero rows past K (textures start zeroed).
  const aTex = make('a_tex', K4, M);
  const bTex = make('b_tex', Math.ceil(N / 4), 4 * K4);
  await program.dispatch(matmulPack, {
    bindings: { dst: aTex.createView(), src: a },
    shape: { rows: M, cols: K },
    uniforms: layout === 'TN' ? { row_stride: 1, col_stride: M } : { row_stride: K, col_stride: 1 },
    label: `a${options.label ? `.${options.label}` : ''}`,
  });
  await program.dispatch(matmulPack, {
    bindings: { dst: bTex.createView(), src: b },
    shape: { rows: K, cols: N },
    uniforms: layout === 'NT' ? { row_stride: 1, col_stride: K } : { row_stride: N, col_stride: 1 },
    label: `b${options.label ? `.${options.label}` : ''}`,
  });
  return { aView: aTex.createView(), bView: bTex.createView() };
}

/** The variant of a prepared matmul (from its last dispatch's kernel name), or undefined. */
export function matmulVariantOf(p: Program | PreparedDispatch): MatmulVariant | undefined {
  const d = p instanceof Program ? p.dispatches.at(-1) : p;
  const m = d && /^matmul_(naive|rb4x16|rb4|rb|tiled|tex)_(nn|tn|nt)$/.exec(d.kernel.name);
  return m ? (m[1] as MatmulVariant) : undefined;
}
