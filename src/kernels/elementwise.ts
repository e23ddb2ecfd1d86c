// Elementwise ops on row-major (rows, cols) tensors (shaders/elementwise.wgsl):
//   out = a OP b, OP add / sub / mul, b broadcast            prepareBinaryForward / prepareBinaryBackward
//   y = scale * x, scale a uniform (changeable per step)     prepareScaleForward / prepareScaleBackward
//   out = mask ? value : x, mask broadcast                   prepareMaskedFillForward / prepareMaskedFillBackward
//   y = f(x + shift), f identity / log|·| / 1/·              prepareUnaryForward / prepareUnaryBackward
//   out = x ⊙ mask, a constant 0/1 mask (forward and grad)   prepareConstantMask
// The second operand (and the mask) has one of four shapes (Broadcast): 'none' (rows, cols),
// 'row' (1, cols): one row used by every row, 'column' (rows, 1): one value per row, 'scalar' (1, 1).
// The gradient of a broadcast b is summed over the broadcast axes by the reduce passes of
// src/kernels/reduce.ts; its (rows, cols) terms go to a scratch buffer owned by the program (not for
// add, whose terms are dout itself). vec4 entry points are used whenever the sizes and the bound
// ranges allow (about 2x on the CPU adapters).
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, dispatch1d, kernelFamily, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite, checkMatrix } from './checks.js';
import { prepareReduceCols, prepareReduceRows, prepareReduceTotal } from './reduce.js';
import { holdsVec4s } from './vec4.js';

const WG = 64;

export type BinaryOp = 'add' | 'sub' | 'mul';

/** Shape of a broadcast operand of a (rows, cols) op: (rows, cols), (1, cols), (rows, 1), (1, 1). */
export type Broadcast = 'none' | 'row' | 'column' | 'scalar';

const OP_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2 };
const BCAST_CODES: Record<Broadcast, number> = { none: 0, row: 1, column: 2, scalar: 3 };

/** Elements of a broadcast operand (bcast: its code) for a (rows, cols) op; cols per `cols`. */
function bcastElements(bcast: number, rows: number, cols: number): number {
  return [rows * cols, cols, rows, 1][bcast]!;
}

/** Elements of a broadcast operand of a (rows, cols) op. */
export function broadcastElements(broadcast: Broadcast, rows: number, cols: number): number {
  return bcastElements(BCAST_CODES[broadcast], rows, cols);
}

// Shapes: n elements of a and cols its row length (both in vec4s for the *4 kernels), bcast the
// code of b's shape; the scale kernels have n alone.
type BinaryShape = 'n' | 'cols' | 'bcast';

const elementwiseKernel = kernelFamily<'n'>({
  file: 'elementwise.wgsl',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
});

const bElements = ({ n, cols, bcast }: Shape<BinaryShape>) => bcastElements(bcast, n / cols, cols);

/** ew_out (R, C) = ew_a (R, C) OP ew_b (by BCAST). */
export const binaryForwardKernel = elementwiseKernel<BinaryShape>('binary_forward', {
  elements: (s) => ({ ew_out: s.n, ew_a: s.n, ew_b: bElements(s) }),
});
/** binary_forward on vec4s (BCAST 'none' or 'row'). */
export const binaryForward4Kernel = elementwiseKernel<BinaryShape>('binary_forward4', {
  elements: (s) => ({ ew_out4: s.n, ew_a4: s.n, ew_b4: bElements(s) }),
});
/** da (=|+=) dout * (mul ? b : 1); ew_other = b (by BCAST). */
export const binaryBackwardAKernel = elementwiseKernel<BinaryShape>('binary_backward_a', {
  elements: (s) => ({ ew_grad: s.n, ew_dout: s.n, ew_other: bElements(s) }),
});
export const binaryBackwardA4Kernel = elementwiseKernel<BinaryShape>('binary_backward_a4', {
  elements: (s) => ({ ew_grad4: s.n, ew_dout4: s.n, ew_other4: bElements(s) }),
});
/** (R, C) terms of db (=|+=) dout * (mul ? a : sub ? -1 : 1); ew_other = a. */
export const binaryBackwardBKernel = elementwiseKernel<BinaryShape>('binary_backward_b', {
  elements: ({ n }) => ({ ew_grad: n, ew_dout: n, ew_other: n }),
});
export const binaryBackwardB4Kernel = elementwiseKernel<BinaryShape>('binary_backward_b4', {
  elements: ({ n }) => ({ ew_grad4: n, ew_dout4: n, ew_other4: n }),
});
/** sc_out (=|+=) scale * sc_in, (n). */
export const scaleKernel = elementwiseKernel('scale_values', {
  elements: ({ n }) => ({ sc_out: n, sc_in: n }),
});
export const scale4Kernel = elementwiseKernel('scale_values4', {
  elements: ({ n }) => ({ sc_out4: n, sc_in4: n }),
});
/** mf_out = mask ? value : mf_x; mask by BCAST. */
export const maskedFillForwardKernel = elementwiseKernel<BinaryShape>('masked_fill_forward', {
  elements: (s) => ({ mf_out: s.n, mf_x: s.n, mf_mask: bElements(s) }),
});
/** mf_grad (=|+=) mask ? 0 : mf_dout. */
export const maskedFillBackwardKernel = elementwiseKernel<BinaryShape>('masked_fill_backward', {
  elements: (s) => ({ mf_grad: s.n, mf_dout: s.n, mf_mask: bElements(s) }),
});

/** un_out = f(un_x + shift), (n). */
export const unaryForwardKernel = elementwiseKernel('unary_forward', {
  elements: ({ n }) => ({ un_out: n, un_x: n }),
});
/** un_grad (=|+=) un_dout · f'(un_xin + shift), (n). */
export const unaryBackwardKernel = elementwiseKernel('unary_backward', {
  elements: ({ n }) => ({ un_grad: n, un_dout: n, un_xin: n }),
});

function checkOp(kernel: string, op: string): number {
  const code = OP_CODES[op as BinaryOp];
  if (code === undefined) throw new Error(`${kernel}: unknown op '${op}' (add, sub, mul)`);
  return code;
}

function checkBroadcast(kernel: string, broadcast: string): number {
  const code = BCAST_CODES[broadcast as Broadcast];
  if (code === undefined) {
    throw new Error(
      `${kernel}: unknown broadcast '${broadcast}' (none: (rows, cols), row: (1, cols), column: (rows, 1), scalar: (1, 1))`,
    );
  }
  return code;
}

/**
 * Element shape (n, cols) in vec4s when the kernel can run on vec4s: n and, when b is indexed by
 * column, the row length multiples of 4 and every bound range made of whole vec4s.
 */
function vec4Shape(
  rows: number,
  cols: number,
  bcastByColumn: boolean,
  ranges: readonly BufferRange[],
): { n: number; cols: number } | undefined {
  const n = rows * cols;
  if (n % 4 !== 0 || (bcastByColumn && cols % 4 !== 0) || !ranges.every(holdsVec4s)) return;
  // With BCAST 'none' only n matters; the row length is then any divisor, n itself.
  return bcastByColumn ? { n: n / 4, cols: cols / 4 } : { n: n / 4, cols: n / 4 };
}

export interface BinaryForwardOptions {
  /** Output (rows, cols). */
  out: BufferRange;
  /** (rows, cols). */
  a: BufferRange;
  /** Shape by `broadcast`. */
  b: BufferRange;
  op: BinaryOp;
  rows: number;
  cols: number;
  /** Shape of b (default 'none': (rows, cols)). */
  broadcast?: Broadcast;
  label?: string;
}

/** out = a OP b with b broadcast. */
export async function prepareBinaryForward(
  rt: GpuRuntime,
  o: BinaryForwardOptions,
): Promise<PreparedDispatch> {
  const name = 'binary_forward';
  checkMatrix(name, 'the tensor', o.rows, o.cols);
  const op = checkOp(name, o.op);
  const bcast = checkBroadcast(name, o.broadcast ?? 'none');
  const constants = { OP: op, BCAST: bcast };
  const v4 = bcast <= 1 ? vec4Shape(o.rows, o.cols, bcast === 1, [o.out, o.a, o.b]) : undefined;
  if (v4) {
    return rt.prepare(binaryForward4Kernel, {
      bindings: { ew_out4: o.out, ew_a4: o.a, ew_b4: o.b },
      shape: { ...v4, bcast },
      constants,
      label: o.label,
    });
  }
  return rt.prepare(binaryForwardKernel, {
    bindings: { ew_out: o.out, ew_a: o.a, ew_b: o.b },
    shape: { n: o.rows * o.cols, cols: o.cols, bcast },
    constants,
    label: o.label,
  });
}

export interface BinaryBackwardOptions {
  op: BinaryOp;
  rows: number;
  cols: number;
  /** Shape of b (default 'none'). */
  broadcast?: Broadcast;
  /** Gradient of the output (rows, cols). */
  dout: BufferRange;
  /** The forward's a (rows, cols); read only by mul's db. */
  a?: BufferRange;
  /** The forward's b; read only by mul's da. */
  b?: BufferRange;
  /** Gradient of a (rows, cols), when a needs one. */
  da?: BufferRange;
  /** da += … instead of da = … */
  accumulateA?: boolean;
  /** Gradient of b, in b's shape, when b needs one. */
  db?: BufferRange;
  /** db += … instead of db = … */
  accumulateB?: boolean;
  label?: string;
}

/**
 * da = dout * (mul ? b : 1); db = dout * (mul ? a : sub ? -1 : 1) summed over b's broadcast axes.
 * Each gradient is optional (at least one) and has its own accumulate flag; they are written by
 * separate dispatches, so a and b may be one tensor (x * x) with the second gradient accumulating.
 */
export async function prepareBinaryBackward(
  rt: GpuRuntime,
  o: BinaryBackwardOptions,
): Promise<Program> {
  const name = 'binary_backward';
  checkMatrix(name, 'the tensor', o.rows, o.cols);
  const op = checkOp(name, o.op);
  const broadcast = o.broadcast ?? 'none';
  const bcast = checkBroadcast(name, broadcast);
  if (!o.da && !o.db) throw new Error(`${name}: give da, db or both`);
  const mul = o.op === 'mul';
  const need = (what: 'a' | 'b', r: BufferRange | undefined): BufferRange => {
    if (!r)
      throw new Error(`${name}: mul needs the forward's ${what} for d${what === 'a' ? 'b' : 'a'}`);
    return r;
  };
  const { rows, cols } = o;
  const n = rows * cols;
  const sub = (part: string) => `${o.label ? o.label + '.' : ''}${part}`;
  return buildProgram(rt, o.label ?? name, async (p) => {
    if (o.da) {
      // add / sub do not read b: dout stands in for it (two read-only bindings may alias).
      const other = mul ? need('b', o.b) : o.dout;
      const code = mul ? bcast : 0;
      const constants = { OP: op, BCAST: code, ACCUMULATE: o.accumulateA ? 1 : 0 };
      const v4 = code <= 1 ? vec4Shape(rows, cols, code === 1, [o.da, o.dout, other]) : undefined;
      await p.dispatch(v4 ? binaryBackwardA4Kernel : binaryBackwardAKernel, {
        bindings: v4
          ? { ew_grad4: o.da, ew_dout4: o.dout, ew_other4: other }
          : { ew_grad: o.da, ew_dout: o.dout, ew_other: other },
        shape: v4 ? { ...v4, bcast: code } : { n, cols, bcast: code },
        constants,
        label: sub('da'),
      });
    }
    if (!o.db) return;
    const db = o.db;
    // The (rows, cols) terms of db: dout itself for add; otherwise written by binary_backward_b,
    // into db directly when b is not broadcast, else into a scratch buffer that is then reduced.
    let terms = o.dout;
    if (o.op !== 'add') {
      terms = broadcast === 'none' ? db : p.storage('db_terms', 4 * n);
      const other = mul ? need('a', o.a) : o.dout;
      const accumulate = broadcast === 'none' && o.accumulateB;
      const v4 = vec4Shape(rows, cols, false, [terms, o.dout, other]);
      await p.dispatch(v4 ? binaryBackwardB4Kernel : binaryBackwardBKernel, {
        bindings: v4
          ? { ew_grad4: terms, ew_dout4: o.dout, ew_other4: other }
          : { ew_grad: terms, ew_dout: o.dout, ew_other: other },
        shape: v4 ? { ...v4, bcast: 0 } : { n, cols, bcast: 0 },
        constants: { OP: op, BCAST: 0, ACCUMULATE: accumulate ? 1 : 0 },
        label: sub('db'),
      });
      if (broadcast === 'none') return;
    }
    const reduce = { x: terms, out: db, accumulate: o.accumulateB ?? false, label: sub('db') };
    if (broadcast === 'none') {
      // add, b (rows, cols): db = dout.
      const { accumulate, label } = reduce;
      p.append(await prepareScaleForward(rt, { y: db, x: o.dout, n, scale: 1, accumulate, label }));
    } else if (broadcast === 'row') {
      p.append(await prepareReduceCols(rt, { ...reduce, rows, cols }));
    } else if (broadcast === 'column') {
      p.append(await prepareReduceRows(rt, { ...reduce, rows, cols }));
    } else {
      p.append(await prepareReduceTotal(rt, { ...reduce, n }));
    }
  });
}

interface ScaleValues {
  out: BufferRange;
  in: BufferRange;
  n: number;
  scale: number;
  accumulate: boolean;
  label: string | undefined;
}

async function prepareScaleValues(
  rt: GpuRuntime,
  kernel: string,
  o: ScaleValues,
): Promise<PreparedDispatch> {
  checkDim(kernel, 'n', o.n);
  checkFinite(kernel, 'scale', o.scale);
  const constants = { ACCUMULATE: o.accumulate ? 1 : 0 };
  if (o.n % 4 === 0 && holdsVec4s(o.out) && holdsVec4s(o.in)) {
    return rt.prepare(scale4Kernel, {
      bindings: { sc_out4: o.out, sc_in4: o.in },
      shape: { n: o.n / 4 },
      uniforms: { scale: o.scale },
      constants,
      label: o.label,
    });
  }
  return rt.prepare(scaleKernel, {
    bindings: { sc_out: o.out, sc_in: o.in },
    shape: { n: o.n },
    uniforms: { scale: o.scale },
    constants,
    label: o.label,
  });
}

export interface ScaleForwardOptions {
  /** Output (n). */
  y: BufferRange;
  /** Input (n). */
  x: BufferRange;
  n: number;
  /** The constant; change it later with setUniforms({ scale }) on the returned dispatch. */
  scale: number;
  /** y += scale * x instead of y = scale * x. */
  accumulate?: boolean;
  label?: string;
}

/** y = scale * x. */
export async function prepareScaleForward(
  rt: GpuRuntime,
  o: ScaleForwardOptions,
): Promise<PreparedDispatch> {
  return prepareScaleValues(rt, 'scale_forward', {
    out: o.y,
    in: o.x,
    n: o.n,
    scale: o.scale,
    accumulate: o.accumulate ?? false,
    label: o.label,
  });
}

export interface ScaleBackwardOptions {
  /** Gradient of x (n). */
  dx: BufferRange;
  /** Gradient of y (n). */
  dy: BufferRange;
  n: number;
  /** The forward's constant; setUniforms({ scale }) changes it. */
  scale: number;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/** dx = scale * dy. */
export async function prepareScaleBackward(
  rt: GpuRuntime,
  o: ScaleBackwardOptions,
): Promise<PreparedDispatch> {
  return prepareScaleValues(rt, 'scale_backward', {
    out: o.dx,
    in: o.dy,
    n: o.n,
    scale: o.scale,
    accumulate: o.accumulate ?? false,
    label: o.label,
  });
}

export interface MaskedFillForwardOptions {
  /** Output (rows, cols). */
  out: BufferRange;
  /** (rows, cols). */
  x: BufferRange;
  /** 0 keeps x, anything else writes `value`; shape by `broadcast`. */
  mask: BufferRange;
  rows: number;
  cols: number;
  /** Shape of the mask (default 'none': (rows, cols)). */
  broadcast?: Broadcast;
  /** Finite (uniforms cannot be inf); use e.g. -1e30 to mask logits before a softmax. */
  value: number;
  label?: string;
}

/** out = mask != 0 ? value : x. */
export async function prepareMaskedFillForward(
  rt: GpuRuntime,
  o: MaskedFillForwardOptions,
): Promise<PreparedDispatch> {
  const name = 'masked_fill_forward';
  checkMatrix(name, 'the tensor', o.rows, o.cols);
  const bcast = checkBroadcast(name, o.broadcast ?? 'none');
  checkFinite(name, 'value', o.value);
  return rt.prepare(maskedFillForwardKernel, {
    bindings: { mf_out: o.out, mf_x: o.x, mf_mask: o.mask },
    shape: { n: o.rows * o.cols, cols: o.cols, bcast },
    uniforms: { value: o.value },
    constants: { BCAST: bcast },
    label: o.label,
  });
}

export interface MaskedFillBackwardOptions {
  /** Gradient of x (rows, cols). */
  dx: BufferRange;
  /** Gradient of the output (rows, cols). */
  dout: BufferRange;
  mask: BufferRange;
  rows: number;
  cols: number;
  broadcast?: Broadcast;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/** dx = mask != 0 ? 0 : dout (with accumulate, masked elements of dx stay as they were). */
export async function prepareMaskedFillBackward(
  rt: GpuRuntime,
  o: MaskedFillBackwardOptions,
): Promise<PreparedDispatch> {
  const name = 'masked_fill_backward';
  checkMatrix(name, 'the tensor', o.rows, o.cols);
  const bcast = checkBroadcast(name, o.broadcast ?? 'none');
  return rt.prepare(maskedFillBackwardKernel, {
    bindings: { mf_grad: o.dx, mf_dout: o.dout, mf_mask: o.mask },
    shape: { n: o.rows * o.cols, cols: o.cols, bcast },
    uniforms: { value: 0 },
    constants: { BCAST: bcast, ACCUMULATE: o.accumulate ? 1 : 0 },
    label: o.label,
  });
}

/** f of the unary op: the identity (a shift alone), log|v| or 1/v. */
export type UnaryFn = 'identity' | 'log_abs' | 'reciprocal';

const FN_CODES: Record<UnaryFn, number> = { identity: 0, log_abs: 1, reciprocal: 2 };

function checkFn(kernel: string, fn: string): number {
  const code = FN_CODES[fn as UnaryFn];
  if (code === undefined) {
    throw new Error(`${kernel}: unknown fn '${fn}' (identity, log_abs, reciprocal)`);
  }
  return code;
}

export interface UnaryForwardOptions {
  /** Output (n). */
  y: BufferRange;
  /** Input (n). */
  x: BufferRange;
  n: number;
  fn: UnaryFn;
  /** Added to x before f (default 0). */
  shift?: number;
  label?: string;
}

/** y = f(x + shift). */
export async function prepareUnaryForward(
  rt: GpuRuntime,
  o: UnaryForwardOptions,
): Promise<PreparedDispatch> {
  const name = 'unary_forward';
  checkDim(name, 'n', o.n);
  const shift = o.shift ?? 0;
  checkFinite(name, 'shift', shift);
  return rt.prepare(unaryForwardKernel, {
    bindings: { un_out: o.y, un_x: o.x },
    shape: { n: o.n },
    uniforms: { shift },
    constants: { FN: checkFn(name, o.fn) },
    label: o.label,
  });
}

export interface UnaryBackwardOptions {
  /** Gradient of x (n). */
  dx: BufferRange;
  /** Gradient of y (n). */
  dy: BufferRange;
  /** The forward's input (n). */
  x: BufferRange;
  n: number;
  fn: UnaryFn;
  shift?: number;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/** dx = dy · f'(x + shift). */
export async function prepareUnaryBackward(
  rt: GpuRuntime,
  o: UnaryBackwardOptions,
): Promise<PreparedDispatch> {
  const name = 'unary_backward';
  checkDim(name, 'n', o.n);
  const shift = o.shift ?? 0;
  checkFinite(name, 'shift', shift);
  return rt.prepare(unaryBackwardKernel, {
    bindings: { un_grad: o.dx, un_dout: o.dy, un_xin: o.x },
    shape: { n: o.n },
    uniforms: { shift },
    constants: { FN: checkFn(name, o.fn), ACCUMULATE: o.accumulate ? 1 : 0 },
    label: o.label,
  });
}

export interface ConstantMaskOptions {
  /** Output (n). */
  out: BufferRange;
  /** Input (n): the weight in the forward, its gradient in the backward. */
  x: BufferRange;
  /** n values, each 0 or 1: uploaded once, owned by the program. */
  mask: ArrayLike<number>;
  n: number;
  /** out += … instead of out = … (a gradient written a second time). */
  accumulate?: boolean;
  label?: string;
}

/**
 * out (=|+=) x ⊙ mask for a constant 0/1 mask (a MADE layer's connectivity): the same product is
 * the forward W ⊙ M and the backward dW ⊙ M, so a masked weight never gets a gradient. Runs the
 * binary op's da kernel (dout · b) with b the uploaded mask.
 */
export async function prepareConstantMask(
  rt: GpuRuntime,
  o: ConstantMaskOptions,
): Promise<Program> {
  const name = 'constant_mask';
  checkDim(name, 'n', o.n);
  if (o.mask.length !== o.n) {
    throw new Error(`${name}: the mask has ${o.mask.length} values, not n = ${o.n}`);
  }
  const values = Float32Array.from(o.mask);
  const bad = values.findIndex((v) => v !== 0 && v !== 1);
  if (bad >= 0) throw new Error(`${name}: mask[${bad}] is ${o.mask[bad]}, not 0 or 1`);
  const label = o.label ?? name;
  return buildProgram(rt, label, async (p) => {
    const mask = rt.buffers.upload(`${label}.mask`, values);
    p.onDestroy(() => rt.buffers.destroy(mask.buffer));
    p.append(
      await prepareBinaryBackward(rt, {
        op: 'mul',
        rows: 1,
        cols: o.n,
        dout: o.x,
        b: mask,
        da: o.out,
        accumulateA: o.accumulate ?? false,
        label,
      }),
    );
  });
}
