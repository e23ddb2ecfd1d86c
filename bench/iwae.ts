// IWAE training quality (Burda, Grosse & Salakhutdinov 2015): the paper's one-stochastic-layer
// architecture (784-200-200-50, tanh, Bernoulli) on dynamically binarized MNIST, trained with
// k = 1, 5 and 50 samples for the same epochs, by us and by the PyTorch twin (python/); then the
// test NLL, −log p(x) importance-sampled with k = 5000, on the first 1000 test images under one
// fixed binarization, the same images for both.
//   npx tsx bench/iwae.ts [--epochs 10] [--k 1,5,50] [--batch 100] [--adapter llvmpipe]
//                         [--eval-k 5000] [--eval-count 1000] [--no-twin] [--no-ours] [--out DIR]
//                         [--openblas DIR] [--seed 1]
// Ours is resumable: each k's run checkpoints after every epoch into --out, and the same command
// run again continues it (a run of many hours can span sessions; the seconds add up).
// --openblas DIR: a folder holding OpenBLAS's libblas.so.3 (e.g. Debian's libopenblas0-pthread
// unpacked with dpkg -x, nothing installed); the twin runs use it through LD_LIBRARY_PATH, since
// Debian's torch otherwise runs on the reference BLAS (about 20× slower here).
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import type { VaeConfig } from '../src/vae/config.js';
import { binarizedTest, compareWithTwin } from './mnist-nll.js';

const { values: o } = parseArgs({
  options: {
    epochs: { type: 'string', default: '10' },
    k: { type: 'string', default: '1,5,50' },
    batch: { type: 'string', default: '100' },
    adapter: { type: 'string', default: 'auto' },
    'eval-k': { type: 'string', default: '5000' },
    'eval-count': { type: 'string', default: '1000' },
    'no-twin': { type: 'boolean', default: false },
    'no-ours': { type: 'boolean', default: false },
    data: { type: 'string', default: new URL('../../shared/data/mnist', import.meta.url).pathname },
    out: { type: 'string', default: 'bench/out/iwae' },
    seed: { type: 'string', default: '1' },
    openblas: { type: 'string', default: '' },
  },
});
const epochs = Number(o.epochs);
const ks = o.k.split(',').map(Number);
const batch = Number(o.batch);
const evalK = Number(o['eval-k']);
const evalCount = Number(o['eval-count']);
const seed = Number(o.seed);
mkdirSync(o.out, { recursive: true });

const configFor = (k: number): VaeConfig => ({
  version: 2,
  inputSize: 784,
  latentSize: 50,
  encoder: { hidden: [200, 200], activation: 'tanh' },
  decoder: { hidden: [200, 200], activation: 'tanh' },
  likelihood: { kind: 'bernoulli' },
  objective: { kind: 'iwae', samples: k, reduction: 'sum' },
});
const runFor = (k: number) => ({
  name: `k${k}`,
  config: configFor(k),
  epochs,
  batch,
  seed,
  out: o.out,
});

const data = loadIdxDataset(o.data);
const { test, path: testPath } = binarizedTest(data.test.images, evalCount, seed, o.out);
await compareWithTwin({
  runs: ks.map(runFor),
  train: { images: data.train.images, count: data.train.count },
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
  label: 'iwae',
});
