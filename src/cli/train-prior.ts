// `train-prior`: the VQ-VAE's second stage. Reads a vq checkpoint, encodes the training (and test)
// set to code indices on the GPU, trains the MADE prior over them (PriorTrainer), and writes the
// checkpoint again, atomically, with the prior's tensors and its config section; the VAE's own
// weights, optimizer state and run record are carried over unchanged. Then a grid of samples.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Checkpoint, OptimizerStateInput } from '../checkpoint/checkpoint.js';
import {
  readCheckpointFile,
  removeStaleTempFiles,
  writeCheckpointFile,
} from '../checkpoint/file.js';
import { imageGrid } from '../image/grid.js';
import { encodePngSync } from '../image/png-node.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../vae/config.js';
import { VaeInference } from '../vae/inference.js';
import { VaeModel, initialWeights } from '../vae/model.js';
import { PRIOR_PREFIX, PriorTrainer } from '../vae/prior-stage.js';
import { DEFAULT_MADE_HIDDEN, type MadePriorConfig } from '../vae/prior/made.js';
import { loadSplits, resolveDataSource } from './data.js';
import { ownStderr } from './native-stderr.js';
import { Output, round, runtime } from './output.js';
import { createProgress } from './progress.js';
import type { TrainPriorOptions } from './train-prior-args.js';

/** The checkpoint's config with the prior asked for; `fresh` when its tensors start anew. */
export function priorConfig(
  ckpt: Checkpoint,
  o: Pick<TrainPriorOptions, 'checkpoint' | 'hidden' | 'activation'>,
): { config: ResolvedVaeConfig; fresh: boolean } {
  let config: ResolvedVaeConfig;
  try {
    config = resolveVaeConfig(ckpt.config as VaeConfig);
  } catch (error) {
    throw new Error(`${o.checkpoint}: ${(error as Error).message}`, { cause: error });
  }
  if (config.posterior.kind !== 'vq') {
    throw new Error(
      `${o.checkpoint}: train-prior trains a prior over the codes of a vq model (posterior.kind 'vq'); ` +
        `this model's posterior is '${config.posterior.kind}'`,
    );
  }
  const old = config.prior.kind === 'made' ? config.prior : undefined;
  const prior: MadePriorConfig = {
    kind: 'made',
    hidden: o.hidden ?? old?.hidden ?? DEFAULT_MADE_HIDDEN,
    activation: o.activation ?? old?.activation ?? 'relu',
  };
  const fresh = JSON.stringify(prior) !== JSON.stringify(old);
  try {
    return { config: resolveVaeConfig({ ...config, prior }), fresh };
  } catch (error) {
    throw new Error(`${o.checkpoint}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The VAE's optimizer state for the new layout: its moments as they were, zeros for the prior's
 * tensors (non-parameter tensors to it), so training the VAE can still resume from the file.
 */
function carriedOptimizer(ckpt: Checkpoint, model: VaeModel): OptimizerStateInput | undefined {
  const opt = ckpt.optimizer;
  if (!opt) return undefined;
  const moments: Record<string, Map<string, { shape: readonly number[]; data: Float32Array }>> = {};
  for (const [name, tensors] of Object.entries(opt.moments)) {
    const m = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [p, e] of model.layout) {
      const t = p.startsWith(PRIOR_PREFIX) ? undefined : tensors.get(p);
      const size = e.shape.reduce((a, b) => a * b, 1);
      m.set(p, { shape: e.shape, data: t ? t.data : new Float32Array(size) });
    }
    moments[name] = m;
  }
  return { type: opt.type, step: opt.step, moments, hyper: opt.hyper };
}

export async function trainPrior(o: TrainPriorOptions): Promise<void> {
  const out = new Output(o.json);
  // The checkpoint and the prior's description are checked before the data and the GPU.
  const ckpt = await readCheckpointFile(o.checkpoint);
  const { config, fresh } = priorConfig(ckpt, o);
  const data = await loadSplits(resolveDataSource(o.dataset, o.data));
  out.log(`data: ${data.source}`);
  const D = data.side * data.side;
  if (config.inputSize !== D) {
    throw new Error(
      `${o.checkpoint}: the model takes ${config.inputSize} values per example, the data has ${D}`,
    );
  }
  const rt = await runtime(o.adapter, out);
  const weights = new Map<string, Float32Array>();
  for (const [name, t] of ckpt.params) {
    if (!(fresh && name.startsWith(PRIOR_PREFIX))) weights.set(name, t.data);
  }
  if (fresh) {
    for (const [name, w] of initialWeights(config, o.seed)) {
      if (name.startsWith(PRIOR_PREFIX)) weights.set(name, w);
    }
  }
  let model: VaeModel;
  try {
    model = VaeModel.create(rt, config, { weights });
  } catch (error) {
    throw new Error(`${o.checkpoint}: ${(error as Error).message}`, { cause: error });
  }
  const inference = VaeInference.create(model, { seed: o.seed });
  const trainer = await PriorTrainer.create(model, { batchSize: o.batch, lr: o.lr, seed: o.seed });
  try {
    const P = trainer.shape.positions;
    const n = Math.min(o.limit ?? data.train.count, data.train.count);
    const encode = async (images: Float32Array, rows: number) =>
      (await inference.encode(images.subarray(0, rows * D), rows)).codes!;
    const started = performance.now();
    const trainCodes = await encode(data.train.images, n);
    const testCodes = await encode(data.test.images, data.test.count);
    out.log(
      `codes: ${n} training and ${data.test.count} test examples, ${P} positions of ` +
        `${trainer.shape.codes} codes each (encoded in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    const prior = config.prior as MadePriorConfig;
    out.log(
      `prior: ${fresh ? 'new' : 'continued'} MADE, hidden [${prior.hidden.join(', ')}] ${prior.activation}; ` +
        `batch ${o.batch}, Adam lr ${o.lr}, ${o.epochs} epochs`,
    );
    const stepsPerEpoch = Math.ceil(n / o.batch);
    let progress = createProgress({
      total: stepsPerEpoch,
      label: 'prior',
      epochs: o.epochs,
      stream: ownStderr(),
    });
    const reports = await trainer.fit(trainCodes, {
      epochs: o.epochs,
      test: testCodes,
      onSubmit: (_step, inEpoch) => {
        if (!o.quiet)
          progress.update({ step: inEpoch, epoch: Math.ceil(trainer.step / stepsPerEpoch) });
      },
      onEpoch: (r) => {
        if (!o.quiet) progress.done();
        out.log(
          `epoch ${r.epoch}/${o.epochs}: prior NLL train ${r.trainBits.toFixed(4)}, ` +
            `test ${r.testBits!.toFixed(4)} bits per code; ${r.seconds.toFixed(1)} s`,
        );
        out.json({
          type: 'epoch',
          epoch: r.epoch,
          epochs: o.epochs,
          step: trainer.step,
          trainBits: round(r.trainBits),
          testBits: round(r.testBits!),
          seconds: round(r.seconds, 3),
        });
        progress = createProgress({
          total: stepsPerEpoch,
          label: 'prior',
          epochs: o.epochs,
          stream: ownStderr(),
        });
      },
    });
    const last = reports.at(-1)!;
    // Left by a run killed while writing: the checkpoint itself is whole (atomic rename).
    for (const stale of await removeStaleTempFiles(o.out)) {
      out.log(`removed ${stale}, left by a run killed while writing`);
    }
    const trained = await model.readWeights();
    const optimizer = carriedOptimizer(ckpt, model);
    await mkdir(dirname(o.out), { recursive: true });
    await writeCheckpointFile(o.out, {
      params: [...trained].map(
        ([name, data]) => [name, { shape: model.layout.get(name)!.shape, data }] as const,
      ),
      config: model.config,
      ...(optimizer ? { optimizer } : {}),
      metadata: {
        ...ckpt.metadata,
        prior_stage: JSON.stringify({
          epochs: o.epochs,
          steps: trainer.step,
          batch: o.batch,
          lr: o.lr,
          seed: o.seed,
          examples: n,
          trainBits: round(last.trainBits),
          testBits: round(last.testBits!),
        }),
      },
    });
    const files = [o.out];
    const side = Math.sqrt(D);
    if (Number.isInteger(side)) {
      const { images } = await inference.sample(64, { seed: o.seed });
      const grid = imageGrid(images, 64, side, side, { columns: 8 });
      const stem = basename(o.out).replace(/\.safetensors$/, '');
      const path = join(dirname(o.out), `${stem}.prior-samples.png`);
      await writeFile(path, encodePngSync(grid.pixels, grid.width, grid.height, 1));
      files.push(path);
    }
    out.finish('train-prior', files, {
      steps: trainer.step,
      trainBits: round(last.trainBits),
      testBits: round(last.testBits!),
      adapter: rt.info.name,
    });
  } finally {
    trainer.destroy();
    inference.destroy();
    model.destroy();
    rt.device.destroy();
  }
}
