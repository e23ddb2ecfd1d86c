// The conditional VAE against the unconditional one at equal epochs (issue 10): the pytorch/examples
// architecture (784-400-20, ReLU, Bernoulli, summed ELBO, Adam 1e-3, batch 128) on full MNIST, once
// plain and once conditioned on the digit label (one-hot into the encoder and the decoder). The
// labels carry information, so the conditional test loss (negative ELBO per example) must be lower.
//   npx tsx bench/cvae.ts [--epochs 10] [--adapter llvmpipe] [--data DIR]
import { writeFileSync, mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { mlpVaePreset, type VaeConfig } from '../src/vae/config.js';
import { formatMetrics } from '../src/vae/metrics.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

const { values: o } = parseArgs({
  options: {
    epochs: { type: 'string', default: '10' },
    adapter: { type: 'string', default: 'auto' },
    data: { type: 'string', default: new URL('../../shared/data/mnist', import.meta.url).pathname },
    out: { type: 'string', default: 'bench/out' },
  },
});
const epochs = Number(o.epochs);
const data = loadIdxDataset(o.data);
const rt = await createRuntime({ adapter: o.adapter as AdapterChoice });
console.log(`adapter: ${rt.info.name} (${rt.info.kind}); data: ${o.data}`);
const models: [string, VaeConfig][] = [
  ['unconditional', mlpVaePreset(20)],
  ['conditional', { ...mlpVaePreset(20), condition: { kind: 'label', classes: 10 } }],
];
const results: Record<string, { epoch: number; test: Record<string, number>; seconds: number }[]> =
  {};
for (const [name, config] of models) {
  const model = VaeModel.create(rt, config, { seed: 1 });
  const trainer = await Trainer.create(model, { batchSize: 128, lr: 1e-3, seed: 1 });
  results[name] = [];
  await trainer.fit(data.train, {
    epochs,
    test: data.test,
    onEpoch: (r) => {
      console.log(
        `${name} epoch ${r.epoch}: test ${formatMetrics(r.test!)}; ${r.seconds.toFixed(1)} s`,
      );
      results[name]!.push({ epoch: r.epoch, test: { ...r.test!.values }, seconds: r.seconds });
    },
  });
  trainer.destroy();
  model.destroy();
}
console.log('\n| epoch | unconditional test loss | conditional test loss |\n|---|---|---|');
for (let e = 0; e < epochs; e++) {
  const u = results.unconditional![e]!.test.loss!;
  const c = results.conditional![e]!.test.loss!;
  console.log(`| ${e + 1} | ${u.toFixed(2)} | ${c.toFixed(2)} |`);
}
mkdirSync(o.out, { recursive: true });
const file = `${o.out}/cvae-${new Date().toISOString().slice(0, 10)}.json`;
writeFileSync(file, JSON.stringify({ adapter: rt.info.name, epochs, results }, null, 2));
console.log(`wrote ${file}`);
rt.destroy();
