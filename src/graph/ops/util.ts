// Structural ops: views, copies, total sums, row logsumexp, row repetition and the metrics
// accumulator; plus the helpers every op family shares.
//   view            x -> y: the same buffer under another shape (no dispatch); gradient: a copy
//   sum             x -> s (1): the total of all values; gradient: a broadcast
//   logsumexp_rows  x (R, C) -> (R), stable; gradient: softmax weights times dy
//   repeat_rows     x (B, D) -> (B·K, D), each row K times in a row
//   add_into        acc[offset ..] += x (state kept across steps: the metrics)
import { Program, asProgram } from '../../gpu/program.js';
import {
  addIntoKernel,
  prepareRepeatRows,
  prepareRepeatRowsBackward,
  repeatRowsKernel,
} from '../../kernels/graph-util.js';
import { prepareBroadcastScalar } from '../../kernels/objective.js';
import {
  prepareLogSumExpBackward,
  prepareLogSumExpRows,
  prepareReduceRows,
  prepareReduceRowsBackward,
  prepareReduceTotal,
  type ReduceOp,
} from '../../kernels/reduce.js';
import {
  defineOp,
  type GradContext,
  type Graph,
  type Op,
  type Tensor,
  type TensorMap,
} from '../graph.js';

/** Adds `accumulate` to a backward op's attributes (the gradient rule). */
export type Accumulating<A = object> = A & { accumulate: boolean };

/**
 * The inputs `${prefix}0` … of an op that takes a variable number of them (concat, sum_terms), in
 * order; a missing one is an error naming it.
 */
export function numberedInputs(
  op: { type: string; name: string; in: TensorMap },
  prefix: string,
  count: number,
): Tensor[] {
  return Array.from({ length: count }, (_, k) => {
    const t = op.in[`${prefix}${k}`];
    if (!t) throw new Error(`graph: ${op.type} '${op.name}' has no input '${prefix}${k}'`);
    return t;
  });
}

/**
 * The gradient outputs `${prefix}k` of a numbered-input op's backward for the inputs that need one,
 * and each one's accumulate flag; undefined when none does.
 */
export function numberedGradients(
  ctx: GradContext,
  xs: readonly Tensor[],
  prefix: string,
): { out: Record<string, Tensor | undefined>; accumulate: boolean[] } | undefined {
  const slots = xs.map((x) => (ctx.needs(x) ? ctx.slot(x) : undefined));
  if (slots.every((s) => !s)) return undefined;
  return {
    out: Object.fromEntries(slots.map((s, k) => [`${prefix}${k}`, s?.grad])),
    accumulate: slots.map((s) => s?.accumulate ?? false),
  };
}

/** The one gradient-rule check for ops writing several gradients with one ACCUMULATE flag. */
export function sameAccumulate(op: Op, slots: readonly { accumulate: boolean }[]): boolean {
  const first = slots[0]!.accumulate;
  if (slots.some((s) => s.accumulate !== first)) {
    throw new Error(
      `graph: ${op.type} '${op.name}' writes gradients that are at different stages of ` +
        'accumulation; its kernel has one ACCUMULATE flag',
    );
  }
  return first;
}

/** dst (+)= src over all values (sizes must match). */
export const copyOp = defineOp<{ src: Tensor }, { dst: Tensor }, Accumulating>({
  type: 'copy',
  async prepare({ rt, buffer }, op) {
    const { src } = op.in;
    const { dst } = op.out;
    if (src.size !== dst.size) {
      throw new Error(
        `graph: copy '${op.name}': ${src.toString()} and ${dst.toString()} differ in size`,
      );
    }
    // The copy kernel is repeat_rows with one row, once; the add is the accumulator's kernel.
    const d = op.attrs.accumulate
      ? await rt.prepare(addIntoKernel, {
          bindings: { acc: buffer(dst), add_src: buffer(src) },
          shape: { n: src.size, offset: 0 },
          label: op.name,
        })
      : await rt.prepare(repeatRowsKernel, {
          bindings: { repeated: buffer(dst), rows_in: buffer(src) },
          shape: { B: 1, K: 1, D: src.size },
          label: op.name,
        });
    return asProgram(d);
  },
});

/** A view: no dispatch; the output tensor shares its input's buffer (Graph.viewTensor). */
export const viewOp = defineOp<{ x: Tensor }, { y: Tensor }, object>({
  type: 'view',
  async prepare(_ctx, op) {
    if (op.out.y.base !== op.in.x.base) {
      throw new Error(
        `graph: view '${op.name}': ${op.out.y.toString()} is not a view of its input`,
      );
    }
    return new Program(op.name, [], []);
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    const { x } = op.in;
    if (!dy || !ctx.needs(x)) return;
    // y's gradient is finished and read by nothing else: x's gradient is it, viewed.
    if (
      ctx.adopt(
        x,
        dy,
        () =>
          g.add(
            viewOp,
            `${op.name}.dx`,
            { x: dy },
            { y: g.viewTensor(dy, x.shape, `${op.name}.dx`) },
            {},
          ).out.y,
      )
    )
      return;
    const s = ctx.slot(x);
    g.add(copyOp, `${op.name}.dx`, { src: dy }, { dst: s.grad }, { accumulate: s.accumulate });
  },
});

/** x under another shape of the same size: a view (same buffer, no copy). */
export function view(
  g: Graph,
  x: Tensor,
  shape: readonly number[],
  name = `${x.name}.view`,
): Tensor {
  return g.add(viewOp, name, { x }, { y: g.viewTensor(x, shape, name) }, {}).out.y;
}

/** dx (n) (+)= scale · dy (1). */
export const broadcastOp = defineOp<
  { dy: Tensor },
  { dx: Tensor },
  Accumulating<{ scale: number }>
>({
  type: 'broadcast',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareBroadcastScalar(rt, {
        dx: buffer(op.out.dx),
        dy: buffer(op.in.dy),
        n: op.out.dx.size,
        scale: op.attrs.scale,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** s (1) = Σ x, a tree sum. */
export const sumOp = defineOp<{ x: Tensor }, { s: Tensor }, object>({
  type: 'sum',
  prepare({ rt, buffer }, op) {
    return prepareReduceTotal(rt, {
      x: buffer(op.in.x),
      out: buffer(op.out.s),
      n: op.in.x.size,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const ds = ctx.grad(op.out.s);
    if (!ds || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      broadcastOp,
      `${op.name}.dx`,
      { dy: ds },
      { dx: s.grad },
      { scale: 1, accumulate: s.accumulate },
    );
  },
});

/** The total of x as a scalar tensor (1). */
export function total(g: Graph, x: Tensor, name: string): Tensor {
  return g.add(sumOp, name, { x }, { s: [1] }, {}).out.s;
}

export const logSumExpBackwardOp = defineOp<
  { dy: Tensor; x: Tensor; lse: Tensor },
  { dx: Tensor },
  Accumulating
>({
  type: 'logsumexp_rows_backward',
  async prepare({ rt, buffer }, op) {
    const { dy, x, lse } = op.in;
    return asProgram(
      await prepareLogSumExpBackward(rt, {
        dx: buffer(op.out.dx),
        dy: buffer(dy),
        x: buffer(x),
        lse: buffer(lse),
        rows: x.rows,
        cols: x.cols,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** Stable logsumexp of each row: x (R, C) -> (R). */
export const logSumExpRowsOp = defineOp<{ x: Tensor }, { y: Tensor }, object>({
  type: 'logsumexp_rows',
  prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return prepareLogSumExpRows(rt, {
      x: buffer(x),
      out: buffer(op.out.y),
      rows: x.rows,
      cols: x.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      logSumExpBackwardOp,
      `${op.name}.dx`,
      { dy, x: op.in.x, lse: op.out.y },
      { dx: s.grad },
      { accumulate: s.accumulate },
    );
  },
});

export const repeatRowsBackwardOp = defineOp<
  { dy: Tensor },
  { dx: Tensor },
  Accumulating<{ copies: number }>
>({
  type: 'repeat_rows_backward',
  async prepare({ rt, buffer }, op) {
    const { dx } = op.out;
    return asProgram(
      await prepareRepeatRowsBackward(rt, {
        dx: buffer(dx),
        dy: buffer(op.in.dy),
        rows: dx.rows,
        cols: dx.cols,
        copies: op.attrs.copies,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** Each row of x (B, D) repeated `copies` times: (B·copies, D); gradient: the sum over copies. */
export const repeatRowsOp = defineOp<{ x: Tensor }, { y: Tensor }, { copies: number }>({
  type: 'repeat_rows',
  async prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return asProgram(
      await prepareRepeatRows(rt, {
        y: buffer(op.out.y),
        x: buffer(x),
        rows: x.rows,
        cols: x.cols,
        copies: op.attrs.copies,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      repeatRowsBackwardOp,
      `${op.name}.dx`,
      { dy },
      { dx: s.grad },
      {
        copies: op.attrs.copies,
        accumulate: s.accumulate,
      },
    );
  },
});

/** Each row of x repeated `copies` times in a row. */
export function repeatRows(g: Graph, name: string, x: Tensor, copies: number): Tensor {
  return g.add(repeatRowsOp, name, { x }, { y: [x.rows * copies, x.cols] }, { copies }).out.y;
}

export const reduceRowsBackwardOp = defineOp<
  { dy: Tensor; x: Tensor },
  { dx: Tensor },
  Accumulating<{ op: ReduceOp }>
>({
  type: 'reduce_rows_backward',
  async prepare({ rt, buffer }, op) {
    const { dy, x } = op.in;
    return asProgram(
      await prepareReduceRowsBackward(rt, {
        dx: buffer(op.out.dx),
        dy: buffer(dy),
        x: buffer(x),
        rows: x.rows,
        cols: x.cols,
        op: op.attrs.op,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** Sum, mean or sum of squares of each row: x (R, C) -> (R). */
export const reduceRowsOp = defineOp<{ x: Tensor }, { y: Tensor }, { op: ReduceOp }>({
  type: 'reduce_rows',
  prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return prepareReduceRows(rt, {
      x: buffer(x),
      out: buffer(op.out.y),
      rows: x.rows,
      cols: x.cols,
      op: op.attrs.op,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      reduceRowsBackwardOp,
      `${op.name}.dx`,
      { dy, x: op.in.x },
      { dx: s.grad },
      {
        op: op.attrs.op,
        accumulate: s.accumulate,
      },
    );
  },
});

/** Row sums (or means, or sums of squares): x (R, C) -> (R). */
export function reduceRows(g: Graph, name: string, x: Tensor, op: ReduceOp = 'sum'): Tensor {
  return g.add(reduceRowsOp, name, { x }, { y: [x.rows] }, { op }).out.y;
}

/** acc[offset ..] += x: running sums kept across steps (the metrics accumulator). */
export const addIntoOp = defineOp<{ x: Tensor }, { acc: Tensor }, { offset: number }>({
  type: 'add_into',
  async prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return asProgram(
      await rt.prepare(addIntoKernel, {
        bindings: { acc: buffer(op.out.acc), add_src: buffer(x) },
        shape: { n: x.size, offset: op.attrs.offset },
        label: op.name,
      }),
    );
  },
});
