// Issue 13's VQ-VAE figures: on MNIST and Fashion-MNIST, a VQ-VAE trained by us and by the PyTorch
// twin for the same epochs from the same model description, each followed by its learned prior
// over the codes (the second stage, a MADE); then, per side, the test set's reconstruction squared
// error and Bernoulli cross-entropy per image, the codes' perplexity and use over the whole test
// set, the prior's test NLL in bits per code, a PNG of samples, and training samples/s.
//   npx tsx bench/vq.ts [--datasets mnist,fashion-mnist|digits] [--config FILE] [--epochs 10]
//                       [--prior-epochs 10] [--batch 128] [--adapter llvmpipe] [--no-twin]
//                       [--no-ours] [--data DIR] [--out DIR] [--openblas DIR] [--seed 1]
// Both sides' checkpoints are scored by the same code, ours (`webgpu-vae eval`: checkpoints move
// both ways with identical names), so the columns differ only in the training; each prior's bits
// per code are the figure its own trainer reports on the test set's codes. Every step is the
// user-facing command (ours: src/cli.ts train / train-prior / eval / sample; the twin:
// webgpu_vae_torch.train / train_prior), its JSON lines parsed here. --openblas as in iwae.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { convVqPreset, type VaeConfig } from '../src/vae/config.js';
import { metricsLines, num, ours, twin, type Json } from './commands.js';
import { positiveInt, trainingOptions } from './quality-args.js';

// 'digits': the embedded 10,000 (the twin's `embedded`), for a quick run of the whole pipeline.
const DATASETS = ['mnist', 'fashion-mnist', 'digits'] as const;
type DatasetName = (typeof DATASETS)[number];

const { values } = parseArgs({
  options: {
    datasets: { type: 'string', default: 'mnist,fashion-mnist' },
    config: { type: 'string', default: '' },
    epochs: { type: 'string', default: '10' },
    'prior-epochs': { type: 'string', default: '10' },
    batch: { type: 'string', default: '128' },
    adapter: { type: 'string', default: 'auto' },
    'no-twin': { type: 'boolean', default: false },
    'no-ours': { type: 'boolean', default: false },
    data: { type: 'string', default: new URL('../../shared/data', import.meta.url).pathname },
    out: { type: 'string', default: 'bench/out/vq' },
    seed: { type: 'string', default: '1' },
    openblas: { type: 'string', default: '' },
  },
});
// The shared checks (epochs, batch, adapter, seed; the out folder); no NLL is estimated here.
const o = trainingOptions(values);
const priorEpochs = positiveInt('prior-epochs', values['prior-epochs']);
const datasets = values.datasets.split(',').map((name): DatasetName => {
  const known = DATASETS.find((d) => d === name);
  if (!known) throw new Error(`--datasets: unknown '${name}' (known: ${DATASETS.join(', ')})`);
  return known;
});

/**
 * The default model: the library's conv VQ-VAE (convVqPreset: a 7×7 grid of D = 16 values from two
 * stride-2 convs, K = 64 codes, EMA with dead-code restarts, deconv decoder, Bernoulli on the
 * grayscale pixels) with a MADE prior over its 49 codes.
 */
const DEFAULT_CONFIG: VaeConfig = {
  ...convVqPreset(64, 16),
  prior: { kind: 'made', hidden: [512], activation: 'relu' },
};
const config: unknown = values.config
  ? JSON.parse(readFileSync(values.config, 'utf8'))
  : DEFAULT_CONFIG;
const configPath = join(o.out, 'model.json');
writeFileSync(configPath, JSON.stringify(config, null, 2));

interface VqRow {
  dataset: DatasetName;
  who: 'ours' | 'twin';
  mse: number;
  bce: number;
  perplexity: number;
  codesInUse: number;
  priorBits: number;
  samplesPerSecond: number;
  samples: string;
}

const common = (dataset: DatasetName) =>
  dataset === 'digits' ? ['--dataset', dataset] : ['--dataset', dataset, '--data', o.data];
const twinData = (dataset: DatasetName) =>
  dataset === 'digits' ? 'embedded' : join(o.data, dataset);
/** Scores a checkpoint (either side's) with ours' eval and draws its samples PNG. */
async function score(checkpoint: string, dir: string, dataset: DatasetName) {
  const adapter = ['--adapter', o.adapter];
  const evalLines = await ours([
    'eval',
    '--checkpoint',
    checkpoint,
    ...common(dataset),
    ...adapter,
  ]);
  const summary = evalLines.find((l) => l.type === 'summary');
  await ours(['sample', '--checkpoint', checkpoint, '--count', '64', '--out', dir, ...adapter]);
  return {
    mse: num(summary, 'mse'),
    bce: num(summary, 'bce'),
    perplexity: num(summary, 'perplexity'),
    codesInUse: num(summary, 'codesInUse'),
    samples: join(dir, 'samples.png'),
  };
}

const rows: VqRow[] = [];
const started = new Date().toISOString();
for (const dataset of datasets) {
  if (o.ours) {
    const dir = join(o.out, `ours-${dataset}`);
    const adapter = ['--adapter', o.adapter];
    const train = await ours([
      ...[
        'train',
        '--quiet',
        '--config',
        configPath,
        ...common(dataset),
        '--epochs',
        `${o.epochs}`,
      ],
      ...['--batch', `${o.batch}`, '--seed', `${o.seed}`, '--out', dir, ...adapter],
    ]);
    const epochs = train.filter((l) => l.type === 'epoch');
    const seconds = epochs.reduce((s, l) => s + num(l, 'seconds'), 0);
    const trainCount = num(epochs.at(-1)?.train as Json | undefined, 'examples');
    const checkpoint = join(dir, 'model.safetensors');
    const prior = (
      await ours([
        ...['train-prior', '--quiet', '--checkpoint', checkpoint, ...common(dataset), ...adapter],
        ...['--epochs', `${priorEpochs}`, '--batch', `${o.batch}`, '--seed', `${o.seed}`],
      ])
    ).filter((l) => l.type === 'epoch');
    const row: VqRow = {
      dataset,
      who: 'ours',
      ...(await score(checkpoint, dir, dataset)),
      priorBits: num(prior.at(-1), 'testBits'),
      samplesPerSecond: (epochs.length * trainCount) / seconds,
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  if (o.twin) {
    const dir = join(o.out, `twin-${dataset}`);
    const t0 = performance.now();
    await twin(
      'train',
      [
        ...['--config', configPath, '--data', twinData(dataset), '--out', dir],
        ...['--epochs', `${o.epochs}`, '--batch-size', `${o.batch}`, '--seed', `${o.seed}`],
      ],
      o.openblas,
    );
    const seconds = (performance.now() - t0) / 1000;
    const trained = metricsLines(join(dir, 'metrics.jsonl')).at(-1);
    const trainCount = num(trained?.train as Json | undefined, 'examples');
    // The prior's stage writes the VAE with its prior beside the VAE's own checkpoint.
    const withPrior = join(dir, 'prior');
    await twin(
      'train_prior',
      [
        ...['--checkpoint', join(dir, 'model.safetensors'), '--data', twinData(dataset)],
        ...['--out', withPrior, '--epochs', `${priorEpochs}`, '--batch-size', `${o.batch}`],
        ...['--seed', `${o.seed}`],
      ],
      o.openblas,
    );
    const prior = metricsLines(join(withPrior, 'metrics.jsonl')).at(-1);
    const row: VqRow = {
      dataset,
      who: 'twin',
      ...(await score(join(withPrior, 'model.safetensors'), dir, dataset)),
      priorBits: num(prior, 'testBits'),
      // Whole-command seconds (start-up and the test pass included): a lower bound on its speed.
      samplesPerSecond: (o.epochs * trainCount) / seconds,
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
}

const table = [
  `| dataset | side | recon squared error | recon BCE (nats) | perplexity | codes in use | prior bits/code | train samples/s |`,
  `|---|---|---|---|---|---|---|---|`,
  ...rows.map(
    (r) =>
      `| ${r.dataset} | ${r.who} | ${r.mse.toFixed(2)} | ${r.bce.toFixed(2)} | ` +
      `${r.perplexity.toFixed(1)} | ${r.codesInUse} | ${r.priorBits.toFixed(3)} | ` +
      `${r.samplesPerSecond.toFixed(0)} |`,
  ),
].join('\n');
console.log(`\n${table}`);
const file = join(o.out, `vq-${started.slice(0, 10)}.json`);
writeFileSync(
  file,
  JSON.stringify({ started, epochs: o.epochs, priorEpochs, batch: o.batch, config, rows }, null, 2),
);
console.log(`wrote ${file}`);
