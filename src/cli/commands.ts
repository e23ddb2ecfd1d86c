// The commands of the CLI (train, eval, sample; experiment in experiment.ts, inpaint in inpaint.ts,
// complete in complete.ts, reconstruct in reconstruct.ts), run in the process whose native stderr is
// captured (see native-stderr.ts); src/cli.ts parses the arguments and starts it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCheckpointFile, removeStaleTempFiles } from '../checkpoint/file.js';
import { binarizeInto } from '../data/idx.js';
import { createRng } from '../data/rng.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { imageGrid } from '../image/grid.js';
import { encodePngSync } from '../image/png-node.js';
import {
  PROGRAM,
  type CliArgs,
  type EvalOptions,
  type SampleOptions,
  type TrainOptions,
} from './args.js';
import { CheckpointSaver } from './checkpoint-saver.js';
import { loadSplits, resolveDataSource } from './data.js';
import { describeModel, modelConfig, readModelConfig } from './model.js';
import { complete, writeCompletions } from './complete.js';
import { experiment } from './experiment.js';
import { inpaint } from './inpaint.js';
import { trainPrior } from './train-prior.js';
import { reconstructImages } from './reconstruct.js';
import { evaluateVq } from './vq.js';
import { DEFAULT_LR } from '../optim/optimizer.js';
import { describeSchedule } from '../optim/schedule.js';
import { ownStderr } from './native-stderr.js';
import { metricsJson, Output, round, runtime } from './output.js';
import { CliExit, signalStatus, watchInterrupts } from './interrupt.js';
import { createProgress } from './progress.js';
import {
  positionOf,
  readRunRecord,
  resumeCommandLine,
  resumeStart,
  runMetadata,
  savedOptimizerSettings,
  type RunShape,
} from './resume.js';
import { reconstruct } from './render.js';
import { VaeInference } from '../vae/inference.js';
import { VaeModel } from '../vae/model.js';
import { formatMetrics } from '../vae/metrics.js';
import { Trainer, type Dataset } from '../vae/trainer.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../vae/config.js';
import { labeledSubset } from '../data/labeled-subset.js';

/** Where a vq model's prior comes from. */
const PRIOR_HINT = 'a prior must be trained on its codes with train-prior';

async function writePng(
  path: string,
  images: Float32Array,
  n: number,
  side: number,
  columns: number,
) {
  const grid = imageGrid(images, n, side, side, { columns });
  await writeFile(path, encodePngSync(grid.pixels, grid.width, grid.height, 1));
}

/**
 * Samples from the prior into a PNG grid. A conditional model draws them under `label`, or, with
 * no label, one row per class (the columns share their codes, so a column is one style).
 */
async function writeSamples(
  model: VaeModel,
  path: string,
  count: number,
  side: number,
  seed: number,
  temperature = 1,
  label?: number,
): Promise<void> {
  const rng = createRng(seed);
  const Z = model.config.latentSize;
  const condition = model.config.condition;
  const inference = VaeInference.create(model);
  try {
    if (model.config.posterior.kind === 'vq') {
      if (label !== undefined) {
        throw new Error('--label applies only to conditional models (condition label)');
      }
      // Codes drawn from the learned prior (an error naming train-prior when there is none).
      const { images } = await inference.sample(count, { temperature, seed });
      await writePng(path, images, count, side, Math.ceil(Math.sqrt(count)));
      return;
    }
    if (condition.kind === 'label' && label === undefined) {
      const perClass = Math.max(1, Math.ceil(count / condition.classes));
      const codes = new Float32Array(perClass * Z).map(() => temperature * rng.normal());
      const rows = condition.classes * perClass;
      const z = new Float32Array(rows * Z);
      const labels = new Float32Array(rows);
      for (let c = 0; c < condition.classes; c++) {
        z.set(codes, c * perClass * Z);
        labels.fill(c, c * perClass, (c + 1) * perClass);
      }
      const images = await inference.decode(z, rows, { labels });
      await writePng(path, images, rows, side, perClass);
      return;
    }
    if (condition.kind !== 'label' && label !== undefined) {
      throw new Error('--label applies only to conditional models (condition label)');
    }
    const z = new Float32Array(count * Z).map(() => temperature * rng.normal());
    const images = await inference.decode(z, count, label !== undefined ? { labels: label } : {});
    await writePng(path, images, count, side, Math.ceil(Math.sqrt(count)));
  } finally {
    inference.destroy();
  }
}

/** Rows `idx` of a dataset (images and labels). */
function subset(data: Dataset, idx: Uint32Array): Dataset {
  const D = data.images.length / data.count;
  const images = new Float32Array(idx.length * D);
  idx.forEach((i, r) => images.set(data.images.subarray(i * D, (i + 1) * D), r * D));
  const labels = data.labels;
  return labels
    ? { images, count: idx.length, labels: Float32Array.from(idx, (i) => labels[i]!) }
    : { images, count: idx.length };
}

/**
 * The training set of a run: as it is, or for --labels N (objective m2 only) its unlabeled
 * examples with `labeled` the class-balanced labeled subset chosen by the seed.
 */
export function semiSupervised(
  train: Dataset,
  config: ResolvedVaeConfig,
  labels: number | undefined,
  seed: number,
): Dataset {
  if (labels === undefined) return train;
  if (config.objective.kind !== 'm2' || config.condition.kind !== 'label') {
    throw new Error(
      `--labels applies only to semi-supervised models (objective m2); this model's objective is '${config.objective.kind}'`,
    );
  }
  if (!train.labels) throw new Error('--labels: the training data has no labels');
  if (labels >= train.count) {
    throw new Error(
      `--labels ${labels}: the training set has ${train.count} examples; leave some unlabeled`,
    );
  }
  let split;
  try {
    split = labeledSubset(train.labels, labels, config.condition.classes, seed);
  } catch (e) {
    throw new Error(`--labels ${labels}: ${(e as Error).message}`, { cause: e });
  }
  const { images, count } = subset(train, split.unlabeled);
  return { images, count, labeled: subset(train, split.labeled) };
}

/**
 * M2's analogies (Kingma et al. 2014, figure 1): a row per test image, the image and then its
 * style (its code under its predicted label) drawn as every class.
 */
async function writeAnalogies(model: VaeModel, test: Dataset, path: string, side: number) {
  const D = side * side;
  const classes = model.config.condition.kind === 'label' ? model.config.condition.classes : 1;
  const n = Math.min(10, test.count);
  const inference = VaeInference.create(model, { batchSizes: [n * classes] });
  try {
    const { images } = await inference.styleTransfer(test.images.subarray(0, n * D), n);
    const grid = new Float32Array(n * (classes + 1) * D);
    for (let i = 0; i < n; i++) {
      const row = i * (classes + 1) * D;
      grid.set(test.images.subarray(i * D, (i + 1) * D), row);
      grid.set(images.subarray(i * classes * D, (i + 1) * classes * D), row + D);
    }
    await writePng(path, grid, n * (classes + 1), side, classes + 1);
  } finally {
    inference.destroy();
  }
}

async function train(o: TrainOptions, context: CommandContext): Promise<void> {
  const out = new Output(o.json);
  const seed = o.seed ?? 0;
  // A model description is read and checked first: its mistakes need no data or GPU.
  const described = o.config !== undefined ? await readModelConfig(o.config) : undefined;
  const data = await loadSplits(resolveDataSource(o.dataset, o.data));
  const D = data.side * data.side;
  out.log(`data: ${data.source}`);
  if (o.binarize === 'static') {
    // One fixed Bernoulli draw of every pixel (statically binarized MNIST).
    const rng = createRng(seed + 7);
    for (const split of [data.train, data.test]) {
      const copy = new Float32Array(split.count * D);
      binarizeInto(split.images, copy, rng, copy.length);
      split.images = copy;
    }
  }
  // The checkpoint is read (and the resumed run checked) before the GPU is set up.
  const resumed = o.resume !== undefined ? await readCheckpointFile(o.resume) : undefined;
  // M2 with --labels N: N labeled examples by --seed, the rest unlabeled (an epoch is a pass
  // over those); without it every example is labeled.
  const trainSet =
    o.labels === undefined
      ? data.train
      : semiSupervised(
          data.train,
          resolveVaeConfig(
            (resumed?.config as VaeConfig | undefined) ?? described ?? (await modelConfig(o, D)),
          ),
          o.labels,
          seed,
        );
  if (trainSet.labeled) {
    out.log(
      `labels: ${trainSet.labeled.count} labeled examples (an equal share per class, by --seed), ` +
        `${trainSet.count} unlabeled`,
    );
  }
  const stepsPerEpoch = Math.ceil(trainSet.count / o.batch);
  const shape: RunShape = {
    epochs: o.epochs,
    stepsPerEpoch,
    batch: o.batch,
    examples: trainSet.count,
    seed,
    binarize: o.binarize,
  };
  let startStep = 0;
  if (o.resume !== undefined && resumed) {
    const start = resumeStart(
      readRunRecord(resumed.metadata, o.resume),
      resumed.optimizer?.step,
      shape,
      o.resume,
    );
    startStep = start.startStep;
    if (start.note) out.log(`note: ${start.note}`);
  }
  const rt = context.runtime ?? (await runtime(o.adapter, out, o.cpuThreads));
  if (context.runtime) out.log(`adapter: ${rt.info.name} (${rt.info.kind})`);
  let model: VaeModel;
  if (o.resume !== undefined && resumed) {
    model = VaeModel.fromDecoded(rt, resumed, o.resume);
    const { epoch, batch } = positionOf(startStep + 1, stepsPerEpoch);
    out.log(
      `resumed from ${o.resume} (step ${startStep}); continuing at epoch ${epoch}, batch ${batch} of ${stepsPerEpoch}`,
    );
  } else {
    const config = described ?? (await modelConfig(o, D));
    try {
      model = VaeModel.create(rt, config, { seed });
    } catch (e) {
      const where = o.config !== undefined ? `--config ${o.config}` : `--preset ${o.preset}`;
      throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (model.config.inputSize !== D) {
    throw new Error(
      `the model takes ${model.config.inputSize} values per example, the data has ${D}`,
    );
  }
  // A resumed run keeps the checkpoint's learning rate and schedule unless the flags name others.
  const saved =
    o.resume !== undefined && resumed
      ? savedOptimizerSettings(resumed.optimizer?.hyper, o.resume)
      : {};
  const lr = o.lr ?? saved.lr ?? DEFAULT_LR;
  const schedule = o.schedule ?? saved.schedule ?? { kind: 'constant' };
  const trainer = await Trainer.create(model, { batchSize: o.batch, lr, schedule, seed });
  if (resumed?.optimizer) trainer.loadOptimizerState(resumed.optimizer);
  await mkdir(o.out, { recursive: true });
  const checkpointPath = join(o.out, 'model.safetensors');
  // Left by a run killed while writing (kill -9): the checkpoint itself is whole (atomic rename).
  for (const stale of await removeStaleTempFiles(checkpointPath)) {
    out.log(`removed ${stale}, left by a run killed while writing`);
  }
  // A failed checkpoint write stops training (the error is reported, not 'aborted'); so does a
  // stop signal (with `interruption` as the reason).
  const stop = new AbortController();
  const interruption = new Error('interrupted');
  const saver = await CheckpointSaver.create(
    trainer,
    checkpointPath,
    () => stop.abort(),
    (step) => runMetadata({ ...shape, step }),
  );
  let lastLoss: number | undefined;
  const newProgress = () =>
    createProgress({ total: stepsPerEpoch, label: 'train', epochs: o.epochs, stream: ownStderr() });
  let progress = newProgress();
  // Warnings and notices mid-epoch: on stderr, without garbling the progress line.
  const notice = (line: string) => (o.quiet ? ownStderr().write(`${line}\n`) : progress.log(line));
  let epochStart = performance.now();
  out.log(
    `model: ${describeModel(model)}; batch ${o.batch}, Adam lr ${lr}` +
      (schedule.kind === 'constant' ? '' : `, ${describeSchedule(schedule)} schedule`),
  );
  out.log(
    `checkpoint: ${checkpointPath}, after every epoch` +
      (o.saveEvery ? ` and every ${o.saveEvery} steps` : ''),
  );
  // The last whole checkpoint on disk: this run's, or the one it resumed from.
  const lastCheckpoint = (): { path: string; step: number } | undefined =>
    saver.savedStep !== undefined
      ? { path: checkpointPath, step: saver.savedStep }
      : o.resume !== undefined
        ? { path: o.resume, step: startStep }
        : undefined;
  const where = (step: number) => {
    const { epoch, batch } = positionOf(step, stepsPerEpoch);
    return `step ${step} (epoch ${epoch}, batch ${batch} of ${stepsPerEpoch})`;
  };
  const interrupts = watchInterrupts(
    (signal) => {
      notice(
        `${signal}: stopping after the running step to write a checkpoint (again to quit now)`,
      );
      stop.abort(interruption);
    },
    (signal) => {
      const last = lastCheckpoint();
      ownStderr().write(
        `webgpu-vae: ${signal} again: quitting without a new checkpoint` +
          (last ? `; ${last.path} holds step ${last.step}` : '') +
          '\n',
      );
      process.exit(signalStatus(signal));
    },
  );
  let failure: unknown;
  try {
    await trainer.fit(trainSet, {
      epochs: o.epochs,
      test: data.test,
      binarize: o.binarize === 'dynamic' ? 'dynamic' : 'none',
      shuffleSeed: seed,
      startStep,
      signal: stop.signal,
      onStep: (r) => {
        lastLoss = r.loss;
      },
      onSkip: (r) => {
        const steps = r.first === r.last ? `step ${r.first}` : `steps ${r.first}-${r.last}`;
        const what = r.first === r.last ? '' : ` ${r.count} of`;
        notice(
          `warning: skipped${what} ${steps}: non-finite gradient (NaN or Inf in the batch or the loss); weights unchanged`,
        );
        out.json({ type: 'skipped', ...r });
      },
      onSubmit: (step, epoch, stepInEpoch, total) => {
        if (stepInEpoch === total) saver.snapshot(step, true);
        else if (o.saveEvery !== undefined && step % o.saveEvery === 0) saver.snapshot(step);
        else saver.catchUp(step);
        if (o.quiet) return;
        if (stepInEpoch === 1) epochStart = performance.now();
        const seconds = (performance.now() - epochStart) / 1000;
        progress.update({
          step: stepInEpoch,
          epoch,
          ...(lastLoss !== undefined ? { loss: lastLoss } : {}),
          ...(stepInEpoch > 1 && seconds > 0
            ? { stepsPerSecond: (stepInEpoch - 1) / seconds }
            : {}),
        });
      },
      onEpoch: (r) => {
        if (!o.quiet) progress.done();
        const test = r.test!;
        out.log(
          `epoch ${r.epoch}/${o.epochs}: train ${formatMetrics(r.train)}, ` +
            `test ${formatMetrics(test)}; ` +
            `${r.seconds.toFixed(1)} s, ${r.stepsPerSecond.toFixed(1)} steps/s` +
            (r.skipped > 0 ? `; ${r.skipped} steps skipped` : ''),
        );
        out.json({
          type: 'epoch',
          epoch: r.epoch,
          epochs: o.epochs,
          step: trainer.step,
          train: metricsJson(r.train),
          test: metricsJson(test),
          seconds: round(r.seconds, 3),
          stepsPerSecond: round(r.stepsPerSecond, 2),
          skipped: r.skipped,
          checkpoint: checkpointPath,
        });
        progress = newProgress();
      },
    });
  } catch (e) {
    failure = e;
  } finally {
    interrupts.dispose();
  }
  const signal = interrupts.received;
  try {
    if (failure !== undefined && failure !== interruption) {
      // Writes in flight finish (or fail); the file on disk is the last whole checkpoint.
      await saver.flush().catch(() => {});
      // Training stopped for a failed checkpoint write (the abort's reason), or failed itself.
      const bySaver = saver.error !== undefined && failure === stop.signal.reason;
      const cause = bySaver ? saver.error : failure;
      // A checkpoint that failed because the device was lost: say where training was.
      const after = bySaver && rt.isLost ? `training stopped after step ${trainer.step}: ` : '';
      const last = lastCheckpoint();
      throw new Error(
        after +
          (cause instanceof Error ? cause.message : String(cause)) +
          (last
            ? `\nthe last checkpoint, at step ${last.step}, is ${last.path}; to resume: ` +
              resumeCommandLine(context.argv, last.path)
            : ''),
        { cause },
      );
    }
    if (signal !== undefined) {
      // Ctrl-C (also one that came after the last step): the running step is done; its state is
      // the checkpoint.
      if (!o.quiet) progress.done();
      await trainer.flush();
      if (saver.snapshotStep !== trainer.step) saver.snapshot(trainer.step, true);
      await saver.flush();
      const step = trainer.step;
      // A signal after the last step leaves nothing to resume.
      const resume =
        step < o.epochs * stepsPerEpoch ? resumeCommandLine(context.argv, checkpointPath) : '';
      const seconds = out.elapsed();
      out.json({
        type: 'interrupted',
        signal,
        step,
        checkpoint: checkpointPath,
        ...(resume ? { resume } : {}),
        seconds: round(seconds, 3),
      });
      throw new CliExit(
        `interrupted by ${signal} after ${where(step)}: wrote ${checkpointPath} in ` +
          `${seconds.toFixed(1)} s` +
          (resume ? `\nto resume: ${resume}` : ' (training was complete)'),
        signalStatus(signal),
      );
    }
    await saver.flush();
  } finally {
    saver.destroy();
  }
  const files = [checkpointPath];
  if (Number.isInteger(Math.sqrt(D))) {
    const side = Math.sqrt(D);
    if (model.config.condition.kind === 'quadrants') {
      // A completion model draws only given observed pixels: completions of test images instead
      // of samples (original | observed | three draws).
      const completions = join(o.out, 'completions.png');
      const n = Math.min(16, data.test.count);
      await writeCompletions(model, data.test.images, n, side, {
        path: completions,
        draws: 3,
        seed: seed + 1,
      });
      files.push(completions);
    } else if (model.config.posterior.kind === 'vq' && model.config.prior.kind !== 'made') {
      out.log(
        `note: no samples.png: a vq model samples from a prior over its codes (${PRIOR_HINT})`,
      );
    } else {
      const samples = join(o.out, 'samples.png');
      // A conditional model's grid has one row per class.
      await writeSamples(model, samples, 64, side, seed + 1);
      files.push(samples);
    }
    const n = Math.min(32, data.test.count);
    const recon = await reconstruct(model, data.test, n, seed);
    // Pairs: each test image followed by its reconstruction.
    const pairs = new Float32Array(2 * n * D);
    for (let i = 0; i < n; i++) {
      pairs.set(data.test.images.subarray(i * D, (i + 1) * D), 2 * i * D);
      pairs.set(recon.subarray(i * D, (i + 1) * D), (2 * i + 1) * D);
    }
    const reconstructions = join(o.out, 'reconstructions.png');
    await writePng(reconstructions, pairs, 2 * n, side, 16);
    files.push(reconstructions);
    if (model.config.objective.kind === 'm2') {
      const analogies = join(o.out, 'analogies.png');
      await writeAnalogies(model, data.test, analogies, side);
      files.push(analogies);
    }
  }
  trainer.destroy();
  model.destroy();
  if (!context.runtime) rt.device.destroy();
  out.finish('train', files, { steps: saver.savedStep, adapter: rt.info.name });
}

async function evaluate(o: EvalOptions): Promise<void> {
  const out = new Output(o.json);
  const rt = await runtime(o.adapter, out);
  const ckpt = await readCheckpointFile(o.checkpoint);
  const model = VaeModel.fromDecoded(rt, ckpt, o.checkpoint);
  const data = await loadSplits(resolveDataSource(o.dataset, o.data));
  const D = data.side * data.side;
  if (model.config.inputSize !== D) {
    throw new Error(
      `${o.checkpoint}: the model takes ${model.config.inputSize} values per example, the data has ${D}`,
    );
  }
  const test: Dataset = o.limit
    ? { ...data.test, count: Math.min(o.limit, data.test.count) }
    : data.test;
  const trainer = await Trainer.create(model, { batchSize: o.batch, seed: o.seed ?? 0 });
  const m = await trainer.evaluate(test);
  // A completion model scores the missing pixels given the observed ones: its recon is their NLL
  // and its ELBO and importance-sampled estimate are of log p(x_miss|x_obs).
  const completion = model.config.condition.kind === 'quadrants';
  const quantity = completion ? 'log p(x_miss|x_obs)' : 'log p(x)';
  out.log(`test (${test.count} examples, ${data.source}):`);
  out.log(
    `  ${formatMetrics(m, 3)} nats per example` +
      (completion
        ? ` (of the missing pixels given the observed: the elbo bounds ${quantity})`
        : ''),
  );
  if (model.config.posterior.kind === 'vq') {
    // No density, so no log p(x): the reconstructions and the codebook's use instead.
    const v = await evaluateVq(model, test);
    out.log(
      `  reconstruction per image: squared error ${v.mse.toFixed(3)}, Bernoulli cross-entropy ` +
        `${v.bce.toFixed(3)} nats`,
    );
    out.log(
      `  codes: perplexity ${v.perplexity.toFixed(2)}, ${v.codesInUse} of ` +
        `${model.config.posterior.codes} in use (${(100 * v.codesUsed).toFixed(1)}%)`,
    );
    trainer.destroy();
    model.destroy();
    rt.device.destroy();
    out.finish('eval', [], {
      test: metricsJson(m),
      mse: round(v.mse),
      bce: round(v.bce),
      perplexity: round(v.perplexity),
      codesInUse: v.codesInUse,
      codesUsed: round(v.codesUsed),
      adapter: rt.info.name,
    });
    return;
  }
  if (model.config.objective.kind === 'm2') {
    // M2: the classifier's test error; log p(x) would sum over the labels (not estimated here).
    const error = 1 - (m.values.accuracy ?? NaN);
    out.log(`  classification error ${(100 * error).toFixed(2)} % (q(y|x) on the test labels)`);
    trainer.destroy();
    model.destroy();
    rt.device.destroy();
    out.finish('eval', [], {
      test: metricsJson(m),
      classificationError: round(error, 6),
      adapter: rt.info.name,
    });
    return;
  }
  const started = performance.now();
  const ll = await trainer.logLikelihood(test, {
    k: o.k,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  out.log(
    `  ${quantity} ≈ ${ll.logPx.toFixed(3)} nats` +
      (completion ? `: conditional NLL of the missing pixels ${(-ll.logPx).toFixed(3)}` : '') +
      ` (importance-sampled, k = ${o.k}; ${seconds} s)`,
  );
  trainer.destroy();
  model.destroy();
  rt.device.destroy();
  out.finish('eval', [], {
    test: metricsJson(m),
    logPx: round(ll.logPx),
    // What logPx estimates: log p(x), or for a completion model log p(x_miss|x_obs).
    quantity,
    k: o.k,
    adapter: rt.info.name,
  });
}

async function sample(o: SampleOptions): Promise<void> {
  const out = new Output(o.json);
  // The runtime first, as every command: without the webgpu package that is the message to see.
  const rt = await runtime(o.adapter, out);
  const ckpt = await readCheckpointFile(o.checkpoint);
  const described = ckpt.config as
    { posterior?: { kind?: unknown }; prior?: { kind?: unknown } } | undefined;
  if (described?.posterior?.kind === 'vq' && described.prior?.kind !== 'made') {
    rt.device.destroy();
    throw new Error(
      `${o.checkpoint}: a vq model samples from a prior over its codes, and this checkpoint has ` +
        `none (${PRIOR_HINT}); its reconstructions: ${PROGRAM} reconstruct --checkpoint ${o.checkpoint}`,
    );
  }
  const model = VaeModel.fromDecoded(rt, ckpt, o.checkpoint);
  if (model.config.condition.kind === 'quadrants') {
    model.destroy();
    rt.device.destroy();
    throw new Error(
      `${o.checkpoint}: a completion model (condition 'quadrants') draws only given observed ` +
        `pixels; use \`webgpu-vae complete --checkpoint ${o.checkpoint}\``,
    );
  }
  const side = Math.sqrt(model.config.inputSize);
  if (!Number.isInteger(side)) {
    throw new Error(
      `${o.checkpoint}: inputSize ${model.config.inputSize} is not a square image; cannot draw samples`,
    );
  }
  await mkdir(o.out, { recursive: true });
  const path = join(o.out, 'samples.png');
  await writeSamples(model, path, o.count, side, o.seed ?? 0, o.temperature, o.label);
  model.destroy();
  rt.device.destroy();
  out.finish('sample', [path], { count: o.count, adapter: rt.info.name });
}

/** What a command runs with besides its options. */
export interface CommandContext {
  /** The command line's arguments (starting with the command), for the resume line. */
  argv: readonly string[];
  /** Run on this runtime (kept alive afterwards) instead of creating one (train only). */
  runtime?: GpuRuntime;
}

/** Runs a parsed command (not help). */
export async function runCommand(
  args: Exclude<CliArgs, { command: 'help' }>,
  context: CommandContext,
): Promise<void> {
  switch (args.command) {
    case 'train':
      return train(args.options, context);
    case 'train-prior':
      return trainPrior(args.options);
    case 'eval':
      return evaluate(args.options);
    case 'sample':
      return sample(args.options);
    case 'experiment':
      return experiment(args.options);
    case 'inpaint':
      return inpaint(args.options);
    case 'complete':
      return complete(args.options);
    case 'reconstruct':
      return reconstructImages(args.options);
  }
}
