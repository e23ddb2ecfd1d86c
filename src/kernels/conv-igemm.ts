// The packed implicit-GEMM conv variants (shaders/conv_igemm.wgsl, shaders/conv_pack.wgsl): each
// run packs its operands (channels as vec4s, see conv_pack.wgsl) into scratch buffers the program
// owns, then one register-blocked GEMM-shaped kernel computes the result with the fused epilogue.
//   data paths (forward, input gradients):
//     igemm          source packed NHWC4, 16 pixels × 8 output channels per invocation
//     igemm-tex      the same with the packed source and weight in textures
//     igemm-sg       igemm-tex sharing the source texels within quads (subgroups; SwiftShader)
//     igemm-narrow   source packed NHWC4, 8 pixels × all (≤ 4) output channels
//     im2col         direct mode only: source packed as im2col rows, then the same GEMM (1×1 taps)
//     im2col-narrow  the same with the narrow kernel
//   weight gradients:
//     igemm          both tensors packed NHWC4, per tap 16 small × 8 big channels per invocation
//     igemm-tex      the same with both packed tensors in textures
//     igemm-sg       igemm-tex sharing the small tensor's texels within quads (subgroups)
//     im2col         the big tensor packed as im2col rows (for few big channels), then one TN GEMM
// The roles (src/dst, big/small, direct/transposed) are conv2d.wgsl's; see conv.ts.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program, type ProgramBuilder } from '../gpu/program.js';
import type { BindingResource, GpuRuntime } from '../gpu/runtime.js';
import { checkElements } from './checks.js';
import { prepareReduceCols } from './reduce.js';

const PACK_WG = 64;
const IGEMM_WG = 32;

/** How a data path or weight gradient packs the tensor it gathers windows from. */
export type ConvPacking = 'nhwc4' | 'im2col';

/**
 * Where the packed operands live: buffers, or rgba32float textures (nhwc4 + 16×8 kernels), read
 * by one invocation each or shared within quads ('texture-quads': the _sg kernels, subgroups).
 */
export type ConvOperands = 'buffer' | 'texture' | 'texture-quads';

const tensor = (b: number, c: number, h: number, w: number) => b * c * h * w;

/** Largest quotient conv_index.wgsl's f32 division returns exactly. */
const MAX_QUOTIENT = (1 << 22) - 1;

/** Throws unless every size is small enough for the f32 index division (conv_index.wgsl). */
function checkQuotients(kernel: string, sizes: Record<string, number>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (v > MAX_QUOTIENT) {
      throw new Error(
        `${kernel}: ${name} ${v} exceeds ${MAX_QUOTIENT}, the largest the packed variants' ` +
          `index math handles (use variant 'direct')`,
      );
    }
  }
}

// ---- shapes ----

/** The window of a convolution: kernel size, stride, padding. */
type WindowSizes = 'kh' | 'kw' | 'stride' | 'pad';
/** The NHWC4 packs: source (batch, c, h, w), c4 vec4s of channels, texture fold (0: buffer). */
type Nhwc4PackShape = 'batch' | 'c' | 'h' | 'w' | 'c4' | 'shift';
/** The im2col pack: source (batch, c, h, w), output grid (oh, ow), window, k4 vec4s per row. */
type Im2colPackShape = 'batch' | 'c' | 'h' | 'w' | 'oh' | 'ow' | WindowSizes | 'k4';
/** The weight packs: channels, taps, vec4 counts, weight strides, texture fold (0: buffer). */
type WeightPackShape =
  'src_c' | 'dst_c' | 'taps' | 'src_c4' | 'dst_n4' | 'src_stride' | 'dst_stride' | 'shift';
/** The packed source as a data GEMM sees it (im2col rows: 1×1 pixels on the output grid). */
type DataGeometry = 'src_h' | 'src_w' | WindowSizes;
/** The data GEMMs: geometry, output, texture folds, mode, and whether bias / pre are bound. */
type DataGemmShape =
  | DataGeometry
  | 'batch'
  | 'src_c4'
  | 'dst_c'
  | 'dst_h'
  | 'dst_w'
  | 'src_shift'
  | 'w_shift'
  | 'transposed'
  | 'hasBias'
  | 'storePre';
/** The packed big tensor as a weight GEMM sees it (im2col: the windows as channels). */
type WeightGeometry = 'big_c' | 'big_c4' | 'big_h' | 'big_w' | WindowSizes;
/** The weight GEMMs: geometry, small tensor, splits of the sum, texture folds. */
type WeightGemmShape =
  | WeightGeometry
  | 'batch'
  | 'small_c'
  | 'small_c4'
  | 'small_h'
  | 'small_w'
  | 'split_rows'
  | 'splits'
  | 'small_shift'
  | 'big_shift';

// ---- packs ----
// (elements of vec4 bindings count vec4s)

/** x (B, C, H, W) -> (B·H·W + 1, c4) vec4s: channels per pixel, zero-padded; a zero pixel last. */
export const convPackNhwc4Kernel = defineKernel<Nhwc4PackShape>({
  name: 'conv_pack_nhwc4',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_nhwc4',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv((s.batch * s.h * s.w + 1) * s.c4, PACK_WG)),
  elements: (s) => ({
    pk_out: (s.batch * s.h * s.w + 1) * s.c4,
    pk_src: tensor(s.batch, s.c, s.h, s.w),
  }),
});

/** x (B, C, H, W) -> (B·OH·OW + 1, k4) vec4s: each output pixel's window (c, ky, kx); zero row last. */
export const convPackIm2colKernel = defineKernel<Im2colPackShape>({
  name: 'conv_pack_im2col',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_im2col',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv((s.batch * s.oh * s.ow + 1) * s.k4, PACK_WG)),
  elements: (s) => ({
    pi_out: (s.batch * s.oh * s.ow + 1) * s.k4,
    pi_src: tensor(s.batch, s.c, s.h, s.w),
  }),
});

/** Weight -> (taps, 4·src_c4, dst_n4) vec4s over output channels (conv_igemm). */
export const convPackWeightKernel = defineKernel<WeightPackShape>({
  name: 'conv_pack_weight',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_weight',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv(s.taps * 4 * s.src_c4 * s.dst_n4, PACK_WG)),
  elements: (s) => ({
    pw_out: 4 * s.taps * s.src_c4 * s.dst_n4,
    pw_w: s.taps * s.src_c * s.dst_c,
  }),
});

/** Weight -> (taps, dst_c, src_c4) vec4s over source channels (conv_igemm_narrow). */
export const convPackWeightNarrowKernel = defineKernel<WeightPackShape>({
  name: 'conv_pack_weight_narrow',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_weight_narrow',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv(s.taps * s.dst_c * s.src_c4, PACK_WG)),
  elements: (s) => ({
    pw_out: s.taps * s.dst_c * s.src_c4,
    pw_w: s.taps * s.src_c * s.dst_c,
  }),
});

/** x (B, C, H, W) -> NHWC4 as conv_pack_nhwc4, into a texture folded by 2^shift pixels per row. */
export const convPackNhwc4TexKernel = defineKernel<Nhwc4PackShape>({
  name: 'conv_pack_nhwc4_tex',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_nhwc4_tex',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv((s.batch * s.h * s.w + 1) * s.c4, PACK_WG)),
  elements: (s) => ({ pk_src: tensor(s.batch, s.c, s.h, s.w) }),
});

/** Weight -> conv_pack_weight's layout in a texture folded by 2^shift rows per texture row. */
export const convPackWeightTexKernel = defineKernel<WeightPackShape>({
  name: 'conv_pack_weight_tex',
  file: 'conv_pack.wgsl',
  entryPoint: 'conv_pack_weight_tex',
  workgroupSize: [PACK_WG],
  dispatch: (s) => dispatch1d(ceilDiv(s.taps * 4 * s.src_c4 * s.dst_n4, PACK_WG)),
  elements: (s) => ({ pw_w: s.taps * s.src_c * s.dst_c }),
});

// ---- GEMM kernels ----

/** Output pixel blocks of `pb` pixels; in transposed mode blocks never mix phases (see WGSL). */
function pixelBlocks(s: Shape<DataGemmShape>, pb: number): number {
  if (!s.transposed) return ceilDiv(s.batch * s.dst_h * s.dst_w, pb);
  const st = s.stride;
  return st * st * ceilDiv(s.batch * ceilDiv(s.dst_h, st) * ceilDiv(s.dst_w, st), pb);
}

function dataElements(s: Shape<DataGemmShape>, weight: number): Record<string, number> {
  const out = tensor(s.batch, s.dst_c, s.dst_h, s.dst_w);
  return {
    ig_out: out,
    ig_pre: s.storePre ? out : 1,
    ig_src: (s.batch * s.src_h * s.src_w + 1) * s.src_c4,
    ig_w: weight,
    ig_bias: s.hasBias ? s.dst_c : 1,
  };
}

/** 16 pixels × 8 output channels per invocation. */
export const convIgemmKernel = defineKernel<DataGemmShape>({
  name: 'conv_igemm',
  file: 'conv_igemm.wgsl',
  entryPoint: 'conv_igemm',
  workgroupSize: [IGEMM_WG],
  dispatch: (s) => dispatch1d(ceilDiv(pixelBlocks(s, 16) * ceilDiv(s.dst_c, 8), IGEMM_WG)),
  elements: (s) => dataElements(s, 4 * s.kh * s.kw * s.src_c4 * ceilDiv(s.dst_c, 4)),
});

/** conv_igemm reading the packed source and weight from textures. */
export const convIgemmTexKernel = defineKernel<DataGemmShape>({
  name: 'conv_igemm_tex',
  file: 'conv_igemm.wgsl',
  entryPoint: 'conv_igemm_tex',
  workgroupSize: [IGEMM_WG],
  dispatch: (s) => dispatch1d(ceilDiv(pixelBlocks(s, 16) * ceilDiv(s.dst_c, 8), IGEMM_WG)),
  elements: (s) => {
    const out = tensor(s.batch, s.dst_c, s.dst_h, s.dst_w);
    return { ig_out: out, ig_pre: s.storePre ? out : 1, ig_bias: s.hasBias ? s.dst_c : 1 };
  },
});

/** Column blocks rounded up to whole quads (the _sg kernels: a quad shares one tile's rows). */
const quadBlocks = (n: number) => 4 * ceilDiv(n, 4);

/** conv_igemm_tex sharing the source texels within quads (conv_igemm_sg.wgsl). */
export const convIgemmSgKernel = defineKernel<DataGemmShape>({
  name: 'conv_igemm_sg',
  file: 'conv_igemm_sg.wgsl',
  entryPoint: 'conv_igemm_sg',
  workgroupSize: [IGEMM_WG],
  requires: ['subgroups'],
  dispatch: (s) =>
    dispatch1d(ceilDiv(pixelBlocks(s, 16) * quadBlocks(ceilDiv(s.dst_c, 8)), IGEMM_WG)),
  elements: (s) => {
    const out = tensor(s.batch, s.dst_c, s.dst_h, s.dst_w);
    return { ig_out: out, ig_pre: s.storePre ? out : 1, ig_bias: s.hasBias ? s.dst_c : 1 };
  },
});

/** 8 pixels × all (≤ 4) output channels per invocation. */
export const convIgemmNarrowKernel = defineKernel<DataGemmShape>({
  name: 'conv_igemm_narrow',
  file: 'conv_igemm.wgsl',
  entryPoint: 'conv_igemm_narrow',
  workgroupSize: [IGEMM_WG],
  dispatch: (s) => dispatch1d(ceilDiv(pixelBlocks(s, 8), IGEMM_WG)),
  elements: (s) => dataElements(s, s.kh * s.kw * s.dst_c * s.src_c4),
});

/** Weight gradient partial sums: 16 small × 8 big channels of one tap per invocation. */
export const convIgemmWeightKernel = defineKernel<WeightGemmShape>({
  name: 'conv_igemm_weight',
  file: 'conv_igemm.wgsl',
  entryPoint: 'conv_igemm_weight',
  workgroupSize: [IGEMM_WG],
  dispatch: (s) =>
    dispatch1d(
      ceilDiv(s.splits * ceilDiv(s.big_c, 8) * s.kh * s.kw * ceilDiv(s.small_c, 16), IGEMM_WG),
    ),
  elements: (s) => ({
    igw_out: s.splits * s.small_c * s.big_c * s.kh * s.kw,
    igw_small: s.batch * s.small_h * s.small_w * s.small_c4,
    igw_big: (s.batch * s.big_h * s.big_w + 1) * s.big_c4,
  }),
});

/** conv_igemm_weight reading both packed tensors from textures. */
export const convIgemmWeightTexKernel = defineKernel<WeightGemmShape>({
  name: 'conv_igemm_weight_tex',
  file: 'conv_igemm.wgsl',
  entryPoint: 'conv_igemm_weight_tex',
  workgroupSize: [IGEMM_WG],
  dispatch: (s) =>
    dispatch1d(
      ceilDiv(s.splits * ceilDiv(s.big_c, 8) * s.kh * s.kw * ceilDiv(s.small_c, 16), IGEMM_WG),
    ),
  elements: (s) => ({ igw_out: s.splits * s.small_c * s.big_c * s.kh * s.kw }),
});

/** conv_igemm_weight_tex sharing the small tensor's texels within quads (conv_igemm_sg.wgsl). */
export const convIgemmWeightSgKernel = defineKernel<WeightGemmShape>({
  name: 'conv_igemm_weight_sg',
  file: 'conv_igemm_sg.wgsl',
  entryPoint: 'conv_igemm_weight_sg',
  workgroupSize: [IGEMM_WG],
  requires: ['subgroups'],
  dispatch: (s) =>
    dispatch1d(
      ceilDiv(
        s.splits * quadBlocks(ceilDiv(s.big_c, 8)) * s.kh * s.kw * ceilDiv(s.small_c, 16),
        IGEMM_WG,
      ),
    ),
  elements: (s) => ({ igw_out: s.splits * s.small_c * s.big_c * s.kh * s.kw }),
});

/** Invocations of one split of the weight gradient (the split count aims at a multiple). */
export function igemmWeightInvocations(smallC: number, bigC: number, taps: number): number {
  return ceilDiv(bigC, 8) * taps * ceilDiv(smallC, 16);
}

// ---- textures ----

/**
 * How `rows` rows of `n4` vec4s fold into an rgba32float texture of at most `maxDim` texels a
 * side: 2^shift rows per texture row (at least 2^minShift), or undefined when they do not fit.
 */
export function textureFold(
  rows: number,
  n4: number,
  maxDim: number,
  minShift = 0,
): { shift: number; width: number; height: number } | undefined {
  const widest = Math.floor(Math.log2(maxDim / n4));
  const shift = Math.max(minShift, Math.min(widest, Math.ceil(Math.log2(rows))));
  const width = 2 ** shift * n4;
  const height = Math.ceil(rows / 2 ** shift);
  return shift <= widest && width <= maxDim && height <= maxDim
    ? { shift, width, height }
    : undefined;
}

/** Weight rows per texture row must be a multiple of 4 (conv_igemm_tex reads 4 rows at once). */
const WEIGHT_MIN_SHIFT = 2;

function maxTextureSide(rt: GpuRuntime): number {
  return rt.device.limits.maxTextureDimension2D;
}

/** Whether the igemm-tex textures of a data path fit this device. */
export function igemmDataTexturesFit(
  rt: GpuRuntime,
  g: { batch: number; srcC: number; srcH: number; srcW: number; dstC: number; taps: number },
): boolean {
  const max = maxTextureSide(rt);
  const c4 = ceilDiv(g.srcC, 4);
  return (
    textureFold(g.batch * g.srcH * g.srcW + 1, c4, max) !== undefined &&
    textureFold(g.taps * 4 * c4, ceilDiv(g.dstC, 4), max, WEIGHT_MIN_SHIFT) !== undefined
  );
}

/** Whether the igemm-tex textures of a weight gradient fit this device. */
export function igemmWeightTexturesFit(
  rt: GpuRuntime,
  g: {
    batch: number;
    bigC: number;
    bigH: number;
    bigW: number;
    smallC: number;
    smallH: number;
    smallW: number;
  },
): boolean {
  const max = maxTextureSide(rt);
  return (
    textureFold(g.batch * g.smallH * g.smallW + 1, ceilDiv(g.smallC, 4), max) !== undefined &&
    textureFold(g.batch * g.bigH * g.bigW + 1, ceilDiv(g.bigC, 4), max) !== undefined
  );
}

// ---- appending packs to a program ----

interface Source {
  range: BufferRange;
  batch: number;
  c: number;
  h: number;
  w: number;
}

/** A packed operand: a buffer, or a texture view with its fold. */
type Packed = { buffer: BufferRange } | { view: GPUTextureView; shift: number };

function makeTexture(
  b: ProgramBuilder,
  kernel: string,
  name: string,
  rows: number,
  n4: number,
  minShift = 0,
): { texture: GPUTexture; shift: number } {
  const max = maxTextureSide(b.rt);
  const fold = textureFold(rows, n4, max, minShift);
  if (!fold) {
    throw new Error(
      `${kernel}: the packed ${name} (${rows} rows of ${n4} texels) does not fit a ${max}² texture`,
    );
  }
  const texture = b.texture(name, {
    size: [fold.width, fold.height],
    format: 'rgba32float',
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
  });
  return { texture, shift: fold.shift };
}

/** Packs `src` NHWC4 into a scratch buffer or texture of the program. */
async function appendNhwc4(
  b: ProgramBuilder,
  kernel: string,
  name: string,
  src: Source,
  operands: ConvOperands,
  label: string | undefined,
): Promise<{ packed: Packed; c4: number }> {
  const c4 = ceilDiv(src.c, 4);
  const rows = src.batch * src.h * src.w + 1;
  checkElements(kernel, `the packed ${name}`, 4 * rows * c4);
  const shape = { batch: src.batch, c: src.c, h: src.h, w: src.w, c4 };
  if (operands !== 'buffer') {
    const { texture, shift } = makeTexture(b, kernel, `${name}-nhwc4`, rows, c4);
    await b.dispatch(convPackNhwc4TexKernel, {
      bindings: { pkt_out: texture.createView(), pk_src: src.range },
      shape: { ...shape, shift },
      label,
    });
    return { packed: { view: texture.createView(), shift }, c4 };
  }
  const buffer = b.storage(`${name}-nhwc4`, 16 * rows * c4);
  await b.dispatch(convPackNhwc4Kernel, {
    bindings: { pk_out: buffer, pk_src: src.range },
    shape: { ...shape, shift: 0 },
    label,
  });
  return { packed: { buffer }, c4 };
}

interface Window {
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  /** Output grid of the convolution whose windows are packed. */
  oh: number;
  ow: number;
}

/** Packs the windows of a convolution over `src` as im2col rows; returns them and K/4 rounded up. */
async function appendIm2col(
  b: ProgramBuilder,
  kernel: string,
  name: string,
  src: Source,
  win: Window,
  label: string | undefined,
): Promise<{ packed: Packed; k4: number }> {
  const k4 = ceilDiv(src.c * win.kh * win.kw, 4);
  const vec4s = (src.batch * win.oh * win.ow + 1) * k4;
  checkElements(kernel, `the im2col rows of ${name}`, 4 * vec4s);
  const buffer = b.storage(`${name}-im2col`, 16 * vec4s);
  await b.dispatch(convPackIm2colKernel, {
    bindings: { pi_out: buffer, pi_src: src.range },
    shape: {
      batch: src.batch,
      c: src.c,
      h: src.h,
      w: src.w,
      oh: win.oh,
      ow: win.ow,
      kh: win.kh,
      kw: win.kw,
      stride: win.stride,
      pad: win.pad,
      k4,
    },
    label,
  });
  return { packed: { buffer }, k4 };
}

// ---- data paths ----

/** A data path of conv.ts in the roles of conv_igemm.wgsl (see conv2d.wgsl for the geometry). */
export interface IgemmDataArgs {
  kernel: string;
  transposed: boolean;
  packing: ConvPacking;
  operands: ConvOperands;
  narrow: boolean;
  batch: number;
  src: BufferRange;
  srcC: number;
  srcH: number;
  srcW: number;
  dst: BufferRange;
  dstC: number;
  dstH: number;
  dstW: number;
  weight: BufferRange;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  bias: BufferRange | undefined;
  pre: BufferRange | undefined;
  /** Placeholders bound where bias / pre are unused. */
  unused: { pre: BufferRange; bias: BufferRange };
  actCode: number;
  alpha: number;
  accumulate: boolean;
  label: string | undefined;
}

export async function prepareIgemmDataPath(rt: GpuRuntime, a: IgemmDataArgs): Promise<Program> {
  const im2col = a.packing === 'im2col';
  const tex = a.operands !== 'buffer';
  if ((a.transposed && im2col) || (tex && (im2col || a.narrow))) {
    throw new Error(
      `${a.kernel}: no ${a.packing}${a.narrow ? ' narrow' : ''} kernel with ${a.operands} ` +
        `operands in ${a.transposed ? 'transposed' : 'direct'} mode`,
    );
  }
  checkQuotients(a.kernel, {
    batch: a.batch,
    'source channels × taps': a.srcC * a.kh * a.kw,
    'output height': a.dstH,
    'input height': a.srcH,
  });
  const label = a.label;
  return buildProgram(rt, `${a.kernel}${label ? `[${label}]` : ''}`, async (b) => {
    const source = { range: a.src, batch: a.batch, c: a.srcC, h: a.srcH, w: a.srcW };
    const taps = a.kh * a.kw;
    // The GEMM's view of the packed source: im2col rows are 1×1 "pixels" on the output grid
    // whose channels are the whole window.
    let geometry: Shape<DataGeometry>;
    let srcC4: number;
    let packedC: number;
    let wTaps: number;
    let srcStride: number;
    let dstStride: number;
    let packed: Packed;
    if (im2col) {
      const win = { kh: a.kh, kw: a.kw, stride: a.stride, pad: a.pad, oh: a.dstH, ow: a.dstW };
      const p = await appendIm2col(b, a.kernel, 'src', source, win, label);
      packed = p.packed;
      srcC4 = p.k4;
      geometry = { src_h: a.dstH, src_w: a.dstW, kh: 1, kw: 1, stride: 1, pad: 0 };
      // Row k = (c_src, ky, kx) of W[c_dst, c_src, ky, kx] (direct-mode layout).
      packedC = a.srcC * taps;
      wTaps = 1;
      srcStride = 1;
      dstStride = packedC;
    } else {
      const p = await appendNhwc4(b, a.kernel, 'src', source, a.operands, label);
      packed = p.packed;
      srcC4 = p.c4;
      geometry = { src_h: a.srcH, src_w: a.srcW, kh: a.kh, kw: a.kw, stride: a.stride, pad: a.pad };
      packedC = a.srcC;
      wTaps = taps;
      // Direct mode reads W[c_dst, c_src, ky, kx], transposed mode W[c_src, c_dst, ky, kx].
      srcStride = a.transposed ? a.dstC * taps : taps;
      dstStride = a.transposed ? taps : a.srcC * taps;
    }
    const dstN4 = ceilDiv(a.dstC, 4);
    const wShape = {
      src_c: packedC,
      dst_c: a.dstC,
      taps: wTaps,
      src_c4: srcC4,
      dst_n4: dstN4,
      src_stride: srcStride,
      dst_stride: dstStride,
    };
    let weight: Packed;
    if (tex) {
      const rows = wTaps * 4 * srcC4;
      const { texture, shift } = makeTexture(b, a.kernel, 'weight', rows, dstN4, WEIGHT_MIN_SHIFT);
      await b.dispatch(convPackWeightTexKernel, {
        bindings: { pwt_out: texture.createView(), pw_w: a.weight },
        shape: { ...wShape, shift },
        label,
      });
      weight = { view: texture.createView(), shift };
    } else {
      const vec4s = a.narrow ? wTaps * a.dstC * srcC4 : wTaps * 4 * srcC4 * dstN4;
      checkElements(a.kernel, 'the packed weight', 4 * vec4s);
      const buffer = b.storage('weight-packed', 16 * vec4s);
      await b.dispatch(a.narrow ? convPackWeightNarrowKernel : convPackWeightKernel, {
        bindings: { pw_out: buffer, pw_w: a.weight },
        shape: { ...wShape, shift: 0 },
        label,
      });
      weight = { buffer };
    }
    const operands: Record<string, BindingResource> | undefined =
      'view' in packed && 'view' in weight
        ? { ig_src_tex: packed.view, ig_w_tex: weight.view }
        : 'buffer' in packed && 'buffer' in weight
          ? { ig_src: packed.buffer, ig_w: weight.buffer }
          : undefined;
    if (!operands) throw new Error(`${a.kernel}: mixed buffer and texture operands`);
    const kernel =
      a.operands === 'texture-quads'
        ? convIgemmSgKernel
        : tex
          ? convIgemmTexKernel
          : a.narrow
            ? convIgemmNarrowKernel
            : convIgemmKernel;
    await b.dispatch(kernel, {
      bindings: {
        ig_out: a.dst,
        ig_pre: a.pre ?? a.unused.pre,
        ...operands,
        ig_bias: a.bias ?? a.unused.bias,
      },
      shape: {
        ...geometry,
        batch: a.batch,
        src_c4: srcC4,
        dst_c: a.dstC,
        dst_h: a.dstH,
        dst_w: a.dstW,
        src_shift: 'shift' in packed ? packed.shift : 0,
        w_shift: 'shift' in weight ? weight.shift : 0,
        transposed: a.transposed ? 1 : 0,
        hasBias: a.bias ? 1 : 0,
        storePre: a.pre ? 1 : 0,
      },
      uniforms: { alpha: a.alpha },
      constants: {
        TRANSPOSED: a.transposed ? 1 : 0,
        ...(a.narrow ? { NCOL: a.dstC } : {}),
        HAS_BIAS: a.bias ? 1 : 0,
        STORE_PRE: a.pre ? 1 : 0,
        ACT: a.actCode,
        ACCUMULATE: a.accumulate ? 1 : 0,
      },
      label,
    });
  });
}

// ---- weight gradient ----

export interface IgemmWeightArgs {
  kernel: string;
  packing: ConvPacking;
  operands: ConvOperands;
  batch: number;
  big: BufferRange;
  bigC: number;
  bigH: number;
  bigW: number;
  small: BufferRange;
  smallC: number;
  smallH: number;
  smallW: number;
  dw: BufferRange;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  accumulate: boolean;
  /** Splits of the sum over the small tensor's rows (b, y), and rows per split. */
  splits: number;
  splitRows: number;
  label: string | undefined;
}

export async function prepareIgemmWeightPath(rt: GpuRuntime, a: IgemmWeightArgs): Promise<Program> {
  const tex = a.operands !== 'buffer';
  if (tex && a.packing === 'im2col') {
    throw new Error(`${a.kernel}: no im2col weight-gradient kernel with texture operands`);
  }
  checkQuotients(a.kernel, {
    batch: a.batch,
    'channels × taps': Math.max(a.bigC, a.smallC) * a.kh * a.kw,
    height: Math.max(a.bigH, a.smallH),
  });
  const label = a.label;
  const total = a.smallC * a.bigC * a.kh * a.kw;
  return buildProgram(rt, `${a.kernel}${label ? `[${label}]` : ''}`, async (b) => {
    const small = await appendNhwc4(
      b,
      a.kernel,
      'small',
      { range: a.small, batch: a.batch, c: a.smallC, h: a.smallH, w: a.smallW },
      a.operands,
      label,
    );
    const bigSource = { range: a.big, batch: a.batch, c: a.bigC, h: a.bigH, w: a.bigW };
    let geometry: Shape<WeightGeometry>;
    let big: Packed;
    if (a.packing === 'im2col') {
      // The big tensor's windows, one row per small pixel: dW = smallᵀ · rows, taps folded in.
      const win = {
        kh: a.kh,
        kw: a.kw,
        stride: a.stride,
        pad: a.pad,
        oh: a.smallH,
        ow: a.smallW,
      };
      const p = await appendIm2col(b, a.kernel, 'big', bigSource, win, label);
      big = p.packed;
      geometry = {
        big_c: a.bigC * a.kh * a.kw,
        big_c4: p.k4,
        big_h: a.smallH,
        big_w: a.smallW,
        kh: 1,
        kw: 1,
        stride: 1,
        pad: 0,
      };
    } else {
      const p = await appendNhwc4(b, a.kernel, 'big', bigSource, a.operands, label);
      big = p.packed;
      geometry = {
        big_c: a.bigC,
        big_c4: p.c4,
        big_h: a.bigH,
        big_w: a.bigW,
        kh: a.kh,
        kw: a.kw,
        stride: a.stride,
        pad: a.pad,
      };
    }
    const operands: Record<string, BindingResource> | undefined =
      'view' in small.packed && 'view' in big
        ? { igw_small_tex: small.packed.view, igw_big_tex: big.view }
        : 'buffer' in small.packed && 'buffer' in big
          ? { igw_small: small.packed.buffer, igw_big: big.buffer }
          : undefined;
    if (!operands) throw new Error(`${a.kernel}: mixed buffer and texture operands`);
    const shape = {
      ...geometry,
      batch: a.batch,
      small_c: a.smallC,
      small_c4: small.c4,
      small_h: a.smallH,
      small_w: a.smallW,
      split_rows: a.splitRows,
      splits: a.splits,
      small_shift: 'shift' in small.packed ? small.packed.shift : 0,
      big_shift: 'shift' in big ? big.shift : 0,
    };
    const kernel =
      a.operands === 'texture-quads'
        ? convIgemmWeightSgKernel
        : tex
          ? convIgemmWeightTexKernel
          : convIgemmWeightKernel;
    if (a.splits === 1) {
      await b.dispatch(kernel, {
        bindings: { igw_out: a.dw, ...operands },
        shape,
        constants: { ACCUMULATE: a.accumulate ? 1 : 0 },
        label,
      });
      return;
    }
    const partial = b.storage('partial', 4 * a.splits * total);
    await b.dispatch(kernel, {
      bindings: { igw_out: partial, ...operands },
      shape,
      constants: { ACCUMULATE: 0 },
      label,
    });
    b.append(
      await prepareReduceCols(rt, {
        x: partial,
        out: a.dw,
        rows: a.splits,
        cols: total,
        accumulate: a.accumulate,
        label: `${a.kernel}${label ? '.' + label : ''}.splits`,
      }),
    );
  });
}
