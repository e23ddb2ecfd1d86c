// Softmax over rows (R, C) and what is built on it: log-softmax, the softmax cross-entropy per row
// with integer labels (f32 class indices, R) or target probabilities / one-hot rows (R, C), and
// the entropy of the softmax per row (the −H(q(y|x)) term of semi-supervised M2).
//   softmax        x -> y = softmax(x) (log: log-softmax)
//   softmax_xent   logits [, labels | probs] -> ce (R) = −Σ_c t[r,c] log softmax(logits)[r,c]
//   softmax_entropy logits -> h (R) = −Σ_c p log p
import {
  prepareSoftmaxBackward,
  prepareSoftmaxCrossEntropyBackward,
  prepareSoftmaxCrossEntropyForward,
  prepareSoftmaxEntropyBackward,
  prepareSoftmaxEntropyForward,
  prepareSoftmaxForward,
} from '../../kernels/softmax.js';
import type { BufferRange } from '../../gpu/buffers.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { Accumulating } from './util.js';

export const softmaxBackwardOp = defineOp<
  { dy: Tensor; y: Tensor },
  { dx: Tensor },
  Accumulating<{ log: boolean }>
>({
  type: 'softmax_backward',
  prepare({ rt, buffer }, op) {
    const { dy, y } = op.in;
    return prepareSoftmaxBackward(rt, {
      dx: buffer(op.out.dx),
      dy: buffer(dy),
      y: buffer(y),
      rows: y.rows,
      cols: y.cols,
      log: op.attrs.log,
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
});

export const softmaxOp = defineOp<{ x: Tensor }, { y: Tensor }, { log: boolean }>({
  type: 'softmax',
  prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return prepareSoftmaxForward(rt, {
      y: buffer(op.out.y),
      x: buffer(x),
      rows: x.rows,
      cols: x.cols,
      log: op.attrs.log,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      softmaxBackwardOp,
      `${op.name}.dx`,
      { dy, y: op.out.y },
      { dx: s.grad },
      {
        log: op.attrs.log,
        accumulate: s.accumulate,
      },
    );
  },
});

/** softmax (or, with log, log-softmax) of each row. */
export function softmax(g: Graph, name: string, x: Tensor, log = false): Tensor {
  return g.add(softmaxOp, name, { x }, { y: x.shape }, { log }).out.y;
}

type XentIn = { logits: Tensor; labels?: Tensor | undefined; probs?: Tensor | undefined };

function targets(op: { name: string; in: XentIn }, buffer: (t: Tensor) => BufferRange) {
  const { labels, probs } = op.in;
  if ((labels === undefined) === (probs === undefined)) {
    throw new Error(`graph: softmax_xent '${op.name}' needs exactly one of labels and probs`);
  }
  return labels ? { labels: buffer(labels) } : { probs: buffer(probs!) };
}

export const softmaxXentBackwardOp = defineOp<
  XentIn & { dce: Tensor },
  { dlogits?: Tensor | undefined; dprobs?: Tensor | undefined },
  { accumulate: boolean; accumulateProbs: boolean }
>({
  type: 'softmax_xent_backward',
  prepare({ rt, buffer }, op) {
    const { logits, dce } = op.in;
    const { dlogits, dprobs } = op.out;
    return prepareSoftmaxCrossEntropyBackward(rt, {
      ...targets(op, buffer),
      dce: buffer(dce),
      logits: buffer(logits),
      rows: logits.rows,
      cols: logits.cols,
      ...(dlogits ? { dlogits: buffer(dlogits), accumulate: op.attrs.accumulate } : {}),
      ...(dprobs ? { dprobs: buffer(dprobs), accumulateProbs: op.attrs.accumulateProbs } : {}),
      label: op.name,
    });
  },
});

export const softmaxXentOp = defineOp<XentIn, { ce: Tensor }, object>({
  type: 'softmax_xent',
  prepare({ rt, buffer }, op) {
    const { logits } = op.in;
    return prepareSoftmaxCrossEntropyForward(rt, {
      ...targets(op, buffer),
      ce: buffer(op.out.ce),
      logits: buffer(logits),
      rows: logits.rows,
      cols: logits.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dce = ctx.grad(op.out.ce);
    if (!dce) return;
    const { logits, probs } = op.in;
    const sl = ctx.needs(logits) ? ctx.slot(logits) : undefined;
    const sp = ctx.needs(probs) ? ctx.slot(probs) : undefined;
    if (!sl && !sp) return;
    g.add(
      softmaxXentBackwardOp,
      `${op.name}.backward`,
      { ...op.in, dce },
      { dlogits: sl?.grad, dprobs: sp?.grad },
      { accumulate: sl?.accumulate ?? false, accumulateProbs: sp?.accumulate ?? false },
    );
  },
});

/** Cross-entropy per row of softmax(logits) against integer labels (R) or probabilities (R, C). */
export function softmaxCrossEntropy(
  g: Graph,
  name: string,
  logits: Tensor,
  target: { labels: Tensor } | { probs: Tensor },
): Tensor {
  return g.add(softmaxXentOp, name, { logits, ...target }, { ce: [logits.rows] }, {}).out.ce;
}

export const softmaxEntropyBackwardOp = defineOp<
  { dh: Tensor; logits: Tensor; h: Tensor },
  { dlogits: Tensor },
  Accumulating
>({
  type: 'softmax_entropy_backward',
  prepare({ rt, buffer }, op) {
    const { dh, logits, h } = op.in;
    return prepareSoftmaxEntropyBackward(rt, {
      dlogits: buffer(op.out.dlogits),
      dh: buffer(dh),
      logits: buffer(logits),
      h: buffer(h),
      rows: logits.rows,
      cols: logits.cols,
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
});

export const softmaxEntropyOp = defineOp<{ logits: Tensor }, { h: Tensor }, object>({
  type: 'softmax_entropy',
  prepare({ rt, buffer }, op) {
    const { logits } = op.in;
    return prepareSoftmaxEntropyForward(rt, {
      h: buffer(op.out.h),
      logits: buffer(logits),
      rows: logits.rows,
      cols: logits.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dh = ctx.grad(op.out.h);
    if (!dh || !ctx.needs(op.in.logits)) return;
    const s = ctx.slot(op.in.logits);
    g.add(
      softmaxEntropyBackwardOp,
      `${op.name}.backward`,
      { dh, logits: op.in.logits, h: op.out.h },
      { dlogits: s.grad },
      { accumulate: s.accumulate },
    );
  },
});

/** H(softmax(logits)) per row. */
export function softmaxEntropy(g: Graph, name: string, logits: Tensor): Tensor {
  return g.add(softmaxEntropyOp, name, { logits }, { h: [logits.rows] }, {}).out.h;
}
