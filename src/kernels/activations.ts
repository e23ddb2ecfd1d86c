// Elementwise activations, forward and backward (shaders/activations.wgsl). The activation is an
// override constant (one specialised pipeline per activation), alpha a uniform.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { activationCode, defaultAlpha, type Activation } from './activation-codes.js';
import { checkDim } from './checks.js';

const WG = 256;

/** y = act(x).  act_y, act_x: (n) */
export const activationForward = defineKernel<'n'>({
  name: 'activation_forward',
  file: 'activations.wgsl',
  entryPoint: 'activations_forward',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ act_y: n, act_x: n }),
});

/** dx = dy * act'(x) (or += with ACCUMULATE); x is the pre-activation.  act_dx, act_dy, act_pre: (n) */
export const activationBackward = defineKernel<'n'>({
  name: 'activation_backward',
  file: 'activations.wgsl',
  entryPoint: 'activations_backward',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ act_dx: n, act_dy: n, act_pre: n }),
});

export interface ActivationConfig {
  /** Number of elements. */
  n: number;
  activation: Activation;
  /** leaky_relu slope / elu alpha; defaults to PyTorch's (0.01 / 1.0). */
  alpha?: number;
  label?: string;
}

function checkConfig(kernel: string, cfg: ActivationConfig): { act: number; alpha: number } {
  checkDim(kernel, 'n', cfg.n);
  const act = activationCode(cfg.activation);
  const alpha = cfg.alpha ?? defaultAlpha(cfg.activation);
  if (!Number.isFinite(alpha)) throw new Error(`${kernel}: alpha must be finite, got ${alpha}`);
  return { act, alpha };
}

/** Prepares y = act(x) over n elements. */
export async function prepareActivationForward(
  rt: GpuRuntime,
  cfg: ActivationConfig & { x: BufferRange; y: BufferRange },
): Promise<PreparedDispatch> {
  const { act, alpha } = checkConfig('activation_forward', cfg);
  return rt.prepare(activationForward, {
    bindings: { act_y: cfg.y, act_x: cfg.x },
    shape: { n: cfg.n },
    uniforms: { alpha },
    constants: { ACT: act },
    label: cfg.label,
  });
}

/**
 * Prepares dx = dy * act'(x) over n elements, x being the pre-activation input of the forward.
 * With `accumulate`, dx += ... (the gradient rule of shaders/README.md).
 */
export async function prepareActivationBackward(
  rt: GpuRuntime,
  cfg: ActivationConfig & {
    dx: BufferRange;
    dy: BufferRange;
    x: BufferRange;
    accumulate?: boolean;
  },
): Promise<PreparedDispatch> {
  const { act, alpha } = checkConfig('activation_backward', cfg);
  return rt.prepare(activationBackward, {
    bindings: { act_dx: cfg.dx, act_dy: cfg.dy, act_pre: cfg.x },
    shape: { n: cfg.n },
    uniforms: { alpha },
    constants: { ACT: act, ACCUMULATE: cfg.accumulate ? 1 : 0 },
    label: cfg.label,
  });
}
