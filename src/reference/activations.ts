// Float64 references of the activations (shaders/activation_fns.wgsl, src/kernels/activations.ts):
// the scalar functions and their derivatives, and the elementwise op y = act(x) with its
// vector-Jacobian product. GELU is the exact erf form, as PyTorch's default.
import { defaultAlpha, type Activation } from '../kernels/activation-codes.js';
import { normalCdf64, normalPdf64, sigmoid64, softplus64 } from './math.js';

/** act(x) for one value; alpha is the slope / scale of leaky_relu and elu. */
export function activation64(act: Activation, x: number, alpha = defaultAlpha(act)): number {
  switch (act) {
    case 'identity':
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'leaky_relu':
      return x > 0 ? x : alpha * x;
    case 'elu':
      return x > 0 ? x : alpha * Math.expm1(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid64(x);
    case 'softplus':
      return softplus64(x);
    case 'gelu':
      return x * normalCdf64(x);
    default:
      throw new Error(`activation64: unknown activation '${String(act)}'`);
  }
}

/** d act / dx at the pre-activation x (at a kink, the kernel's choice: the left side). */
export function activationDerivative64(
  act: Activation,
  x: number,
  alpha = defaultAlpha(act),
): number {
  switch (act) {
    case 'identity':
      return 1;
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'leaky_relu':
      return x > 0 ? 1 : alpha;
    case 'elu':
      return x > 0 ? 1 : alpha * Math.exp(x);
    case 'tanh': {
      const t = Math.tanh(x);
      return 1 - t * t;
    }
    case 'sigmoid': {
      const s = sigmoid64(x);
      return s * (1 - s);
    }
    case 'softplus':
      return sigmoid64(x);
    case 'gelu':
      return normalCdf64(x) + x * normalPdf64(x);
    default:
      throw new Error(`activationDerivative64: unknown activation '${String(act)}'`);
  }
}

/** y = act(x), elementwise: x (n) -> y (n). */
export function activationForward64(
  x: ArrayLike<number>,
  act: Activation,
  alpha = defaultAlpha(act),
): Float64Array {
  return Float64Array.from(x, (v) => activation64(act, v, alpha));
}

/** dx = dy * act'(x): dy, x (n) -> dx (n). */
export function activationBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  act: Activation,
  alpha = defaultAlpha(act),
): Float64Array {
  if (dy.length !== x.length) {
    throw new Error(`activationBackward64: dy has ${dy.length} values, x has ${x.length}`);
  }
  return Float64Array.from(x, (v, i) => dy[i]! * activationDerivative64(act, v, alpha));
}

/** What follows a fused linear or conv layer: an activation (default identity). */
export interface Epilogue64 {
  act?: Activation;
  alpha?: number;
}

/** y = act(pre) of a fused layer, as a new array (a copy of pre for identity). */
export function applyEpilogue64(pre: Float64Array, e: Epilogue64 = {}): Float64Array {
  const act = e.act ?? 'identity';
  if (act === 'identity') return pre.slice();
  return activationForward64(pre, act, e.alpha ?? defaultAlpha(act));
}

/** d pre of a fused layer from dy and its pre-activation (a copy of dy for identity). */
export function epilogueBackward64(
  dy: ArrayLike<number>,
  pre: ArrayLike<number>,
  e: Epilogue64 = {},
): Float64Array {
  const act = e.act ?? 'identity';
  if (act === 'identity') return Float64Array.from(dy);
  return activationBackward64(dy, pre, act, e.alpha ?? defaultAlpha(act));
}
