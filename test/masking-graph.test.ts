// A training graph with a masking section, masks and noise both drawn on the GPU: the mask of
// every step equals the reference draw of its own stream (never the reparameterization's), new
// masks each step, and the loss and every gradient of the step against the float64 interpreter
// of the same graph (which draws the same masks and noise for the step).
import { describe, expect, it } from 'vitest';
import type { RandomMaskAttrs } from '../src/graph/ops/mask.js';
import type { ReparamAttrs } from '../src/graph/ops/latent.js';
import { randomMask64 } from '../src/reference/mask.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph } from '../src/vae/build.js';
import type { VaeConfig } from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  poisonGradients,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import { freshSeed, makeRng, scaledCheck } from './helpers/reference.js';

const CASES: [string, VaeConfig['masking']][] = [
  [
    'pixels, the mask as features, loss over the missing pixels',
    {
      kind: 'pixels',
      p: 0.35,
      channels: true,
      loss: 'missing',
      fill: 0.5,
    },
  ],
  ['blocks, loss over all pixels', { kind: 'block', minSize: 2, maxSize: 4 }],
];

describe.each(TEST_ADAPTERS)('drawn masks in a training graph on %s', (adapter) => {
  it.each(CASES)('%s', async (_name, masking) => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const config: VaeConfig = {
      version: 2,
      inputSize: 30,
      inputShape: [1, 5, 6],
      latentSize: 3,
      encoder: { hidden: [7], activation: 'tanh' },
      decoder: { hidden: [6], activation: 'softplus' },
      likelihood: { kind: 'bernoulli' },
      masking,
    };
    const model = VaeModel.create(rt, config, { seed });
    const B = 6;
    const mg = buildModelGraph(model.config, { batch: B, training: true, seed });
    const maskOp = mg.graph.ops.find((op) => op.type === 'random_mask')!;
    const reparam = mg.graph.ops.find((op) => op.type === 'reparam')!;
    const maskAttrs = maskOp.attrs as RandomMaskAttrs;
    expect(maskAttrs.stream).not.toBe((reparam.attrs as ReparamAttrs).stream);
    const grads = rt.buffers.storage('masking.grads', model.flatSize * 4).buffer;
    poisonGradients(model, grads);
    const cg = await compileModelGraph(rt, model, mg, grads, 'masking');
    const rng = makeRng(seed);
    const x = Float32Array.from({ length: B * 30 }, () => rng());
    const params = new Map(
      [...(await model.readWeights())].map(([k, v]) => [k, Float64Array.from(v)]),
    );
    const masks: string[] = [];
    for (const step of [0, 1 + (seed % 50)]) {
      writeStepInputs(cg, mg, model, { x, step });
      await rt.submitChecked(cg.dispatches, 'masking.step');
      const mask = await cg.read(mg.mask!);
      const want = randomMask64(maskAttrs.pattern, B, [1, 5, 6], seed, step, maskAttrs.stream);
      expect(Array.from(mask), `step ${step}, seed ${seed}`).toEqual(Array.from(want));
      masks.push(mask.join());
      const ref = runGraph64(mg.graph, {
        params,
        inputs: stepInputs64(mg, model.config, { x, step }),
        step,
      });
      const [loss] = await cg.read(mg.loss);
      expect(Math.abs(loss! - ref.loss), `loss at step ${step}`).toBeLessThan(
        2e-5 * Math.abs(ref.loss) + 1e-4,
      );
      const lines = scaledCheck(await model.readFlat(grads), ref.grads, 3e-4);
      expect(lines, lines.join('\n')).toEqual([]);
    }
    expect(masks[1], 'a new step draws new masks').not.toBe(masks[0]);
    cg.destroy();
    rt.buffers.destroy(grads);
    model.destroy();
  });
});
