// Issue 12's MNIST comparison of posterior families: the diagonal Gaussian, full covariance,
// planar flow (K = 10) and IAF (K = 2), each on 784-200-200-20 (tanh, Bernoulli, the ELBO) on
// dynamically binarized MNIST for the same epochs, by us and by the PyTorch twin; then the test
// NLL, −log p(x) importance-sampled with k = 5000, on the first 1000 test images under one fixed
// binarization (the same images for every model, ours and the twin's).
//   npx tsx bench/posteriors.ts [--kinds diagonal,full,planar,iaf] [--epochs 10] [--batch 100]
//                               [--adapter llvmpipe] [--eval-k 5000] [--eval-count 1000]
//                               [--train-count N] [--no-twin] [--no-ours] [--out DIR]
//                               [--openblas DIR] [--seed 1] [--iaf-hidden 320]
//                               [--iaf-steps 2] (the IAF's MADE widths, comma-separated, and K)
// Ours is resumable per epoch, a scored run is kept (see mnist-nll.ts); --openblas as in
// bench/iwae.ts.
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { VaeConfig } from '../src/vae/config.js';
import type { PosteriorConfig } from '../src/vae/kinds.js';
import { binarizedTest, compareWithTwin } from './mnist-nll.js';
import { qualityFlags, qualityOptions, sides } from './quality-args.js';

const { values } = parseArgs({
  options: {
    ...qualityFlags({
      epochs: 10,
      batch: 100,
      evalK: 5000,
      evalCount: 1000,
      out: 'bench/out/posteriors',
    }),
    kinds: { type: 'string', default: 'diagonal,full,planar,iaf' },
    'iaf-hidden': { type: 'string', default: '320' },
    'iaf-steps': { type: 'string', default: '2' },
  },
});
const iafHidden = values['iaf-hidden'].split(',').map(Number);
const iafSteps = Number(values['iaf-steps']);

/** The posteriors compared, at the settings. */
const POSTERIORS: Record<string, PosteriorConfig> = {
  diagonal: { kind: 'diagonal' },
  full: { kind: 'full' },
  planar: { kind: 'planar', steps: 10, amortized: true },
  // The MADE of each step: ELU layers on [z, h], a context h of Z = 20. The default, one layer of
  // 320 (16 units per latent degree): one of 2·Z = 40 (2 per degree) left IAF worse than the
  // diagonal posterior on both sides. The model's own checks name a bad width or K.
  iaf: { kind: 'iaf', steps: iafSteps, hidden: iafHidden, context: 20, activation: 'elu' },
};
const o = qualityOptions(values);
const kinds = values.kinds.split(',');
for (const kind of kinds) {
  if (!(kind in POSTERIORS)) {
    throw new Error(`--kinds: unknown '${kind}' (known: ${Object.keys(POSTERIORS).join(', ')})`);
  }
}

const configFor = (posterior: PosteriorConfig): VaeConfig => ({
  version: 2,
  inputSize: 784,
  latentSize: 20,
  encoder: { hidden: [200, 200], activation: 'tanh' },
  posterior,
  decoder: { hidden: [200, 200], activation: 'tanh' },
  likelihood: { kind: 'bernoulli' },
  objective: { kind: 'elbo', beta: 1, reduction: 'sum' },
});
const data = loadIdxDataset(o.data);
const trainCount = Math.min(o.trainCount ?? data.train.count, data.train.count);
const runFor = (kind: string) => {
  const posterior = POSTERIORS[kind];
  if (!posterior) throw new Error(`unknown posterior '${kind}'`);
  const { epochs, batch, seed, out } = o;
  const limit = trainCount < data.train.count ? { trainCount } : {};
  return { name: kind, config: configFor(posterior), epochs, batch, seed, out, ...limit };
};

const evalCount = Math.min(o.evalCount, data.test.count);
const { test, path: testPath } = binarizedTest(data.test.images, evalCount, o.seed, o.out);
await compareWithTwin({
  ...sides(o),
  runs: kinds.map(runFor),
  train: { images: data.train.images, count: trainCount },
  dataDir: o.data,
  test,
  testPath,
  seed: o.seed + 7,
  label: 'posteriors',
});
