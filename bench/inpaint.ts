// Inpainting with random masks: per mask kind (pixels p = 0.5, block, quadrant), an MLP VAE
// (784-400-20, relu, Bernoulli) trained on MNIST with that kind's masks (the mask fed to the
// encoder, the loss over all pixels), then the missing-pixel BCE (nats per missing pixel) of the
// first --count test images under fresh masks of the same kind, after 0 (the fill value, clamped
// to 1e-6), 1, 5 and 20 passes of VaeInference.inpaint. Prints a markdown table.
//   npx tsx bench/inpaint.ts [--epochs 3] [--kinds pixels,block,quadrant] [--count 1000]
//                            [--adapter llvmpipe] [--data ../shared/data/mnist] [--seed 1]
//                            [--out bench/out/inpaint]
// Each trained model is kept as --out/<kind>-<epochs>ep.safetensors and reused by later runs.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRng } from '../src/data/rng.js';
import { loadIdxDataset } from '../src/data/idx-node.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { drawMasks } from '../src/cli/inpaint.js';
import { missingPixelBce } from '../src/vae/inpaint.js';
import { MASK_KINDS, type MaskKind } from '../src/cli/args.js';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';

const { values: o } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    kinds: { type: 'string', default: MASK_KINDS.join(',') },
    count: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '128' },
    adapter: { type: 'string', default: 'llvmpipe' },
    data: { type: 'string', default: new URL('../../shared/data/mnist', import.meta.url).pathname },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/out/inpaint' },
  },
});
const epochs = Number(o.epochs);
const count = Number(o.count);
const seed = Number(o.seed);
const kinds = o.kinds.split(',').map((k) => {
  const kind = MASK_KINDS.find((m) => m === k);
  if (!kind) throw new Error(`--kinds: unknown kind '${k}' (${MASK_KINDS.join(', ')})`);
  return kind;
});
const PASSES = [1, 5, 20];

const masking = (kind: MaskKind): NonNullable<VaeConfig['masking']> =>
  kind === 'pixels'
    ? { kind, p: 0.5, channels: true }
    : kind === 'block'
      ? { kind, minSize: 7, maxSize: 14, channels: true }
      : { kind, channels: true };

const data = loadIdxDataset(o.data);
const rt = await createRuntime({ adapter: o.adapter as AdapterChoice });
console.error(`adapter: ${rt.info.name}; ${epochs} epochs per model, ${count} test images`);
const x = data.test.images.slice(0, count * 784);
const rows: string[] = [];
mkdirSync(o.out, { recursive: true });
for (const kind of kinds) {
  const saved = join(o.out, `${kind}-${epochs}ep.safetensors`);
  const trained = existsSync(saved);
  const model = trained
    ? VaeModel.fromCheckpoint(rt, new Uint8Array(readFileSync(saved)), saved).model
    : VaeModel.create(
        rt,
        {
          version: 2,
          inputSize: 784,
          latentSize: 20,
          encoder: { hidden: [400], activation: 'relu' },
          decoder: { hidden: [400], activation: 'relu' },
          likelihood: { kind: 'bernoulli' },
          masking: masking(kind),
        },
        { seed },
      );
  const trainer = await Trainer.create(model, { batchSize: Number(o.batch), lr: 1e-3, seed });
  const started = performance.now();
  if (!trained) {
    const reports = await trainer.fit(
      { images: data.train.images, count: data.train.count },
      { epochs },
    );
    writeFileSync(saved, await model.toCheckpoint());
    const last = reports.at(-1);
    console.error(
      `${kind}: trained ${epochs} epochs in ${((performance.now() - started) / 1000).toFixed(0)} s` +
        (last ? ` (train loss ${last.train.values.loss?.toFixed(2)})` : ''),
    );
  } else {
    console.error(`${kind}: read ${saved}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const mask = drawMasks(kind, count, 28, 0.5, createRng(seed + 99));
  const inference = VaeInference.create(model);
  const errors: number[] = [];
  await inference.inpaint(x, mask, {
    iterations: PASSES.at(-1)!,
    onIteration: (_i, images) => errors.push(missingPixelBce(images, x, mask)),
  });
  const zero = missingPixelBce(
    Float32Array.from(x, (v, i) => (mask[i] === 1 ? 0 : v)),
    x,
    mask,
  );
  const missing = mask.reduce((s, v) => s + v, 0) / count;
  rows.push(
    `| ${kind} | ${missing.toFixed(0)} | ${zero.toFixed(3)} | ${PASSES.map((p) => errors[p - 1]!.toFixed(4)).join(' | ')} | ${seconds.toFixed(0)} |`,
  );
  console.error(rows.at(-1));
  inference.destroy();
  trainer.destroy();
  model.destroy();
}
console.log(
  [
    `Missing-pixel BCE (nats per missing pixel), ${count} MNIST test images, models trained ${epochs} epochs with their kind's masks (${rt.info.name}):`,
    '',
    '| mask | missing px/img | 0 passes (fill 0) | 1 pass | 5 passes | 20 passes | train s |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
rt.destroy();
