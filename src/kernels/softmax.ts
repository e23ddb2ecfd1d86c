// Softmax family over the rows of (rows, cols) logits (shaders/softmax.wgsl). Each op starts from
// the row logsumexp (prepareLogSumExpRows of reduce.ts: stable for any magnitude and any row
// length), then one elementwise pass or one block-sum pass (with reduce_rows passes when a row has
// more than ROW_BLOCK classes):
//   softmax / log-softmax           y = exp(x - lse) / x - lse            prepareSoftmaxForward / Backward
//   softmax cross-entropy per row   ce = -Σ_c t log softmax(x)            prepareSoftmaxCrossEntropyForward / Backward
//     labels: integer classes in f32 (rows), or probability rows t (rows, cols)
//   entropy of a softmax per row    H = -Σ_c p log p, p = softmax(x)      prepareSoftmaxEntropyForward / Backward
// The forwards can write lse (rows) to a caller's buffer (`lse`) for the backward to read; a
// backward without `lse` recomputes it into a scratch buffer of its program.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, dispatch1d, kernelFamily, type KernelDef, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program, type ProgramBuilder } from '../gpu/program.js';
import type { BindingResource, GpuRuntime } from '../gpu/runtime.js';
import { checkMatrix } from './checks.js';
import { prepareRowBlocks } from './likelihood.js';
import { prepareLogSumExpRows, prepareReduceRows } from './reduce.js';

const WG = 64;

// Shapes: rows and cols of the logits, block for the *_blocks kernels.
type BlockShape = 'rows' | 'cols' | 'block';

const softmaxKernel = kernelFamily<'rows' | 'cols'>({
  file: 'softmax.wgsl',
  workgroupSize: [WG],
  dispatch: ({ rows, cols }) => dispatch1d(ceilDiv(rows * cols, WG)),
});

const perRow = ({ rows }: Shape<'rows'>) => dispatch1d(ceilDiv(rows, WG));
const perBlock = ({ rows, cols, block }: Shape<BlockShape>) =>
  dispatch1d(ceilDiv(rows * ceilDiv(cols, block), WG));
const blockSums = ({ rows, cols, block }: Shape<BlockShape>) => rows * ceilDiv(cols, block);
const matrix = ({ rows, cols }: Shape<'rows' | 'cols'>) => rows * cols;

/** sm_y = exp(x - lse) (or x - lse with LOG); (rows, cols). */
export const softmaxApplyKernel = softmaxKernel('softmax_apply', {
  elements: (s) => ({ sm_y: matrix(s), sm_x: matrix(s), sm_lse: s.rows }),
});
/** sm_dx (=|+=) y (dy - s) (softmax) or dy - exp(y) s (LOG). */
export const softmaxBackwardKernel = softmaxKernel('softmax_backward', {
  elements: (s) => ({ sm_dx: matrix(s), sm_dy: matrix(s), sm_yin: matrix(s), sm_s: s.rows }),
});
/** sd_out (rows, nb) = block sums of sd_a * sd_b. */
export const softmaxDotBlocksKernel = softmaxKernel<'block'>('softmax_dot_blocks', {
  dispatch: perBlock,
  elements: (s) => ({ sd_out: blockSums(s), sd_a: matrix(s), sd_b: matrix(s) }),
});
/** ce (rows) = lse - x[r, label] (0 for an invalid label). */
export const xentIndexForwardKernel = softmaxKernel('xent_index_forward', {
  dispatch: perRow,
  elements: (s) => ({ xe_ce: s.rows, xe_logits: matrix(s), xe_labels: s.rows, xe_lse: s.rows }),
});
/** dlogits (=|+=) dce (p - onehot(label)). */
export const xentIndexBackwardKernel = softmaxKernel('xent_index_backward', {
  elements: (s) => ({
    xb_dlogits: matrix(s),
    xb_dce: s.rows,
    xb_logits: matrix(s),
    xb_labels: s.rows,
    xb_lse: s.rows,
  }),
});
/** (rows, nb) block sums of t (lse - x). */
export const xentProbsBlocksKernel = softmaxKernel<'block'>('xent_probs_blocks', {
  dispatch: perBlock,
  elements: (s) => ({
    xp_out: blockSums(s),
    xp_logits: matrix(s),
    xp_probs: matrix(s),
    xp_lse: s.rows,
  }),
});
/** dlogits (=|+=) dce (p Σt - t). */
export const xentProbsBackwardKernel = softmaxKernel('xent_probs_backward', {
  elements: (s) => ({
    xq_dlogits: matrix(s),
    xq_dce: s.rows,
    xq_logits: matrix(s),
    xq_probs: matrix(s),
    xq_lse: s.rows,
    xq_tsum: s.rows,
  }),
});
/** dprobs (=|+=) dce (lse - x). */
export const xentProbsBackwardTargetKernel = softmaxKernel('xent_probs_backward_target', {
  elements: (s) => ({
    xt_dprobs: matrix(s),
    xt_dce: s.rows,
    xt_logits: matrix(s),
    xt_lse: s.rows,
  }),
});
/** (rows, nb) block sums of p (lse - x). */
export const entropyBlocksKernel = softmaxKernel<'block'>('entropy_blocks', {
  dispatch: perBlock,
  elements: (s) => ({ en_out: blockSums(s), en_logits: matrix(s), en_lse: s.rows }),
});
/** dlogits (=|+=) -dh p (x - lse + H). */
export const entropyBackwardKernel = softmaxKernel('entropy_backward', {
  elements: (s) => ({
    eb_dlogits: matrix(s),
    eb_dh: s.rows,
    eb_logits: matrix(s),
    eb_lse: s.rows,
    eb_h: s.rows,
  }),
});

const sub = (label: string | undefined, part: string) => `${label ? label + '.' : ''}${part}`;

/** lse (rows) of x into `out`, or into a scratch buffer of the program. */
async function computeLse(
  b: ProgramBuilder,
  x: BufferRange,
  rows: number,
  cols: number,
  out: BufferRange | undefined,
  label: string | undefined,
): Promise<BufferRange> {
  const lse = out ?? b.storage('lse', 4 * rows);
  b.append(await prepareLogSumExpRows(b.rt, { x, out: lse, rows, cols, label: sub(label, 'lse') }));
  return lse;
}

/** Per-row sums of a *_blocks kernel into `out` (rows): one dispatch, or plus reduce passes. */
async function rowSums(
  b: ProgramBuilder,
  kernel: KernelDef<BlockShape>,
  rows: number,
  cols: number,
  out: BufferRange,
  bindings: (out: BindingResource) => Record<string, BindingResource>,
  label: string | undefined,
): Promise<void> {
  b.append(
    await prepareRowBlocks(b.rt, {
      kernel: kernel.name,
      rows,
      cols,
      rowsOut: out,
      label,
      first: (partials, block) =>
        b.rt.prepare(kernel, {
          bindings: bindings(partials),
          shape: { rows, cols, block },
          label,
        }),
    }),
  );
}

export interface SoftmaxForwardOptions {
  /** Output (rows, cols): softmax, or log-softmax with `log`. */
  y: BufferRange;
  /** Logits (rows, cols). */
  x: BufferRange;
  rows: number;
  cols: number;
  /** Log-softmax x - lse instead of softmax. */
  log?: boolean;
  /** Optional output (rows): the row logsumexp (a scratch buffer of the program otherwise). */
  lse?: BufferRange;
  label?: string;
}

/** y = softmax(x) or log-softmax(x) over each row. */
export async function prepareSoftmaxForward(
  rt: GpuRuntime,
  o: SoftmaxForwardOptions,
): Promise<Program> {
  const name = o.log ? 'log_softmax_forward' : 'softmax_forward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  return buildProgram(rt, o.label ?? name, async (b) => {
    const lse = await computeLse(b, o.x, o.rows, o.cols, o.lse, o.label);
    await b.dispatch(softmaxApplyKernel, {
      bindings: { sm_y: o.y, sm_x: o.x, sm_lse: lse },
      shape: { rows: o.rows, cols: o.cols },
      constants: { LOG: o.log ? 1 : 0 },
      label: o.label,
    });
  });
}

export interface SoftmaxBackwardOptions {
  /** Gradient of the logits (rows, cols). */
  dx: BufferRange;
  /** Gradient of the output (rows, cols). */
  dy: BufferRange;
  /** The forward's output (rows, cols): softmax, or log-softmax with `log`. */
  y: BufferRange;
  rows: number;
  cols: number;
  /** The forward was log-softmax. */
  log?: boolean;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/**
 * softmax: dx = y (dy - Σ_c dy y); log-softmax: dx = dy - exp(y) Σ_c dy. The row sum goes to a
 * scratch buffer of the program.
 */
export async function prepareSoftmaxBackward(
  rt: GpuRuntime,
  o: SoftmaxBackwardOptions,
): Promise<Program> {
  const name = o.log ? 'log_softmax_backward' : 'softmax_backward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  const { rows, cols } = o;
  return buildProgram(rt, o.label ?? name, async (b) => {
    const s = b.storage('row_sums', 4 * rows);
    if (o.log) {
      b.append(
        await prepareReduceRows(rt, { x: o.dy, out: s, rows, cols, label: sub(o.label, 'sum') }),
      );
    } else {
      await rowSums(
        b,
        softmaxDotBlocksKernel,
        rows,
        cols,
        s,
        (out) => ({ sd_out: out, sd_a: o.dy, sd_b: o.y }),
        o.label,
      );
    }
    await b.dispatch(softmaxBackwardKernel, {
      bindings: { sm_dx: o.dx, sm_dy: o.dy, sm_yin: o.y, sm_s: s },
      shape: { rows, cols },
      constants: { LOG: o.log ? 1 : 0, ACCUMULATE: o.accumulate ? 1 : 0 },
      label: o.label,
    });
  });
}

/** Targets of a cross-entropy: exactly one of the two. */
export interface CrossEntropyTargets {
  /**
   * (rows): the class of each row as an integer-valued f32. A value that is not an integer in
   * [0, cols) makes its row contribute 0 to the loss and to the gradient.
   */
  labels?: BufferRange;
  /** (rows, cols): a target distribution per row (one-hot rows included). */
  probs?: BufferRange;
}

type Targets = { kind: 'labels'; labels: BufferRange } | { kind: 'probs'; probs: BufferRange };

function targetsOf(kernel: string, t: CrossEntropyTargets): Targets {
  if (t.labels && !t.probs) return { kind: 'labels', labels: t.labels };
  if (t.probs && !t.labels) return { kind: 'probs', probs: t.probs };
  throw new Error(`${kernel}: give exactly one of labels (rows) and probs (rows, cols)`);
}

export interface SoftmaxCrossEntropyForwardOptions extends CrossEntropyTargets {
  /** Output (rows): ce[r] = -Σ_c t[r, c] log softmax(logits[r])[c]. */
  ce: BufferRange;
  /** (rows, cols). */
  logits: BufferRange;
  rows: number;
  cols: number;
  /** Optional output (rows): the row logsumexp, for the backward. */
  lse?: BufferRange;
  label?: string;
}

/** Per-row softmax cross-entropy against class labels or probability rows. */
export async function prepareSoftmaxCrossEntropyForward(
  rt: GpuRuntime,
  o: SoftmaxCrossEntropyForwardOptions,
): Promise<Program> {
  const name = 'softmax_xent_forward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  const t = targetsOf(name, o);
  const { rows, cols } = o;
  return buildProgram(rt, o.label ?? name, async (b) => {
    const lse = await computeLse(b, o.logits, rows, cols, o.lse, o.label);
    if (t.kind === 'labels') {
      await b.dispatch(xentIndexForwardKernel, {
        bindings: { xe_ce: o.ce, xe_logits: o.logits, xe_labels: t.labels, xe_lse: lse },
        shape: { rows, cols },
        label: o.label,
      });
    } else {
      await rowSums(
        b,
        xentProbsBlocksKernel,
        rows,
        cols,
        o.ce,
        (out) => ({ xp_out: out, xp_logits: o.logits, xp_probs: t.probs, xp_lse: lse }),
        o.label,
      );
    }
  });
}

export interface SoftmaxCrossEntropyBackwardOptions extends CrossEntropyTargets {
  /** Gradient of the logits (rows, cols): dce[r] (softmax Σ_c t - t). */
  dlogits?: BufferRange;
  /** dlogits += … instead of dlogits = … */
  accumulate?: boolean;
  /** With probs: gradient of the targets (rows, cols): dce[r] (lse - logits) = -dce log p. */
  dprobs?: BufferRange;
  /** dprobs += … instead of dprobs = … */
  accumulateProbs?: boolean;
  /** Gradient of ce (rows). */
  dce: BufferRange;
  /** The forward's logits (rows, cols). */
  logits: BufferRange;
  rows: number;
  cols: number;
  /** The forward's lse output (rows); recomputed when omitted. */
  lse?: BufferRange;
  label?: string;
}

/** Gradients of the per-row cross-entropy for an upstream dce (rows). */
export async function prepareSoftmaxCrossEntropyBackward(
  rt: GpuRuntime,
  o: SoftmaxCrossEntropyBackwardOptions,
): Promise<Program> {
  const name = 'softmax_xent_backward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  const t = targetsOf(name, o);
  if (!o.dlogits && !o.dprobs) throw new Error(`${name}: give dlogits, dprobs or both`);
  if (o.dprobs && t.kind === 'labels') throw new Error(`${name}: dprobs needs probs, not labels`);
  const { rows, cols } = o;
  return buildProgram(rt, o.label ?? name, async (b) => {
    const lse = o.lse ?? (await computeLse(b, o.logits, rows, cols, undefined, o.label));
    if (o.dlogits && t.kind === 'labels') {
      await b.dispatch(xentIndexBackwardKernel, {
        bindings: {
          xb_dlogits: o.dlogits,
          xb_dce: o.dce,
          xb_logits: o.logits,
          xb_labels: t.labels,
          xb_lse: lse,
        },
        shape: { rows, cols },
        constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
        label: o.label,
      });
    } else if (o.dlogits && t.kind === 'probs') {
      const tsum = b.storage('target_sums', 4 * rows);
      b.append(
        await prepareReduceRows(rt, {
          x: t.probs,
          out: tsum,
          rows,
          cols,
          label: sub(o.label, 'tsum'),
        }),
      );
      await b.dispatch(xentProbsBackwardKernel, {
        bindings: {
          xq_dlogits: o.dlogits,
          xq_dce: o.dce,
          xq_logits: o.logits,
          xq_probs: t.probs,
          xq_lse: lse,
          xq_tsum: tsum,
        },
        shape: { rows, cols },
        constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
        label: o.label,
      });
    }
    if (o.dprobs) {
      await b.dispatch(xentProbsBackwardTargetKernel, {
        bindings: { xt_dprobs: o.dprobs, xt_dce: o.dce, xt_logits: o.logits, xt_lse: lse },
        shape: { rows, cols },
        constants: { ACCUMULATE: o.accumulateProbs ? 1 : 0 },
        label: sub(o.label, 'dprobs'),
      });
    }
  });
}

export interface SoftmaxEntropyForwardOptions {
  /** Output (rows): H[r] = -Σ_c p log p, p = softmax(logits[r]). */
  h: BufferRange;
  /** (rows, cols). */
  logits: BufferRange;
  rows: number;
  cols: number;
  /** Optional output (rows): the row logsumexp, for the backward. */
  lse?: BufferRange;
  label?: string;
}

/** Entropy of the softmax of each row. */
export async function prepareSoftmaxEntropyForward(
  rt: GpuRuntime,
  o: SoftmaxEntropyForwardOptions,
): Promise<Program> {
  const name = 'softmax_entropy_forward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  return buildProgram(rt, o.label ?? name, async (b) => {
    const lse = await computeLse(b, o.logits, o.rows, o.cols, o.lse, o.label);
    await rowSums(
      b,
      entropyBlocksKernel,
      o.rows,
      o.cols,
      o.h,
      (out) => ({ en_out: out, en_logits: o.logits, en_lse: lse }),
      o.label,
    );
  });
}

export interface SoftmaxEntropyBackwardOptions {
  /** Gradient of the logits (rows, cols). */
  dlogits: BufferRange;
  /** Gradient of H (rows). */
  dh: BufferRange;
  /** The forward's logits (rows, cols). */
  logits: BufferRange;
  /** The forward's output H (rows). */
  h: BufferRange;
  rows: number;
  cols: number;
  /** The forward's lse output (rows); recomputed when omitted. */
  lse?: BufferRange;
  /** dlogits += … instead of dlogits = … */
  accumulate?: boolean;
  label?: string;
}

/** dlogits = -dh[r] p (log p + H[r]). */
export async function prepareSoftmaxEntropyBackward(
  rt: GpuRuntime,
  o: SoftmaxEntropyBackwardOptions,
): Promise<Program> {
  const name = 'softmax_entropy_backward';
  checkMatrix(name, 'the logits', o.rows, o.cols);
  return buildProgram(rt, o.label ?? name, async (b) => {
    const lse = o.lse ?? (await computeLse(b, o.logits, o.rows, o.cols, undefined, o.label));
    await b.dispatch(entropyBackwardKernel, {
      bindings: { eb_dlogits: o.dlogits, eb_dh: o.dh, eb_logits: o.logits, eb_lse: lse, eb_h: o.h },
      shape: { rows: o.rows, cols: o.cols },
      constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
      label: o.label,
    });
  });
}
