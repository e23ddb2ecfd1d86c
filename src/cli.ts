#!/usr/bin/env node
// webgpu-vae train | eval | sample: the command line around the library (Node only).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCheckpointFile, writeCheckpointFile } from './checkpoint/file.js';
import { binarizeInto } from './data/idx.js';
import { loadIdxDataset } from './data/idx-node.js';
import { loadEmbeddedDigits } from './data/embedded.js';
import { createRng } from './data/rng.js';
import { createRuntime, type GpuRuntime } from './gpu/runtime.js';
import { imageGrid } from './image/grid.js';
import { encodePng } from './image/png.js';
import {
  parseCliArgs,
  usage,
  type EvalOptions,
  type SampleOptions,
  type TrainOptions,
} from './cli/args.js';
import { createProgress } from './cli/progress.js';
import { reconstruct } from './cli/render.js';
import type { VaeConfig } from './vae/config.js';
import { VaeInference } from './vae/inference.js';
import { VaeModel } from './vae/model.js';
import { formatMetrics } from './vae/metrics.js';
import { Trainer, type Dataset } from './vae/trainer.js';

const log = (message: string) => process.stdout.write(`${message}\n`);

interface Splits {
  train: Dataset;
  test: Dataset;
  side: number;
  source: string;
}

async function loadData(dir: string | undefined): Promise<Splits> {
  if (dir === undefined) {
    const digits = await loadEmbeddedDigits();
    return {
      train: { images: digits.train.images, count: digits.train.count },
      test: { images: digits.test.images, count: digits.test.count },
      side: 28,
      source: `the embedded digits (${digits.train.count} train / ${digits.test.count} test)`,
    };
  }
  const splits = loadIdxDataset(dir);
  return {
    train: { images: splits.train.images, count: splits.train.count },
    test: { images: splits.test.images, count: splits.test.count },
    side: splits.train.rows,
    source: `${dir} (${splits.train.count} train / ${splits.test.count} test)`,
  };
}

async function runtime(adapter: TrainOptions['adapter']): Promise<GpuRuntime> {
  const rt = await createRuntime({
    adapter,
    onError: (e) => process.stderr.write(`${e.message}\n`),
  });
  log(`adapter: ${rt.info.name} (${rt.info.kind})`);
  return rt;
}

async function writeGrid(
  path: string,
  images: Float32Array,
  n: number,
  side: number,
): Promise<void> {
  const grid = imageGrid(images, n, side, side, { columns: Math.ceil(Math.sqrt(n)) });
  await writeFile(path, encodePng(grid.pixels, grid.width, grid.height, 1));
}

async function writeSamples(
  model: VaeModel,
  path: string,
  count: number,
  side: number,
  seed: number,
  temperature = 1,
): Promise<void> {
  const rng = createRng(seed);
  const z = new Float32Array(count * model.config.latentSize).map(() => temperature * rng.normal());
  const inference = VaeInference.create(model);
  try {
    await writeGrid(path, await inference.decode(z, count), count, side);
  } finally {
    inference.destroy();
  }
}

async function train(o: TrainOptions): Promise<void> {
  const seed = o.seed ?? 0;
  const data = await loadData(o.data);
  const D = data.side * data.side;
  log(`data: ${data.source}`);
  if (o.binarize === 'static') {
    // One fixed Bernoulli draw of every pixel (statically binarized MNIST).
    const rng = createRng(seed + 7);
    for (const split of [data.train, data.test]) {
      const copy = new Float32Array(split.count * D);
      binarizeInto(split.images, copy, rng, copy.length);
      split.images = copy;
    }
  }
  const rt = await runtime(o.adapter);
  let model: VaeModel;
  let resumeState;
  if (o.resume) {
    const ckpt = await readCheckpointFile(o.resume);
    model = VaeModel.fromDecoded(rt, ckpt, o.resume);
    resumeState = ckpt.optimizer;
    log(`resumed from ${o.resume} (step ${resumeState?.step ?? 0})`);
  } else {
    const config: VaeConfig = {
      inputSize: D,
      latentSize: o.latent,
      encoder: { hidden: o.hidden, activation: o.activation },
      decoder: { hidden: [...o.hidden].reverse(), activation: o.activation },
      likelihood: o.likelihood,
      beta: o.beta,
      ...(o.capacity ? { capacity: o.capacity } : {}),
    };
    model = VaeModel.create(rt, config, { seed });
  }
  if (model.config.inputSize !== D) {
    throw new Error(
      `the model takes ${model.config.inputSize} values per example, the data has ${D}`,
    );
  }
  const trainer = await Trainer.create(model, {
    batchSize: o.batch,
    lr: o.lr,
    schedule: o.schedule,
    seed,
  });
  if (resumeState) trainer.loadOptimizerState(resumeState);
  await mkdir(o.out, { recursive: true });
  const checkpointPath = join(o.out, 'model.safetensors');
  const stepsPerEpoch = Math.ceil(data.train.count / o.batch);
  let lastLoss: number | undefined;
  let progress = createProgress({ total: stepsPerEpoch, label: 'train', epochs: o.epochs });
  let epochStart = performance.now();
  log(
    `model: ${D}-${model.config.encoder.hidden.join('-')}${model.config.encoder.hidden.length ? '-' : ''}${model.config.latentSize} ` +
      `${model.config.likelihood.kind}, ${model.flatSize} floats of parameters; batch ${o.batch}, Adam lr ${o.lr}`,
  );
  await trainer.fit(data.train, {
    epochs: o.epochs,
    test: data.test,
    binarize: o.binarize === 'dynamic' ? 'dynamic' : 'none',
    shuffleSeed: seed,
    onStep: (r) => {
      lastLoss = r.loss;
    },
    onSubmit: (_step, epoch, stepInEpoch) => {
      if (o.quiet) return;
      if (stepInEpoch === 1) epochStart = performance.now();
      const seconds = (performance.now() - epochStart) / 1000;
      progress.update({
        step: stepInEpoch,
        epoch,
        ...(lastLoss !== undefined ? { loss: lastLoss } : {}),
        ...(stepInEpoch > 1 && seconds > 0 ? { stepsPerSecond: (stepInEpoch - 1) / seconds } : {}),
      });
    },
    onEpoch: (r) => {
      if (!o.quiet) progress.done();
      log(
        `epoch ${r.epoch}/${o.epochs}: train ${formatMetrics(r.train)}, ` +
          `test ${formatMetrics(r.test!)}; ` +
          `${r.seconds.toFixed(1)} s, ${r.stepsPerSecond.toFixed(1)} steps/s`,
      );
      progress = createProgress({ total: stepsPerEpoch, label: 'train', epochs: o.epochs });
    },
  });
  const optimizer = await trainer.optimizerState();
  const weights = await model.readWeights();
  await writeCheckpointFile(checkpointPath, {
    params: [...weights].map(
      ([name, d]) => [name, { shape: model.layout.get(name)!.shape, data: d }] as const,
    ),
    config: model.config,
    optimizer,
  });
  log(`checkpoint: ${checkpointPath}`);
  if (Number.isInteger(Math.sqrt(D))) {
    const side = Math.sqrt(D);
    await writeSamples(model, join(o.out, 'samples.png'), 64, side, seed + 1);
    const n = Math.min(32, data.test.count);
    const recon = await reconstruct(model, data.test, n, seed);
    // Pairs: each test image followed by its reconstruction.
    const pairs = new Float32Array(2 * n * D);
    for (let i = 0; i < n; i++) {
      pairs.set(data.test.images.subarray(i * D, (i + 1) * D), 2 * i * D);
      pairs.set(recon.subarray(i * D, (i + 1) * D), (2 * i + 1) * D);
    }
    const grid = imageGrid(pairs, 2 * n, side, side, { columns: 16 });
    await writeFile(
      join(o.out, 'reconstructions.png'),
      encodePng(grid.pixels, grid.width, grid.height, 1),
    );
    log(`images: ${join(o.out, 'samples.png')}, ${join(o.out, 'reconstructions.png')}`);
  }
  trainer.destroy();
  model.destroy();
  rt.device.destroy();
}

async function evaluate(o: EvalOptions): Promise<void> {
  const rt = await runtime(o.adapter);
  const ckpt = await readCheckpointFile(o.checkpoint);
  const model = VaeModel.fromDecoded(rt, ckpt, o.checkpoint);
  const data = await loadData(o.data);
  const D = data.side * data.side;
  if (model.config.inputSize !== D) {
    throw new Error(
      `${o.checkpoint}: the model takes ${model.config.inputSize} values per example, the data has ${D}`,
    );
  }
  const test: Dataset = o.limit
    ? { images: data.test.images, count: Math.min(o.limit, data.test.count) }
    : data.test;
  const trainer = await Trainer.create(model, { batchSize: o.batch, seed: o.seed ?? 0 });
  const m = await trainer.evaluate(test);
  log(`test (${test.count} examples, ${data.source}):`);
  log(`  ${formatMetrics(m, 3)} nats`);
  const started = performance.now();
  const ll = await trainer.logLikelihood(test, {
    k: o.k,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  });
  log(
    `  log p(x) ≈ ${ll.logPx.toFixed(3)} nats (importance-sampled, k = ${o.k}; ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  trainer.destroy();
  model.destroy();
  rt.device.destroy();
}

async function sample(o: SampleOptions): Promise<void> {
  const rt = await runtime(o.adapter);
  const ckpt = await readCheckpointFile(o.checkpoint);
  const model = VaeModel.fromDecoded(rt, ckpt, o.checkpoint);
  const side = Math.sqrt(model.config.inputSize);
  if (!Number.isInteger(side)) {
    throw new Error(
      `${o.checkpoint}: inputSize ${model.config.inputSize} is not a square image; cannot draw samples`,
    );
  }
  await mkdir(o.out, { recursive: true });
  const path = join(o.out, 'samples.png');
  await writeSamples(model, path, o.count, side, o.seed ?? 0, o.temperature);
  log(`samples: ${path}`);
  model.destroy();
  rt.device.destroy();
}

async function main(argv: string[]): Promise<void> {
  const args = parseCliArgs(argv);
  switch (args.command) {
    case 'help':
      log(usage());
      return;
    case 'train':
      return train(args.options);
    case 'eval':
      return evaluate(args.options);
    case 'sample':
      return sample(args.options);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`webgpu-vae: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
