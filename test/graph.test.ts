// The static graph end to end on the GPU: forward, autodiff and Adam against the PyTorch twin's
// golden fixture (fresh random models of every variant against the float64 interpreter are in
// test/model-layer.test.ts); the concurrent compile; the planner's reuse; and that replaying a step
// creates no GPU objects.
import { describe, expect, it } from 'vitest';
import { defineOp, Graph, GradContext, type Tensor } from '../src/graph/graph.js';
import { CompiledGraph } from '../src/graph/executor.js';
import { prepareAdam } from '../src/kernels/adam.js';
import { resolveVaeConfig } from '../src/vae/config.js';
import { buildModelGraph } from '../src/vae/build.js';
import { VaeModel } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  freshSeed,
  makeRng,
  randomNormal,
  randomUniform,
  scaledCheck,
} from './helpers/reference.js';
import { loadGolden } from './helpers/golden.js';
import { compileModelGraph, scaledObjective, writeStepInputs } from './helpers/model-graph.js';

const golden = loadGolden();

const toF32 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float32Array.from(v)]));
const toF64 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float64Array.from(v)]));

// An op whose preparation fails after the others have started (the concurrent compile's cleanup).
const failLate = defineOp<{ x: Tensor }, { y: Tensor }, Record<string, never>>({
  type: 'test_fail_late',
  async prepare() {
    await new Promise((resolve) => setTimeout(resolve, 20));
    throw new Error('late failure');
  },
});

describe.each(TEST_ADAPTERS)('graph on %s', (adapter) => {
  it.each(golden.cases.map((c) => [c.name, c] as const))(
    'matches the PyTorch twin: losses, every gradient, three Adam steps (%s)',
    async (_name, c) => {
      const rt = await runtimeFor(adapter);
      const config = resolveVaeConfig(c.config);
      const model = VaeModel.create(rt, config, { weights: toF32(c.params) });
      const grads = rt.buffers.storage('golden.grads', model.flatSize * 4).buffer;
      const mg = buildModelGraph(config, {
        batch: c.batch,
        training: true,
        seed: 0,
        givenNoise: true,
      });
      const cg = await compileModelGraph(rt, model, mg, grads, c.name);
      const bytes = model.flatSize * 4;
      const flat = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: bytes });
      const m = rt.buffers.storage('golden.m', bytes).buffer;
      const v = rt.buffers.storage('golden.v', bytes).buffer;
      const adam = await prepareAdam(rt, {
        lr: golden.adam.lr,
        beta1: golden.adam.beta1,
        beta2: golden.adam.beta2,
        eps: golden.adam.eps,
        decoupled: false,
        params: flat(model.params),
        grads: flat(grads),
        m: flat(m),
        v: flat(v),
        n: model.flatSize,
      });
      const inputs = { x: Float32Array.from(c.x), eps: Float32Array.from(c.eps) };
      writeStepInputs(cg, mg, model, { ...inputs, step: 0 });
      await rt.submitChecked(cg.dispatches, 'golden.forward_backward');
      const metric = (name: string) => mg.metrics.find((m) => m.name === name)!.value;
      const nll = await cg.read(mg.nll);
      const kl = await cg.read(mg.perExample.kl!);
      const [klSum] = await cg.read(metric('kl'));
      const [reconSum] = await cg.read(metric('recon'));
      const [loss] = await cg.read(mg.loss);
      expect(Array.from(nll)).toEqual(
        c.nll.map((n) => expect.closeTo(n, Math.max(1e-3, Math.abs(n) * 2e-5))),
      );
      expect(Array.from(kl)).toEqual(
        c.kl.map((n) => expect.closeTo(n, Math.max(1e-4, Math.abs(n) * 2e-5))),
      );
      expect(reconSum).toBeCloseTo(c.reconSum, 2);
      expect(klSum).toBeCloseTo(c.klSum, 3);
      const objective = scaledObjective(model, c.batch, loss!);
      expect(Math.abs(objective - c.objective)).toBeLessThan(2e-5 * Math.abs(c.objective) + 1e-4);
      const gradMismatches = scaledCheck(await model.readFlat(grads), toF64(c.grads), 2e-4);
      expect(gradMismatches, gradMismatches.join('\n')).toEqual([]);

      // Three Adam steps, each a full forward + backward + update in one submit.
      for (let step = 1; step <= golden.adam.steps; step++) {
        writeStepInputs(cg, mg, model, { ...inputs, step: step - 1 });
        adam.setStep(step);
        await rt.submitChecked([...cg.dispatches, adam], `golden.step${step}`);
        const obj = scaledObjective(model, c.batch, (await cg.read(mg.loss))[0]!);
        const want = c.adam.objectives[step - 1]!;
        expect(Math.abs(obj - want), `objective before step ${step}`).toBeLessThan(
          5e-5 * Math.abs(want) + 1e-4,
        );
      }
      const paramMismatches = scaledCheck(await model.readWeights(), toF64(c.adam.params), 1e-4);
      expect(paramMismatches, paramMismatches.join('\n')).toEqual([]);
      adam.destroy();
      cg.destroy();
      model.destroy();
    },
  );

  it('compiles concurrently with the same dispatches and results as serially, and frees a failed compile', async () => {
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig({
      inputSize: 37,
      latentSize: 5,
      encoder: { hidden: [23, 19], activation: 'tanh' },
      decoder: { hidden: [21] },
    });
    const seed = freshSeed();
    const rng = makeRng(seed);
    const model = VaeModel.create(rt, config, { seed });
    const B = 13;
    const mg = buildModelGraph(config, { batch: B, training: true, seed: 1, givenNoise: true });
    const x = randomUniform(rng, B * 37, 0, 1);
    const eps = randomNormal(rng, B * 5);
    const results: { labels: string[]; grads: Map<string, Float32Array>; loss: number[] }[] = [];
    for (const serial of [true, false]) {
      const grads = rt.buffers.storage('cc.grads', model.flatSize * 4).buffer;
      const cg = await CompiledGraph.compile(rt, mg.graph, {
        params: model.paramBuffers(grads),
        serial,
        label: serial ? 'serial' : 'concurrent',
      });
      writeStepInputs(cg, mg, model, { x, eps });
      await rt.submitChecked(cg.dispatches, 'cc');
      results.push({
        labels: cg.dispatches.map((d) => d.label.replace(/^[^[]*\[/, '')),
        grads: await model.readFlat(grads),
        loss: [...(await cg.read(mg.loss)), ...(await cg.read(mg.nll))],
      });
      cg.destroy();
      rt.buffers.destroy(grads);
    }
    const [serial, concurrent] = results as [(typeof results)[0], (typeof results)[0]];
    expect(concurrent.labels).toEqual(serial.labels);
    expect(concurrent.loss).toEqual(serial.loss);
    for (const [name, g] of serial.grads) {
      expect(Array.from(concurrent.grads.get(name)!), name).toEqual(Array.from(g));
    }
    // A compile where one op fails while the others are being prepared frees everything.
    const live = () => ({ n: rt.buffers.stats.liveBuffers, bytes: rt.buffers.stats.liveBytes });
    const before = live();
    const bad = buildModelGraph(config, { batch: B, training: true, seed: 1 });
    bad.graph.add(failLate, 'boom', { x: bad.x }, { y: [1] }, {});
    await expect(
      CompiledGraph.compile(rt, bad.graph, { params: model.paramBuffers(model.params) }),
    ).rejects.toThrow(/preparing test_fail_late 'boom' failed: late failure/);
    expect(live()).toEqual(before);
    model.destroy();
  });

  it('plans memory with reuse and replays steps without creating GPU objects', async () => {
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig({
      inputSize: 50,
      latentSize: 6,
      encoder: { hidden: [40, 30] },
      decoder: { hidden: [30, 40] },
    });
    const model = VaeModel.create(rt, config, { seed: 1 });
    const grads = rt.buffers.storage('reuse.grads', model.flatSize * 4).buffer;
    const mg = buildModelGraph(config, { batch: 17, training: true, seed: 3 });
    const cg = await compileModelGraph(rt, model, mg, grads);
    expect(cg.memory.pooledBytes).toBeLessThan(cg.memory.unplannedBytes);
    // No two temporaries alive at the same op share a buffer.
    const { intervals, temps } = cg.plan;
    for (const [a, ia] of intervals) {
      for (const [b, ib] of intervals) {
        if (a !== b && temps.get(a) === temps.get(b)) {
          expect(
            ia.end < ib.start || ib.end < ia.start,
            `${a.toString()} and ${b.toString()}`,
          ).toBe(true);
        }
      }
    }
    const device = rt.device as unknown as Record<string, (...args: unknown[]) => unknown>;
    const counted = [
      'createBuffer',
      'createBindGroup',
      'createComputePipeline',
      'createComputePipelineAsync',
      'createShaderModule',
      'createBindGroupLayout',
      'createPipelineLayout',
    ];
    const counts = new Map<string, number>();
    const originals = counted.map((name) => [name, device[name]!] as const);
    for (const [name, fn] of originals) {
      device[name] = (...args: unknown[]) => {
        counts.set(name, (counts.get(name) ?? 0) + 1);
        return fn.apply(rt.device, args);
      };
    }
    try {
      const x = new Float32Array(17 * 50).fill(0.5);
      for (let step = 0; step < 3; step++) {
        writeStepInputs(cg, mg, model, { x, step });
        rt.submit(cg.dispatches, 'replay');
      }
      await rt.finish();
    } finally {
      for (const [name, fn] of originals) device[name] = fn;
    }
    expect(Object.fromEntries(counts)).toEqual({});
    cg.destroy();
    model.destroy();
  });
});

describe('autodiff', () => {
  it('sums the gradients of a tensor used twice: first write assigns, later writes add', () => {
    const g = new Graph();
    const w = g.param('w', [3, 2]);
    const ctx = new GradContext(g);
    const first = ctx.slot(w);
    const second = ctx.slot(w);
    expect(first.accumulate).toBe(false);
    expect(second.accumulate).toBe(true);
    expect(second.grad).toBe(first.grad);
    expect(first.grad.role).toBe('param-grad');
    const x = g.input('x', [4, 2]);
    expect(() => ctx.slot(x)).toThrow(/no gradient is wanted for x/);
  });

  it('builds the backward pass once, with no gradient for the data and every parameter covered', () => {
    const config = resolveVaeConfig({
      inputSize: 8,
      latentSize: 2,
      encoder: { hidden: [5] },
      decoder: { hidden: [4] },
    });
    const mg = buildModelGraph(config, { batch: 3, training: true, seed: 0 });
    const names = mg.paramGrads.map((t) => t.name);
    expect(names).toEqual(mg.graph.params.map((p) => `${p.name}.grad`));
    expect(mg.graph.tensors.some((t) => t.name === 'x.grad')).toBe(false);
    // mu and logvar feed both the KL and the sampling: the second writer accumulates.
    const writers = mg.graph.ops.filter((op) =>
      op.outputs.some((t) => t.name === 'encoder.mu.grad'),
    );
    expect(
      writers.map((op) => [op.type, (op.attrs as { accumulate: boolean }).accumulate]),
    ).toEqual([
      ['kl_backward', false],
      ['reparam_backward', true],
    ]);
    expect(() => mg.graph.backward()).toThrow(/already called/);
  });

  it('names the problem for bad graphs', () => {
    const g = new Graph();
    expect(() => g.tensor('bad', [3, 0], 'temp', false)).toThrow(
      /tensor 'bad' has a bad shape \[3, 0\]/,
    );
    g.param('p', [2]);
    expect(() => g.param('p', [2])).toThrow(/parameter 'p' declared twice/);
    expect(() => g.paramNamed('q')).toThrow(/no parameter 'q' \(declared: p\)/);
    expect(() => g.backward()).toThrow(/needs exactly one root op \(the objective\), found 0/);
    const x = g.input('x', [2, 3]);
    expect(() => g.viewTensor(x, [7])).toThrow(/a view of x\(2×3\) as \[7\] changes its size/);
    expect(() => g.viewTensor(g.params[0]!, [2])).toThrow(/views are of temporaries and inputs/);
  });
});
