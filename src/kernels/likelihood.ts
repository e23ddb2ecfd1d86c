// Decoder likelihoods (shaders/likelihood.wgsl): per-example negative log-likelihoods (B) and their
// gradients w.r.t. the decoder outputs, for Bernoulli logits, a Gaussian with fixed sigma and a
// Gaussian with a learned log sigma per output. The backward (prepareLikelihoodBackwardRows) reads a
// per-row upstream gradient dnll (B) from a buffer: the likelihood as a loss tensor inside a larger
// expression.
//
// The per-example row sums of the forwards come in two variants (RowSumVariant), chosen per adapter
// by rowSumVariantFor() unless the caller names one:
//   'workgroup': one workgroup per example, tree sum in workgroup memory with barriers. For real
//                GPUs (adapter kind 'gpu', or 'browser': navigator.gpu that is not a CPU adapter).
//   'blocks':    barrier-free (CPU adapters: llvmpipe, SwiftShader; barriers and workgroup memory
//                do not pay there). Each invocation sums a block of ROW_BLOCK consecutive terms of
//                one row into a (B, nb) scratch buffer, nb = ceil(D / ROW_BLOCK), which the
//                reduce_rows passes (src/kernels/reduce.ts) sum into (B): a tree summation, error
//                growing with log(D). With D <= ROW_BLOCK one invocation per row writes the NLL
//                directly (one dispatch, no scratch).
// Either way prepareLikelihoodForward returns a Program; in the 'blocks' variant with nb > 1 it
// records the block dispatch and then the reduce passes, and owns the scratch buffer
// (see prepareRowBlocks).
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d, type KernelDef, type Shape } from '../gpu/kernel.js';
import { buildProgram, singleProgram, type Program } from '../gpu/program.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkFinite } from './checks.js';
import { DEFAULT_REDUCE_BLOCK, prepareReduceRows } from './reduce.js';

const ROW_WG = 256;
const WG = 256;
/** Workgroup size of the barrier-free 'blocks' kernels (one invocation per row block). */
const BLOCK_WG = 64;
/** Terms summed sequentially by one invocation of a 'blocks' kernel (first pass of the tree). */
export const ROW_BLOCK = DEFAULT_REDUCE_BLOCK;

/** How per-example row sums are done: see the top of this file. */
export type RowSumVariant = 'workgroup' | 'blocks';

/**
 * The row-sum variant for an adapter: 'workgroup' (tree in workgroup memory) on real GPUs,
 * 'blocks' (barrier-free block sums plus reduce passes) on CPU adapters.
 */
export function rowSumVariantFor(rt: GpuRuntime): RowSumVariant {
  const kind = rt.info.kind;
  return kind === 'gpu' || kind === 'browser' ? 'workgroup' : 'blocks';
}

/** `variant` checked by name (an error naming the kernel otherwise). */
export function checkRowSumVariant(kernel: string, variant: string): RowSumVariant {
  if (variant !== 'workgroup' && variant !== 'blocks') {
    throw new Error(`${kernel}: unknown row-sum variant '${variant}' (workgroup, blocks)`);
  }
  return variant;
}

/** Sizes of the kernels of this file: B rows (examples) of D values. */
type RowShape = 'B' | 'D';
/** Sizes of a 'blocks' kernel: also `block`, the values one invocation sums. */
type BlockShape = RowShape | 'block';

/** Dispatch of a 'blocks' kernel: one invocation per (row, block). */
const blockDispatch = ({ B, D, block }: Shape<BlockShape>) =>
  dispatch1d(ceilDiv(B * ceilDiv(D, block), BLOCK_WG));
/** Elements of a 'blocks' kernel's output: (B, nb) partial sums ((B) when nb = 1). */
const blockOutput = ({ B, D, block }: Shape<BlockShape>) => B * ceilDiv(D, block);

function asRange(kernel: string, r: BindingResource): BufferRange {
  if ('buffer' in r && 'offset' in r) return r;
  if ('mapAsync' in r) return { buffer: r, offset: 0, size: r.size };
  throw new Error(`${kernel}: the per-example output must be a buffer, not a texture view`);
}

/**
 * Per-row sums of a 'blocks' kernel: `first(out, block)` prepares the kernel writing (rows, nb)
 * block sums into `out`. With nb = 1 it writes `rowsOut` directly and is the whole program.
 * Otherwise it writes a scratch buffer owned by the program, followed by the reduce_rows passes
 * (scratch -> rowsOut). Used by the likelihood and KL forwards.
 */
export async function prepareRowBlocks(
  rt: GpuRuntime,
  o: {
    kernel: string;
    rows: number;
    cols: number;
    rowsOut: BindingResource;
    first: (out: BindingResource, block: number) => Promise<PreparedDispatch>;
    block?: number;
    label?: string;
  },
): Promise<Program> {
  const block = o.block ?? ROW_BLOCK;
  const nb = ceilDiv(o.cols, block);
  const label = `${o.kernel}${o.label ? '.' + o.label : ''}`;
  return buildProgram(rt, label, async (b) => {
    if (nb === 1) {
      b.append(await o.first(o.rowsOut, block));
      return;
    }
    const out = asRange(o.kernel, o.rowsOut);
    const scratch = b.storage('partials', 4 * o.rows * nb);
    b.append(await o.first(scratch, block));
    b.append(
      await prepareReduceRows(rt, {
        x: scratch,
        out,
        rows: o.rows,
        cols: nb,
        label: `${label}.rows`,
      }),
    );
  });
}

/** Range log sigma is clamped to by the learned-sigma Gaussian (gradient zero outside). */
export const LOGSIGMA_CLAMP = { min: -6, max: 6 } as const;

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

const rowDispatch = ({ B }: Shape<RowShape>) => dispatch1d(B);
const elementDispatch = ({ B, D }: Shape<RowShape>) => dispatch1d(ceilDiv(B * D, WG));

/** nll (B) = sum_d softplus(l) - x l; logits, x: (B, D). */
export const bernoulliNllForward = defineKernel<RowShape>({
  name: 'bernoulli_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'bernoulli_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B, logits: B * D, x: B * D }),
});

/** Barrier-free 'blocks' variant: nll (B, nb) = block sums of softplus(l) - x l. */
export const bernoulliNllBlocks = defineKernel<BlockShape>({
  name: 'bernoulli_nll_blocks',
  file: 'likelihood.wgsl',
  entryPoint: 'bernoulli_nll_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: blockDispatch,
  elements: (shape) => ({
    nll: blockOutput(shape),
    logits: shape.B * shape.D,
    x: shape.B * shape.D,
  }),
});

/** nll (B) = sum_d 0.5 (x - mean)^2 / sigma^2 + D (log sigma + 0.5 log 2 pi). */
export const gaussianNllForward = defineKernel<RowShape>({
  name: 'gaussian_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B, mean: B * D, x: B * D }),
});

/** Barrier-free 'blocks' variant of gaussian_nll_forward: nll (B, nb) block sums. */
export const gaussianNllBlocks = defineKernel<BlockShape>({
  name: 'gaussian_nll_blocks',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_nll_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: blockDispatch,
  elements: (shape) => ({
    nll: blockOutput(shape),
    mean: shape.B * shape.D,
    x: shape.B * shape.D,
  }),
});

/** nll (B) = sum_d 0.5 (x - mean)^2 exp(-2c) + c + 0.5 log 2 pi, c = clamp(log_sigma). */
export const gaussianLearnedNllForward = defineKernel<RowShape>({
  name: 'gaussian_learned_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_learned_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B, mean: B * D, x: B * D, log_sigma: B * D }),
});

/** Barrier-free 'blocks' variant of gaussian_learned_nll_forward: nll (B, nb) block sums. */
export const gaussianLearnedNllBlocks = defineKernel<BlockShape>({
  name: 'gaussian_learned_nll_blocks',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_learned_nll_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: blockDispatch,
  elements: (shape) => {
    const n = shape.B * shape.D;
    return { nll: blockOutput(shape), mean: n, x: n, log_sigma: n };
  },
});

/**
 * An elementwise backward of this file (1-D grid over B * D, ACCUMULATE override): the named
 * bindings hold (B, D) values, `upstream` the per-row upstream gradient (B).
 */
function backwardKernel(
  entryPoint: string,
  full: readonly string[],
  upstream: string,
): KernelDef<RowShape> {
  return defineKernel<RowShape>({
    name: entryPoint,
    file: 'likelihood.wgsl',
    entryPoint,
    workgroupSize: [WG],
    dispatch: elementDispatch,
    elements: ({ B, D }) => ({
      ...Object.fromEntries(full.map((k) => [k, B * D])),
      [upstream]: B,
    }),
  });
}

const BERNOULLI_GRAD = ['dlogits', 'logits', 'x'] as const;
const GAUSSIAN_GRAD = ['dmean', 'mean', 'x'] as const;
const LEARNED_GRAD = ['dmean', 'dlog_sigma', 'mean_l', 'x_l', 'log_sigma_l'] as const;

/** dlogits (B, D) = dnll[b] * (sigmoid(l) - x), dnll: (B). */
export const bernoulliNllBackwardRows = backwardKernel(
  'bernoulli_nll_backward_rows',
  BERNOULLI_GRAD,
  'dnll',
);
/** dmean (B, D) = dnll[b] * (mean - x) / sigma^2, dnll: (B). */
export const gaussianNllBackwardRows = backwardKernel(
  'gaussian_nll_backward_rows',
  GAUSSIAN_GRAD,
  'dnll',
);
/** dmean, dlog_sigma (B, D) of dnll_l[b] * the learned-sigma Gaussian NLL, dnll_l: (B). */
export const gaussianLearnedNllBackwardRows = backwardKernel(
  'gaussian_learned_nll_backward_rows',
  LEARNED_GRAD,
  'dnll_l',
);

/**
 * The decoder likelihood p(x|z): Bernoulli on logits, Gaussian with a fixed sigma, or Gaussian
 * with a learned per-pixel log sigma.
 */
export type Likelihood =
  | { kind: 'bernoulli' }
  | {
      kind: 'gaussian';
      /** Fixed standard deviation (> 0); 1 gives 0.5 * squared error + const. */ sigma: number;
    }
  | { kind: 'gaussian-learned' };

function checkShape(kernel: string, batch: number, size: number): void {
  checkDim(kernel, 'batch', batch);
  checkDim(kernel, 'size', size);
  checkElements(kernel, 'the decoder output', batch * size);
}

function checkSigma(kernel: string, sigma: number): void {
  checkFinite(kernel, 'sigma', sigma);
  if (!(sigma > 0)) throw new Error(`${kernel}: sigma must be > 0, got ${sigma}`);
  if (!Number.isFinite(1 / (sigma * sigma)) || 1 / (sigma * sigma) > 3.4e38) {
    throw new Error(`${kernel}: sigma ${sigma} is too small (1 / sigma^2 overflows f32)`);
  }
}

export interface LikelihoodForwardOptions {
  likelihood: Likelihood;
  /** Output (B): per-example negative log-likelihood. */
  nll: BindingResource;
  /** (B, D): logits (bernoulli) or means (gaussian, gaussian-learned). */
  output: BindingResource;
  /** (B, D): log sigma per output, only for gaussian-learned. */
  logSigma?: BindingResource;
  /** (B, D): the data. */
  target: BindingResource;
  batch: number;
  /** D, values per example (e.g. 784). */
  size: number;
  /** How rows are summed (default rowSumVariantFor(rt): 'blocks' on CPU adapters). */
  variant?: RowSumVariant;
  label?: string;
}

/**
 * Per-example NLL of the decoder output; the batch sum is left to the reduction kernels. A
 * program: in the 'blocks' variant it may record several dispatches (see the top of this file).
 */
export async function prepareLikelihoodForward(
  rt: GpuRuntime,
  o: LikelihoodForwardOptions,
): Promise<Program> {
  const lk = o.likelihood;
  const name = `${lk.kind} likelihood forward`;
  checkShape(name, o.batch, o.size);
  if (lk.kind !== 'gaussian-learned' && o.logSigma !== undefined) {
    throw new Error(`${name}: logSigma is only for the gaussian-learned likelihood`);
  }
  if (lk.kind === 'gaussian') checkSigma(name, lk.sigma);
  if (lk.kind === 'gaussian-learned' && o.logSigma === undefined) {
    throw new Error(`${name}: logSigma (B, D) is required`);
  }
  const variant = checkRowSumVariant(name, o.variant ?? rowSumVariantFor(rt));
  if (variant === 'workgroup') return singleProgram(await prepareWorkgroupForward(rt, o));
  const label = o.label !== undefined ? { label: o.label } : {};
  const kernel = BLOCK_KERNELS[lk.kind];
  if (kernel === undefined) throw new Error(`unknown likelihood ${JSON.stringify(lk)}`);
  const uniforms =
    lk.kind === 'gaussian'
      ? {
          uniforms: {
            inv_var: 1 / (lk.sigma * lk.sigma),
            log_norm: Math.log(lk.sigma) + HALF_LOG_2PI,
          },
        }
      : {};
  const inputs: Record<string, BindingResource> =
    lk.kind === 'bernoulli'
      ? { logits: o.output, x: o.target }
      : lk.kind === 'gaussian'
        ? { mean: o.output, x: o.target }
        : { mean: o.output, x: o.target, log_sigma: o.logSigma! };
  return prepareRowBlocks(rt, {
    kernel: kernel.name,
    rows: o.batch,
    cols: o.size,
    rowsOut: o.nll,
    ...label,
    first: (nll, block) =>
      rt.prepare(kernel, {
        bindings: { nll, ...inputs },
        shape: { B: o.batch, D: o.size, block },
        ...uniforms,
        ...label,
      }),
  });
}

const BLOCK_KERNELS: Readonly<Record<Likelihood['kind'], KernelDef<BlockShape> | undefined>> = {
  bernoulli: bernoulliNllBlocks,
  gaussian: gaussianNllBlocks,
  'gaussian-learned': gaussianLearnedNllBlocks,
};

/** The 'workgroup' variant: one workgroup per example, tree sum in workgroup memory. */
function prepareWorkgroupForward(
  rt: GpuRuntime,
  o: LikelihoodForwardOptions,
): Promise<PreparedDispatch> {
  const shape = { B: o.batch, D: o.size };
  const label = o.label !== undefined ? { label: o.label } : {};
  const lk = o.likelihood;
  switch (lk.kind) {
    case 'bernoulli':
      return rt.prepare(bernoulliNllForward, {
        bindings: { nll: o.nll, logits: o.output, x: o.target },
        shape,
        ...label,
      });
    case 'gaussian':
      return rt.prepare(gaussianNllForward, {
        bindings: { nll: o.nll, mean: o.output, x: o.target },
        shape,
        uniforms: {
          inv_var: 1 / (lk.sigma * lk.sigma),
          log_norm: Math.log(lk.sigma) + HALF_LOG_2PI,
        },
        ...label,
      });
    case 'gaussian-learned':
      return rt.prepare(gaussianLearnedNllForward, {
        bindings: { nll: o.nll, mean: o.output, x: o.target, log_sigma: o.logSigma! },
        shape,
        ...label,
      });
    default:
      throw new Error(`unknown likelihood ${JSON.stringify(lk)}`);
  }
}

export interface LikelihoodBackwardRowsOptions {
  likelihood: Likelihood;
  /** Output (B, D): gradient w.r.t. the logits / means. */
  doutput: BindingResource;
  /** Output (B, D): gradient w.r.t. log sigma, only for gaussian-learned. */
  dlogSigma?: BindingResource;
  /** (B, D). */
  output: BindingResource;
  /** (B, D), gaussian-learned only. */
  logSigma?: BindingResource;
  /** (B, D). */
  target: BindingResource;
  /** (B): upstream gradient of each example's NLL (d loss / d nll_b). */
  dnll: BindingResource;
  batch: number;
  size: number;
  /** Add into the gradient outputs instead of assigning. */
  accumulate?: boolean;
  label?: string;
}

/**
 * Gradient of sum_b dnll[b] * nll_b w.r.t. the decoder outputs (and log sigma): the likelihood as a
 * per-row loss tensor whose backward reads its upstream gradient (ACCUMULATE as usual).
 */
export async function prepareLikelihoodBackwardRows(
  rt: GpuRuntime,
  o: LikelihoodBackwardRowsOptions,
): Promise<PreparedDispatch> {
  const name = `${o.likelihood.kind} likelihood backward (rows)`;
  const shape = { B: o.batch, D: o.size };
  const lk = o.likelihood;
  checkShape(name, o.batch, o.size);
  if (lk.kind !== 'gaussian-learned' && (o.logSigma !== undefined || o.dlogSigma !== undefined)) {
    throw new Error(`${name}: logSigma / dlogSigma are only for the gaussian-learned likelihood`);
  }
  const common = {
    shape,
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  };
  switch (lk.kind) {
    case 'bernoulli':
      return rt.prepare(bernoulliNllBackwardRows, {
        bindings: { dlogits: o.doutput, logits: o.output, x: o.target, dnll: o.dnll },
        ...common,
      });
    case 'gaussian':
      checkSigma(name, lk.sigma);
      return rt.prepare(gaussianNllBackwardRows, {
        bindings: { dmean: o.doutput, mean: o.output, x: o.target, dnll: o.dnll },
        uniforms: { inv_var: 1 / (lk.sigma * lk.sigma) },
        ...common,
      });
    case 'gaussian-learned':
      if (o.logSigma === undefined || o.dlogSigma === undefined) {
        throw new Error(`${name}: logSigma and dlogSigma (B, D) are required`);
      }
      return rt.prepare(gaussianLearnedNllBackwardRows, {
        bindings: {
          dmean: o.doutput,
          dlog_sigma: o.dlogSigma,
          mean_l: o.output,
          x_l: o.target,
          log_sigma_l: o.logSigma,
          dnll_l: o.dnll,
        },
        ...common,
      });
    default:
      throw new Error(`unknown likelihood ${JSON.stringify(lk)}`);
  }
}
