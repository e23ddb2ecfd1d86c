// Reductions (shaders/reduce.wgsl), planned as passes over blocks: each invocation sums `block`
// consecutive values and the pass repeats on the partial sums until one value per row/column is
// left (a tree summation: f32 error grows with log(n)). Each multi-pass reduction is a Program that
// owns the scratch buffers of its partial results.
//   sum / mean / sum of squares over rows:    (R, C) -> (R)     prepareReduceRows
//   sum / mean / sum of squares over columns: (R, C) -> (C)     prepareReduceCols (bias gradient)
//   total:                                    (n)    -> (1)     prepareReduceTotal
//   stable logsumexp over rows:               (R, C) -> (R)     prepareLogSumExpRows
//   its backward (softmax weights times dy):  (R) -> (R, C)     prepareLogSumExpBackward
//   backward of a row sum / mean / sum of squares:
//                                             (R) -> (R, C)     prepareReduceRowsBackward
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim } from './checks.js';

const WG = 64;
/** Values summed sequentially by one invocation per pass. */
export const DEFAULT_REDUCE_BLOCK = 32;

/** out (rows, ceil(cols/block)) = block sums of each row of x (rows, cols). */
export const reduceRowsKernel = defineKernel<'rows' | 'cols' | 'block'>({
  name: 'reduce_rows',
  file: 'reduce.wgsl',
  entryPoint: 'reduce_rows',
  workgroupSize: [WG],
  dispatch: ({ rows, cols, block }) => dispatch1d(ceilDiv(rows * ceilDiv(cols, block), WG)),
  elements: ({ rows, cols, block }) => ({ x: rows * cols, out: rows * ceilDiv(cols, block) }),
});

/** out (ceil(rows/block), cols) = block sums of each column of x (rows, cols). */
export const reduceColsKernel = defineKernel<'rows' | 'cols' | 'block'>({
  name: 'reduce_cols',
  file: 'reduce.wgsl',
  entryPoint: 'reduce_cols',
  workgroupSize: [WG],
  dispatch: ({ rows, cols, block }) => dispatch1d(ceilDiv(ceilDiv(rows, block) * cols, WG)),
  elements: ({ rows, cols, block }) => ({ x: rows * cols, out: ceilDiv(rows, block) * cols }),
});

/** (max, sum exp) pairs per row block of x (rows, cols); with FINAL (nb = 1), lse per row. */
export const lsePartialKernel = defineKernel<'rows' | 'cols' | 'block' | 'final'>({
  name: 'lse_partial',
  file: 'reduce.wgsl',
  entryPoint: 'lse_partial',
  workgroupSize: [WG],
  dispatch: ({ rows, cols, block }) => dispatch1d(ceilDiv(rows * ceilDiv(cols, block), WG)),
  elements: ({ rows, cols, block, final }) => ({
    x: rows * cols,
    out: final ? rows : 2 * rows * ceilDiv(cols, block),
  }),
});

/** Merges (max, sum exp) pairs x (rows, cols, 2) by blocks; with FINAL (nb = 1), lse per row. */
export const lseCombineKernel = defineKernel<'rows' | 'cols' | 'block' | 'final'>({
  name: 'lse_combine',
  file: 'reduce.wgsl',
  entryPoint: 'lse_combine',
  workgroupSize: [WG],
  dispatch: ({ rows, cols, block }) => dispatch1d(ceilDiv(rows * ceilDiv(cols, block), WG)),
  elements: ({ rows, cols, block, final }) => ({
    x: 2 * rows * cols,
    out: final ? rows : 2 * rows * ceilDiv(cols, block),
  }),
});

/** dx (rows, cols) = dy[r] * exp(x - lse[r]) (or += with ACCUMULATE). */
export const lseBackwardKernel = defineKernel<'rows' | 'cols'>({
  name: 'lse_backward',
  file: 'reduce.wgsl',
  entryPoint: 'lse_backward',
  workgroupSize: [256],
  dispatch: ({ rows, cols }) => dispatch1d(ceilDiv(rows * cols, 256)),
  elements: ({ rows, cols }) => ({ dx: rows * cols, dy: rows, xin: rows * cols, lse: rows }),
});

export type ReduceOp = 'sum' | 'mean' | 'sumsq';

export interface ReduceConfig {
  x: BufferRange;
  out: BufferRange;
  rows: number;
  cols: number;
  /** 'sum' (default), 'mean', or 'sumsq' (sum of squares). */
  op?: ReduceOp;
  /** Add into `out` instead of assigning (gradient rule). */
  accumulate?: boolean;
  /** Values per invocation and pass, 2..1024 (default 32). */
  block?: number;
  label?: string;
}

function checkDims(kernel: string, dims: Record<string, number>): void {
  for (const [name, value] of Object.entries(dims)) checkDim(kernel, name, value);
  const total = Object.values(dims).reduce((a, b) => a * b, 1);
  if (total > 0xffffffff)
    throw new Error(`${kernel}: ${Object.keys(dims).join(' x ')} = ${total} exceeds u32`);
}

function checkBlock(kernel: string, block: number): number {
  if (!Number.isInteger(block) || block < 2 || block > 1024) {
    throw new Error(`${kernel}: block must be an integer in [2, 1024], got ${block}`);
  }
  return block;
}

function checkOp(kernel: string, op: string): ReduceOp {
  if (op !== 'sum' && op !== 'mean' && op !== 'sumsq') {
    throw new Error(`${kernel}: unknown op '${op}' (sum, mean, sumsq)`);
  }
  return op;
}

/** Sum, mean or sum of squares of each row: x (rows, cols) -> out (rows). */
export async function prepareReduceRows(rt: GpuRuntime, cfg: ReduceConfig): Promise<Program> {
  const name = 'reduce_rows';
  checkDims(name, { rows: cfg.rows, cols: cfg.cols });
  const block = checkBlock(name, cfg.block ?? DEFAULT_REDUCE_BLOCK);
  const op = checkOp(name, cfg.op ?? 'sum');
  return buildProgram(rt, cfg.label ?? name, async (b) => {
    let input = cfg.x;
    let cols = cfg.cols;
    for (let pass = 0; ; pass++) {
      const nb = ceilDiv(cols, block);
      const last = nb === 1;
      const out = last ? cfg.out : b.storage(`scratch${pass}`, 4 * cfg.rows * nb);
      await b.dispatch(reduceRowsKernel, {
        bindings: { out, x: input },
        shape: { rows: cfg.rows, cols, block },
        uniforms: { scale: last && op === 'mean' ? 1 / cfg.cols : 1 },
        constants: {
          SQUARE: pass === 0 && op === 'sumsq' ? 1 : 0,
          ACCUMULATE: last && cfg.accumulate ? 1 : 0,
        },
        label: `${cfg.label ? cfg.label + '.' : ''}pass${pass}`,
      });
      if (last) return;
      input = out;
      cols = nb;
    }
  });
}

/** Sum, mean or sum of squares of each column: x (rows, cols) -> out (cols). */
export async function prepareReduceCols(rt: GpuRuntime, cfg: ReduceConfig): Promise<Program> {
  const name = 'reduce_cols';
  checkDims(name, { rows: cfg.rows, cols: cfg.cols });
  const block = checkBlock(name, cfg.block ?? DEFAULT_REDUCE_BLOCK);
  const op = checkOp(name, cfg.op ?? 'sum');
  return buildProgram(rt, cfg.label ?? name, async (b) => {
    let input = cfg.x;
    let rows = cfg.rows;
    for (let pass = 0; ; pass++) {
      const nb = ceilDiv(rows, block);
      const last = nb === 1;
      const out = last ? cfg.out : b.storage(`scratch${pass}`, 4 * nb * cfg.cols);
      await b.dispatch(reduceColsKernel, {
        bindings: { out, x: input },
        shape: { rows, cols: cfg.cols, block },
        uniforms: { scale: last && op === 'mean' ? 1 / cfg.rows : 1 },
        constants: {
          SQUARE: pass === 0 && op === 'sumsq' ? 1 : 0,
          ACCUMULATE: last && cfg.accumulate ? 1 : 0,
        },
        label: `${cfg.label ? cfg.label + '.' : ''}pass${pass}`,
      });
      if (last) return;
      input = out;
      rows = nb;
    }
  });
}

/** Sum, mean or sum of squares of all n values of x -> out (1), e.g. a batch loss. */
export async function prepareReduceTotal(
  rt: GpuRuntime,
  cfg: Omit<ReduceConfig, 'rows' | 'cols'> & { n: number },
): Promise<Program> {
  checkDims('reduce_total', { n: cfg.n });
  return prepareReduceRows(rt, { ...cfg, rows: 1, cols: cfg.n });
}

export interface LogSumExpConfig {
  x: BufferRange;
  out: BufferRange;
  rows: number;
  cols: number;
  /** Values per invocation and pass, 2..1024 (default 32). */
  block?: number;
  label?: string;
}

/**
 * Stable logsumexp of each row: out[r] = m + log(sum_c exp(x[r, c] - m)), m the row max, merged
 * across blocks as (max, sum) pairs. x (rows, cols) -> out (rows). Finite inputs of any magnitude
 * give finite results; a row of -inf gives -inf.
 */
export async function prepareLogSumExpRows(rt: GpuRuntime, cfg: LogSumExpConfig): Promise<Program> {
  const name = 'lse_rows';
  checkDims(name, { rows: cfg.rows, cols: cfg.cols });
  const block = checkBlock(name, cfg.block ?? DEFAULT_REDUCE_BLOCK);
  return buildProgram(rt, cfg.label ?? name, async (b) => {
    let input = cfg.x;
    let cols = cfg.cols;
    for (let pass = 0; ; pass++) {
      const nb = ceilDiv(cols, block);
      const last = nb === 1;
      const out = last ? cfg.out : b.storage(`scratch${pass}`, 8 * cfg.rows * nb);
      await b.dispatch(pass === 0 ? lsePartialKernel : lseCombineKernel, {
        bindings: { out, x: input },
        shape: { rows: cfg.rows, cols, block, final: last ? 1 : 0 },
        uniforms: { scale: 1 },
        constants: { FINAL: last ? 1 : 0 },
        label: `${cfg.label ? cfg.label + '.' : ''}pass${pass}`,
      });
      if (last) return;
      input = out;
      cols = nb;
    }
  });
}

export interface LogSumExpBackwardConfig {
  /** Gradient of x: (rows, cols). */
  dx: BufferRange;
  /** Gradient of the logsumexp output: (rows). */
  dy: BufferRange;
  /** The forward input: (rows, cols). */
  x: BufferRange;
  /** The forward output: (rows). */
  lse: BufferRange;
  rows: number;
  cols: number;
  /** dx += ... instead of dx = ... */
  accumulate?: boolean;
  label?: string;
}

/** dx[r, c] = dy[r] * softmax(x[r, :])[c] = dy[r] * exp(x[r, c] - lse[r]). */
export async function prepareLogSumExpBackward(
  rt: GpuRuntime,
  cfg: LogSumExpBackwardConfig,
): Promise<PreparedDispatch> {
  checkDims('lse_backward', { rows: cfg.rows, cols: cfg.cols });
  return rt.prepare(lseBackwardKernel, {
    bindings: { dx: cfg.dx, dy: cfg.dy, xin: cfg.x, lse: cfg.lse },
    shape: { rows: cfg.rows, cols: cfg.cols },
    constants: { ACCUMULATE: cfg.accumulate ? 1 : 0 },
    label: cfg.label,
  });
}

/** dx (rows, cols) = scale * dy[r] (or += with ACCUMULATE); scale 1 (sum) or 1/cols (mean). */
export const reduceRowsBackwardKernel = defineKernel<'rows' | 'cols'>({
  name: 'reduce_rows_backward',
  file: 'reduce.wgsl',
  entryPoint: 'reduce_rows_backward',
  workgroupSize: [WG],
  dispatch: ({ rows, cols }) => dispatch1d(ceilDiv(rows * cols, WG)),
  elements: ({ rows, cols }) => ({ dx: rows * cols, dy: rows }),
});

/** dx (rows, cols) = 2 * scale * x[r, c] * dy[r] (or += with ACCUMULATE): sum of squares. */
export const sumsqRowsBackwardKernel = defineKernel<'rows' | 'cols'>({
  name: 'sumsq_rows_backward',
  file: 'reduce.wgsl',
  entryPoint: 'sumsq_rows_backward',
  workgroupSize: [WG],
  dispatch: ({ rows, cols }) => dispatch1d(ceilDiv(rows * cols, WG)),
  elements: ({ rows, cols }) => ({ dx: rows * cols, dy: rows, xin: rows * cols }),
});

export interface ReduceBackwardConfig {
  /** Gradient of the input: (rows, cols). */
  dx: BufferRange;
  /** Gradient of the output: (rows). */
  dy: BufferRange;
  /** The forward input (rows, cols); read by 'sumsq' only. */
  x?: BufferRange;
  rows: number;
  cols: number;
  /** The forward's op: 'sum' (default), 'mean' or 'sumsq'. */
  op?: ReduceOp;
  /** dx += … instead of dx = … */
  accumulate?: boolean;
  label?: string;
}

/** Backward of prepareReduceRows: dx[r, c] = dy[r] * (1 | 1/cols | 2 x[r, c]). */
export async function prepareReduceRowsBackward(
  rt: GpuRuntime,
  cfg: ReduceBackwardConfig,
): Promise<PreparedDispatch> {
  const name = 'reduce_rows_backward';
  checkDims(name, { rows: cfg.rows, cols: cfg.cols });
  const op = checkOp(name, cfg.op ?? 'sum');
  const common = {
    shape: { rows: cfg.rows, cols: cfg.cols },
    uniforms: { scale: op === 'mean' ? 1 / cfg.cols : 1 },
    constants: { ACCUMULATE: cfg.accumulate ? 1 : 0 },
    label: cfg.label,
  };
  if (op !== 'sumsq') {
    return rt.prepare(reduceRowsBackwardKernel, {
      bindings: { dx: cfg.dx, dy: cfg.dy },
      ...common,
    });
  }
  if (!cfg.x) throw new Error(`${name}: the backward of 'sumsq' needs the forward input x`);
  return rt.prepare(sumsqRowsBackwardKernel, {
    bindings: { dx: cfg.dx, dy: cfg.dy, xin: cfg.x },
    ...common,
  });
}
