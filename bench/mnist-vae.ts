// The pytorch/examples MNIST VAE (784-400-20, ReLU, Bernoulli/BCE summed + KL, Adam 1e-3, batch
// 128) on the full MNIST from ../shared/data/mnist: test loss per epoch (single-sample negative
// ELBO per test example, as the PyTorch example reports it) and time per epoch.
//   npx tsx bench/mnist-vae.ts [epochs=10] [adapter=auto] [dataDir=../shared/data/mnist]
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadIdxDataset } from '../src/data/idx-node.js';
import { createRuntime } from '../src/gpu/runtime.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { VaeModel } from '../src/vae/model.js';
import { PYTORCH_EXAMPLES_VAE } from '../src/vae/state-dict.js';
import { Trainer, type EpochReport } from '../src/vae/trainer.js';
import { formatMetrics } from '../src/vae/metrics.js';

const epochs = Number(process.argv[2] ?? 10);
const adapter = (process.argv[3] ?? 'auto') as AdapterChoice;
const dir = process.argv[4] ?? new URL('../../shared/data/mnist', import.meta.url).pathname;

const data = loadIdxDataset(dir);
const rt = await createRuntime({ adapter });
console.log(`adapter: ${rt.info.name} (${rt.info.kind}); data: ${dir}`);
const model = VaeModel.create(rt, PYTORCH_EXAMPLES_VAE.config, { seed: 1 });
const trainer = await Trainer.create(model, { batchSize: 128, lr: 1e-3, seed: 1 });
const started = performance.now();
const reports: EpochReport[] = [];
await trainer.fit(
  { images: data.train.images, count: data.train.count },
  {
    epochs,
    test: { images: data.test.images, count: data.test.count },
    onEpoch: (r) => {
      reports.push(r);
      console.log(
        `epoch ${r.epoch}: test ${formatMetrics(r.test!)}, train loss ${r.train.loss.toFixed(2)}; ` +
          `${r.seconds.toFixed(1)} s/epoch, ${(r.stepsPerSecond * 128) | 0} samples/s`,
      );
    },
  },
);
const total = (performance.now() - started) / 1000;
const ll = await trainer.logLikelihood({ images: data.test.images, count: 1000 }, { k: 100 });
console.log(
  `total ${total.toFixed(0)} s; log p(x) (k=100, first 1000 test images): ${ll.logPx.toFixed(2)}`,
);
mkdirSync(new URL('./out', import.meta.url), { recursive: true });
const file = new URL(
  `./out/mnist-vae-${new Date().toISOString().slice(0, 19)}.json`,
  import.meta.url,
);
writeFileSync(
  file,
  JSON.stringify(
    {
      adapter: rt.info.name,
      kind: rt.info.kind,
      epochs: reports,
      totalSeconds: total,
      logPx100: ll.logPx,
    },
    null,
    2,
  ),
);
console.log(`wrote ${file.pathname}`);
process.exit(0);
