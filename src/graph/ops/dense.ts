// Dense ops: linear layers (x·Wᵀ + b with a fused activation), bias-free matmul with gradients to
// both operands, and a standalone activation; plus the backward ops their rules emit.
//   linear      x (R, in), weight (out, in), bias? (out) -> y (R, out), pre? (R, out)
//   matmul      a, b -> c = op(a)·op(b) (layouts NN / NT / TN, see kernels/matmul.ts), M×N×K
//   activation  x -> y = act(x) (any shape)
//   constant_mask  w -> w ⊙ mask, a constant 0/1 mask: maskedLinear() is linear on it, so the mask
//               applies in the forward and to the weight's gradient (dW ⊙ mask)
import { asProgram } from '../../gpu/program.js';
import type { Activation } from '../../kernels/activation-codes.js';
import { prepareActivationBackward, prepareActivationForward } from '../../kernels/activations.js';
import { prepareConstantMask } from '../../kernels/elementwise.js';
import { prepareMatmul, type MatmulLayout } from '../../kernels/matmul.js';
import { prepareReduceCols } from '../../kernels/reduce.js';
import { defineOp, type Graph, type GradContext, type Op, type Tensor } from '../graph.js';
import type { Accumulating } from './util.js';

export interface ActAttrs {
  act: Activation;
  /** leaky_relu slope / elu alpha (default PyTorch's). */
  alpha?: number;
}

export interface MatmulAttrs {
  layout: MatmulLayout;
  M: number;
  N: number;
  K: number;
}

/** Outputs of an op with a fused activation: y, and the pre-activation when training. */
export interface FusedOutputs {
  readonly [name: string]: Tensor | undefined;
  y: Tensor;
  pre?: Tensor | undefined;
}

function checkSize(op: Op, what: string, t: Tensor, want: number): void {
  if (t.size !== want) {
    throw new Error(
      `graph: ${op.type} '${op.name}': ${what} ${t.toString()} should hold ${want} values`,
    );
  }
}

/** act_backward: dx = dy · act'(pre). */
export const actBackwardOp = defineOp<
  { dy: Tensor; pre: Tensor },
  { dx: Tensor },
  Accumulating<ActAttrs>
>({
  type: 'act_backward',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareActivationBackward(rt, {
        n: op.in.dy.size,
        activation: op.attrs.act,
        ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
        dx: buffer(op.out.dx),
        dy: buffer(op.in.dy),
        x: buffer(op.in.pre),
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/**
 * The gradient w.r.t. the pre-activation of an op with a fused activation (outputs y and pre): dy
 * itself for 'identity', else an act_backward op. Undefined when y got no gradient.
 */
export function preActivationGrad(
  g: Graph,
  op: Pick<Op, 'type' | 'name'> & { out: FusedOutputs; attrs: ActAttrs },
  ctx: GradContext,
): Tensor | undefined {
  const dy = ctx.grad(op.out.y);
  if (!dy || op.attrs.act === 'identity') return dy;
  const pre = op.out.pre;
  if (!pre) throw new Error(`graph: ${op.type} '${op.name}' needs its pre-activation output`);
  const attrs: Accumulating<ActAttrs> = { act: op.attrs.act, accumulate: false };
  if (op.attrs.alpha !== undefined) attrs.alpha = op.attrs.alpha;
  return g.add(actBackwardOp, `${op.name}.dpre`, { dy, pre }, { dx: op.out.y.shape }, attrs).out.dx;
}

/** c (+)= op(a)·op(b): forward, and the backward of linear and matmul. */
export const matmulOp = defineOp<
  { a: Tensor; b: Tensor },
  { c: Tensor },
  MatmulAttrs & { accumulate?: boolean }
>({
  type: 'matmul',
  async prepare({ rt, buffer, matmulVariant }, op) {
    const { layout, M, N, K } = op.attrs;
    checkSize(op, 'a', op.in.a, M * K);
    checkSize(op, 'b', op.in.b, K * N);
    checkSize(op, 'c', op.out.c, M * N);
    return prepareMatmul(rt, {
      layout,
      M,
      N,
      K,
      a: buffer(op.in.a),
      b: buffer(op.in.b),
      c: buffer(op.out.c),
      accumulate: op.attrs.accumulate ?? false,
      ...(matmulVariant ? { variant: matmulVariant } : {}),
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dc = ctx.grad(op.out.c);
    if (dc) matmulGrads(g, op.name, dc, op.in.a, op.in.b, op.attrs, ctx);
  },
});

/**
 * Gradients of c = op(a)·op(b) for upstream dc (M, N), written through ctx.slot:
 *   NN (a: M×K, b: K×N):  da = dc·bᵀ (NT),  db = aᵀ·dc (TN)
 *   NT (a: M×K, b: N×K):  da = dc·b  (NN),  db = dcᵀ·a (TN)
 *   TN (a: K×M, b: K×N):  da = b·dcᵀ (NT),  db = a·dc  (NN)
 */
export function matmulGrads(
  g: Graph,
  name: string,
  dc: Tensor,
  a: Tensor,
  b: Tensor,
  { layout, M, N, K }: MatmulAttrs,
  ctx: GradContext,
  suffixes: { a: string; b: string } = { a: 'da', b: 'db' },
): void {
  const emit = (
    target: Tensor,
    suffix: string,
    operands: { a: Tensor; b: Tensor },
    attrs: MatmulAttrs,
  ) => {
    const s = ctx.slot(target);
    g.add(
      matmulOp,
      `${name}.${suffix}`,
      operands,
      { c: s.grad },
      { ...attrs, accumulate: s.accumulate },
    );
  };
  const [sa, sb] = [suffixes.a, suffixes.b];
  if (ctx.needs(a)) {
    if (layout === 'NN') emit(a, sa, { a: dc, b }, { layout: 'NT', M, N: K, K: N });
    else if (layout === 'NT') emit(a, sa, { a: dc, b }, { layout: 'NN', M, N: K, K: N });
    else emit(a, sa, { a: b, b: dc }, { layout: 'NT', M: K, N: M, K: N });
  }
  if (ctx.needs(b)) {
    if (layout === 'NN') emit(b, sb, { a, b: dc }, { layout: 'TN', M: K, N, K: M });
    else if (layout === 'NT') emit(b, sb, { a: dc, b: a }, { layout: 'TN', M: N, N: K, K: M });
    else emit(b, sb, { a, b: dc }, { layout: 'NN', M: K, N, K: M });
  }
}

/** Column sums: x (R, C) -> out (C), the gradient of a bias added to every row. */
export const biasBackwardOp = defineOp<{ dy: Tensor }, { db: Tensor }, Accumulating>({
  type: 'bias_backward',
  prepare({ rt, buffer }, op) {
    return prepareReduceCols(rt, {
      x: buffer(op.in.dy),
      out: buffer(op.out.db),
      rows: op.in.dy.size / op.out.db.size,
      cols: op.out.db.size,
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
});

/** y = act(x·Wᵀ + b): x (R, in), weight (out, in), bias (out) -> y (R, out) [, pre (R, out)]. */
export const linearOp = defineOp<
  { x: Tensor; weight: Tensor; bias?: Tensor | undefined },
  { y: Tensor; pre?: Tensor | undefined },
  ActAttrs
>({
  type: 'linear',
  async prepare({ rt, buffer, matmulVariant }, op) {
    const { x, weight, bias } = op.in;
    const { y, pre } = op.out;
    const [out, inn] = weight.shape as [number, number];
    const R = x.size / inn;
    checkSize(op, 'x', x, R * inn);
    checkSize(op, 'y', y, R * out);
    return prepareMatmul(rt, {
      layout: 'NT',
      M: R,
      N: out,
      K: inn,
      a: buffer(x),
      b: buffer(weight),
      c: buffer(y),
      ...(bias ? { bias: buffer(bias) } : {}),
      ...(pre ? { pre: buffer(pre) } : {}),
      act: op.attrs.act,
      ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
      ...(matmulVariant ? { variant: matmulVariant } : {}),
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const { x, weight, bias } = op.in;
    const dpre = preActivationGrad(g, op, ctx);
    if (!dpre) return;
    const [out, inn] = weight.shape as [number, number];
    matmulGrads(
      g,
      op.name,
      dpre,
      x,
      weight,
      { layout: 'NT', M: x.size / inn, N: out, K: inn },
      ctx,
      { a: 'dx', b: 'dW' },
    );
    if (ctx.needs(bias)) {
      const s = ctx.slot(bias);
      g.add(
        biasBackwardOp,
        `${op.name}.db`,
        { dy: dpre },
        { db: s.grad },
        { accumulate: s.accumulate },
      );
    }
  },
});

/** y = act(x), elementwise over any shape. */
export const activationOp = defineOp<{ x: Tensor }, { y: Tensor }, ActAttrs>({
  type: 'activation',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareActivationForward(rt, {
        n: op.in.x.size,
        activation: op.attrs.act,
        ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
        x: buffer(op.in.x),
        y: buffer(op.out.y),
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    const attrs: Accumulating<ActAttrs> = { act: op.attrs.act, accumulate: s.accumulate };
    if (op.attrs.alpha !== undefined) attrs.alpha = op.attrs.alpha;
    g.add(actBackwardOp, `${op.name}.dx`, { dy, pre: op.in.x }, { dx: s.grad }, attrs);
  },
});

export interface ConstantMaskAttrs {
  /** One 0/1 value per element of the input, built once with the graph. */
  mask: readonly number[];
}

/** dx (+)= dy ⊙ mask: the gradient of constant_mask. */
export const constantMaskBackwardOp = defineOp<
  { dy: Tensor },
  { dx: Tensor },
  Accumulating<ConstantMaskAttrs>
>({
  type: 'constant_mask_backward',
  prepare({ rt, buffer }, op) {
    return prepareConstantMask(rt, {
      out: buffer(op.out.dx),
      x: buffer(op.in.dy),
      mask: op.attrs.mask,
      n: op.in.dy.size,
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
});

/** y = x ⊙ mask for a constant 0/1 mask of x's size. */
export const constantMaskOp = defineOp<{ x: Tensor }, { y: Tensor }, ConstantMaskAttrs>({
  type: 'constant_mask',
  prepare({ rt, buffer }, op) {
    return prepareConstantMask(rt, {
      out: buffer(op.out.y),
      x: buffer(op.in.x),
      mask: op.attrs.mask,
      n: op.in.x.size,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      constantMaskBackwardOp,
      `${op.name}.dx`,
      { dy },
      { dx: s.grad },
      { mask: op.attrs.mask, accumulate: s.accumulate },
    );
  },
});

/**
 * A masked linear layer act(x·(W ⊙ M)ᵀ + b), W (out, in) and M its 0/1 mask (row-major, out × in):
 * constant_mask then linear, so dW = (dpre·x)ᵀ ⊙ M and masked weights get exactly zero gradient.
 * `keepPre`: keep the pre-activation (a backward pass needs it when act is not the identity).
 */
export function maskedLinear(
  g: Graph,
  name: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  mask: readonly number[],
  act: Activation,
  keepPre: boolean,
): Tensor {
  if (weight.shape.length !== 2 || mask.length !== weight.size) {
    throw new Error(
      `graph: masked linear '${name}': the mask has ${mask.length} values for ${weight.toString()} (out, in)`,
    );
  }
  const [out, inn] = weight.shape as [number, number];
  if (x.cols !== inn) {
    throw new Error(
      `graph: masked linear '${name}' takes ${inn} values per row, got ${x.toString()}`,
    );
  }
  const masked = g.add(
    constantMaskOp,
    `${name}.masked`,
    { x: weight },
    { y: weight.shape },
    { mask },
  ).out.y;
  const shape = [x.rows, out];
  const keep = keepPre && act !== 'identity';
  return g.add(
    linearOp,
    name,
    { x, weight: masked, bias },
    keep ? { y: shape, pre: shape } : { y: shape },
    { act },
  ).out.y;
}
