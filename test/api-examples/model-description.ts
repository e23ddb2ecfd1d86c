// Model description: a VAE as plain data, validated and completed with defaults.
import {
  ACTIVATIONS,
  convVaePreset,
  MAX_LATENT_SIZE,
  resolveVaeConfig,
  type Activation,
  type ResolvedVaeConfig,
  type VaeConfig,
} from 'webgpu-vae';

/** The pytorch/examples MNIST VAE: 784-400-20, ReLU, Bernoulli. */
export const mlp: VaeConfig = {
  inputSize: 784,
  latentSize: 20,
  encoder: { hidden: [400], activation: 'relu' },
  decoder: { hidden: [400], activation: 'relu' },
  likelihood: { kind: 'bernoulli' },
};

/** A β-VAE with a capacity objective and a learned-σ Gaussian decoder. */
export const betaVae: VaeConfig = {
  ...mlp,
  latentSize: 10,
  likelihood: { kind: 'gaussian-learned' },
  beta: 4,
  capacity: { max: 25, steps: 10_000 },
};

/** The conv VAE for 28×28 images, with 8 latent dimensions. */
export const conv: VaeConfig = convVaePreset(8);

export function describe(config: VaeConfig): string {
  const resolved: ResolvedVaeConfig = resolveVaeConfig(config); // throws naming a bad field
  const activations = Object.keys(ACTIVATIONS) as Activation[];
  return `${resolved.latentSize}/${MAX_LATENT_SIZE} latents, beta ${resolved.beta}, one of ${activations.join(', ')}`;
}
