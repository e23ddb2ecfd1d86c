// Issue 12's MNIST comparison of posterior families: the diagonal Gaussian, full covariance,
// planar flow (K = 10) and IAF (K = 2), each on 784-200-200-20 (tanh, Bernoulli, the ELBO) on
// dynamically binarized MNIST for the same epochs, by us and by the PyTorch twin; then the test
// NLL, −log p(x) importance-sampled with k = 5000, on the first 1000 test images under one fixed
// binarization (the same images for every model, ours and the twin's).
//   npx tsx bench/posteriors.ts [--kinds diagonal,full,planar,iaf] [--epochs 10] [--batch 100]
//                               [--adapter llvmpipe] [--eval-k 5000] [--eval-count 1000]
//                               [--train-count N] [--no-twin] [--no-ours] [--out DIR]
//                               [--openblas DIR] [--seed 1]
// Ours is resumable per epoch (see mnist-nll.ts); --openblas as in bench/iwae.ts.
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import type { VaeConfig } from '../src/vae/config.js';
import type { PosteriorConfig } from '../src/vae/kinds.js';
import { binarizedTest, compareWithTwin } from './mnist-nll.js';

/** The posteriors compared, at the settings. */
const POSTERIORS: Record<string, PosteriorConfig> = {
  diagonal: { kind: 'diagonal' },
  full: { kind: 'full' },
  planar: { kind: 'planar', steps: 10, amortized: true },
  // The MADE of each step: one ELU layer of 2·Z = 40 units on [z, h], a context h of Z = 20.
  iaf: { kind: 'iaf', steps: 2, hidden: [40], context: 20, activation: 'elu' },
};

const { values: o } = parseArgs({
  options: {
    kinds: { type: 'string', default: Object.keys(POSTERIORS).join(',') },
    epochs: { type: 'string', default: '10' },
    batch: { type: 'string', default: '100' },
    adapter: { type: 'string', default: 'auto' },
    'eval-k': { type: 'string', default: '5000' },
    'eval-count': { type: 'string', default: '1000' },
    'train-count': { type: 'string', default: '' },
    'no-twin': { type: 'boolean', default: false },
    'no-ours': { type: 'boolean', default: false },
    data: { type: 'string', default: new URL('../../shared/data/mnist', import.meta.url).pathname },
    out: { type: 'string', default: 'bench/out/posteriors' },
    seed: { type: 'string', default: '1' },
    openblas: { type: 'string', default: '' },
  },
});
const kinds = o.kinds.split(',');
for (const kind of kinds) {
  if (!(kind in POSTERIORS)) {
    throw new Error(`--kinds: unknown '${kind}' (known: ${Object.keys(POSTERIORS).join(', ')})`);
  }
}
const epochs = Number(o.epochs);
const batch = Number(o.batch);
const evalK = Number(o['eval-k']);
const evalCount = Number(o['eval-count']);
const seed = Number(o.seed);
mkdirSync(o.out, { recursive: true });

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
const runFor = (kind: string) => {
  const posterior = POSTERIORS[kind];
  if (!posterior) throw new Error(`unknown posterior '${kind}'`);
  return { name: kind, config: configFor(posterior), epochs, batch, seed, out: o.out };
};

const data = loadIdxDataset(o.data);
const trainCount = o['train-count'] ? Number(o['train-count']) : data.train.count;
const train = { images: data.train.images, count: Math.min(trainCount, data.train.count) };
const { test, path: testPath } = binarizedTest(data.test.images, evalCount, seed, o.out);
if (!o['no-twin'] && train.count !== data.train.count) {
  throw new Error('--train-count applies to ours only (the twin trains on every example)');
}
await compareWithTwin({
  runs: kinds.map(runFor),
  train,
  dataDir: o.data,
  test,
  testPath,
  evalK,
  seed: seed + 7,
  adapter: o.adapter as AdapterChoice,
  ours: !o['no-ours'],
  twin: !o['no-twin'],
  openblas: o.openblas,
  out: o.out,
  label: 'posteriors',
});
