// Issue 11's quadrant completion (Sohn, Lee & Yan 2015, in the published Pyro reproduction's
// settings): for 1, 2 and 3 observed quadrants, the CVAE (recognition, generation and prior networks
// MLP 500-500, ReLU, latent 200; Adam 1e-3, batch 128) trained on MNIST with the grayscale pixels
// in [0, 1] as Bernoulli targets, by us and by the PyTorch twin, and the twin's deterministic NN
// baseline x_obs → x_miss (Pyro's BaselineNet: 500-500, BCE over the missing pixels) at the same
// epochs; then the test conditional NLL of the missing pixels, −log p(x_miss|x_obs)
// importance-sampled with k = 100 (the baseline: its BCE over the missing pixels), beside the
// published anchors (CVAE 71.8 / 51.0 / 24.2 nats, NN baseline 100.4 / 61.9 / 25.4).
//   npx tsx bench/completion.ts [--observed 1,2,3] [--epochs 30] [--batch 128] [--eval-k 100]
//                               [--eval-count 10000] [--train-count N] [--adapter auto]
//                               [--no-twin] [--no-ours] [--no-baseline] [--out DIR]
//                               [--openblas DIR] [--seed 1]
// A smoke run: --epochs 1 --train-count 500 --eval-count 100. Ours is resumable per epoch, and a
// run scored under the same settings is kept, not run again (see mnist-nll.ts); --openblas as in
// bench/iwae.ts. Writes the table to <out>/completion.md and the
// rows with the settings to <out>/completion-<date>.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { VaeConfig } from '../src/vae/config.js';
import {
  compareWithTwin,
  greyTest,
  trainTwin,
  twinNll,
  type QualityRow,
  type RunOptions,
} from './mnist-nll.js';
import { qualityFlags, qualityOptions, sides } from './quality-args.js';

/** The published reproduction's test NLLs (nats) per observed quadrants. */
const ANCHORS: Record<1 | 2 | 3, { cvae: number; baseline: number }> = {
  1: { cvae: 71.8, baseline: 100.4 },
  2: { cvae: 51.0, baseline: 61.9 },
  3: { cvae: 24.2, baseline: 25.4 },
};

const { values } = parseArgs({
  options: {
    ...qualityFlags({
      epochs: 30,
      batch: 128,
      evalK: 100,
      evalCount: 10000,
      out: 'bench/out/completion',
    }),
    observed: { type: 'string', default: '1,2,3' },
    'no-baseline': { type: 'boolean', default: false },
  },
});
const o = qualityOptions(values);

const observedList = values.observed.split(',').map((t) => {
  const v = Number(t.trim());
  if (v !== 1 && v !== 2 && v !== 3) {
    throw new Error(`--observed: each must be 1, 2 or 3 (quadrants observed), got '${t}'`);
  }
  return v as 1 | 2 | 3;
});
const { epochs, batch, evalK, seed } = o;

/** The CVAE of one task: the Pyro reproduction's networks, x_obs's missing pixels at −1. */
const configFor = (observed: 1 | 2 | 3): VaeConfig => ({
  version: 2,
  inputSize: 784,
  inputShape: [1, 28, 28],
  latentSize: 200,
  encoder: { hidden: [500, 500], activation: 'relu' },
  decoder: { hidden: [500, 500], activation: 'relu' },
  likelihood: { kind: 'bernoulli' },
  objective: { kind: 'elbo', beta: 1, reduction: 'sum' },
  condition: { kind: 'quadrants', observed, fill: -1 },
  prior: { kind: 'conditional', hidden: [500, 500], activation: 'relu' },
});

const data = loadIdxDataset(o.data);
const trainCount = Math.min(o.trainCount ?? data.train.count, data.train.count);
const evalCount = Math.min(o.evalCount, data.test.count);
const train = { images: data.train.images, count: trainCount };
// Grayscale targets, as the reproduction scores them: no binarization, in training or test.
const { test, path: testPath } = greyTest(data.test.images, evalCount, o.out);
const name = (observed: number) => `cvae-${observed}`;
const runs: RunOptions[] = observedList.map((observed) => ({
  name: name(observed),
  config: configFor(observed),
  epochs,
  batch,
  seed,
  out: o.out,
  binarize: 'none',
  ...(trainCount < data.train.count ? { trainCount } : {}),
}));

/** The twin's NN baseline of each task, scored on the same test images. */
const baselines = (env: NodeJS.ProcessEnv): QualityRow[] =>
  values['no-baseline']
    ? []
    : runs.map((run) => {
        const baselineName = run.name.replace('cvae', 'baseline');
        const { checkpoint, seconds } = trainTwin({
          ...run,
          name: baselineName,
          data: o.data,
          env,
          baseline: true,
        });
        const nll = twinNll({ checkpoint, testPath, count: evalCount, k: 1, seed, env });
        console.log(`twin ${baselineName}: test NLL ${nll.toFixed(3)}`);
        const samplesPerSecond = (run.epochs * trainCount) / seconds;
        return { name: baselineName, who: 'twin', nll, seconds, samplesPerSecond };
      });

const rows = await compareWithTwin({
  ...sides(o),
  runs,
  train,
  dataDir: o.data,
  test,
  testPath,
  seed: seed + 7,
  label: 'completion',
  twinExtras: baselines,
});

// The issue's table: per task, ours and the twin's CVAE and the twin's baseline beside the anchors.
const nllOf = (n: string, who: QualityRow['who']) =>
  rows.find((r) => r.name === n && r.who === who)?.nll.toFixed(2) ?? '—';
const table = [
  `Test −log p(x_miss|x_obs) in nats (k = ${evalK}, ${evalCount} test images; ${epochs} epochs` +
    `${trainCount < data.train.count ? ` on ${trainCount} training images` : ''}):`,
  '',
  '| observed | ours CVAE | twin CVAE | twin NN baseline | anchor CVAE | anchor NN baseline |',
  '|---|---|---|---|---|---|',
  ...observedList.map(
    (q) =>
      `| ${q} | ${nllOf(name(q), 'ours')} | ${nllOf(name(q), 'twin')} | ` +
      `${nllOf(`baseline-${q}`, 'twin')} | ${ANCHORS[q].cvae.toFixed(1)} | ${ANCHORS[q].baseline.toFixed(1)} |`,
  ),
].join('\n');
console.log(`\n${table}`);
writeFileSync(join(o.out, 'completion.md'), `${table}\n`);
console.log(`wrote ${join(o.out, 'completion.md')}`);
