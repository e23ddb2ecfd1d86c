// Every variant against the PyTorch twin's golden fixtures (python/webgpu_vae_torch/golden.py):
// IWAE training (K samples, given noise), the conditional VAE (MLP; conv with the label as
// channels or at the dense layer), the full-covariance posterior (ELBO and IWAE), the planar
// flow (global and amortized; ELBO with its Monte Carlo KL, IWAE k = 3), the inverse
// autoregressive flow (ELBO with one and two MADE layers, IWAE k = 3), two stochastic layers
// (ELBO, IWAE k = 3), random masks given as input (pixels, block, quadrant; the mask as
// features or a channel; the loss over all or the missing pixels) and conditional completion (the
// quadrant task with a prior network; a conditional prior on labels): the objective, every gradient
// and three Adam steps on the GPU (the ELBO fixture's GPU run is in test/graph.test.ts); and the
// float64 interpreter of the same graph against every fixture (ELBO, IWAE, CVAE, full, planar,
// iaf, hierarchical, masking, completion): the forward tensors, the objective, every gradient and
// three float64 Adam steps. The vq posterior's fixture has its own format and tests (at the end).
import { describe, expect, it } from 'vitest';
import { prepareAdam } from '../src/kernels/adam.js';
import { adamStep64 } from '../src/reference/adam.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph } from '../src/vae/build.js';
import { parameterSpecs, resolveVaeConfig } from '../src/vae/config.js';
import { hyperAt } from '../src/vae/evaluator.js';
import { VaeModel } from '../src/vae/model.js';
import {
  loadGolden,
  loadGoldenVq,
  type GoldenCase,
  type GoldenFile,
  type GoldenVqCase,
} from './helpers/golden.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  poisonGradients,
  scaledObjective,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import { mismatches, scaledCheck } from './helpers/reference.js';

const FILES: GoldenFile[] = [
  'vae-golden-iwae.json',
  'vae-golden-cvae.json',
  'vae-golden-full.json',
  'vae-golden-planar.json',
  'vae-golden-iaf.json',
  'vae-golden-hierarchical.json',
  'vae-golden-masking.json',
  'vae-golden-completion.json',
];
/** The interpreter is checked against every fixture, the version-1 ELBO cases too. */
const REFERENCE_FILES: GoldenFile[] = ['vae-golden.json', ...FILES];

const toF32 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float32Array.from(v)]));
const toF64 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float64Array.from(v)]));

const casesOf = (files: GoldenFile[]) =>
  files.flatMap((file) => {
    const golden = loadGolden(file);
    return golden.cases.map((c) => [`${c.name}`, c, golden.adam] as const);
  });
/**
 * Cases whose graphs use no kernel or op the GPU run of another case does not (a conditional prior
 * on labels: the completion cases run kl_gaussians and the prior's log density on the GPU):
 * checked by the interpreter only, to keep the suite's time.
 */
const INTERPRETER_ONLY = new Set([
  'label-conditional-prior-elbo-gaussian-mean',
  'label-conditional-prior-full-iwae-k3-sum',
]);
const cases = casesOf(FILES).filter(([name]) => !INTERPRETER_ONLY.has(name));

/** The fixtures store 12 significant digits; float64 against float64 agrees far better. */
const TOL = { atol: 1e-12, rtol: 1e-9 };

function inputsOf(c: GoldenCase) {
  return {
    x: Float32Array.from(c.x),
    eps: Float32Array.from(c.eps),
    ...(c.labels ? { labels: Float32Array.from(c.labels) } : {}),
    ...(c.mask ? { mask: Float32Array.from(c.mask) } : {}),
  };
}

describe('the float64 interpreter against the PyTorch twin', () => {
  it.each(casesOf(REFERENCE_FILES))(
    '%s: forward tensors, objective, every gradient, three Adam steps',
    (_name, c, adamHyper) => {
      const config = resolveVaeConfig(c.config);
      const mg = buildModelGraph(config, {
        batch: c.batch,
        training: true,
        seed: 0,
        givenNoise: true,
        givenMask: c.mask !== undefined,
      });
      const inputs = new Map<string, ArrayLike<number>>([
        ['eps', c.eps],
        ['hyper', hyperAt(config, 0)],
      ]);
      // x, and the images again where a condition reads them (x_obs of a completion task).
      for (const feed of mg.feeds) if (feed.field === 'images') inputs.set(feed.tensor.name, c.x);
      if (c.labels) inputs.set('y', c.labels);
      if (c.mask) inputs.set('mask', c.mask);
      const scale = config.objective.reduction === 'mean' ? 1 / c.batch : 1;
      const samples = config.objective.kind === 'iwae' ? config.objective.samples : 1;
      const params = toF64(c.params);
      const run = () => runGraph64(mg.graph, { params, inputs });
      const ref = run();
      const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
        expect(got.length, `${what} length`).toBe(want.length);
        expect(mismatches(got, want, TOL, what)).toBeNull();
      };
      close([scale * ref.loss], [c.objective], 'objective');
      const metric = (name: string) => mg.metrics.find((m) => m.name === name)?.value;
      const tensors: [string, number[] | undefined, ReturnType<typeof metric>][] = [
        ['nll', c.nll, mg.nll],
        ['mu', c.mu, mg.posterior.outputs.mu],
        ['logvar', c.logvar, mg.posterior.outputs.logvar],
        ['mu1', c.mu1, mg.posterior.outputs.mu1],
        ['logvar1', c.logvar1, mg.posterior.outputs.logvar1],
        ['lower', c.lower, mg.posterior.outputs.lower],
        ['z', c.z, mg.posterior.z],
        ['output', c.output, mg.output],
        ['logSigma', c.logSigma, mg.logSigma],
        ['logWeights', c.logWeights, mg.perExample.logWeights],
        // The twin's reconSum averages the K samples of each example; the metric sums them.
        ['recon', [c.reconSum * samples], metric('recon')],
        // The ELBO's per-example KL and its sum (IWAE has no KL term).
        ['kl', c.kl, mg.perExample.kl],
        ['klSum', [c.klSum], mg.perExample.kl && metric('kl')],
      ];
      for (const [what, want, t] of tensors) {
        expect(t === undefined, `${what}: in the graph exactly when in the fixture`).toBe(
          want === undefined || (what.startsWith('kl') && config.objective.kind === 'iwae'),
        );
        if (t && want) close(ref.value(t), want, what);
      }
      expect([...ref.grads.keys()]).toEqual(Object.keys(c.grads));
      for (const [name, g] of toF64(c.grads)) close(ref.grads.get(name)!, g, `d/d${name}`);

      // torch.optim.Adam in float64 on the interpreter's gradients.
      const m = new Map([...params].map(([k, v]) => [k, new Float64Array(v.length)]));
      const v = new Map([...params].map(([k, p]) => [k, new Float64Array(p.length)]));
      const objectives: number[] = [];
      for (let t = 1; t <= adamHyper.steps; t++) {
        const r = run();
        objectives.push(scale * r.loss);
        for (const [k, p] of params)
          adamStep64(p, m.get(k)!, v.get(k)!, r.grads.get(k)!, t, adamHyper);
      }
      close(objectives, c.adam.objectives, 'objective before each step');
      for (const [name, p] of toF64(c.adam.params)) close(params.get(name)!, p, `${name} after`);
      close([scale * run().loss], [c.adam.finalObjective], 'objective after the steps');
    },
  );
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
      givenMask: c.mask !== undefined,
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

// Posterior 'vq' (vae-golden-vq.json): the assignments (the fixture's inputs keep every latent
// vector's nearest code ahead of its second by a margin at every step), the straight-through
// gradient, the codebook and commitment gradients, and three steps: Adam on the parameters and,
// with update 'ema', the codebook and its EMA state moved by each step's forward.
const vq = loadGoldenVq();
const vqCases = vq.cases.map((c) => [c.name, c] as const);

/** The names of the non-parameter tensors of a config (EMA state): no gradient, no Adam. */
const bufferNames = (c: GoldenVqCase) =>
  parameterSpecs(resolveVaeConfig(c.config))
    .filter((s) => s.buffer)
    .map((s) => s.name);

describe('vq: the float64 interpreter against the PyTorch twin', () => {
  it.each(vqCases)(
    '%s: assignments, forward tensors, straight-through and loss gradients, three steps',
    (_name, c) => {
      expect(c.minGap, 'every assignment clear of its runner-up').toBeGreaterThan(c.margin);
      const config = resolveVaeConfig(c.config);
      const mg = buildModelGraph(config, { batch: c.batch, training: true, seed: 0 });
      const inputs = stepInputs64(mg, config, { x: c.x });
      const scale = config.objective.reduction === 'mean' ? 1 / c.batch : 1;
      const params = toF64(c.params);
      const ref = runGraph64(mg.graph, { params, inputs });
      const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
        expect(got.length, `${what} length`).toBe(want.length);
        expect(mismatches(got, want, TOL, what)).toBeNull();
      };
      const metric = (name: string) =>
        ref.value(mg.metrics.find((m) => m.name === name)!.value)[0]!;
      expect([...ref.value(mg.posterior.outputs.codes!)]).toEqual(c.codes);
      close([scale * ref.loss], [c.objective], 'objective');
      close(ref.value(mg.posterior.outputs.ze!), c.ze, 'ze');
      close(ref.value(mg.posterior.z), c.z, 'z');
      close(ref.value(mg.output), c.output, 'output');
      close(ref.value(mg.nll), c.nll, 'nll');
      close(
        ['recon', 'codebook', 'commitment'].map(metric),
        [c.reconSum, c.codebookSum, c.commitmentSum],
        'recon, codebook, commitment sums',
      );
      // Usage metrics are scaled by the batch's examples (averaged per example over steps).
      close(
        [metric('perplexity') / c.batch, metric('codes_used') / c.batch],
        [c.perplexity, c.codesUsed],
        'perplexity, codes used',
      );
      const dz = ref.grad(mg.posterior.z)!;
      const dze = ref.grad(mg.posterior.outputs.ze!)!;
      close(dz, c.zGrad, 'dz (from the decoder)');
      close(dze, c.zeGrad, 'dze (straight-through + commitment)');
      close(
        Array.from(dze, (v, i) => v - dz[i]!),
        c.commitmentGrad,
        'commitment gradient',
      );
      const buffers = bufferNames(c);
      if (buffers.length === 0) {
        // Only the codebook loss reaches the codebook.
        close(ref.grads.get('posterior.codebook')!, c.codebookLossGrad, 'codebook loss gradient');
      } else {
        expect(c.codebookLossGrad.every((v) => v === 0)).toBe(true);
      }
      for (const [name, g] of toF64(c.grads)) close(ref.grads.get(name)!, g, `d/d${name}`);

      const trained = [...params.keys()].filter((k) => !buffers.includes(k));
      const m = new Map(trained.map((k) => [k, new Float64Array(params.get(k)!.length)]));
      const v = new Map(trained.map((k) => [k, new Float64Array(params.get(k)!.length)]));
      const objectives: number[] = [];
      for (let t = 1; t <= vq.adam.steps; t++) {
        const r = runGraph64(mg.graph, { params, inputs });
        objectives.push(scale * r.loss);
        for (const k of trained)
          adamStep64(params.get(k)!, m.get(k)!, v.get(k)!, r.grads.get(k)!, t, vq.adam);
        // The step's EMA update: the values its vq_ema op wrote.
        for (const name of buffers) {
          params.set(
            name,
            Float64Array.from(r.value(mg.graph.params.find((p) => p.name === name)!)),
          );
        }
      }
      close(objectives, c.adam.objectives, 'objective before each step');
      for (const [name, p] of toF64(c.adam.params)) close(params.get(name)!, p, `${name} after`);
      // The final objective without a step (the evaluation graph: no EMA update).
      const evalGraph = buildModelGraph(config, { batch: c.batch, training: false, seed: 0 });
      const final = runGraph64(evalGraph.graph, {
        params,
        inputs: stepInputs64(evalGraph, config, { x: c.x }),
      });
      close([scale * final.loss], [c.adam.finalObjective], 'objective after the steps');
    },
  );
});

describe.each(TEST_ADAPTERS)('vq against the PyTorch twin on %s', (adapter) => {
  it.each(vqCases)('%s: codes, objective, every gradient, three steps', async (_name, c) => {
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig(c.config);
    const model = VaeModel.create(rt, config, { weights: toF32(c.params) });
    const bytes = model.flatSize * 4;
    const flat = (label: string) => rt.buffers.storage(label, bytes).buffer;
    const [grads, m, v] = [flat('golden.grads'), flat('golden.m'), flat('golden.v')];
    poisonGradients(model, grads);
    // The EMA state has no gradient: zero, so Adam over the whole flat buffer leaves it alone.
    for (const name of bufferNames(c)) {
      const e = model.layout.get(name)!;
      rt.device.queue.writeBuffer(
        grads,
        e.offset,
        new Float32Array(e.shape.reduce((a, b) => a * b)),
      );
    }
    const mg = buildModelGraph(config, { batch: c.batch, training: true, seed: 0 });
    const cg = await compileModelGraph(rt, model, mg, grads, c.name);
    const range = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: bytes });
    const adam = await prepareAdam(rt, {
      lr: vq.adam.lr,
      beta1: vq.adam.beta1,
      beta2: vq.adam.beta2,
      eps: vq.adam.eps,
      decoupled: false,
      params: range(model.params),
      grads: range(grads),
      m: range(m),
      v: range(v),
      n: model.flatSize,
    });
    const x = Float32Array.from(c.x);
    for (let step = 1; step <= vq.adam.steps; step++) {
      writeStepInputs(cg, mg, model, { x, step: step - 1 });
      adam.setStep(step);
      // The step's forward, backward and EMA update; Adam after.
      await rt.submitChecked([...cg.dispatches], `golden.vq.step${step}`);
      const obj = scaledObjective(model, c.batch, (await cg.read(mg.loss))[0]!);
      const want = c.adam.objectives[step - 1]!;
      expect(Math.abs(obj - want), `objective before step ${step}`).toBeLessThan(
        5e-5 * Math.abs(want) + 1e-4,
      );
      if (step === 1) {
        expect([...(await cg.read(mg.posterior.outputs.codes!))]).toEqual(c.codes);
        const nll = await cg.read(mg.nll);
        expect(Array.from(nll)).toEqual(
          c.nll.map((n) => expect.closeTo(n, Math.max(1e-3, Math.abs(n) * 2e-5))),
        );
        const gradLines = scaledCheck(await model.readFlat(grads), toF64(c.grads), 3e-4);
        expect(gradLines, gradLines.join('\n')).toEqual([]);
      }
      await rt.submitChecked([adam], `golden.vq.adam${step}`);
    }
    const paramLines = scaledCheck(await model.readWeights(), toF64(c.adam.params), 1e-4);
    expect(paramLines, paramLines.join('\n')).toEqual([]);
    adam.destroy();
    cg.destroy();
    for (const b of [grads, m, v]) rt.buffers.destroy(b);
    model.destroy();
  });
});
