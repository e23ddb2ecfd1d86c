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
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { createBinarizer } from '../src/data/idx.js';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import type { VaeConfig } from '../src/vae/config.js';
import { Evaluator } from '../src/vae/evaluator.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

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

const data = loadIdxDataset(o.data);
// One fixed binarization of the first evalCount test images, for every model (ours and the twin).
const testGrey = data.test.images.subarray(0, evalCount * 784);
const testBin = new Float32Array(testGrey.length);
createBinarizer(seed + 1000)(testGrey, testBin, testBin.length);
const testPath = join(o.out, `test-binarized-${evalCount}.f32`);
writeFileSync(testPath, testBin);
const test = { images: testBin, count: evalCount };

interface Row {
  k: number;
  who: 'ours' | 'twin';
  nll: number;
  seconds: number;
  samplesPerSecond: number;
}
const rows: Row[] = [];
const started = new Date().toISOString();

if (!o['no-ours']) {
  const rt = await createRuntime({ adapter: o.adapter as AdapterChoice });
  console.log(`ours: adapter ${rt.info.name} (${rt.info.kind})`);
  for (const k of ks) {
    // Resumable: after every epoch the model and optimizer go to ours-k<k>.partial.safetensors
    // (with the seconds trained so far), and a rerun continues from there at the exact step.
    const partial = join(o.out, `ours-k${k}.partial.safetensors`);
    const secondsFile = `${partial}.seconds`;
    let model: VaeModel;
    let trainer: Trainer;
    let trainedSeconds = 0;
    if (existsSync(partial)) {
      const ckpt = await readCheckpointFile(partial);
      model = VaeModel.fromDecoded(rt, ckpt, partial);
      trainer = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed });
      if (!ckpt.optimizer) throw new Error(`${partial}: no optimizer state to resume from`);
      trainer.loadOptimizerState(ckpt.optimizer);
      trainedSeconds = existsSync(secondsFile) ? Number(readFileSync(secondsFile, 'utf8')) : NaN;
      console.log(`ours k=${k}: resumed from ${partial} at step ${trainer.step}`);
    } else {
      model = VaeModel.create(rt, configFor(k), { seed });
      trainer = await Trainer.create(model, { batchSize: batch, lr: 1e-3, seed });
    }
    const train = { images: data.train.images, count: data.train.count };
    const stepsPerEpoch = Math.ceil(train.count / batch);
    for (let epoch = Math.floor(trainer.step / stepsPerEpoch) + 1; epoch <= epochs; epoch++) {
      const t0 = performance.now();
      await trainer.fit(train, {
        epochs: epoch,
        startStep: trainer.step,
        binarize: 'dynamic',
        onEpoch: (r) =>
          console.log(
            `ours k=${k} epoch ${r.epoch}: train loss ${r.train.loss.toFixed(2)}, ` +
              `${(r.train.examples / r.seconds).toFixed(0)} samples/s (${new Date().toISOString()})`,
          ),
      });
      trainedSeconds += (performance.now() - t0) / 1000;
      const bytes = await model.toCheckpoint(await trainer.optimizerState());
      writeFileSync(`${partial}.tmp`, bytes);
      renameSync(`${partial}.tmp`, partial);
      writeFileSync(secondsFile, String(trainedSeconds));
    }
    const seconds = trainedSeconds;
    const evaluator = new Evaluator(model, { seed: seed + 7 });
    const { logPx } = await evaluator.logLikelihood(test, { k: evalK, chunk: 500, batchSize: 8 });
    console.log(`ours k=${k}: test NLL ${(-logPx).toFixed(3)} (k=${evalK}, ${evalCount} images)`);
    writeFileSync(
      join(o.out, `ours-k${k}.safetensors`),
      await model.toCheckpoint(await trainer.optimizerState()),
    );
    rows.push({
      k,
      who: 'ours',
      nll: -logPx,
      seconds,
      samplesPerSecond: (epochs * data.train.count) / seconds,
    });
    evaluator.destroy();
    trainer.destroy();
    model.destroy();
  }
  rt.destroy();
}

if (!o['no-twin']) {
  const env = {
    ...process.env,
    PYTHONPATH: 'python',
    ...(o.openblas ? { LD_LIBRARY_PATH: o.openblas } : {}),
  };
  for (const k of ks) {
    const dir = join(o.out, `twin-k${k}`);
    mkdirSync(dir, { recursive: true });
    const configPath = join(dir, 'model.json');
    writeFileSync(configPath, JSON.stringify(configFor(k)));
    const t0 = performance.now();
    execFileSync(
      '/usr/bin/python3',
      [
        '-m',
        'webgpu_vae_torch.train',
        '--config',
        configPath,
        '--data',
        o.data,
        '--out',
        dir,
        '--epochs',
        String(epochs),
        '--batch-size',
        String(batch),
        '--lr',
        '1e-3',
        '--binarize',
        'dynamic',
        '--seed',
        String(seed),
        '--no-test',
      ],
      { env, stdio: 'inherit' },
    );
    const seconds = (performance.now() - t0) / 1000;
    const out = execFileSync(
      '/usr/bin/python3',
      [
        'bench/twin-nll.py',
        '--checkpoint',
        join(dir, 'model.safetensors'),
        '--data',
        testPath,
        '--count',
        String(evalCount),
        '--k',
        String(evalK),
        '--seed',
        String(seed + 7),
      ],
      { env, encoding: 'utf8' },
    );
    const { logPx } = JSON.parse(out.trim().split('\n').at(-1)!) as { logPx: number };
    console.log(`twin k=${k}: test NLL ${(-logPx).toFixed(3)}`);
    rows.push({
      k,
      who: 'twin',
      nll: -logPx,
      seconds,
      samplesPerSecond: (epochs * data.train.count) / seconds,
    });
  }
}

console.log(`\n| k | ours NLL | twin NLL | ours − twin |\n|---|---|---|---|`);
for (const k of ks) {
  const ours = rows.find((r) => r.k === k && r.who === 'ours');
  const twin = rows.find((r) => r.k === k && r.who === 'twin');
  const diff = ours && twin ? (ours.nll - twin.nll).toFixed(2) : '—';
  console.log(
    `| ${k} | ${ours?.nll.toFixed(2) ?? '—'} | ${twin?.nll.toFixed(2) ?? '—'} | ${diff} |`,
  );
}
const file = join(o.out, `iwae-${started.slice(0, 10)}.json`);
writeFileSync(
  file,
  JSON.stringify({ started, epochs, batch, evalK, evalCount, adapter: o.adapter, rows }, null, 2),
);
console.log(`wrote ${file}`);
