// Elementwise ops with row broadcasting: y = a ∘ b for ∘ in add, sub, mul, where b has a's shape
// (R, C), is one row (1, C), one value per row (R, 1) or a scalar (1, 1); y = scale · x; the
// masked fill y = mask ? value : x; and the unary y = f(x + shift), f identity, log|·| or 1/·.
import {
  prepareBinaryBackward,
  prepareBinaryForward,
  prepareMaskedFillBackward,
  prepareMaskedFillForward,
  prepareScaleBackward,
  prepareScaleForward,
  prepareUnaryBackward,
  prepareUnaryForward,
  type BinaryOp,
  type Broadcast,
  type UnaryFn,
} from '../../kernels/elementwise.js';
import { asProgram } from '../../gpu/program.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { Accumulating } from './util.js';

/** How b (or a mask) broadcasts over a (R, C): from its size. */
export function broadcastOf(a: Tensor, b: Tensor, what = 'b'): Broadcast {
  if (b.size === a.size) return 'none';
  if (b.size === 1) return 'scalar';
  if (b.size === a.cols && b.rows === 1) return 'row';
  if (b.size === a.rows) return 'column';
  throw new Error(
    `graph: ${what} ${b.toString()} does not broadcast over ${a.toString()} ` +
      `(give (R, C), (1, C), (R, 1) or (1, 1))`,
  );
}

export interface BinaryAttrs {
  op: BinaryOp;
  broadcast: Broadcast;
}

export const binaryBackwardOp = defineOp<
  { dy: Tensor; a: Tensor; b: Tensor },
  { da?: Tensor | undefined; db?: Tensor | undefined },
  BinaryAttrs & { accumulateA: boolean; accumulateB: boolean }
>({
  type: 'binary_backward',
  prepare({ rt, buffer }, op) {
    const { dy, a, b } = op.in;
    const { da, db } = op.out;
    return prepareBinaryBackward(rt, {
      op: op.attrs.op,
      rows: a.rows,
      cols: a.cols,
      broadcast: op.attrs.broadcast,
      dout: buffer(dy),
      a: buffer(a),
      b: buffer(b),
      ...(da ? { da: buffer(da), accumulateA: op.attrs.accumulateA } : {}),
      ...(db ? { db: buffer(db), accumulateB: op.attrs.accumulateB } : {}),
      label: op.name,
    });
  },
});

export const binaryOp = defineOp<{ a: Tensor; b: Tensor }, { y: Tensor }, BinaryAttrs>({
  type: 'binary',
  async prepare({ rt, buffer }, op) {
    const { a, b } = op.in;
    return asProgram(
      await prepareBinaryForward(rt, {
        out: buffer(op.out.y),
        a: buffer(a),
        b: buffer(b),
        op: op.attrs.op,
        rows: a.rows,
        cols: a.cols,
        broadcast: op.attrs.broadcast,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy) return;
    const { a, b } = op.in;
    const sa = ctx.needs(a) ? ctx.slot(a) : undefined;
    const sb = ctx.needs(b) ? ctx.slot(b) : undefined;
    if (!sa && !sb) return;
    g.add(
      binaryBackwardOp,
      `${op.name}.backward`,
      { dy, a, b },
      { da: sa?.grad, db: sb?.grad },
      { ...op.attrs, accumulateA: sa?.accumulate ?? false, accumulateB: sb?.accumulate ?? false },
    );
  },
});

function binary(g: Graph, name: string, a: Tensor, b: Tensor, op: BinaryOp): Tensor {
  return g.add(binaryOp, name, { a, b }, { y: a.shape }, { op, broadcast: broadcastOf(a, b) }).out
    .y;
}

/** a + b (b broadcast over a). */
export function add(g: Graph, name: string, a: Tensor, b: Tensor): Tensor {
  return binary(g, name, a, b, 'add');
}

/** a − b (b broadcast over a). */
export function subtract(g: Graph, name: string, a: Tensor, b: Tensor): Tensor {
  return binary(g, name, a, b, 'sub');
}

/** a · b elementwise (b broadcast over a). */
export function multiply(g: Graph, name: string, a: Tensor, b: Tensor): Tensor {
  return binary(g, name, a, b, 'mul');
}

export const scaleBackwardOp = defineOp<
  { dy: Tensor },
  { dx: Tensor },
  Accumulating<{ scale: number }>
>({
  type: 'scale_backward',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareScaleBackward(rt, {
        dx: buffer(op.out.dx),
        dy: buffer(op.in.dy),
        n: op.in.dy.size,
        scale: op.attrs.scale,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

export const scaleOp = defineOp<{ x: Tensor }, { y: Tensor }, { scale: number }>({
  type: 'scale',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareScaleForward(rt, {
        y: buffer(op.out.y),
        x: buffer(op.in.x),
        n: op.in.x.size,
        scale: op.attrs.scale,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      scaleBackwardOp,
      `${op.name}.dx`,
      { dy },
      { dx: s.grad },
      {
        scale: op.attrs.scale,
        accumulate: s.accumulate,
      },
    );
  },
});

/** scale · x. */
export function scale(g: Graph, name: string, x: Tensor, factor: number): Tensor {
  return g.add(scaleOp, name, { x }, { y: x.shape }, { scale: factor }).out.y;
}

export interface MaskedFillAttrs {
  value: number;
  broadcast: Broadcast;
}

export const maskedFillBackwardOp = defineOp<
  { dy: Tensor; mask: Tensor },
  { dx: Tensor },
  Accumulating<{ broadcast: Broadcast }>
>({
  type: 'masked_fill_backward',
  async prepare({ rt, buffer }, op) {
    const { dy, mask } = op.in;
    return asProgram(
      await prepareMaskedFillBackward(rt, {
        dx: buffer(op.out.dx),
        dout: buffer(dy),
        mask: buffer(mask),
        rows: dy.rows,
        cols: dy.cols,
        broadcast: op.attrs.broadcast,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** y = mask ? value : x (mask non-zero); the gradient flows to x where the mask is 0. */
export const maskedFillOp = defineOp<{ x: Tensor; mask: Tensor }, { y: Tensor }, MaskedFillAttrs>({
  type: 'masked_fill',
  async prepare({ rt, buffer }, op) {
    const { x, mask } = op.in;
    return asProgram(
      await prepareMaskedFillForward(rt, {
        out: buffer(op.out.y),
        x: buffer(x),
        mask: buffer(mask),
        rows: x.rows,
        cols: x.cols,
        broadcast: op.attrs.broadcast,
        value: op.attrs.value,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      maskedFillBackwardOp,
      `${op.name}.dx`,
      { dy, mask: op.in.mask },
      { dx: s.grad },
      {
        broadcast: op.attrs.broadcast,
        accumulate: s.accumulate,
      },
    );
  },
});

/** mask ? value : x, the mask broadcast over x like b in binary ops. */
export function maskedFill(g: Graph, name: string, x: Tensor, mask: Tensor, value: number): Tensor {
  return g.add(
    maskedFillOp,
    name,
    { x, mask },
    { y: x.shape },
    {
      value,
      broadcast: broadcastOf(x, mask, 'mask'),
    },
  ).out.y;
}

export interface UnaryAttrs {
  fn: UnaryFn;
  /** Added to x before f. */
  shift: number;
}

export const unaryBackwardOp = defineOp<
  { dy: Tensor; x: Tensor },
  { dx: Tensor },
  Accumulating<UnaryAttrs>
>({
  type: 'unary_backward',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareUnaryBackward(rt, {
        dx: buffer(op.out.dx),
        dy: buffer(op.in.dy),
        x: buffer(op.in.x),
        n: op.in.x.size,
        fn: op.attrs.fn,
        shift: op.attrs.shift,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** y = f(x + shift) elementwise, any shape. */
export const unaryOp = defineOp<{ x: Tensor }, { y: Tensor }, UnaryAttrs>({
  type: 'unary',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareUnaryForward(rt, {
        y: buffer(op.out.y),
        x: buffer(op.in.x),
        n: op.in.x.size,
        fn: op.attrs.fn,
        shift: op.attrs.shift,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      unaryBackwardOp,
      `${op.name}.dx`,
      { dy, x: op.in.x },
      { dx: s.grad },
      { ...op.attrs, accumulate: s.accumulate },
    );
  },
});

/** f(x + shift) elementwise: f 'identity' adds a constant, 'log_abs' is log|·|, 'reciprocal' 1/·. */
export function unary(g: Graph, name: string, x: Tensor, fn: UnaryFn, shift = 0): Tensor {
  return g.add(unaryOp, name, { x }, { y: x.shape }, { fn, shift }).out.y;
}
