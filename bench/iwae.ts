// IWAE training quality (Burda, Grosse & Salakhutdinov 2015): the paper's one-stochastic-layer
// architecture (784-200-200-50, tanh, Bernoulli) on dynamically binarized MNIST, trained with
// k = 1, 5 and 50 samples for the same epochs, by us and by the PyTorch twin (python/); then the
// test NLL, −log p(x) importance-sampled with k = 5000, on the first 1000 test images under one
// fixed binarization, the same images for both.
//   npx tsx bench/iwae.ts [--epochs 10] [--k 1,5,50] [--batch 100] [--adapter llvmpipe]
//                         [--eval-k 5000] [--eval-count 1000] [--no-twin] [--no-ours] [--out DIR]
//                         [--openblas DIR] [--seed 1] [--train-count N]
// Ours is resumable: each k's run checkpoints after every epoch into --out, and the same command
// run again continues it (a run of many hours can span sessions; the seconds add up).
// --openblas DIR: a folder holding OpenBLAS's libblas.so.3 (e.g. Debian's libopenblas0-pthread
// unpacked with dpkg -x, nothing installed); the twin runs use it through LD_LIBRARY_PATH, since
// Debian's torch otherwise runs on the reference BLAS (about 20× slower here).
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { VaeConfig } from '../src/vae/config.js';
import { binarizedTest, compareWithTwin } from './mnist-nll.js';
import { positiveInt, qualityFlags, qualityOptions, sides } from './quality-args.js';

const { values } = parseArgs({
  options: {
    ...qualityFlags({
      epochs: 10,
      batch: 100,
      evalK: 5000,
      evalCount: 1000,
      out: 'bench/out/iwae',
    }),
    k: { type: 'string', default: '1,5,50' },
  },
});
const o = qualityOptions(values);
const ks = values.k.split(',').map((t) => positiveInt('k', t));

const configFor = (k: number): VaeConfig => ({
  version: 2,
  inputSize: 784,
  latentSize: 50,
  encoder: { hidden: [200, 200], activation: 'tanh' },
  decoder: { hidden: [200, 200], activation: 'tanh' },
  likelihood: { kind: 'bernoulli' },
  objective: { kind: 'iwae', samples: k, reduction: 'sum' },
});

const data = loadIdxDataset(o.data);
const trainCount = Math.min(o.trainCount ?? data.train.count, data.train.count);
const runFor = (k: number) => ({
  name: `k${k}`,
  config: configFor(k),
  epochs: o.epochs,
  batch: o.batch,
  seed: o.seed,
  out: o.out,
  ...(trainCount < data.train.count ? { trainCount } : {}),
});

const evalCount = Math.min(o.evalCount, data.test.count);
const { test, path: testPath } = binarizedTest(data.test.images, evalCount, o.seed, o.out);
await compareWithTwin({
  ...sides(o),
  runs: ks.map(runFor),
  train: { images: data.train.images, count: trainCount },
  dataDir: o.data,
  test,
  testPath,
  seed: o.seed + 7,
  label: 'iwae',
});
