// Conv VAE benchmark: trains convVaePreset (28×28, conv 1→32→64 / deconv 64→32→1, dense 256,
// Bernoulli) on full MNIST from ../shared/data/mnist with batch 128 and Adam 1e-3, and prints per
// epoch the train and test loss per example in nats (the negative ELBO on the continuous [0, 1]
// pixels, the measure of the pytorch/examples VAE) and the training throughput in samples/s.
// Usage: npx tsx bench/conv-vae.ts [epochs = 1] [--adapter llvmpipe|swiftshader|gpu|auto]
//          [--train N] [--test N] [--latent Z] [--data DIR]
import { join } from 'node:path';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { loadIdxDataset } from '../src/data/idx-node.js';
import { convVaePreset, parameterSpecs, resolveVaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { formatMetrics } from '../src/vae/metrics.js';

function parseArgs(argv: string[]) {
  const options = {
    epochs: 1,
    adapter: 'llvmpipe' as AdapterChoice,
    train: Infinity,
    test: Infinity,
    latent: 20,
    data: join(import.meta.dirname, '..', '..', 'shared', 'data', 'mnist'),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const count = (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg}: expected an integer >= 1`);
      return n;
    };
    if (arg === '--adapter') options.adapter = value() as AdapterChoice;
    else if (arg === '--train') options.train = count(value());
    else if (arg === '--test') options.test = count(value());
    else if (arg === '--latent') options.latent = count(value());
    else if (arg === '--data') options.data = value();
    else if (/^\d+$/.test(arg)) options.epochs = count(arg);
    else throw new Error(`unknown argument ${arg}`);
  }
  return options;
}

const o = parseArgs(process.argv.slice(2));
const { train, test } = loadIdxDataset(o.data);
const trainSet = { images: train.images, count: Math.min(train.count, o.train) };
const testSet = { images: test.images, count: Math.min(test.count, o.test) };
const rt = await createRuntime({ adapter: o.adapter });
const config = resolveVaeConfig(convVaePreset(o.latent));
const parameters = parameterSpecs(config).reduce(
  (n, s) => n + s.shape.reduce((a, b) => a * b, 1),
  0,
);
console.log(
  `conv VAE (latent ${o.latent}, ${parameters} parameters) on ${rt.info.name}: ` +
    `${trainSet.count} train / ${testSet.count} test images, batch 128, Adam 1e-3, ${o.epochs} epoch(s)`,
);
const model = VaeModel.create(rt, config, { seed: 1 });
const trainer = await Trainer.create(model, { batchSize: 128, lr: 1e-3, seed: 1 });
const compileStart = performance.now();
await trainer.prepare(128);
console.log(
  `compiled the training graph in ${((performance.now() - compileStart) / 1000).toFixed(1)} s`,
);
// Wall time since the last epoch report: its training plus the test evaluation after it.
let started = performance.now();
let lastLog = 0;
const reports = await trainer.fit(trainSet, {
  epochs: o.epochs,
  test: testSet,
  onSubmit: (_step, epoch, inEpoch, perEpoch) => {
    const now = performance.now();
    if (now - lastLog > 30_000) {
      lastLog = now;
      console.log(`  epoch ${epoch}: step ${inEpoch}/${perEpoch}`);
    }
  },
  onEpoch: (r) => {
    const evalSeconds = (performance.now() - started) / 1000 - r.seconds;
    console.log(
      `epoch ${r.epoch}: train loss ${r.train.loss.toFixed(2)}, test ${formatMetrics(r.test!)} nats/example; ` +
        `${r.seconds.toFixed(1)} s, ${(r.train.examples / r.seconds).toFixed(1)} samples/s train; ` +
        `test evaluation ${evalSeconds.toFixed(1)} s`,
    );
    started = performance.now();
  },
});
const last = reports.at(-1);
if (last) {
  const rate =
    reports.reduce((a, r) => a + r.train.examples, 0) / reports.reduce((a, r) => a + r.seconds, 0);
  console.log(
    `final: test loss ${last.test!.loss.toFixed(2)} nats/example after ${last.epoch} epoch(s); ` +
      `${rate.toFixed(1)} samples/s training on average`,
  );
}
trainer.destroy();
model.destroy();
rt.destroy();
