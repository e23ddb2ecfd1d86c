// The settings of the lecture notes' synthetic 2-D experiments: per set, the size, noise and
// epochs; the model, the optimiser, and the posteriors compared. Plain data (no GPU code), so menus
// and argument parsing can import it.
import type { SyntheticName } from '../data/synthetic.js';
import type { VaeConfig } from '../vae/config.js';
import type { PosteriorConfig } from '../vae/kinds.js';

/** One set as the notes train it. */
export interface SyntheticExperiment {
  /** Training points. */
  count: number;
  /** σ² of the set's additive noise. */
  noiseVariance: number;
  /** Passes over the training set. */
  epochs: number;
  /** Generative samples drawn for the figure. */
  samples: number;
}

/**
 * The notes' settings per set. The notes give 20,000 points for the Gaussian sets and 40,000 for
 * the figure-eight, σ² = 0.2 except the figure-eight's 0.02, and the epochs; the blobs and the
 * mixture take the Gaussians' 20,000 points and σ² = 0.2 (the notes do not restate them). The
 * figures draw as many generative samples as half the training points (10,000; 20,000 for the
 * figure-eight).
 */
export const SYNTHETIC_EXPERIMENTS: Readonly<Record<SyntheticName, SyntheticExperiment>> = {
  'stretched-gaussian': { count: 20000, noiseVariance: 0.2, epochs: 20, samples: 10000 },
  'rotated-gaussian': { count: 20000, noiseVariance: 0.2, epochs: 50, samples: 10000 },
  'figure-eight': { count: 40000, noiseVariance: 0.02, epochs: 200, samples: 20000 },
  'three-blobs': { count: 20000, noiseVariance: 0.2, epochs: 200, samples: 10000 },
  'rotated-gaussians': { count: 20000, noiseVariance: 0.2, epochs: 400, samples: 10000 },
};

/** The notes' optimisation: batch 32, Adam at lr 1e-3. */
export const EXPERIMENT_BATCH = 32;
export const EXPERIMENT_LR = 1e-3;
/** Held-out points per training point (a tenth), drawn from the same process with another seed. */
export const TEST_FRACTION = 0.1;
/** Importance samples for the test log p(x), as the issue asks. */
export const EXPERIMENT_LOGPX_SAMPLES = 1000;

/**
 * The posteriors the experiments compare, with the notes' settings (planar K = 8, IAF K = 4), how menus name
 * them, and their model-description section. The demo's synthetic panel offers the same ones.
 */
export const EXPERIMENT_POSTERIORS = {
  diagonal: { text: 'diagonal Gaussian', section: { kind: 'diagonal' } },
  full: { text: 'full covariance (z = μ + L·ε)', section: { kind: 'full' } },
  planar: { text: 'planar flow (K = 8)', section: { kind: 'planar', steps: 8, amortized: false } },
  // The MADE: one ELU layer of 32 on [z, h], a context h of 4.
  iaf: {
    text: 'inverse autoregressive flow (K = 4)',
    section: { kind: 'iaf', steps: 4, hidden: [32], context: 4, activation: 'elu' },
  },
} as const satisfies Record<string, { text: string; section: PosteriorConfig }>;
export type ExperimentPosterior = keyof typeof EXPERIMENT_POSTERIORS;
export const EXPERIMENT_POSTERIOR_NAMES = Object.keys(
  EXPERIMENT_POSTERIORS,
) as readonly ExperimentPosterior[];

/**
 * The notes' model for a posterior: latent dimension 2, encoder and decoder of two dense layers of
 * 128 (tanh: the notes do not name the activation; a smooth one suits 2-D densities), and a
 * Gaussian decoder that learns its σ per output.
 */
export function experimentModel(posterior: PosteriorConfig): VaeConfig {
  return {
    version: 2,
    inputSize: 2,
    latentSize: 2,
    encoder: { hidden: [128, 128], activation: 'tanh' },
    posterior,
    decoder: { hidden: [128, 128], activation: 'tanh' },
    likelihood: { kind: 'gaussian-learned' },
  };
}
