// Model description: a VAE as plain data, validated and completed with defaults.
import {
  ACTIVATIONS,
  convVaePreset,
  convVqPreset,
  MAX_LATENT_SIZE,
  MODEL_VERSION,
  mlpVaePreset,
  resolveVaeConfig,
  type Activation,
  type ConditionConfig,
  type MaskingConfig,
  type ObjectiveConfig,
  type PosteriorConfig,
  type PriorConfig,
  type ResolvedVaeConfig,
  type VaeConfig,
} from 'webgpu-vae';

/** The pytorch/examples MNIST VAE: 784-400-20, ReLU, Bernoulli. */
export const mlp: VaeConfig = {
  version: MODEL_VERSION,
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
  objective: { kind: 'elbo', beta: 4, capacity: { max: 25, steps: 10_000 }, reduction: 'sum' },
};

/** IWAE training with 5 samples per example (the IWAE paper's architecture). */
const iwae: ObjectiveConfig = { kind: 'iwae', samples: 5, reduction: 'sum' };
export const iwaeVae: VaeConfig = {
  ...mlpVaePreset(50),
  encoder: { hidden: [200, 200], activation: 'tanh' },
  decoder: { hidden: [200, 200], activation: 'tanh' },
  objective: iwae,
};

/** A conditional VAE on the ten digit classes. */
const labels: ConditionConfig = { kind: 'label', classes: 10, inject: 'dense' };
export const cvae: VaeConfig = { ...mlp, condition: labels };

/** A full-covariance posterior q(z|x) = N(μ, L Lᵀ) (heads encoder.mu, encoder.logvar, encoder.lower). */
const full: PosteriorConfig = { kind: 'full' };
export const fullVae: VaeConfig = { ...mlp, posterior: full };

/** Trained for inpainting: a random 7..14 block missing per digit, the mask fed to the encoder. */
const blocks: MaskingConfig = {
  kind: 'block',
  minSize: 7,
  maxSize: 14,
  fill: 0,
  channels: true,
  loss: 'all',
};
export const inpaintingVae: VaeConfig = { ...mlp, masking: blocks };

/** Completing a digit from its left half (Sohn et al.'s task): a prior network p(z|x_obs). */
const leftHalf: ConditionConfig = { kind: 'quadrants', observed: 2, fill: -1 };
const priorNet: PriorConfig = { kind: 'conditional', hidden: [500, 500], activation: 'relu' };
export const completionVae: VaeConfig = { ...mlp, condition: leftHalf, prior: priorNet };

/** The conv VAE for 28×28 images, with 8 latent dimensions. */
export const conv: VaeConfig = convVaePreset(8);

/** The conv VQ-VAE: a 7×7 grid of 16-vectors, each one of 64 codes (encode gives 49 codes). */
export const convVq: VaeConfig = convVqPreset(64, 16);

export function describe(config: VaeConfig): string {
  const resolved: ResolvedVaeConfig = resolveVaeConfig(config); // throws naming a bad field
  const activations = Object.keys(ACTIVATIONS) as Activation[];
  return `${resolved.latentSize}/${MAX_LATENT_SIZE} latents, objective ${resolved.objective.kind}, one of ${activations.join(', ')}`;
}
