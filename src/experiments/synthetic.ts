// The lecture notes' synthetic 2-D experiments (issue 12), at the notes' settings (settings.ts):
// five sets, each trained with one posterior kind, then measured on a held-out test set (the ELBO, log p(x) by
// importance sampling, and its gap to the set's exact log-density) and drawn as the notes' figures
// (data, generative samples, reconstructions of the test set). The CLI's `experiment` command runs
// them; the demo's synthetic panel offers the same posteriors.
import { generateSynthetic, syntheticLogDensity, type SyntheticName } from '../data/synthetic.js';
import { createRng } from '../data/rng.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { VaeInference } from '../vae/inference.js';
import { VaeModel } from '../vae/model.js';
import {
  EXPERIMENT_BATCH,
  EXPERIMENT_LOGPX_SAMPLES,
  EXPERIMENT_LR,
  EXPERIMENT_POSTERIOR_NAMES,
  EXPERIMENT_POSTERIORS,
  SYNTHETIC_EXPERIMENTS,
  TEST_FRACTION,
  experimentModel,
  type ExperimentPosterior,
} from './settings.js';
import { Trainer, type EpochReport } from '../vae/trainer.js';

/** Options of {@link runSyntheticExperiment}. */
export interface ExperimentOptions {
  /** Passes over the training set (default: the notes' epochs for the set). */
  epochs?: number;
  /** Training points (default: the notes' count for the set); the test set is a tenth of it. */
  count?: number;
  /** Seed of the data, the weights, the shuffle and the noise (default 0). */
  seed?: number;
  /** Importance samples for the test log p(x) (default 1000). */
  k?: number;
  /** Called after every epoch. */
  onEpoch?: (report: EpochReport) => void;
}

/** Per test point averages, in nats. */
export interface ExperimentScores {
  /** The ELBO (one posterior draw per point). */
  elbo: number;
  /** log p(x), importance-sampled with `k` samples (a lower bound that tightens with k). */
  logPx: number;
  /** The exact log p(x) of the generating process. */
  exactLogPx: number;
}

/** What one experiment measured, and the points its figure draws (each row-major (n, 2)). */
export interface ExperimentResult {
  name: SyntheticName;
  posterior: ExperimentPosterior;
  epochs: number;
  /** Training points. */
  count: number;
  k: number;
  test: ExperimentScores;
  /** Test points. */
  testCount: number;
  /** Training time (GPU included), seconds. */
  seconds: number;
  reports: EpochReport[];
  figure: {
    /** The first `samples` training points. */
    data: Float32Array;
    /** x ~ p(x|z) p(z): decoder means plus σ-scaled noise. */
    samples: Float32Array;
    /** Decoder means at the posterior's location for every test point. */
    reconstructions: Float32Array;
  };
}

/**
 * Draws n points x ~ p(x|z), z ~ p(z) from a 2-D model with a learned-σ decoder: the decoder's
 * mean and σ come from the GPU, the Gaussian noise that scales σ from a seeded CPU stream (a
 * figure's worth of values).
 */
export async function sampleObservations(
  inference: VaeInference,
  n: number,
  seed: number,
): Promise<Float32Array> {
  const mean = await inference.sample(n, { seed });
  const plusSigma = await inference.sample(n, { seed, alpha: 1 });
  const noise = createRng(seed ^ 0x0b5e);
  return mean.images.map((m, i) => m + (plusSigma.images[i]! - m) * noise.normal());
}

/**
 * Trains the notes' model with one posterior on one synthetic set and measures it on held-out
 * points of the same process. The runtime stays the caller's; everything else is freed.
 */
export async function runSyntheticExperiment(
  rt: GpuRuntime,
  name: SyntheticName,
  posterior: ExperimentPosterior,
  options: ExperimentOptions = {},
): Promise<ExperimentResult> {
  const setting = SYNTHETIC_EXPERIMENTS[name];
  if (!setting) throw new Error(`experiment: unknown set '${String(name)}'`);
  const choice = EXPERIMENT_POSTERIORS[posterior];
  if (!choice) {
    throw new Error(
      `experiment: unknown posterior '${String(posterior)}' (known: ${EXPERIMENT_POSTERIOR_NAMES.join(', ')})`,
    );
  }
  const epochs = options.epochs ?? setting.epochs;
  if (!Number.isInteger(epochs) || epochs < 0) {
    throw new Error(`experiment: epochs must be an integer >= 0, got ${epochs}`);
  }
  const k = options.k ?? EXPERIMENT_LOGPX_SAMPLES;
  const seed = options.seed ?? 0;
  const count = options.count ?? setting.count;
  if (!Number.isInteger(count) || count < 10) {
    throw new Error(`experiment: count must be an integer >= 10, got ${count}`);
  }
  const testCount = Math.round(count * TEST_FRACTION);
  const { noiseVariance } = setting;
  const train = generateSynthetic(name, { count, seed, noiseVariance });
  const test = generateSynthetic(name, { count: testCount, seed: seed + 1, noiseVariance });
  const model = VaeModel.create(rt, experimentModel(choice.section), {
    seed: seed + 2,
    label: `experiment.${name}.${posterior}`,
  });
  let trainer: Trainer | undefined;
  let inference: VaeInference | undefined;
  try {
    trainer = await Trainer.create(model, {
      batchSize: EXPERIMENT_BATCH,
      lr: EXPERIMENT_LR,
      seed: seed + 3,
      // One readback every 50 steps: the metrics are for progress only, the test scores below.
      readEvery: 50,
    });
    const started = performance.now();
    const reports = await trainer.fit(
      { images: train.data, count: train.count },
      { epochs, ...(options.onEpoch ? { onEpoch: options.onEpoch } : {}) },
    );
    const seconds = (performance.now() - started) / 1000;
    const testSet = { images: test.data, count: test.count };
    const metrics = await trainer.evaluate(testSet, 500);
    const { logPx } = await trainer.logLikelihood(testSet, { k, seed: seed + 4 });
    const exact = syntheticLogDensity(test, test.data);
    const elbo = metrics.values.elbo;
    if (elbo === undefined) throw new Error('experiment: the objective reported no elbo metric');
    inference = VaeInference.create(model, { batchSizes: [1024] });
    const samples = await sampleObservations(inference, setting.samples, seed + 5);
    const reconstructions = (await inference.reconstruct(test.data, test.count)).images;
    return {
      name,
      posterior,
      epochs,
      count,
      k,
      test: { elbo, logPx, exactLogPx: exact.reduce((s, v) => s + v, 0) / exact.length },
      testCount,
      seconds,
      reports,
      figure: {
        data: train.data.slice(0, Math.min(count, setting.samples) * 2),
        samples,
        reconstructions,
      },
    };
  } finally {
    inference?.destroy();
    trainer?.destroy();
    model.destroy();
  }
}
