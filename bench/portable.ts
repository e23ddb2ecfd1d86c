// What the bench scripts that also run in an older tree share (bench/step-vs-parent.ts copies this
// file beside them into the parent commit's tree): the option reader and the MLP VAE, written out
// rather than imported from bench/browser/ so that nothing else of this tree is needed there. A
// config without `version` is the first format, which every tree reads; the conv VQ-VAE is
// version 2 (trees before posterior.grid refuse it, naming the field).
import type { VaeConfig } from '../src/vae/config.js';

/** The value after `--name` on the command line, or the fallback. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** The pytorch/examples VAE: 784-400-20, ReLU, Bernoulli, summed over the batch. */
export const MLP_VAE: VaeConfig = {
  inputSize: 784,
  latentSize: 20,
  encoder: { hidden: [400], activation: 'relu' },
  decoder: { hidden: [400], activation: 'relu' },
  likelihood: { kind: 'bernoulli' },
  reduction: 'sum',
};

/** convVqPreset(64, 16) written out (older trees have no convVqPreset to import). */
export const CONV_VQ: VaeConfig = {
  version: 2,
  inputSize: 784,
  inputShape: [1, 28, 28],
  latentSize: 16 * 49,
  encoder: {
    conv: [
      { channels: 32, kernel: 4, stride: 2, padding: 1 },
      { channels: 64, kernel: 4, stride: 2, padding: 1 },
    ],
    hidden: [],
    activation: 'relu',
  },
  posterior: {
    kind: 'vq',
    codes: 64,
    dim: 16,
    grid: true,
    update: 'ema',
    decay: 0.99,
    restart: { threshold: 0.9 },
  },
  decoder: {
    hidden: [],
    deconv: [
      { channels: 32, kernel: 4, stride: 2, padding: 1 },
      { channels: 1, kernel: 4, stride: 2, padding: 1 },
    ],
    activation: 'relu',
  },
  likelihood: { kind: 'bernoulli' },
};

/** The activation a model description names for its layers. */
type LayerActivation = NonNullable<VaeConfig['encoder']['activation']>;

/**
 * Semi-supervised M2 at the paper's sizes (Kingma et al. 2014): q(z|x,y), p(x|z,y) and q(y|x)
 * each one hidden layer of `hidden` softplus units, latent 50, ten classes, α the library's
 * default unless `alpha` is given (bench/m2.ts's model; bench/step-kernels.ts --model m2).
 */
export function paperM2(
  o: { hidden?: number; latent?: number; activation?: LayerActivation; alpha?: number } = {},
): VaeConfig {
  const layer = { hidden: [o.hidden ?? 500], activation: o.activation ?? 'softplus' };
  return {
    version: 2,
    inputSize: 784,
    latentSize: o.latent ?? 50,
    encoder: layer,
    decoder: layer,
    objective: {
      kind: 'm2',
      classifier: layer,
      ...(o.alpha === undefined ? {} : { alpha: o.alpha }),
    },
    condition: { kind: 'label', classes: 10 },
  };
}
