// Model and trainer: create a model, train it, evaluate it, save it.
import {
  createRuntime,
  encodeCheckpoint,
  Evaluator,
  formatMetrics,
  generateSynthetic,
  learningRateAt,
  Trainer,
  VaeModel,
  type Dataset,
  type EpochReport,
  type VaeConfig,
} from 'webgpu-vae';

export async function trainExample(): Promise<Uint8Array> {
  const rt = await createRuntime();
  const config: VaeConfig = {
    inputSize: 2,
    latentSize: 2,
    encoder: { hidden: [16], activation: 'tanh' },
    decoder: { hidden: [16], activation: 'tanh' },
    likelihood: { kind: 'gaussian-learned' },
  };
  const model = VaeModel.create(rt, config, { seed: 1 });
  const points = generateSynthetic('figure-eight', { count: 2000, seed: 2 });
  const train: Dataset = { images: points.data.subarray(0, 1500 * 2), count: 1500 };
  const test: Dataset = { images: points.data.subarray(1500 * 2), count: 500 };
  // The learning rate the cosine schedule gives at step 50 of 75.
  console.log(learningRateAt({ kind: 'cosine' }, 1e-2, 50, { stepsPerEpoch: 15, totalSteps: 75 }));
  const trainer = await Trainer.create(model, {
    batchSize: 100,
    lr: 1e-2,
    schedule: { kind: 'cosine' },
    // The decoder learns at a tenth of the rate; the log-sigma head is frozen.
    groups: [
      { params: ['decoder.logsigma.weight', 'decoder.logsigma.bias'], frozen: true },
      { params: /^decoder\./, lr: 1e-3 },
    ],
    seed: 3,
  });
  const reports: EpochReport[] = await trainer.fit(train, {
    epochs: 5,
    test,
    onStep: (r) => console.log(`step ${r.step}: loss ${r.loss.toFixed(3)}`),
    onEpoch: (r) => console.log(`epoch ${r.epoch}: test ${r.test ? formatMetrics(r.test) : '-'}`),
  });
  const metrics = await trainer.evaluate(test);
  const { logPx } = await trainer.logLikelihood(test, { k: 100 });
  console.log(reports.length, metrics.values.elbo, logPx);
  // Evaluation without a trainer (e.g. of a loaded checkpoint):
  const evaluator = new Evaluator(model, { batchSize: 250 });
  console.log((await evaluator.logLikelihood(test, { k: 1000, chunk: 250 })).logPx);
  evaluator.destroy();
  const bytes = await model.toCheckpoint(await trainer.optimizerState());
  // The same file, built by hand from the weights:
  encodeCheckpoint({
    params: await model.readWeights().then(toTensors(model)),
    config: model.config,
  });
  trainer.destroy();
  model.destroy();
  rt.destroy();
  return bytes;
}

const toTensors = (model: VaeModel) => (weights: Map<string, Float32Array>) =>
  [...weights].map(
    ([name, data]) => [name, { shape: model.layout.get(name)!.shape, data }] as const,
  );
