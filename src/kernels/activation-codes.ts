// Activation codes shared with shaders/activation_fns.wgsl (ACT_* constants there).
/** The activations the kernels implement (PyTorch semantics), with their codes in the WGSL. */
export const ACTIVATIONS = {
  identity: 0,
  relu: 1,
  leaky_relu: 2,
  elu: 3,
  tanh: 4,
  sigmoid: 5,
  softplus: 6,
  gelu: 7,
} as const;

/** An activation name: identity, relu, leaky_relu, elu, tanh, sigmoid, softplus or gelu. */
export type Activation = keyof typeof ACTIVATIONS;

/** Default alpha for leaky_relu (PyTorch: 0.01) and elu (PyTorch: 1.0). */
export function defaultAlpha(act: Activation): number {
  return act === 'leaky_relu' ? 0.01 : act === 'elu' ? 1.0 : 0;
}

export function activationCode(act: Activation): number {
  const code = ACTIVATIONS[act];
  if (code === undefined) {
    throw new Error(
      `unknown activation '${String(act)}' (known: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return code;
}
