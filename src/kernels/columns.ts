// Concat and slice along features of row-major (rows, cols) tensors (shaders/columns.wgsl), also
// NCHW channels: channels c0..c1 of (R, C, H, W) are the column block [c0·H·W, c1·H·W) of
// (R, C·H·W). Everything is one kernel, copy_cols, which copies a column block of one tensor into a
// column block of another:
//   concat forward   out = [x0 | x1 | …]                 one copy per input         prepareConcatCols
//   concat backward  dx_i (=|+=) dout[:, block i]        one copy per input         prepareConcatColsBackward
//   slice forward    y = x[:, offset : offset + width]   one copy                   prepareSliceCols
//   slice backward   dx = dy padded with zeros, or dx[:, block] += dy               prepareSliceColsBackward
// When the widths, row lengths and offsets are all multiples of 4 (and the bound ranges of whole
// vec4s), the vec4 entry point copy_cols4 is used. A concat of 2–4 parts that would not take it
// all the way is one dispatch each way instead (concat_parts.wgsl): the small tensors where a step
// costs its dispatches.
import { rangesOverlap } from '../gpu/bindings.js';
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { placeholderBuffer } from '../gpu/placeholder.js';
import { checkDim, checkElements, checkU32 } from './checks.js';
import { holdsVec4s } from './vec4.js';

const WG = 64;

/** Shape of copy_cols: its uniform fields, and pad (1 with PAD) for the dispatch. */
type CopyShape = 'rows' | 'width' | 'src_cols' | 'src_off' | 'dst_cols' | 'dst_off' | 'pad';

/** Invocations: the block (rows, width), or all of dst (rows, dst_cols) with PAD. */
const copyDispatch = ({ rows, width, dst_cols, pad }: Shape<CopyShape>) =>
  dispatch1d(ceilDiv(rows * (pad ? dst_cols : width), WG));

/** cc_dst[r, dst_off + c] (=|+=) cc_src[r, src_off + c]; cc_dst (rows, dst_cols), cc_src (rows, src_cols). */
export const copyColsKernel = defineKernel<CopyShape>({
  name: 'copy_cols',
  file: 'columns.wgsl',
  entryPoint: 'copy_cols',
  workgroupSize: [WG],
  dispatch: copyDispatch,
  elements: ({ rows, src_cols, dst_cols }) => ({
    cc_dst: rows * dst_cols,
    cc_src: rows * src_cols,
  }),
});

/** copy_cols on vec4s; every size in the shape is in vec4 units. */
export const copyCols4Kernel = defineKernel<CopyShape>({
  name: 'copy_cols4',
  file: 'columns.wgsl',
  entryPoint: 'copy_cols4',
  workgroupSize: [WG],
  dispatch: copyDispatch,
  elements: ({ rows, src_cols, dst_cols }) => ({
    cc_dst4: rows * dst_cols,
    cc_src4: rows * src_cols,
  }),
});

export interface CopyColsOptions {
  /** Written: (rows, dstCols). */
  dst: BufferRange;
  /** Read: (rows, srcCols). */
  src: BufferRange;
  rows: number;
  /** Columns copied. */
  width: number;
  srcCols: number;
  /** First column of src read (default 0). */
  srcOffset?: number;
  dstCols: number;
  /** First column of dst written (default 0). */
  dstOffset?: number;
  /** dst += src in the block instead of dst = src (gradient rule). */
  accumulate?: boolean;
  /** Also write 0 to every column of dst outside the block (not with accumulate). */
  pad?: boolean;
  label?: string;
}

/** The one copy of this family: a column block of src into a column block of dst. */
export async function prepareCopyCols(
  rt: GpuRuntime,
  o: CopyColsOptions,
): Promise<PreparedDispatch> {
  const name = 'copy_cols';
  const srcOffset = o.srcOffset ?? 0;
  const dstOffset = o.dstOffset ?? 0;
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'width', o.width);
  checkDim(name, 'srcCols', o.srcCols);
  checkDim(name, 'dstCols', o.dstCols);
  checkU32(name, 'srcOffset', srcOffset);
  checkU32(name, 'dstOffset', dstOffset);
  if (srcOffset + o.width > o.srcCols) {
    throw new Error(
      `${name}: srcOffset ${srcOffset} + width ${o.width} exceeds srcCols ${o.srcCols}`,
    );
  }
  if (dstOffset + o.width > o.dstCols) {
    throw new Error(
      `${name}: dstOffset ${dstOffset} + width ${o.width} exceeds dstCols ${o.dstCols}`,
    );
  }
  if (o.pad && o.accumulate) throw new Error(`${name}: pad and accumulate exclude each other`);
  checkElements(name, 'src', o.rows * o.srcCols);
  checkElements(name, 'dst', o.rows * o.dstCols);
  const sizes = [o.width, o.srcCols, o.dstCols, srcOffset, dstOffset];
  const vec4 = sizes.every((s) => s % 4 === 0) && holdsVec4s(o.src) && holdsVec4s(o.dst);
  const unit = vec4 ? 4 : 1;
  const shape = {
    rows: o.rows,
    width: o.width / unit,
    src_cols: o.srcCols / unit,
    src_off: srcOffset / unit,
    dst_cols: o.dstCols / unit,
    dst_off: dstOffset / unit,
    pad: o.pad ? 1 : 0,
  };
  const constants = { ACCUMULATE: o.accumulate ? 1 : 0, PAD: o.pad ? 1 : 0 };
  return vec4
    ? rt.prepare(copyCols4Kernel, {
        bindings: { cc_dst4: o.dst, cc_src4: o.src },
        shape,
        constants,
        label: o.label,
      })
    : rt.prepare(copyColsKernel, {
        bindings: { cc_dst: o.dst, cc_src: o.src },
        shape,
        constants,
        label: o.label,
      });
}

export interface ConcatColsOptions {
  /** Output (rows, sum of the inputs' cols). */
  out: BufferRange;
  /** Inputs in order, each (rows, cols). */
  inputs: readonly { x: BufferRange; cols: number }[];
  rows: number;
  label?: string;
}

function totalCols(kernel: string, parts: readonly { cols: number }[]): number {
  if (parts.length === 0) throw new Error(`${kernel}: needs at least one input`);
  parts.forEach((p, i) => checkDim(kernel, `inputs[${i}].cols`, p.cols));
  return parts.reduce((s, p) => s + p.cols, 0);
}

const partLabel = (label: string | undefined, i: number) => `${label ? label + '.' : ''}in${i}`;

/** Most parts concat_parts (shaders/concat_parts.wgsl) takes in one dispatch. */
const MAX_FUSED_PARTS = 4;

/**
 * The shape of concat_parts: rows, total columns and where parts 0–2 end (its uniforms), and
 * `bound`: a bit per part whose binding holds the part (unset: a 1-element placeholder; the
 * backward binds one for a part without a gradient).
 */
type PartsShape = 'rows' | 'cols' | 'end0' | 'end1' | 'end2' | 'bound';

const partsDispatch = ({ rows, cols }: Shape<PartsShape>) => dispatch1d(ceilDiv(rows * cols, WG));

/** The elements each part's binding must hold (1 for a placeholder). */
const partElements = ({ rows, cols, end0, end1, end2, bound }: Shape<PartsShape>) =>
  [end0, end1 - end0, end2 - end1, cols - end2].map((width, k) =>
    bound & (1 << k) ? rows * width : 1,
  );

/** out = [part0 | … | part_{PARTS−1}] in one dispatch. */
export const concatPartsKernel = defineKernel<PartsShape>({
  name: 'concat_parts',
  file: 'concat_parts.wgsl',
  entryPoint: 'concat_parts',
  workgroupSize: [WG],
  dispatch: partsDispatch,
  elements: (s) => {
    const [p0, p1, p2, p3] = partElements(s);
    return { cp_out: s.rows * s.cols, part0: p0!, part1: p1!, part2: p2!, part3: p3! };
  },
});

/** d_k (=|+=) dout[:, block k] for every part with a gradient, in one dispatch. */
export const concatPartsBackwardKernel = defineKernel<PartsShape>({
  name: 'concat_parts_backward',
  file: 'concat_parts.wgsl',
  entryPoint: 'concat_parts_backward',
  workgroupSize: [WG],
  dispatch: partsDispatch,
  elements: (s) => {
    const [p0, p1, p2, p3] = partElements(s);
    return { cp_dout: s.rows * s.cols, d0: p0!, d1: p1!, d2: p2!, d3: p3! };
  },
});

/**
 * Whether a concat of these parts takes one concat_parts dispatch rather than a copy per part:
 * 2–4 parts, unless every copy would take the vec4 path (large channel blocks, where the vec4
 * loads pay more than the dispatches saved).
 */
function fusedConcat(
  parts: readonly { cols: number; range?: BufferRange | undefined }[],
  whole: BufferRange,
): boolean {
  if (parts.length < 2 || parts.length > MAX_FUSED_PARTS) return false;
  const total = parts.reduce((s, p) => s + p.cols, 0);
  let offset = 0;
  const allVec4 = parts.every((p) => {
    const ok =
      p.cols % 4 === 0 && offset % 4 === 0 && total % 4 === 0 && (!p.range || holdsVec4s(p.range));
    offset += p.cols;
    return ok;
  });
  return !(allVec4 && holdsVec4s(whole));
}

/** The shape of concat_parts for these parts, `bound` those whose binding holds them. */
function partsShape(
  rows: number,
  parts: readonly { cols: number }[],
  bound: (k: number) => boolean,
): Shape<PartsShape> {
  const ends: number[] = [];
  let end = 0;
  for (const p of parts) ends.push((end += p.cols));
  const cols = end;
  return {
    rows,
    cols,
    end0: ends[0]!,
    end1: ends[1] ?? cols,
    end2: parts.length > 3 ? ends[2]! : cols,
    bound: parts.reduce((bits, _, k) => (bound(k) ? bits | (1 << k) : bits), 0),
  };
}

/** out = [x0 | x1 | …] along columns: one copy per input into its block. */
export async function prepareConcatCols(rt: GpuRuntime, o: ConcatColsOptions): Promise<Program> {
  const cols = totalCols('concat_cols', o.inputs);
  return buildProgram(rt, o.label ?? 'concat_cols', async (b) => {
    if (
      fusedConcat(
        o.inputs.map((p) => ({ cols: p.cols, range: p.x })),
        o.out,
      )
    ) {
      const shape = partsShape(o.rows, o.inputs, () => true);
      checkElements('concat_parts', 'out', o.rows * cols);
      const part = (k: number) => o.inputs[k]?.x ?? placeholderBuffer(rt, `concat_parts.part${k}`);
      b.append(
        await rt.prepare(concatPartsKernel, {
          bindings: {
            cp_out: o.out,
            part0: part(0),
            part1: part(1),
            part2: part(2),
            part3: part(3),
          },
          shape,
          constants: { PARTS: o.inputs.length },
          label: o.label,
        }),
      );
      return;
    }
    let offset = 0;
    for (const [i, input] of o.inputs.entries()) {
      b.append(
        await prepareCopyCols(rt, {
          dst: o.out,
          src: input.x,
          rows: o.rows,
          width: input.cols,
          srcCols: input.cols,
          dstCols: cols,
          dstOffset: offset,
          label: partLabel(o.label, i),
        }),
      );
      offset += input.cols;
    }
  });
}

export interface ConcatColsBackwardOptions {
  /** Gradient of the output (rows, sum of the inputs' cols). */
  dout: BufferRange;
  /**
   * Inputs in order: `cols` of each, and its gradient `dx` (rows, cols) when it needs one, with
   * `accumulate` to add into it instead of assigning.
   */
  inputs: readonly { dx?: BufferRange; cols: number; accumulate?: boolean }[];
  rows: number;
  label?: string;
}

/** dx_i (=|+=) dout[:, block i] for each input that has a gradient. */
export async function prepareConcatColsBackward(
  rt: GpuRuntime,
  o: ConcatColsBackwardOptions,
): Promise<Program> {
  const cols = totalCols('concat_cols_backward', o.inputs);
  return buildProgram(rt, o.label ?? 'concat_cols_backward', async (b) => {
    const grads = o.inputs.flatMap((p) => (p.dx ? [p.dx] : []));
    // A part used twice has one gradient for both blocks: its assign and add must run in order,
    // so aliasing gradients take the copies (one dispatch after another).
    const aliased = grads.some((a, i) => grads.slice(i + 1).some((b) => rangesOverlap(a, b)));
    if (
      grads.length > 1 &&
      !aliased &&
      fusedConcat(
        o.inputs.map((p) => ({ cols: p.cols, range: p.dx })),
        o.dout,
      )
    ) {
      // One dispatch for every gradient; a part without one gets a placeholder of its own (never
      // written: HAS_k false; writable bindings must not alias).
      const grad = (k: number) => o.inputs[k]?.dx ?? placeholderBuffer(rt, `concat_parts.d${k}`);
      const flags: Record<string, number> = { PARTS: o.inputs.length };
      for (let k = 0; k < MAX_FUSED_PARTS; k++) {
        flags[`HAS${k}`] = o.inputs[k]?.dx ? 1 : 0;
        flags[`ACC${k}`] = o.inputs[k]?.accumulate ? 1 : 0;
      }
      b.append(
        await rt.prepare(concatPartsBackwardKernel, {
          bindings: { cp_dout: o.dout, d0: grad(0), d1: grad(1), d2: grad(2), d3: grad(3) },
          shape: partsShape(o.rows, o.inputs, (k) => o.inputs[k]?.dx !== undefined),
          constants: flags,
          label: o.label,
        }),
      );
      return;
    }
    let offset = 0;
    for (const [i, input] of o.inputs.entries()) {
      if (input.dx) {
        b.append(
          await prepareCopyCols(rt, {
            dst: input.dx,
            src: o.dout,
            rows: o.rows,
            width: input.cols,
            srcCols: cols,
            srcOffset: offset,
            dstCols: input.cols,
            accumulate: input.accumulate ?? false,
            label: partLabel(o.label, i),
          }),
        );
      }
      offset += input.cols;
    }
  });
}

export interface SliceColsOptions {
  /** Output (rows, width). */
  y: BufferRange;
  /** Input (rows, cols). */
  x: BufferRange;
  rows: number;
  cols: number;
  /** First column taken. */
  offset: number;
  /** Columns taken. */
  width: number;
  label?: string;
}

/** y = x[:, offset : offset + width]. */
export async function prepareSliceCols(
  rt: GpuRuntime,
  o: SliceColsOptions,
): Promise<PreparedDispatch> {
  return prepareCopyCols(rt, {
    dst: o.y,
    src: o.x,
    rows: o.rows,
    width: o.width,
    srcCols: o.cols,
    srcOffset: o.offset,
    dstCols: o.width,
    label: o.label ?? 'slice_cols',
  });
}

export interface SliceColsBackwardOptions {
  /** Gradient of the input (rows, cols). */
  dx: BufferRange;
  /** Gradient of the output (rows, width). */
  dy: BufferRange;
  rows: number;
  cols: number;
  offset: number;
  width: number;
  /** dx[:, block] += dy (the rest of dx untouched) instead of dx = dy padded with zeros. */
  accumulate?: boolean;
  label?: string;
}

/** dx[r, c] = dy[r, c - offset] inside the block, 0 outside; with accumulate, += inside only. */
export async function prepareSliceColsBackward(
  rt: GpuRuntime,
  o: SliceColsBackwardOptions,
): Promise<PreparedDispatch> {
  return prepareCopyCols(rt, {
    dst: o.dx,
    src: o.dy,
    rows: o.rows,
    width: o.width,
    srcCols: o.width,
    dstCols: o.cols,
    dstOffset: o.offset,
    accumulate: o.accumulate ?? false,
    pad: !o.accumulate,
    label: o.label ?? 'slice_cols_backward',
  });
}
