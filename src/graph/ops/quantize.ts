// The vector quantizer's ops (van den Oord et al. 2017); the rest of the quantizer is composed
// from existing ops in src/vae/posterior/vq.ts:
//   argmin_rows     x (R, C) -> idx (R) integer-valued f32, min (R); no gradient
//   stop_gradient   x -> y = x (a copy), with no gradient rule: what sg[·] is in the losses and in
//                   the straight-through estimator z_e + sg[z_q − z_e]
//   reduce_cols     x (R, C) -> (C) column sums; no gradient (code counts)
//   vq_ema          the EMA codebook update: writes the codebook and its EMA state (non-parameter
//                   tensors of the flat buffer) in place; no gradient
//   vq_restart      after vq_ema: codes whose EMA count fell below a threshold move onto random rows
//                   of the batch's encoder outputs, their state reset; in place, no gradient
//   code_usage      counts (K) -> scale·perplexity (1), scale·fraction of codes in use (1): metrics
import { asProgram } from '../../gpu/program.js';
import { prepareArgminRows } from '../../kernels/argmin.js';
import { prepareCodeUsage } from '../../kernels/code-usage.js';
import { repeatRowsKernel } from '../../kernels/graph-util.js';
import { prepareReduceCols } from '../../kernels/reduce.js';
import { prepareVqEma, prepareVqRestart } from '../../kernels/vq-ema.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { StepState } from '../prepare.js';

/** idx (R) and min (R) of each row of x (R, C). */
export const argminRowsOp = defineOp<{ x: Tensor }, { idx: Tensor; min: Tensor }, object>({
  type: 'argmin_rows',
  async prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return asProgram(
      await prepareArgminRows(rt, {
        idx: buffer(op.out.idx),
        min: buffer(op.out.min),
        x: buffer(x),
        rows: x.rows,
        cols: x.cols,
        label: op.name,
      }),
    );
  },
});

/** The column of each row's minimum (R) and the minimum (R). */
export function argminRows(g: Graph, name: string, x: Tensor): { idx: Tensor; min: Tensor } {
  const { idx, min } = g.add(argminRowsOp, name, { x }, { idx: [x.rows], min: [x.rows] }, {}).out;
  return { idx, min };
}

/** y = x; no gradient flows through it. */
export const stopGradientOp = defineOp<{ x: Tensor }, { y: Tensor }, object>({
  type: 'stop_gradient',
  async prepare({ rt, buffer }, op) {
    const { x } = op.in;
    // A copy: repeat_rows with one row, once.
    return asProgram(
      await rt.prepare(repeatRowsKernel, {
        bindings: { repeated: buffer(op.out.y), rows_in: buffer(x) },
        shape: { B: 1, K: 1, D: x.size },
        label: op.name,
      }),
    );
  },
});

/** sg[x]: the same values, a constant to the gradient. */
export function stopGradient(g: Graph, name: string, x: Tensor): Tensor {
  return g.add(stopGradientOp, name, { x }, { y: x.shape }, {}).out.y;
}

/** y (C) = Σ_r x[r, :]. */
export const reduceColsOp = defineOp<{ x: Tensor }, { y: Tensor }, object>({
  type: 'reduce_cols',
  prepare({ rt, buffer }, op) {
    const { x } = op.in;
    return prepareReduceCols(rt, {
      x: buffer(x),
      out: buffer(op.out.y),
      rows: x.rows,
      cols: x.cols,
      label: op.name,
    });
  },
});

/** Column sums of x (R, C) -> (C); no gradient. */
export function reduceCols(g: Graph, name: string, x: Tensor): Tensor {
  return g.add(reduceColsOp, name, { x }, { y: [x.cols] }, {}).out.y;
}

export interface VqEmaAttrs {
  decay: number;
  eps: number;
}

/**
 * The EMA codebook update from this batch's code counts (K) and sums of assigned vectors (K, D):
 * writes the codebook (K, D) and the state count (K) and sum (K, D), all non-parameter tensors.
 */
export const vqEmaOp = defineOp<
  { batchCount: Tensor; batchSum: Tensor },
  { codebook: Tensor; count: Tensor; sum: Tensor },
  VqEmaAttrs
>({
  type: 'vq_ema',
  async prepare({ rt, buffer }, op) {
    const { codebook } = op.out;
    return prepareVqEma(rt, {
      codebook: buffer(codebook),
      count: buffer(op.out.count),
      sum: buffer(op.out.sum),
      batchCount: buffer(op.in.batchCount),
      batchSum: buffer(op.in.batchSum),
      codes: codebook.rows,
      dim: codebook.cols,
      decay: op.attrs.decay,
      eps: op.attrs.eps,
      label: op.name,
    });
  },
});

export interface VqRestartAttrs {
  threshold: number;
  seed: number;
  /** The op's PRNG stream (unique in its graph). */
  stream: number;
}

/**
 * The dead-code restart (after vq_ema): codes with N_k < threshold take a random row of z (rows,
 * D) as codebook vector and EMA sum, and count 1; writes codebook, count and sum in place.
 */
export const vqRestartOp = defineOp<
  { z: Tensor },
  { codebook: Tensor; count: Tensor; sum: Tensor },
  VqRestartAttrs
>({
  type: 'vq_restart',
  async prepare({ rt, buffer }, op) {
    const { codebook } = op.out;
    const p = await prepareVqRestart(rt, {
      codebook: buffer(codebook),
      count: buffer(op.out.count),
      sum: buffer(op.out.sum),
      z: buffer(op.in.z),
      codes: codebook.rows,
      dim: codebook.cols,
      rows: op.in.z.rows,
      threshold: op.attrs.threshold,
      seed: op.attrs.seed,
      stream: op.attrs.stream,
      label: op.name,
    });
    return Object.assign(p, { update: (state: StepState) => p.setStep(state.step) });
  },
});

/** scale·perplexity and scale·fraction in use of code counts (K); metrics, no gradient. */
export const codeUsageOp = defineOp<
  { counts: Tensor },
  { perplexity: Tensor; used: Tensor },
  { scale: number }
>({
  type: 'code_usage',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareCodeUsage(rt, {
        perplexity: buffer(op.out.perplexity),
        used: buffer(op.out.used),
        counts: buffer(op.in.counts),
        codes: op.in.counts.size,
        scale: op.attrs.scale,
        label: op.name,
      }),
    );
  },
});
