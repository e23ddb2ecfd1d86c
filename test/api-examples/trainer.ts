// Model and trainer: create a model, train it, evaluate it, save it.
import {
  createRuntime,
  decodeSafetensors,
  encodeCheckpoint,
  Evaluator,
  formatMetrics,
  generateSynthetic,
  learningRateAt,
  Optimizer,
  PYTORCH_EXAMPLES_VAE,
  renameTensor,
  Trainer,
  TrainingError,
  VaeModel,
  weightsFromStateDict,
  type Dataset,
  type EpochReport,
  type FlatParam,
  type OptimizerOptions,
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
  let reports: EpochReport[];
  try {
    reports = await trainer.fit(train, {
      epochs: 5,
      test,
      onStep: (r) => console.log(`step ${r.step}: loss ${r.loss.toFixed(3)}`),
      onSkip: (r) =>
        console.warn(`${r.count} step(s) up to ${r.last} skipped: non-finite gradient`),
      onEpoch: (r) => console.log(`epoch ${r.epoch}: test ${r.test ? formatMetrics(r.test) : '-'}`),
    });
  } catch (error) {
    // A lost device or a failed readback names the step; the weights of the last step stand.
    if (error instanceof TrainingError) console.error(error.message, 'at step', trainer.step);
    throw error;
  }
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

/**
 * The VAE of pytorch/examples trained in PyTorch, its state_dict saved with
 * `safetensors.torch.save_file(model.state_dict(), 'vae.safetensors')`: no conversion script.
 */
export async function pytorchWeightsExample(bytes: Uint8Array): Promise<VaeModel> {
  const rt = await createRuntime();
  const { tensors } = decodeSafetensors(bytes, { source: 'vae.safetensors' });
  const { config, rename } = PYTORCH_EXAMPLES_VAE; // fc1 -> encoder.0, fc21 -> encoder.mu, ...
  console.log(renameTensor('fc21.weight', rename)); // 'encoder.mu.weight'
  // Names saved from nn.DataParallel start with 'module.': strip it, then rename.
  const toOurs = (name: string) => renameTensor(name.replace(/^module\./, ''), rename);
  // Checked before anything reaches the GPU: every tensor present, none extra, each shape ours.
  const weights = weightsFromStateDict(config, tensors, {
    rename: toOurs,
    source: 'vae.safetensors',
  });
  // Names that need only the map load in one call: VaeModel.fromStateDict(rt, config, tensors,
  // { rename }); it runs weightsFromStateDict, then VaeModel.create.
  return VaeModel.create(rt, config, { weights });
}

/**
 * The optimizer on its own, for gradients computed elsewhere (a Trainer makes and drives its own):
 * AdamW with clipping, the encoder frozen, no weight decay on biases.
 */
export async function optimizerExample(
  model: VaeModel,
  gradients: ReadonlyMap<string, Float32Array>,
): Promise<Map<string, Float32Array>> {
  const rt = model.rt;
  const params: FlatParam[] = model.flatParams(); // where each tensor lies in the flat buffers
  const options: OptimizerOptions = {
    lr: 1e-3,
    weightDecay: 1e-2,
    decoupled: true,
    maxNorm: 1,
    groups: [
      { params: /^encoder\./, frozen: true },
      { params: (name) => name.endsWith('.bias'), weightDecay: 0 },
    ],
  };
  const paramsRange = { buffer: model.params, offset: 0, size: model.flatSize * 4 };
  const optimizer = await Optimizer.create(rt, paramsRange, model.flatSize, params, options);
  // The gradients in the flat layout; a frozen parameter's stay 0 (the clipping norm covers all).
  const flat = model.flatten(
    new Map(
      [...gradients].map(([name, g]) => [
        name,
        optimizer.trains(name) ? g : new Float32Array(g.length),
      ]),
    ),
    'gradients',
  );
  rt.device.queue.writeBuffer(optimizer.grads.buffer, optimizer.grads.offset, flat);
  // One step at the cosine schedule's rate for this step (every group's lr scales alike).
  const context = { stepsPerEpoch: 100, totalSteps: 1000 };
  optimizer.setStep(learningRateAt({ kind: 'cosine' }, optimizer.baseLr, optimizer.step, context));
  rt.submit([optimizer.program], 'example.adam');
  optimizer.advance();
  console.log(optimizer.step, optimizer.trains('encoder.0.weight')); // 1 false
  const weights = await model.readWeights();
  optimizer.destroy();
  return weights;
}
