// Every variant against the PyTorch twin's golden fixtures (python/webgpu_vae_torch/golden.py):
// IWAE training (K samples, given noise) and the conditional VAE (MLP; conv with the label as
// channels or at the dense layer), the objective, every gradient and three Adam steps on the GPU,
// and the float64 interpreter of the same graph against the fixtures too.
import { describe, expect, it } from 'vitest';
import { prepareAdam } from '../src/kernels/adam.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig } from '../src/vae/config.js';
import { hyperAt } from '../src/vae/evaluator.js';
import { VaeModel } from '../src/vae/model.js';
import { loadGolden, type GoldenCase, type GoldenFile } from './helpers/golden.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  poisonGradients,
  scaledObjective,
  writeStepInputs,
} from './helpers/model-graph.js';
import { scaledCheck } from './helpers/reference.js';

const FILES: GoldenFile[] = ['vae-golden-iwae.json', 'vae-golden-cvae.json'];

const toF32 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float32Array.from(v)]));
const toF64 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float64Array.from(v)]));

const cases = FILES.flatMap((file) => {
  const golden = loadGolden(file);
  return golden.cases.map((c) => [`${c.name}`, c, golden.adam] as const);
});

function inputsOf(c: GoldenCase) {
  return {
    x: Float32Array.from(c.x),
    eps: Float32Array.from(c.eps),
    ...(c.labels ? { labels: Float32Array.from(c.labels) } : {}),
  };
}

describe('the float64 interpreter against the PyTorch twin', () => {
  it.each(cases)('%s: objective and every gradient', (_name, c) => {
    const config = resolveVaeConfig(c.config);
    const mg = buildModelGraph(config, {
      batch: c.batch,
      training: true,
      seed: 0,
      givenNoise: true,
    });
    const inputs = new Map<string, ArrayLike<number>>([
      ['x', c.x],
      ['eps', c.eps],
      ['hyper', hyperAt(config, 0)],
    ]);
    if (c.labels) inputs.set('y', c.labels);
    const ref = runGraph64(mg.graph, { params: toF64(c.params), inputs });
    const scale = config.objective.reduction === 'mean' ? 1 / c.batch : 1;
    expect(Math.abs(scale * ref.loss - c.objective)).toBeLessThan(
      1e-9 * (1 + Math.abs(c.objective)),
    );
    const want = toF64(c.grads);
    for (const [name, g] of want) {
      const got = ref.grads.get(name)!;
      const s = Math.max(1e-9, ...Array.from(g, Math.abs));
      for (let i = 0; i < g.length; i++) {
        expect(Math.abs(got[i]! - g[i]!), `${name}[${i}]`).toBeLessThan(1e-8 * s);
      }
    }
  });
});

describe.each(TEST_ADAPTERS)('variants against the PyTorch twin on %s', (adapter) => {
  it.each(cases)('%s: objective, every gradient, three Adam steps', async (_name, c, adamHyper) => {
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig(c.config);
    const model = VaeModel.create(rt, config, { weights: toF32(c.params) });
    const bytes = model.flatSize * 4;
    const flat = (label: string) => rt.buffers.storage(label, bytes).buffer;
    const [grads, m, v] = [flat('golden.grads'), flat('golden.m'), flat('golden.v')];
    poisonGradients(model, grads);
    const mg = buildModelGraph(config, {
      batch: c.batch,
      training: true,
      seed: 0,
      givenNoise: true,
    });
    const cg = await compileModelGraph(rt, model, mg, grads, c.name);
    const range = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: bytes });
    const adam = await prepareAdam(rt, {
      lr: adamHyper.lr,
      beta1: adamHyper.beta1,
      beta2: adamHyper.beta2,
      eps: adamHyper.eps,
      decoupled: false,
      params: range(model.params),
      grads: range(grads),
      m: range(m),
      v: range(v),
      n: model.flatSize,
    });
    const inputs = inputsOf(c);
    writeStepInputs(cg, mg, model, { ...inputs, step: 0 });
    await rt.submitChecked(cg.dispatches, 'golden.forward_backward');
    const [loss] = await cg.read(mg.loss);
    const objective = scaledObjective(model, c.batch, loss!);
    expect(Math.abs(objective - c.objective)).toBeLessThan(3e-5 * Math.abs(c.objective) + 1e-4);
    const nll = await cg.read(mg.nll);
    expect(Array.from(nll)).toEqual(
      c.nll.map((n) => expect.closeTo(n, Math.max(1e-3, Math.abs(n) * 2e-5))),
    );
    if (c.logWeights) {
      const lw = await cg.read(mg.perExample.logWeights!);
      expect(Array.from(lw)).toEqual(
        c.logWeights.map((n) => expect.closeTo(n, Math.max(1e-3, Math.abs(n) * 3e-5))),
      );
    }
    const gradLines = scaledCheck(await model.readFlat(grads), toF64(c.grads), 3e-4);
    expect(gradLines, gradLines.join('\n')).toEqual([]);
    for (let step = 1; step <= adamHyper.steps; step++) {
      writeStepInputs(cg, mg, model, { ...inputs, step: step - 1 });
      adam.setStep(step);
      await rt.submitChecked([...cg.dispatches, adam], `golden.step${step}`);
      const obj = scaledObjective(model, c.batch, (await cg.read(mg.loss))[0]!);
      const want = c.adam.objectives[step - 1]!;
      expect(Math.abs(obj - want), `objective before step ${step}`).toBeLessThan(
        5e-5 * Math.abs(want) + 1e-4,
      );
    }
    const paramLines = scaledCheck(await model.readWeights(), toF64(c.adam.params), 1e-4);
    expect(paramLines, paramLines.join('\n')).toEqual([]);
    adam.destroy();
    cg.destroy();
    for (const b of [grads, m, v]) rt.buffers.destroy(b);
    model.destroy();
  });
});
