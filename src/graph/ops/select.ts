// Selecting and assembling features: concat and slice along features (rows of (R, C) tensors; for
// NCHW tensors a channel block is a column block, so these cover channels too), one-hot labels and
// gathering rows by index. A gather has no gradient kernel (it would be a scatter-add): where the
// table needs one, lookupRows() gathers with a one-hot matmul, whose gradient is the matmul's.
import {
  prepareConcatCols,
  prepareConcatColsBackward,
  prepareSliceCols,
  prepareSliceColsBackward,
} from '../../kernels/columns.js';
import { prepareClassCycle, prepareGatherRows, prepareOneHot } from '../../kernels/gather.js';
import { asProgram } from '../../gpu/program.js';
import { defineOp, type Graph, type Tensor, type TensorMap } from '../graph.js';
import { matmulOp } from './dense.js';
import {
  numberedGradients,
  numberedInputs,
  repeatRowsOp,
  view,
  type Accumulating,
} from './util.js';

/** Inputs of a concat: in0, in1, … in order. */
type Parts = TensorMap;

export const concatColsBackwardOp = defineOp<
  { dy: Tensor },
  Parts,
  { cols: readonly number[]; accumulate: readonly boolean[] }
>({
  type: 'concat_cols_backward',
  prepare({ rt, buffer }, op) {
    const { cols, accumulate } = op.attrs;
    return prepareConcatColsBackward(rt, {
      dout: buffer(op.in.dy),
      inputs: cols.map((c, i) => {
        const dx = op.out[`in${i}`];
        return dx ? { dx: buffer(dx), cols: c, accumulate: accumulate[i]! } : { cols: c };
      }),
      rows: op.in.dy.rows,
      label: op.name,
    });
  },
});

/** y (R, Σ cols) = [in0 | in1 | …]: each input (R, cols_i). */
export const concatColsOp = defineOp<Parts, { y: Tensor }, { cols: readonly number[] }>({
  type: 'concat_cols',
  prepare({ rt, buffer }, op) {
    const xs = numberedInputs(op, 'in', op.attrs.cols.length);
    return prepareConcatCols(rt, {
      out: buffer(op.out.y),
      inputs: xs.map((x, i) => ({ x: buffer(x), cols: op.attrs.cols[i]! })),
      rows: op.out.y.rows,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy) return;
    const xs = numberedInputs(op, 'in', op.attrs.cols.length);
    const grads = numberedGradients(ctx, xs, 'in');
    if (!grads) return;
    g.add(concatColsBackwardOp, `${op.name}.backward`, { dy }, grads.out, {
      cols: op.attrs.cols,
      accumulate: grads.accumulate,
    });
  },
});

/** [x0 | x1 | …] along features; every input has the same rows. */
export function concatCols(g: Graph, name: string, xs: readonly Tensor[]): Tensor {
  const R = xs[0]!.rows;
  for (const x of xs) {
    if (x.rows !== R) {
      throw new Error(`graph: concat '${name}': ${x.toString()} has ${x.rows} rows, not ${R}`);
    }
  }
  const cols = xs.map((x) => x.cols);
  const inputs: Record<string, Tensor> = {};
  xs.forEach((x, i) => (inputs[`in${i}`] = x));
  const total = cols.reduce((a, b) => a + b, 0);
  return g.add(concatColsOp, name, inputs, { y: [R, total] }, { cols }).out.y;
}

export interface SliceAttrs {
  offset: number;
  width: number;
}

export const sliceColsBackwardOp = defineOp<
  { dy: Tensor },
  { dx: Tensor },
  Accumulating<SliceAttrs>
>({
  type: 'slice_cols_backward',
  async prepare({ rt, buffer }, op) {
    const { dx } = op.out;
    return asProgram(
      await prepareSliceColsBackward(rt, {
        dx: buffer(dx),
        dy: buffer(op.in.dy),
        rows: dx.rows,
        cols: dx.cols,
        offset: op.attrs.offset,
        width: op.attrs.width,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** y (R, width) = x[:, offset : offset + width]. */
export const sliceColsOp = defineOp<{ x: Tensor }, { y: Tensor }, SliceAttrs>({
  type: 'slice_cols',
  async prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return asProgram(
      await prepareSliceCols(rt, {
        y: buffer(op.out.y),
        x: buffer(x),
        rows: x.rows,
        cols: x.cols,
        offset: op.attrs.offset,
        width: op.attrs.width,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      sliceColsBackwardOp,
      `${op.name}.dx`,
      { dy },
      { dx: s.grad },
      {
        ...op.attrs,
        accumulate: s.accumulate,
      },
    );
  },
});

/** Columns [offset, offset + width) of x. */
export function sliceCols(
  g: Graph,
  name: string,
  x: Tensor,
  offset: number,
  width: number,
): Tensor {
  if (
    !Number.isInteger(offset) ||
    !Number.isInteger(width) ||
    offset < 0 ||
    width < 1 ||
    offset + width > x.cols
  ) {
    throw new Error(
      `graph: slice '${name}': columns [${offset}, ${offset + width}) are not inside ${x.toString()}`,
    );
  }
  return g.add(sliceColsOp, name, { x }, { y: [x.rows, width] }, { offset, width }).out.y;
}

/** y (R, classes): row r is one-hot at labels[r] (integer-valued f32; out of range: zeros). */
export const oneHotOp = defineOp<{ labels: Tensor }, { y: Tensor }, { classes: number }>({
  type: 'one_hot',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareOneHot(rt, {
        out: buffer(op.out.y),
        labels: buffer(op.in.labels),
        rows: op.in.labels.size,
        classes: op.attrs.classes,
        label: op.name,
      }),
    );
  },
});

/** One-hot rows (R, classes) of integer labels (R). */
export function oneHot(g: Graph, name: string, labels: Tensor, classes: number): Tensor {
  return g.add(oneHotOp, name, { labels }, { y: [labels.size, classes] }, { classes }).out.y;
}

/** y (R): r mod classes, the labels 0 … classes−1 in turn; no inputs, no gradient. */
export const classCycleOp = defineOp<Record<string, never>, { y: Tensor }, { classes: number }>({
  type: 'class_cycle',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareClassCycle(rt, {
        out: buffer(op.out.y),
        rows: op.out.y.size,
        classes: op.attrs.classes,
        label: op.name,
      }),
    );
  },
});

/**
 * Labels (examples·classes): every class in turn for each of `examples` examples (row
 * e·classes + c is class c), to score each example under every label in one graph.
 */
export function everyClass(g: Graph, name: string, examples: number, classes: number): Tensor {
  return g.add(classCycleOp, name, {}, { y: [examples * classes] }, { classes }).out.y;
}

/**
 * Label planes (R, classes·pixels): plane c of row r is all ones where labels[r] = c (a one-hot
 * image with `pixels` values per channel, NCHW), as a view of the one-hot repeated per pixel.
 */
export function oneHotPlanes(
  g: Graph,
  name: string,
  labels: Tensor,
  classes: number,
  pixels: number,
): Tensor {
  const R = labels.size;
  const hot = view(g, oneHot(g, `${name}.onehot`, labels, classes), [R * classes, 1]);
  const planes = g.add(
    repeatRowsOp,
    name,
    { x: hot },
    { y: [R * classes * pixels, 1] },
    {
      copies: pixels,
    },
  ).out.y;
  return view(g, planes, [R, classes * pixels], `${name}.rows`);
}

/** y (R, C) = table[idx[r], :] with idx integer-valued f32 (R); no gradient (see lookupRows). */
export const gatherRowsOp = defineOp<{ table: Tensor; idx: Tensor }, { y: Tensor }, object>({
  type: 'gather_rows',
  async prepare({ rt, buffer }, op) {
    const { table, idx } = op.in;
    return asProgram(
      await prepareGatherRows(rt, {
        out: buffer(op.out.y),
        table: buffer(table),
        idx: buffer(idx),
        rows: idx.size,
        cols: table.cols,
        tableRows: table.rows,
        label: op.name,
      }),
    );
  },
});

/**
 * Rows idx of table (T, C) -> (R, C). A gather when the table needs no gradient; else the
 * one-hot matmul onehot(idx)·table, whose gradient to the table is onehotᵀ·dy.
 */
export function lookupRows(g: Graph, name: string, table: Tensor, idx: Tensor): Tensor {
  const T = table.rows;
  const C = table.cols;
  const R = idx.size;
  if (!table.requiresGrad) {
    return g.add(gatherRowsOp, name, { table, idx }, { y: [R, C] }, {}).out.y;
  }
  const hot = oneHot(g, `${name}.onehot`, idx, T);
  return g.add(
    matmulOp,
    name,
    { a: hot, b: table },
    { c: [R, C] },
    { layout: 'NN', M: R, N: C, K: T },
  ).out.c;
}
