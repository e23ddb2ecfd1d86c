// Decoder likelihoods (shaders/likelihood.wgsl): per-example negative log-likelihoods (B) and their
// gradients w.r.t. the decoder outputs, for Bernoulli logits, a Gaussian with fixed sigma and a
// Gaussian with a learned log sigma per output.
import { ceilDiv, defineKernel, dispatch1d, type Shape } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkFinite } from './checks.js';

const ROW_WG = 256;
const WG = 256;

/** Range log sigma is clamped to by the learned-sigma Gaussian (gradient zero outside). */
export const LOGSIGMA_CLAMP = { min: -6, max: 6 } as const;

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

const rowDispatch = ({ B }: Shape) => dispatch1d(B!);
const elementDispatch = ({ B, D }: Shape) => dispatch1d(ceilDiv(B! * D!, WG));

/** nll (B) = sum_d softplus(l) - x l; logits, x: (B, D). */
export const bernoulliNllForward = defineKernel({
  name: 'bernoulli_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'bernoulli_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B!, logits: B! * D!, x: B! * D! }),
});

/** dlogits (B, D) = scale * (sigmoid(l) - x) (ACCUMULATE override). */
export const bernoulliNllBackward = defineKernel({
  name: 'bernoulli_nll_backward',
  file: 'likelihood.wgsl',
  entryPoint: 'bernoulli_nll_backward',
  workgroupSize: [WG],
  dispatch: elementDispatch,
  elements: ({ B, D }) => ({ dlogits: B! * D!, logits: B! * D!, x: B! * D! }),
});

/** nll (B) = sum_d 0.5 (x - mean)^2 / sigma^2 + D (log sigma + 0.5 log 2 pi). */
export const gaussianNllForward = defineKernel({
  name: 'gaussian_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B!, mean: B! * D!, x: B! * D! }),
});

/** dmean (B, D) = scale * (mean - x) / sigma^2 (ACCUMULATE override). */
export const gaussianNllBackward = defineKernel({
  name: 'gaussian_nll_backward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_nll_backward',
  workgroupSize: [WG],
  dispatch: elementDispatch,
  elements: ({ B, D }) => ({ dmean: B! * D!, mean: B! * D!, x: B! * D! }),
});

/** nll (B) = sum_d 0.5 (x - mean)^2 exp(-2c) + c + 0.5 log 2 pi, c = clamp(log_sigma). */
export const gaussianLearnedNllForward = defineKernel({
  name: 'gaussian_learned_nll_forward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_learned_nll_forward',
  workgroupSize: [ROW_WG],
  dispatch: rowDispatch,
  elements: ({ B, D }) => ({ nll: B!, mean: B! * D!, x: B! * D!, log_sigma: B! * D! }),
});

/** dmean, dlog_sigma (B, D) of the learned-sigma Gaussian NLL (ACCUMULATE override). */
export const gaussianLearnedNllBackward = defineKernel({
  name: 'gaussian_learned_nll_backward',
  file: 'likelihood.wgsl',
  entryPoint: 'gaussian_learned_nll_backward',
  workgroupSize: [WG],
  dispatch: elementDispatch,
  elements: ({ B, D }) => ({
    dmean: B! * D!,
    dlog_sigma: B! * D!,
    mean_l: B! * D!,
    x_l: B! * D!,
    log_sigma_l: B! * D!,
  }),
});

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
  label?: string;
}

/** Per-example NLL of the decoder output; the batch sum is left to the reduction kernels. */
export async function prepareLikelihoodForward(
  rt: GpuRuntime,
  o: LikelihoodForwardOptions,
): Promise<PreparedDispatch> {
  const shape = { B: o.batch, D: o.size };
  const label = o.label !== undefined ? { label: o.label } : {};
  const lk = o.likelihood;
  const name = `${lk.kind} likelihood forward`;
  checkShape(name, o.batch, o.size);
  if (lk.kind !== 'gaussian-learned' && o.logSigma !== undefined) {
    throw new Error(`${name}: logSigma is only for the gaussian-learned likelihood`);
  }
  switch (lk.kind) {
    case 'bernoulli':
      return rt.prepare(bernoulliNllForward, {
        bindings: { nll: o.nll, logits: o.output, x: o.target },
        shape,
        ...label,
      });
    case 'gaussian':
      checkSigma(name, lk.sigma);
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
      if (o.logSigma === undefined) throw new Error(`${name}: logSigma (B, D) is required`);
      return rt.prepare(gaussianLearnedNllForward, {
        bindings: { nll: o.nll, mean: o.output, x: o.target, log_sigma: o.logSigma },
        shape,
        ...label,
      });
    default:
      throw new Error(`unknown likelihood ${JSON.stringify(lk)}`);
  }
}

export interface LikelihoodBackwardOptions {
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
  batch: number;
  size: number;
  /** Multiplies the gradient: 1 for the summed NLL, 1/B for the batch mean (default 1). */
  scale?: number;
  /** Add into the gradient outputs instead of assigning. */
  accumulate?: boolean;
  label?: string;
}

/** Gradient of scale * sum_b nll_b w.r.t. the decoder outputs. */
export async function prepareLikelihoodBackward(
  rt: GpuRuntime,
  o: LikelihoodBackwardOptions,
): Promise<PreparedDispatch> {
  const shape = { B: o.batch, D: o.size };
  const lk = o.likelihood;
  const name = `${lk.kind} likelihood backward`;
  checkShape(name, o.batch, o.size);
  const scale = o.scale ?? 1;
  checkFinite(name, 'scale', scale);
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
      return rt.prepare(bernoulliNllBackward, {
        bindings: { dlogits: o.doutput, logits: o.output, x: o.target },
        uniforms: { scale },
        ...common,
      });
    case 'gaussian':
      checkSigma(name, lk.sigma);
      return rt.prepare(gaussianNllBackward, {
        bindings: { dmean: o.doutput, mean: o.output, x: o.target },
        uniforms: { scale, inv_var: 1 / (lk.sigma * lk.sigma) },
        ...common,
      });
    case 'gaussian-learned':
      if (o.logSigma === undefined || o.dlogSigma === undefined) {
        throw new Error(`${name}: logSigma and dlogSigma (B, D) are required`);
      }
      return rt.prepare(gaussianLearnedNllBackward, {
        bindings: {
          dmean: o.doutput,
          dlog_sigma: o.dlogSigma,
          mean_l: o.output,
          x_l: o.target,
          log_sigma_l: o.logSigma,
        },
        uniforms: { scale },
        ...common,
      });
    default:
      throw new Error(`unknown likelihood ${JSON.stringify(lk)}`);
  }
}
