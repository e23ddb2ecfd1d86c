// What the MNIST quality benchmarks share (bench/iwae.ts: k samples; bench/posteriors.ts: posterior
// kinds; bench/completion.ts: the quadrant completion task): one fixed binarization of the first
// test images for every model (or the grayscale images themselves), our training run (resumable
// per epoch), the PyTorch twin's, and the test NLL, −log p(x) importance-sampled (for a completion
// model −log p(x_miss|x_obs)), for both (ours on the GPU, the twin's in float64 by
// bench/twin-nll.py).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { createBinarizer } from '../src/data/idx.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime, type GpuRuntime } from '../src/gpu/runtime.js';
import type { VaeConfig } from '../src/vae/config.js';
import { Evaluator } from '../src/vae/evaluator.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer, type Dataset } from '../src/vae/trainer.js';

/** One model's result. */
export interface QualityRow {
  /** The run's name (k1, planar, …). */
  name: string;
  who: 'ours' | 'twin';
  nll: number;
  /** Training seconds (the twin's include its process start). */
  seconds: number;
  samplesPerSecond: number;
}

/** The first `count` test images under one fixed binarization, and the raw file the twin reads. */
export function binarizedTest(
  images: Float32Array,
  count: number,
  seed: number,
  out: string,
): { test: Dataset; path: string } {
  const grey = images.subarray(0, count * 784);
  const bin = new Float32Array(grey.length);
  createBinarizer(seed + 1000)(grey, bin, bin.length);
  const path = join(out, `test-binarized-${count}.f32`);
  writeFileSync(path, bin);
  return { test: { images: bin, count }, path };
}

/** The first `count` test images as they are (grayscale), and the raw file the twin reads. */
export function greyTest(
  images: Float32Array,
  count: number,
  out: string,
): { test: Dataset; path: string } {
  const grey = images.slice(0, count * 784);
  const path = join(out, `test-grey-${count}.f32`);
  writeFileSync(path, grey);
  return { test: { images: grey, count }, path };
}

export interface RunOptions {
  name: string;
  config: VaeConfig;
  epochs: number;
  batch: number;
  seed: number;
  out: string;
  /** Training pixels: binarized anew every batch (the default), or as they are ('none'). */
  binarize?: 'dynamic' | 'none';
  /** Train the twin on the first N examples only (ours takes the Dataset it is given). */
  trainCount?: number;
}

/**
 * Trains ours with dynamic binarization, Adam at 1e-3. Resumable: after every epoch the model and
 * optimizer go to ours-<name>.partial.safetensors in `out` (with the seconds so far), and the same
 * call later continues from there at the exact step.
 */
export async function trainOurs(
  rt: GpuRuntime,
  train: Dataset,
  o: RunOptions,
): Promise<{ model: VaeModel; trainer: Trainer; seconds: number }> {
  const partial = join(o.out, `ours-${o.name}.partial.safetensors`);
  const secondsFile = `${partial}.seconds`;
  let model: VaeModel;
  let trainer: Trainer;
  let seconds = 0;
  if (existsSync(partial)) {
    const ckpt = await readCheckpointFile(partial);
    if (!ckpt.optimizer) throw new Error(`${partial}: no optimizer state to resume from`);
    model = VaeModel.fromDecoded(rt, ckpt, partial);
    trainer = await Trainer.create(model, { batchSize: o.batch, lr: 1e-3, seed: o.seed });
    trainer.loadOptimizerState(ckpt.optimizer);
    seconds = existsSync(secondsFile) ? Number(readFileSync(secondsFile, 'utf8')) : NaN;
    console.log(`ours ${o.name}: resumed from ${partial} at step ${trainer.step}`);
  } else {
    model = VaeModel.create(rt, o.config, { seed: o.seed });
    trainer = await Trainer.create(model, { batchSize: o.batch, lr: 1e-3, seed: o.seed });
  }
  const stepsPerEpoch = Math.ceil(train.count / o.batch);
  for (let epoch = Math.floor(trainer.step / stepsPerEpoch) + 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    await trainer.fit(train, {
      epochs: epoch,
      startStep: trainer.step,
      binarize: o.binarize ?? 'dynamic',
      onEpoch: (r) =>
        console.log(
          `ours ${o.name} epoch ${r.epoch}: train loss ${r.train.loss.toFixed(2)}, ` +
            `${(r.train.examples / r.seconds).toFixed(0)} samples/s (${new Date().toISOString()})`,
        ),
    });
    seconds += (performance.now() - t0) / 1000;
    const bytes = await model.toCheckpoint(await trainer.optimizerState());
    writeFileSync(`${partial}.tmp`, bytes);
    renameSync(`${partial}.tmp`, partial);
    writeFileSync(secondsFile, String(seconds));
  }
  return { model, trainer, seconds };
}

/** Our test NLL (nats per image), importance-sampled with k samples. */
export async function oursNll(
  model: VaeModel,
  test: Dataset,
  k: number,
  seed: number,
): Promise<number> {
  const evaluator = new Evaluator(model, { seed });
  try {
    const { logPx } = await evaluator.logLikelihood(test, { k, chunk: 500, batchSize: 8 });
    return -logPx;
  } finally {
    evaluator.destroy();
  }
}

/** The environment of the twin's processes (OpenBLAS: see the scripts' --openblas). */
export function twinEnv(openblas: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PYTHONPATH: 'python',
    ...(openblas ? { LD_LIBRARY_PATH: openblas } : {}),
  };
}

/**
 * Trains the twin with the same settings; returns its checkpoint and the seconds taken. With
 * `baseline`, the NN baseline of the completion task the config describes instead of the model
 * (train.py --baseline).
 */
export function trainTwin(
  o: RunOptions & { data: string; env: NodeJS.ProcessEnv; baseline?: boolean },
): {
  checkpoint: string;
  seconds: number;
} {
  const dir = join(o.out, `twin-${o.name}`);
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'model.json');
  writeFileSync(configPath, JSON.stringify(o.config));
  const t0 = performance.now();
  execFileSync(
    '/usr/bin/python3',
    [
      ...['-m', 'webgpu_vae_torch.train', '--config', configPath, '--data', o.data],
      ...['--out', dir, '--epochs', String(o.epochs), '--batch-size', String(o.batch)],
      ...['--lr', '1e-3', '--binarize', o.binarize ?? 'dynamic', '--seed', String(o.seed)],
      '--no-test',
      ...(o.trainCount !== undefined ? ['--limit', String(o.trainCount)] : []),
      ...(o.baseline ? ['--baseline'] : []),
    ],
    { env: o.env, stdio: 'inherit' },
  );
  const file = o.baseline ? 'baseline.safetensors' : 'model.safetensors';
  return { checkpoint: join(dir, file), seconds: (performance.now() - t0) / 1000 };
}

/** The twin's test NLL of a checkpoint on the binarized test file, in float64. */
export function twinNll(o: {
  checkpoint: string;
  testPath: string;
  count: number;
  k: number;
  seed: number;
  env: NodeJS.ProcessEnv;
}): number {
  const out = execFileSync(
    '/usr/bin/python3',
    [
      ...['bench/twin-nll.py', '--checkpoint', o.checkpoint, '--data', o.testPath],
      ...['--count', String(o.count), '--k', String(o.k), '--seed', String(o.seed)],
    ],
    { env: o.env, encoding: 'utf8' },
  );
  const last = out.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(last) as { logPx?: unknown };
  if (typeof parsed.logPx !== 'number') throw new Error(`twin-nll.py printed no logPx: ${last}`);
  return -parsed.logPx;
}

/** The markdown table of ours beside the twin per run name. */
export function qualityTable(rows: readonly QualityRow[], names: readonly string[]): string {
  const lines = ['| run | ours NLL | twin NLL | ours − twin |', '|---|---|---|---|'];
  for (const name of names) {
    const ours = rows.find((r) => r.name === name && r.who === 'ours');
    const twin = rows.find((r) => r.name === name && r.who === 'twin');
    const diff = ours && twin ? (ours.nll - twin.nll).toFixed(2) : '—';
    lines.push(
      `| ${name} | ${ours?.nll.toFixed(2) ?? '—'} | ${twin?.nll.toFixed(2) ?? '—'} | ${diff} |`,
    );
  }
  return lines.join('\n');
}

export interface ComparisonOptions {
  /** The runs, each trained by us and by the twin under the same name and settings. */
  runs: readonly RunOptions[];
  /** Our training examples (the twin reads all of `dataDir`'s). */
  train: Dataset;
  dataDir: string;
  /** The fixed binarized test images and their raw file (binarizedTest). */
  test: Dataset;
  testPath: string;
  evalK: number;
  /** The NLLs' noise seed. */
  seed: number;
  adapter: AdapterChoice;
  ours: boolean;
  twin: boolean;
  openblas: string;
  /** Results go to <out>/<label>-<date>.json (<label>-ours-… or -twin-… for one side). */
  out: string;
  label: string;
  /**
   * More twin-only rows (e.g. a baseline), run after the twin's runs and listed with them;
   * `env` is the twin processes' environment.
   */
  twinExtras?: (env: NodeJS.ProcessEnv) => QualityRow[];
}

/** What a scored run's row depends on: a row scored under other settings is not reused. */
interface ScoreKey {
  /** The model description, as JSON. */
  config: string;
  trainExamples: number;
  epochs: number;
  batch: number;
  seed: number;
  evalK: number;
  evalCount: number;
  noiseSeed: number;
}

/**
 * A run's row kept beside its checkpoint (<out>/<who>-<name>.score.json), so that a comparison
 * interrupted after some runs skips those when it is run again: training resumes per epoch, but
 * scoring (k up to 5000 on 1000s of images) would otherwise be repeated.
 */
const scoreFile = (run: RunOptions, who: QualityRow['who']) =>
  join(run.out, `${who}-${run.name}.score.json`);

function keptRow(run: RunOptions, who: QualityRow['who'], key: ScoreKey): QualityRow | undefined {
  const file = scoreFile(run, who);
  if (!existsSync(file)) return undefined;
  let kept: { key?: ScoreKey; row?: QualityRow };
  try {
    kept = JSON.parse(readFileSync(file, 'utf8')) as typeof kept;
  } catch (e) {
    // A damaged file (a run killed while writing it would leave none: it is renamed into place).
    console.log(`${who} ${run.name}: ${file} is not JSON (${(e as Error).message}); running again`);
    return undefined;
  }
  const same =
    kept.key && (Object.keys(key) as (keyof ScoreKey)[]).every((k) => kept.key?.[k] === key[k]);
  if (!same || !kept.row) {
    console.log(`${who} ${run.name}: ${file} was scored under other settings; running again`);
    return undefined;
  }
  console.log(`${who} ${run.name}: test NLL ${kept.row.nll.toFixed(3)}, kept in ${file}`);
  return kept.row;
}

function keepRow(run: RunOptions, key: ScoreKey, row: QualityRow): void {
  const file = scoreFile(run, row.who);
  writeFileSync(`${file}.tmp`, JSON.stringify({ key, row }, null, 2));
  renameSync(`${file}.tmp`, file);
}

/**
 * Every run by us (resumable; checkpoint ours-<name>.safetensors) and by the twin, each scored by
 * its test NLL; prints the table and writes the rows with the settings as JSON. A run already
 * scored under the same settings (its .score.json) is not run again.
 */
export async function compareWithTwin(o: ComparisonOptions): Promise<QualityRow[]> {
  const rows: QualityRow[] = [];
  const started = new Date().toISOString();
  const count = o.test.count;
  const perSecond = (run: RunOptions, seconds: number) => (run.epochs * o.train.count) / seconds;
  const keyOf = (run: RunOptions): ScoreKey => ({
    config: JSON.stringify(run.config),
    trainExamples: o.train.count,
    epochs: run.epochs,
    batch: run.batch,
    seed: run.seed,
    evalK: o.evalK,
    evalCount: count,
    noiseSeed: o.seed,
  });
  if (o.ours) {
    const rt = await createRuntime({ adapter: o.adapter });
    console.log(`ours: adapter ${rt.info.name} (${rt.info.kind})`);
    for (const run of o.runs) {
      const key = keyOf(run);
      const kept = keptRow(run, 'ours', key);
      if (kept) {
        rows.push(kept);
        continue;
      }
      const { model, trainer, seconds } = await trainOurs(rt, o.train, run);
      const nll = await oursNll(model, o.test, o.evalK, o.seed);
      console.log(`ours ${run.name}: test NLL ${nll.toFixed(3)} (k=${o.evalK}, ${count} images)`);
      writeFileSync(
        join(run.out, `ours-${run.name}.safetensors`),
        await model.toCheckpoint(await trainer.optimizerState()),
      );
      const samplesPerSecond = perSecond(run, seconds);
      const row: QualityRow = { name: run.name, who: 'ours', nll, seconds, samplesPerSecond };
      keepRow(run, key, row);
      rows.push(row);
      trainer.destroy();
      model.destroy();
    }
    rt.destroy();
  }
  if (o.twin) {
    const env = twinEnv(o.openblas);
    for (const run of o.runs) {
      const key = keyOf(run);
      const kept = keptRow(run, 'twin', key);
      if (kept) {
        rows.push(kept);
        continue;
      }
      const { checkpoint, seconds } = trainTwin({ ...run, data: o.dataDir, env });
      const nll = twinNll({
        checkpoint,
        testPath: o.testPath,
        count,
        k: o.evalK,
        seed: o.seed,
        env,
      });
      console.log(`twin ${run.name}: test NLL ${nll.toFixed(3)}`);
      const samplesPerSecond = perSecond(run, seconds);
      const row: QualityRow = { name: run.name, who: 'twin', nll, seconds, samplesPerSecond };
      keepRow(run, key, row);
      rows.push(row);
    }
    rows.push(...(o.twinExtras?.(env) ?? []));
  }
  const names = [...new Set([...o.runs.map((r) => r.name), ...rows.map((r) => r.name)])];
  console.log(`\n${qualityTable(rows, names)}`);
  // A run of one side only is named for it, so that ours and the twin run apart on one day (as
  // long runs are) do not overwrite each other's rows.
  const side = o.ours === o.twin ? '' : o.ours ? '-ours' : '-twin';
  const file = join(o.out, `${o.label}${side}-${started.slice(0, 10)}.json`);
  const settings = { epochs: o.runs[0]?.epochs, batch: o.runs[0]?.batch, evalK: o.evalK };
  writeFileSync(
    file,
    JSON.stringify({ started, ...settings, evalCount: count, adapter: o.adapter, rows }, null, 2),
  );
  console.log(`wrote ${file}`);
  return rows;
}
