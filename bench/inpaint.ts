// Inpainting with random masks: per mask kind (pixels p = 0.5, block, quadrant), an MLP VAE
// (784-400-20, relu, Bernoulli) trained on MNIST with that kind's masks (the mask fed to the
// encoder, the loss over all pixels), then the missing-pixel BCE (nats per missing pixel) of the
// first --count test images under fresh masks of the same kind, after 0 (the fill value, clamped
// to 1e-6), 1, 5 and 20 passes of VaeInference.inpaint. Prints a markdown table.
//   npx tsx bench/inpaint.ts [--epochs 3] [--kinds pixels,block,quadrant] [--count 1000]
//                            [--adapter llvmpipe] [--data ../shared/data/mnist] [--seed 1]
//                            [--out bench/out/inpaint] [--unmasked]
// --unmasked: also a model trained on complete images (Rezende et al.'s setting), completed
// under each kind's masks.
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
    unmasked: { type: 'boolean', default: false },
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
mkdirSync(o.out, { recursive: true });

/** The model trained on `name`'s masks (none: on complete images), read back when kept. */
async function trainedModel(
  name: string,
  masking: VaeConfig['masking'],
): Promise<{ model: VaeModel; seconds: number }> {
  const saved = join(o.out, `${name}-${epochs}ep.safetensors`);
  if (existsSync(saved)) {
    console.error(`${name}: read ${saved}`);
    return {
      model: VaeModel.fromCheckpoint(rt, new Uint8Array(readFileSync(saved)), saved).model,
      seconds: 0,
    };
  }
  const model = VaeModel.create(
    rt,
    {
      version: 2,
      inputSize: 784,
      latentSize: 20,
      encoder: { hidden: [400], activation: 'relu' },
      decoder: { hidden: [400], activation: 'relu' },
      likelihood: { kind: 'bernoulli' },
      ...(masking ? { masking } : {}),
    },
    { seed },
  );
  const trainer = await Trainer.create(model, { batchSize: Number(o.batch), lr: 1e-3, seed });
  const started = performance.now();
  const reports = await trainer.fit(
    { images: data.train.images, count: data.train.count },
    { epochs },
  );
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(saved, await model.toCheckpoint());
  trainer.destroy();
  const loss = reports.at(-1)?.train.values.loss;
  console.error(
    `${name}: trained ${epochs} epochs in ${seconds.toFixed(0)} s (train loss ${loss})`,
  );
  return { model, seconds };
}

/** One table row: the model's completions of the test images under fresh `kind` masks. */
async function row(label: string, model: VaeModel, kind: MaskKind, seconds: number) {
  const mask = drawMasks(kind, count, 28, 0.5, createRng(seed + 99));
  const inference = VaeInference.create(model);
  const errors: number[] = [];
  await inference.inpaint(x, mask, {
    iterations: PASSES.at(-1)!,
    onIteration: (_i, images) => errors.push(missingPixelBce(images, x, mask)),
  });
  inference.destroy();
  const zero = missingPixelBce(
    Float32Array.from(x, (v, i) => (mask[i] === 1 ? 0 : v)),
    x,
    mask,
  );
  const missing = mask.reduce((s, v) => s + v, 0) / count;
  const line =
    `| ${label} | ${kind} | ${missing.toFixed(0)} | ${zero.toFixed(3)} | ` +
    `${PASSES.map((p) => errors[p - 1]!.toFixed(4)).join(' | ')} | ${seconds.toFixed(0)} |`;
  console.error(line);
  return line;
}

const rows: string[] = [];
for (const kind of kinds) {
  const { model, seconds } = await trainedModel(kind, masking(kind));
  rows.push(await row(`${kind}, mask as input`, model, kind, seconds));
  model.destroy();
}
if (o.unmasked) {
  // Rezende et al.'s setting: a model of complete images, completed iteratively.
  const { model, seconds } = await trainedModel('unmasked', undefined);
  for (const kind of kinds) rows.push(await row('no masks', model, kind, seconds));
  model.destroy();
}
console.log(
  [
    `Missing-pixel BCE (nats per missing pixel), ${count} MNIST test images, 784-400-20 models trained ${epochs} epochs (${rt.info.name}):`,
    '',
    '| trained with | test mask | missing px/img | 0 passes (fill 0) | 1 pass | 5 passes | 20 passes | train s |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
rt.destroy();
