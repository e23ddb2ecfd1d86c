// 2-D convolutions (shaders/conv2d.wgsl), NCHW like PyTorch: activations (B, C, H, W), conv2d
// weights (Cout, Cin, kh, kw) as torch.nn.Conv2d, conv_transpose2d weights (Cin, Cout, kh, kw) as
// torch.nn.ConvTranspose2d. Symmetric zero padding, equal strides in y and x, no dilation/groups.
//
//   conv2d forward            y = act(conv(x, W) + b)        conv2d_direct
//   conv2d backward input     dx = conv_transpose(dy, W)     conv2d_transposed
//   conv2d backward weight    dW = Σ dy ⊗ x-patch            conv2d_weight (+ split reduction)
//   conv_transpose2d forward  y = act(conv_transpose(x, W) + b)   conv2d_transposed
//   conv_transpose2d bwd in   dx = conv(dy, W)               conv2d_direct
//   conv_transpose2d bwd W    dW = Σ x ⊗ dy-patch            conv2d_weight (+ split reduction)
//   bias backward (both)      db = Σ_{B,H,W} dy              reduce_rows + reduce_cols
//
// The kernel names are those of the `direct` variant (conv2d.wgsl, the reference-checked
// baseline). Every path also has packed implicit-GEMM variants (conv-igemm.ts, conv_igemm.wgsl);
// conv-select.ts picks one per adapter and shape class, or the `variant` option pins one.
// Every gradient kernel takes `accumulate` (the gradient rule: += instead of =). Every path is a
// Program: the packed variants run several dispatches and own their scratch buffers, as do a
// split-K weight gradient and the bias sums.
import { placeholderBuffer } from '../gpu/placeholder.js';
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d, type Shape } from '../gpu/kernel.js';
import { buildProgram, singleProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { activationCode, defaultAlpha, type Activation } from './activation-codes.js';
import { checkDim, checkElements, checkFinite, checkU32 } from './checks.js';
import {
  igemmDataTexturesFit,
  igemmWeightInvocations,
  igemmWeightTexturesFit,
  prepareIgemmDataPath,
  prepareIgemmWeightPath,
  type ConvOperands,
} from './conv-igemm.js';
import { resolveConvVariant, type ConvPathShape, type ConvVariant } from './conv-select.js';
import { prepareReduceCols, prepareReduceRows } from './reduce.js';

export { CONV_VARIANTS, CONV_ENV, type ConvVariant, type ConvPathShape } from './conv-select.js';

const WG = 64;

/** Sizes of a conv2d or conv_transpose2d layer. height/width are the layer input's. */
export interface Conv2dShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  stride: number;
  padding: number;
  /** conv_transpose2d only: extra rows/columns at the bottom/right of the output, < stride. */
  outputPadding?: number;
}

/** Output length along one axis, as PyTorch computes it. */
export function convOutputLength(
  size: number,
  kernel: number,
  stride: number,
  padding: number,
  transposed = false,
  outputPadding = 0,
): number {
  return transposed
    ? (size - 1) * stride - 2 * padding + kernel + outputPadding
    : Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** Output (height, width) of a conv2d layer, or of a conv_transpose2d layer with `transposed`. */
export function conv2dOutputSize(
  shape: Conv2dShape,
  transposed = false,
): { height: number; width: number } {
  const op = shape.outputPadding ?? 0;
  return {
    height: convOutputLength(
      shape.height,
      shape.kernelH,
      shape.stride,
      shape.padding,
      transposed,
      op,
    ),
    width: convOutputLength(
      shape.width,
      shape.kernelW,
      shape.stride,
      shape.padding,
      transposed,
      op,
    ),
  };
}

/** The six conv paths; also the names their errors and labels use. */
export type ConvPath =
  | 'conv2d_forward'
  | 'conv2d_backward_input'
  | 'conv2d_backward_weight'
  | 'conv_transpose2d_forward'
  | 'conv_transpose2d_backward_input'
  | 'conv_transpose2d_backward_weight';

/**
 * A path as the kernels see it (conv2d.wgsl's roles: direct or transposed mode, source and
 * destination channels, or the big and small tensors of a weight gradient), with whether the
 * igemm-tex textures fit this device: what variant eligibility and the default table go by.
 */
export function convPathShape(rt: GpuRuntime, path: ConvPath, shape: Conv2dShape): ConvPathShape {
  const transposed = path.startsWith('conv_transpose2d');
  const { batch, inChannels: ci, outChannels: co, height, width } = shape;
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const taps = shape.kernelH * shape.kernelW;
  const subgroups = rt.info.features.has('subgroups');
  if (path.endsWith('weight')) {
    const [big, small] = transposed
      ? [
          { c: co, h: oh, w: ow },
          { c: ci, h: height, w: width },
        ]
      : [
          { c: ci, h: height, w: width },
          { c: co, h: oh, w: ow },
        ];
    const texturesFit = igemmWeightTexturesFit(rt, {
      batch,
      bigC: big.c,
      bigH: big.h,
      bigW: big.w,
      smallC: small.c,
      smallH: small.h,
      smallW: small.w,
    });
    return { kind: 'weight', bigC: big.c, smallC: small.c, texturesFit, subgroups };
  }
  // Forward: x -> y in the path's own mode; input gradient: dy -> dx in the other mode.
  const forward = path.endsWith('forward');
  const [src, dst] = forward
    ? [{ c: ci, h: height, w: width }, { c: co }]
    : [{ c: co, h: oh, w: ow }, { c: ci }];
  const texturesFit = igemmDataTexturesFit(rt, {
    batch,
    srcC: src.c,
    srcH: src.h,
    srcW: src.w,
    dstC: dst.c,
    taps,
  });
  return {
    kind: 'data',
    transposed: forward ? transposed : !transposed,
    srcC: src.c,
    dstC: dst.c,
    texturesFit,
    subgroups,
  };
}

// ---- kernels ----

/** Block sizes: cb output channels × pb output pixels (or taps) per invocation. */
interface Block {
  cb: number;
  pb: number;
}

const tensor = (b: number, c: number, h: number, w: number) => b * c * h * w;

/** Shape of the data kernels: src and dst, the window, cb × pb blocks, 1 / 0: bias, pre bound. */
type DataShape =
  | 'batch'
  | 'src_c'
  | 'src_h'
  | 'src_w'
  | 'dst_c'
  | 'dst_h'
  | 'dst_w'
  | 'kh'
  | 'kw'
  | 'stride'
  | 'pad'
  | 'cb'
  | 'pb'
  | 'hasBias'
  | 'storePre';

/** Shape of the weight gradient: big and small tensors, the window, the splits, cb × pb blocks. */
type WeightShape =
  | 'batch'
  | 'big_c'
  | 'big_h'
  | 'big_w'
  | 'small_c'
  | 'small_h'
  | 'small_w'
  | 'kh'
  | 'kw'
  | 'stride'
  | 'pad'
  | 'split_rows'
  | 'splits'
  | 'cb'
  | 'pb';

/**
 * Elements the data kernels bind; the weight is (dst_c, src_c, kh, kw) for a direct conv and
 * (src_c, dst_c, kh, kw) for a transposed one (PyTorch's layouts).
 */
function dataElements(s: Shape<DataShape>, transposed: boolean) {
  const [outC, inC] = transposed ? [s.src_c, s.dst_c] : [s.dst_c, s.src_c];
  return {
    cv_out: tensor(s.batch, s.dst_c, s.dst_h, s.dst_w),
    cv_pre: s.storePre ? tensor(s.batch, s.dst_c, s.dst_h, s.dst_w) : 1,
    cv_src: tensor(s.batch, s.src_c, s.src_h, s.src_w),
    cv_w: tensor(outC, inC, s.kh, s.kw),
    cv_bias: s.hasBias ? s.dst_c : 1,
  };
}

/** Writes the small tensor from the big one (conv2d forward, conv_transpose2d backward input). */
export const conv2dDirectKernel = defineKernel<DataShape>({
  name: 'conv2d_direct',
  file: 'conv2d.wgsl',
  entryPoint: 'conv2d_direct',
  workgroupSize: [WG],
  dispatch: (s) =>
    dispatch1d(ceilDiv(ceilDiv(s.batch * s.dst_h * s.dst_w, s.pb) * ceilDiv(s.dst_c, s.cb), WG)),
  elements: (s) => dataElements(s, false),
});

/** Writes the big tensor from the small one (conv_transpose2d forward, conv2d backward input). */
export const conv2dTransposedKernel = defineKernel<DataShape>({
  name: 'conv2d_transposed',
  file: 'conv2d.wgsl',
  entryPoint: 'conv2d_transposed',
  workgroupSize: [WG],
  dispatch: (s) =>
    dispatch1d(
      ceilDiv(
        ceilDiv(s.dst_c, s.cb) *
          s.batch *
          s.dst_h *
          s.stride *
          ceilDiv(ceilDiv(s.dst_w, s.stride), s.pb),
        WG,
      ),
    ),
  elements: (s) => dataElements(s, true),
});

/** Weight gradient partial sums, one slice per split of the (b, y) rows of the small tensor. */
export const conv2dWeightKernel = defineKernel<WeightShape>({
  name: 'conv2d_weight',
  file: 'conv2d.wgsl',
  entryPoint: 'conv2d_weight',
  workgroupSize: [WG],
  dispatch: (s) =>
    dispatch1d(
      ceilDiv(s.splits * ceilDiv(s.big_c * s.kh * s.kw, s.pb) * ceilDiv(s.small_c, s.cb), WG),
    ),
  elements: (s) => ({
    cw_out: s.splits * tensor(s.small_c, s.big_c, s.kh, s.kw),
    cw_big: tensor(s.batch, s.big_c, s.big_h, s.big_w),
    cw_small: tensor(s.batch, s.small_c, s.small_h, s.small_w),
  }),
});

// ---- argument checks ----

interface Geometry {
  /** Output (height, width) of the layer. */
  outH: number;
  outW: number;
}

function checkShape(kernel: string, shape: Conv2dShape, transposed: boolean): Geometry {
  for (const key of [
    'batch',
    'inChannels',
    'outChannels',
    'height',
    'width',
    'kernelH',
    'kernelW',
    'stride',
  ] as const) {
    checkDim(kernel, key, shape[key]);
  }
  checkU32(kernel, 'padding', shape.padding);
  if (shape.padding >= shape.kernelH || shape.padding >= shape.kernelW) {
    throw new Error(
      `${kernel}: padding ${shape.padding} must be smaller than the kernel ${shape.kernelH}×${shape.kernelW}`,
    );
  }
  const op = shape.outputPadding ?? 0;
  if (!transposed && op !== 0) {
    throw new Error(`${kernel}: outputPadding applies to transposed convolutions only, got ${op}`);
  }
  if (transposed) {
    checkU32(kernel, 'outputPadding', op);
    if (op >= shape.stride) {
      throw new Error(
        `${kernel}: outputPadding ${op} must be smaller than the stride ${shape.stride}`,
      );
    }
  }
  const { height: outH, width: outW } = conv2dOutputSize(shape, transposed);
  if (outH < 1 || outW < 1) {
    throw new Error(
      `${kernel}: output size ${outH}×${outW} < 1 (input ${shape.height}×${shape.width}, kernel ` +
        `${shape.kernelH}×${shape.kernelW}, stride ${shape.stride}, padding ${shape.padding})`,
    );
  }
  const { batch, inChannels, outChannels } = shape;
  checkElements(kernel, 'the input', tensor(batch, inChannels, shape.height, shape.width));
  checkElements(kernel, 'the output', tensor(batch, outChannels, outH, outW));
  checkElements(
    kernel,
    'the weight',
    tensor(inChannels, outChannels, shape.kernelH, shape.kernelW),
  );
  return { outH, outW };
}

/** Throws unless each buffer holds its tensor: name -> [range, dims]. */
function checkBuffers(
  kernel: string,
  buffers: Record<string, [BufferRange | undefined, readonly number[]]>,
): void {
  for (const [name, [range, dims]] of Object.entries(buffers)) {
    if (!range) continue;
    const need = dims.reduce((a, b) => a * b, 1);
    if (range.size < 4 * need) {
      throw new Error(
        `${kernel}: ${name} holds ${Math.floor(range.size / 4)} floats, its shape (${dims.join(', ')}) needs ${need}`,
      );
    }
  }
}

function checkEpilogue(kernel: string, act: Activation, alpha: number): number {
  let code: number;
  try {
    code = activationCode(act);
  } catch (error) {
    throw new Error(`${kernel}: ${(error as Error).message}`, { cause: error });
  }
  checkFinite(kernel, 'alpha', alpha);
  return code;
}

/** Where a packed variant keeps its operands. */
function operandsOf(variant: ConvVariant): ConvOperands {
  return variant === 'igemm-sg' ? 'texture-quads' : variant === 'igemm-tex' ? 'texture' : 'buffer';
}

// ---- block choice ----

/** Register block of every conv kernel: 8 output channels × 8 output pixels (or taps). */
const BLOCK: Block = { cb: 8, pb: 8 };

// ---- placeholders ----

function placeholderFor(rt: GpuRuntime): { pre: BufferRange; bias: BufferRange } {
  return { pre: placeholderBuffer(rt, 'conv.pre'), bias: placeholderBuffer(rt, 'conv.bias') };
}

// ---- data paths ----

interface PathArgs {
  kernel: ConvPath;
  transposed: boolean;
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
  shape: Conv2dShape;
  bias?: BufferRange;
  pre?: BufferRange;
  act: Activation;
  alpha: number;
  accumulate: boolean;
  variant: ConvVariant | undefined;
  label?: string;
}

/**
 * conv2d_direct (transposed: false) or conv2d_transposed (true) with the fused epilogue, or one of
 * the packed variants in the same roles.
 */
async function prepareDataPath(rt: GpuRuntime, a: PathArgs): Promise<Program> {
  const actCode = checkEpilogue(a.kernel, a.act, a.alpha);
  const unused = placeholderFor(rt);
  const variant = resolveConvVariant(rt, a.kernel, convPathShape(rt, a.kernel, a.shape), a.variant);
  if (variant !== 'direct') {
    return prepareIgemmDataPath(rt, {
      kernel: a.kernel,
      transposed: a.transposed,
      packing: variant.startsWith('im2col') ? 'im2col' : 'nhwc4',
      operands: operandsOf(variant),
      narrow: variant.endsWith('-narrow'),
      batch: a.batch,
      src: a.src,
      srcC: a.srcC,
      srcH: a.srcH,
      srcW: a.srcW,
      dst: a.dst,
      dstC: a.dstC,
      dstH: a.dstH,
      dstW: a.dstW,
      weight: a.weight,
      kh: a.shape.kernelH,
      kw: a.shape.kernelW,
      stride: a.shape.stride,
      pad: a.shape.padding,
      bias: a.bias,
      pre: a.pre,
      unused,
      actCode,
      alpha: a.alpha,
      accumulate: a.accumulate,
      label: a.label,
    });
  }
  const { cb, pb } = BLOCK;
  const d = await rt.prepare(a.transposed ? conv2dTransposedKernel : conv2dDirectKernel, {
    bindings: {
      cv_out: a.dst,
      cv_pre: a.pre ?? unused.pre,
      cv_src: a.src,
      cv_w: a.weight,
      cv_bias: a.bias ?? unused.bias,
    },
    shape: {
      batch: a.batch,
      src_c: a.srcC,
      src_h: a.srcH,
      src_w: a.srcW,
      dst_c: a.dstC,
      dst_h: a.dstH,
      dst_w: a.dstW,
      kh: a.shape.kernelH,
      kw: a.shape.kernelW,
      stride: a.shape.stride,
      pad: a.shape.padding,
      cb,
      pb,
      hasBias: a.bias ? 1 : 0,
      storePre: a.pre ? 1 : 0,
    },
    uniforms: { alpha: a.alpha },
    constants: {
      HAS_BIAS: a.bias ? 1 : 0,
      STORE_PRE: a.pre ? 1 : 0,
      ACT: actCode,
      ACCUMULATE: a.accumulate ? 1 : 0,
    },
    label: a.label,
  });
  return singleProgram(d);
}

interface WeightArgs {
  kernel: ConvPath;
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
  shape: Conv2dShape;
  accumulate: boolean;
  splits?: number;
  variant: ConvVariant | undefined;
  label?: string;
}

/** Invocations the weight gradient aims for before splitting its sum over rows. */
const WEIGHT_TARGET_INVOCATIONS = 2048;
/** Fewest small-tensor pixels one split sums. */
const WEIGHT_MIN_SPLIT_PIXELS = 64;

/**
 * How many parts the weight gradient's sum over the small tensor's rows (b, y) is split into, and
 * the rows per part: `requested`, or enough for about WEIGHT_TARGET_INVOCATIONS invocations in
 * all when one split has `perSplit`.
 */
function chooseSplits(
  a: WeightArgs,
  perSplit: number,
  total: number,
): { splits: number; splitRows: number } {
  const rows = a.batch * a.smallH;
  let splits: number;
  if (a.splits !== undefined) {
    checkDim(a.kernel, 'splits', a.splits);
    splits = Math.min(a.splits, rows);
  } else {
    const maxSplits = Math.max(1, Math.floor((rows * a.smallW) / WEIGHT_MIN_SPLIT_PIXELS));
    splits = Math.max(1, Math.min(rows, maxSplits, ceilDiv(WEIGHT_TARGET_INVOCATIONS, perSplit)));
  }
  const splitRows = ceilDiv(rows, splits);
  splits = ceilDiv(rows, splitRows);
  checkElements(a.kernel, 'the split partial sums', splits * total);
  return { splits, splitRows };
}

async function prepareWeightPath(rt: GpuRuntime, a: WeightArgs): Promise<Program> {
  const { kernelH: kh, kernelW: kw } = a.shape;
  const ntap = a.bigC * kh * kw;
  const total = a.smallC * ntap;
  const variant = resolveConvVariant(rt, a.kernel, convPathShape(rt, a.kernel, a.shape), a.variant);
  if (variant !== 'direct') {
    const packing = variant === 'im2col' ? 'im2col' : 'nhwc4';
    const perSplit =
      packing === 'im2col'
        ? igemmWeightInvocations(a.smallC, ntap, 1)
        : igemmWeightInvocations(a.smallC, a.bigC, kh * kw);
    return prepareIgemmWeightPath(rt, {
      kernel: a.kernel,
      packing,
      operands: operandsOf(variant),
      batch: a.batch,
      big: a.big,
      bigC: a.bigC,
      bigH: a.bigH,
      bigW: a.bigW,
      small: a.small,
      smallC: a.smallC,
      smallH: a.smallH,
      smallW: a.smallW,
      dw: a.dw,
      kh,
      kw,
      stride: a.shape.stride,
      pad: a.shape.padding,
      accumulate: a.accumulate,
      ...chooseSplits(a, perSplit, total),
      label: a.label,
    });
  }
  const { cb, pb } = BLOCK;
  const perSplit = ceilDiv(ntap, pb) * ceilDiv(a.smallC, cb);
  const { splits, splitRows } = chooseSplits(a, perSplit, total);
  const shape = {
    batch: a.batch,
    big_c: a.bigC,
    big_h: a.bigH,
    big_w: a.bigW,
    small_c: a.smallC,
    small_h: a.smallH,
    small_w: a.smallW,
    kh,
    kw,
    stride: a.shape.stride,
    pad: a.shape.padding,
    split_rows: splitRows,
    splits,
    cb,
    pb,
  };
  const label = a.label;
  return buildProgram(rt, `${a.kernel}${label ? `[${label}]` : ''}`, async (b) => {
    if (splits === 1) {
      await b.dispatch(conv2dWeightKernel, {
        bindings: { cw_out: a.dw, cw_big: a.big, cw_small: a.small },
        shape,
        constants: { ACCUMULATE: a.accumulate ? 1 : 0 },
        label,
      });
      return;
    }
    // Too few outputs to keep the device busy: split the sum over rows, then add up the partials.
    const partial = b.storage('partial', 4 * splits * total);
    await b.dispatch(conv2dWeightKernel, {
      bindings: { cw_out: partial, cw_big: a.big, cw_small: a.small },
      shape,
      constants: { ACCUMULATE: 0 },
      label,
    });
    b.append(
      await prepareReduceCols(rt, {
        x: partial,
        out: a.dw,
        rows: splits,
        cols: total,
        accumulate: a.accumulate,
        label: `${a.kernel}${label ? '.' + label : ''}.splits`,
      }),
    );
  });
}

// ---- public API ----

export interface ConvForwardOptions extends Conv2dShape {
  /** Input (batch, inChannels, height, width). */
  x: BufferRange;
  /** conv2d: (outChannels, inChannels, kh, kw); conv_transpose2d: (inChannels, outChannels, kh, kw). */
  weight: BufferRange;
  /** Output (batch, outChannels, outH, outW); read too when `accumulate`. */
  y: BufferRange;
  /** (outChannels), added to every pixel of its channel. */
  bias?: BufferRange;
  /** Optional output like y: the pre-activation z = conv + bias. */
  pre?: BufferRange;
  act?: Activation;
  /** Activation parameter (default: defaultAlpha(act)). */
  alpha?: number;
  /** y += act(z) instead of y = act(z); `pre` is always assigned. */
  accumulate?: boolean;
  /** Pin a kernel variant (error when not eligible); default: WEBGPU_VAE_CONV, else the table. */
  variant?: ConvVariant;
  label?: string;
}

export interface ConvBackwardInputOptions extends Conv2dShape {
  /** Gradient of the output (batch, outChannels, outH, outW). */
  dy: BufferRange;
  /** The layer's weight (layout as in ConvForwardOptions). */
  weight: BufferRange;
  /** Gradient of the input (batch, inChannels, height, width). */
  dx: BufferRange;
  accumulate?: boolean;
  /** Pin a kernel variant (error when not eligible); default: WEBGPU_VAE_CONV, else the table. */
  variant?: ConvVariant;
  label?: string;
}

export interface ConvBackwardWeightOptions extends Conv2dShape {
  /** The layer's input (batch, inChannels, height, width). */
  x: BufferRange;
  /** Gradient of the output (batch, outChannels, outH, outW). */
  dy: BufferRange;
  /** Gradient of the weight (layout as the weight). */
  dw: BufferRange;
  accumulate?: boolean;
  /**
   * Number of parts the sum over (batch, output rows) is split into, their partial sums added by
   * a reduction (default: chosen so that about 2048 invocations run; 1: no split).
   */
  splits?: number;
  /** Pin a kernel variant (error when not eligible); default: WEBGPU_VAE_CONV, else the table. */
  variant?: ConvVariant;
  label?: string;
}

export interface ConvBiasBackwardOptions {
  batch: number;
  channels: number;
  height: number;
  width: number;
  /** Gradient of the output (batch, channels, height, width). */
  dy: BufferRange;
  /** Gradient of the bias (channels). */
  db: BufferRange;
  accumulate?: boolean;
  label?: string;
}

/** (Cout, Cin, kh, kw) for conv2d, (Cin, Cout, kh, kw) for conv_transpose2d, as in PyTorch. */
function weightShape(o: Conv2dShape, transposed: boolean): number[] {
  return transposed
    ? [o.inChannels, o.outChannels, o.kernelH, o.kernelW]
    : [o.outChannels, o.inChannels, o.kernelH, o.kernelW];
}

/** The forward of either kind: y = act(conv(x, W) + b) into (B, Cout, outH, outW). */
async function prepareForward(
  rt: GpuRuntime,
  o: ConvForwardOptions,
  transposed: boolean,
): Promise<Program> {
  const kernel: ConvPath = transposed ? 'conv_transpose2d_forward' : 'conv2d_forward';
  const { outH, outW } = checkShape(kernel, o, transposed);
  checkBuffers(kernel, {
    x: [o.x, [o.batch, o.inChannels, o.height, o.width]],
    weight: [o.weight, weightShape(o, transposed)],
    y: [o.y, [o.batch, o.outChannels, outH, outW]],
    bias: [o.bias, [o.outChannels]],
    pre: [o.pre, [o.batch, o.outChannels, outH, outW]],
  });
  const act = o.act ?? 'identity';
  return prepareDataPath(rt, {
    kernel,
    transposed,
    batch: o.batch,
    src: o.x,
    srcC: o.inChannels,
    srcH: o.height,
    srcW: o.width,
    dst: o.y,
    dstC: o.outChannels,
    dstH: outH,
    dstW: outW,
    weight: o.weight,
    shape: o,
    bias: o.bias,
    pre: o.pre,
    act,
    alpha: o.alpha ?? defaultAlpha(act),
    accumulate: o.accumulate ?? false,
    variant: o.variant,
    label: o.label,
  });
}

/** The input gradient of either kind: the other kind's data path run from dy to dx. */
async function prepareBackwardInput(
  rt: GpuRuntime,
  o: ConvBackwardInputOptions,
  transposed: boolean,
): Promise<Program> {
  const kernel: ConvPath = transposed ? 'conv_transpose2d_backward_input' : 'conv2d_backward_input';
  const { outH, outW } = checkShape(kernel, o, transposed);
  checkBuffers(kernel, {
    dy: [o.dy, [o.batch, o.outChannels, outH, outW]],
    weight: [o.weight, weightShape(o, transposed)],
    dx: [o.dx, [o.batch, o.inChannels, o.height, o.width]],
  });
  return prepareDataPath(rt, {
    kernel,
    transposed: !transposed,
    batch: o.batch,
    src: o.dy,
    srcC: o.outChannels,
    srcH: outH,
    srcW: outW,
    dst: o.dx,
    dstC: o.inChannels,
    dstH: o.height,
    dstW: o.width,
    weight: o.weight,
    shape: o,
    act: 'identity',
    alpha: 0,
    accumulate: o.accumulate ?? false,
    variant: o.variant,
    label: o.label,
  });
}

/** y = act(conv2d(x, W) + b), W (Cout, Cin, kh, kw). */
export function prepareConv2dForward(rt: GpuRuntime, o: ConvForwardOptions): Promise<Program> {
  return prepareForward(rt, o, false);
}

/** dx = conv_transpose2d(dy, W): the gradient of conv2d w.r.t. its input. */
export function prepareConv2dBackwardInput(
  rt: GpuRuntime,
  o: ConvBackwardInputOptions,
): Promise<Program> {
  return prepareBackwardInput(rt, o, false);
}

/** y = act(conv_transpose2d(x, W) + b), W (Cin, Cout, kh, kw), with outputPadding. */
export function prepareConvTranspose2dForward(
  rt: GpuRuntime,
  o: ConvForwardOptions,
): Promise<Program> {
  return prepareForward(rt, o, true);
}

/** dx = conv2d(dy, W): the gradient of conv_transpose2d w.r.t. its input. */
export function prepareConvTranspose2dBackwardInput(
  rt: GpuRuntime,
  o: ConvBackwardInputOptions,
): Promise<Program> {
  return prepareBackwardInput(rt, o, true);
}

/** dW (Cout, Cin, kh, kw) = Σ_{b, oy, ox} dy[b, :, oy, ox] ⊗ x-patch: conv2d's weight gradient. */
export async function prepareConv2dBackwardWeight(
  rt: GpuRuntime,
  o: ConvBackwardWeightOptions,
): Promise<Program> {
  const kernel: ConvPath = 'conv2d_backward_weight';
  const { outH, outW } = checkShape(kernel, o, false);
  checkBuffers(kernel, {
    x: [o.x, [o.batch, o.inChannels, o.height, o.width]],
    dy: [o.dy, [o.batch, o.outChannels, outH, outW]],
    dw: [o.dw, [o.outChannels, o.inChannels, o.kernelH, o.kernelW]],
  });
  return prepareWeightPath(rt, {
    kernel,
    batch: o.batch,
    big: o.x,
    bigC: o.inChannels,
    bigH: o.height,
    bigW: o.width,
    small: o.dy,
    smallC: o.outChannels,
    smallH: outH,
    smallW: outW,
    dw: o.dw,
    shape: o,
    accumulate: o.accumulate ?? false,
    splits: o.splits,
    variant: o.variant,
    label: o.label,
  });
}

/** dW (Cin, Cout, kh, kw) = Σ_{b, y, x} x[b, :, y, x] ⊗ dy-patch: conv_transpose2d's weight gradient. */
export async function prepareConvTranspose2dBackwardWeight(
  rt: GpuRuntime,
  o: ConvBackwardWeightOptions,
): Promise<Program> {
  const kernel: ConvPath = 'conv_transpose2d_backward_weight';
  const { outH, outW } = checkShape(kernel, o, true);
  checkBuffers(kernel, {
    x: [o.x, [o.batch, o.inChannels, o.height, o.width]],
    dy: [o.dy, [o.batch, o.outChannels, outH, outW]],
    dw: [o.dw, [o.inChannels, o.outChannels, o.kernelH, o.kernelW]],
  });
  return prepareWeightPath(rt, {
    kernel,
    batch: o.batch,
    big: o.dy,
    bigC: o.outChannels,
    bigH: outH,
    bigW: outW,
    small: o.x,
    smallC: o.inChannels,
    smallH: o.height,
    smallW: o.width,
    dw: o.dw,
    shape: o,
    accumulate: o.accumulate ?? false,
    splits: o.splits,
    variant: o.variant,
    label: o.label,
  });
}

/** db (C) = Σ_{b, y, x} dy[b, c, y, x] (conv2d and conv_transpose2d alike), as a tree sum. */
export async function prepareConvBiasBackward(
  rt: GpuRuntime,
  o: ConvBiasBackwardOptions,
): Promise<Program> {
  const kernel = 'conv_bias_backward';
  for (const key of ['batch', 'channels', 'height', 'width'] as const)
    checkDim(kernel, key, o[key]);
  checkElements(kernel, 'dy', tensor(o.batch, o.channels, o.height, o.width));
  checkBuffers(kernel, {
    dy: [o.dy, [o.batch, o.channels, o.height, o.width]],
    db: [o.db, [o.channels]],
  });
  const label = `${kernel}${o.label ? '.' + o.label : ''}`;
  if (o.batch === 1) {
    return prepareReduceRows(rt, {
      x: o.dy,
      out: o.db,
      rows: o.channels,
      cols: o.height * o.width,
      accumulate: o.accumulate,
      label,
    });
  }
  // Sums per (b, c) plane, then over the batch.
  return buildProgram(rt, label, async (b) => {
    const planes = b.storage('planes', 4 * o.batch * o.channels);
    b.append(
      await prepareReduceRows(rt, {
        x: o.dy,
        out: planes,
        rows: o.batch * o.channels,
        cols: o.height * o.width,
        label: `${label}.planes`,
      }),
    );
    b.append(
      await prepareReduceCols(rt, {
        x: planes,
        out: o.db,
        rows: o.batch,
        cols: o.channels,
        accumulate: o.accumulate,
        label: `${label}.batch`,
      }),
    );
  });
}
