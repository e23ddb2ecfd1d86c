// What `eval` reports for a vq model besides the trainer's metrics: the test set's
// reconstructions (the decode of each image's codes) scored per image by squared error and by
// Bernoulli cross-entropy against the pixel intensities, whatever the likelihood, and the
// codebook's use over the whole set (the perplexity of the code frequencies and the fraction of
// codes in use). The trainer's usage metrics average one value per batch, so they depend on the
// batch size; these do not.
import { codeUsage } from '../vae/code-usage.js';
import { VaeInference } from '../vae/inference.js';
import type { VaeModel } from '../vae/model.js';
import type { Dataset } from '../vae/trainer.js';

export interface VqEvaluation {
  /** Σ (x − x̂)² per image, averaged over the images. */
  mse: number;
  /** −Σ [x log x̂ + (1 − x) log(1 − x̂)] per image (x̂ clamped to [1e-6, 1 − 1e-6]). */
  bce: number;
  /** exp(entropy) of the frequencies of the codes over every vector of every image. */
  perplexity: number;
  /** Codes used at least once, and that count over the codebook's size. */
  codesInUse: number;
  codesUsed: number;
  examples: number;
}

/** Squared error and Bernoulli cross-entropy per image of reconstructions of n images of D. */
export function reconstructionErrors(
  x: Float32Array,
  recon: Float32Array,
  n: number,
  D: number,
): { mse: number; bce: number } {
  let se = 0;
  let bce = 0;
  for (let i = 0; i < n * D; i++) {
    const [t, r] = [x[i]!, recon[i]!];
    se += (t - r) ** 2;
    const p = Math.min(1 - 1e-6, Math.max(1e-6, r));
    bce -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
  }
  return { mse: se / n, bce: bce / n };
}

/** The reconstruction errors and code usage of a vq model over a dataset. */
export async function evaluateVq(model: VaeModel, data: Dataset): Promise<VqEvaluation> {
  const posterior = model.config.posterior;
  if (posterior.kind !== 'vq') throw new Error(`evaluateVq: posterior is '${posterior.kind}'`);
  const D = model.config.inputSize;
  const x = data.images.subarray(0, data.count * D);
  const inference = VaeInference.create(model);
  try {
    const conditioned = model.config.condition.kind === 'label';
    const r = await inference.reconstruct(
      x,
      data.count,
      conditioned && data.labels ? { labels: Array.from(data.labels).slice(0, data.count) } : {},
    );
    const usage = codeUsage(r.codes, posterior.codes);
    return {
      ...reconstructionErrors(x, r.images, data.count, D),
      perplexity: usage.perplexity,
      codesInUse: usage.inUse,
      codesUsed: usage.used,
      examples: data.count,
    };
  } finally {
    inference.destroy();
  }
}
