// The PyTorch twin as a trainer (python/webgpu_vae_torch): a 2-process torchrun run (DDP, gloo)
// on a slice of the embedded digits writes a checkpoint that our library loads, and at its weights
// our objective and gradients on a fixed batch with fixed ε are the twin's; 1 process and 2
// processes reach the same weights; checkpoints resume both ways with equal next steps. A
// semi-supervised M2 model the twin trained classifies in our library as in the twin.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { tensorEntries } from '../src/checkpoint/safetensors.js';
import type { Checkpoint } from '../src/checkpoint/checkpoint.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { prepareAdam } from '../src/kernels/adam.js';
import type { VaeConfig } from '../src/vae/config.js';
import { buildModelGraph } from '../src/vae/build.js';
import { VaeModel } from '../src/vae/model.js';
import { VaeInference } from '../src/vae/inference.js';
import { Trainer } from '../src/vae/trainer.js';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { compileModelGraph, scaledObjective, writeStepInputs } from './helpers/model-graph.js';
import { PYTHON, run, tempDir, torchrun, twin } from './helpers/python.js';
import {
  freshSeed,
  makeRng,
  randomNormal,
  randomUniform,
  scaledCheck,
} from './helpers/reference.js';

/** 784-16-4 with a tanh decoder: tiny, so the whole file stays a few seconds of training. */
const TINY: VaeConfig = {
  inputSize: 784,
  latentSize: 4,
  encoder: { hidden: [16], activation: 'relu' },
  decoder: { hidden: [16], activation: 'tanh' },
  likelihood: { kind: 'bernoulli' },
  reduction: 'sum',
};

/** 64 embedded digits, global batch 16: 4 steps an epoch, 2 epochs, dynamic binarization. */
const TRAIN_ARGS = [
  '--config',
  JSON.stringify(TINY),
  '--data',
  'embedded',
  '--epochs',
  '2',
  '--limit',
  '64',
  '--batch-size',
  '16',
  '--test-limit',
  '100',
  '--seed',
  '3',
  '--binarize',
  'dynamic',
  '--quiet',
];

/** What `python -m webgpu_vae_torch.probe` writes (see python/webgpu_vae_torch/probe.py). */
interface Probe {
  step: number;
  batch: number;
  x: number[];
  eps: number[];
  objective: number;
  reconSum: number;
  klSum: number;
  grads: Record<string, number[]>;
  objectiveAfter: number;
  params: Record<string, number[]>;
  moments: Record<'m' | 'v', Record<string, number[]>>;
  stepAfter: number;
}

const toF64 = (record: Record<string, number[]>) =>
  new Map(Object.entries(record).map(([k, v]) => [k, Float64Array.from(v)]));

interface AdamHyperJson {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * Our side of a probe: the checkpoint's model and Adam state on the GPU, the training graph with
 * given noise, then one Adam step with the state carried over, recorded as Trainer.trainStep
 * records it; the objectives before and after, gradients, weights and moments.
 */
async function gpuStep(
  rt: GpuRuntime,
  ckpt: Checkpoint,
  x: Float32Array,
  eps: Float32Array,
  batch: number,
) {
  const model = VaeModel.fromDecoded(rt, ckpt, 'twin checkpoint');
  const config = model.config;
  const bytes = model.flatSize * 4;
  const flat = (label: string) => rt.buffers.storage(label, bytes).buffer;
  const [grads, m, v] = [flat('twin.grads'), flat('twin.m'), flat('twin.v')];
  const mg = buildModelGraph(config, { batch, training: true, seed: 0, givenNoise: true });
  const cg = await compileModelGraph(rt, model, mg, grads);
  const opt = ckpt.optimizer!;
  const hyper = opt.hyper as AdamHyperJson;
  for (const [buffer, moment] of [
    [m, 'm'],
    [v, 'v'],
  ] as const) {
    const named = new Map([...opt.moments[moment]!].map(([k, t]) => [k, t.data]));
    rt.device.queue.writeBuffer(buffer, 0, model.flatten(named, moment));
  }
  const range = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: bytes });
  const adam = await prepareAdam(rt, {
    lr: hyper.lr,
    beta1: hyper.beta1,
    beta2: hyper.beta2,
    eps: hyper.eps,
    weightDecay: hyper.weightDecay,
    decoupled: false,
    params: range(model.params),
    grads: range(grads),
    m: range(m),
    v: range(v),
    n: model.flatSize,
  });
  const metric = (name: string) => mg.metrics.find((m) => m.name === name)!.value;
  const objectiveAt = async (t: number, step: boolean) => {
    writeStepInputs(cg, mg, model, { x, eps, step: t });
    if (step) adam.setStep(t + 1);
    await rt.submitChecked(step ? [...cg.dispatches, adam] : cg.dispatches);
    const [[loss], [reconSum], [kl]] = await Promise.all([
      cg.read(mg.loss),
      cg.read(metric('recon')),
      cg.read(metric('kl')),
    ]);
    return { objective: scaledObjective(model, batch, loss!), reconSum: reconSum!, kl: kl! };
  };
  const t = opt.step;
  const before = await objectiveAt(t, false);
  const gradients = await model.readFlat(grads);
  await objectiveAt(t, true);
  const after = {
    params: await model.readWeights(),
    m: await model.readFlat(m),
    v: await model.readFlat(v),
    objective: (await objectiveAt(t + 1, false)).objective,
  };
  adam.destroy();
  cg.destroy();
  for (const b of [grads, m, v]) rt.buffers.destroy(b);
  model.destroy();
  return { before, gradients, after };
}

/** Our step equals the twin's: objective and gradients before, objective, weights, moments after. */
function expectSameStep(ours: Awaited<ReturnType<typeof gpuStep>>, want: Probe, what: string) {
  const tol = (v: number) => 2e-5 * Math.abs(v) + 1e-4;
  expect(Math.abs(ours.before.objective - want.objective), what).toBeLessThan(tol(want.objective));
  expect(ours.before.reconSum).toBeCloseTo(want.reconSum, 2);
  expect(ours.before.kl).toBeCloseTo(want.klSum, 3);
  const grads = scaledCheck(ours.gradients, toF64(want.grads), 2e-4);
  expect(grads, `${what}\n${grads.join('\n')}`).toEqual([]);
  expect(Math.abs(ours.after.objective - want.objectiveAfter), what).toBeLessThan(
    tol(want.objectiveAfter),
  );
  // The step moved the objective by much more than the tolerance, so the update is what agrees.
  expect(Math.abs(want.objectiveAfter - want.objective)).toBeGreaterThan(20 * tol(want.objective));
  const params = scaledCheck(ours.after.params, toF64(want.params), 1e-4);
  expect(params, `${what}\n${params.join('\n')}`).toEqual([]);
  for (const moment of ['m', 'v'] as const) {
    const lines = scaledCheck(ours.after[moment], toF64(want.moments[moment]), 5e-4);
    expect(lines, `${moment}, ${what}\n${lines.join('\n')}`).toEqual([]);
  }
  expect(want.stepAfter).toBe(want.step + 1);
}

const readProbe = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Probe;

// On the first adapter only: the graph and Adam are checked on every adapter against the golden
// fixtures (test/graph.test.ts); this file is about the twin's trainer and checkpoints.
const adapter = TEST_ADAPTERS[0]!;

describe('the PyTorch twin trains under torchrun', () => {
  const tmp = tempDir('webgpu-vae-twin-');
  const path = (name: string) => join(tmp.dir, name);
  let ddp: Checkpoint;
  let single: Checkpoint;

  beforeAll(async () => {
    await torchrun(2, 'train', [...TRAIN_ARGS, '--out', path('ddp')]);
    await twin('train', [...TRAIN_ARGS, '--out', path('single')]);
    ddp = await readCheckpointFile(path('ddp/model.safetensors'));
    single = await readCheckpointFile(path('single/model.safetensors'));
  }, 180_000);
  afterAll(() => tmp.remove());

  it('writes our checkpoint format from rank 0: config, Adam moments and step, metadata', () => {
    expect(ddp.config).toEqual(TINY);
    expect(ddp.optimizer?.type).toBe('adam');
    expect(ddp.optimizer?.step).toBe(8);
    expect(Object.keys(ddp.optimizer!.moments)).toEqual(['m', 'v']);
    expect(ddp.metadata).toMatchObject({ epoch: '2', processes: '2', trainer: 'webgpu_vae_torch' });
    const lines = readFileSync(path('ddp/metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { step: number }).step)).toEqual([4, 8]);
  });

  it('reaches the weights and moments of one process with the same global batch', () => {
    expect(single.metadata.processes).toBe('1');
    expect(single.optimizer?.step).toBe(8);
    const asF64 = (m: Map<string, { data: Float32Array }>) =>
      new Map([...m].map(([k, t]) => [k, Float64Array.from(t.data)]));
    const asF32 = (m: Map<string, { data: Float32Array }>) =>
      new Map([...m].map(([k, t]) => [k, t.data]));
    // Only the grouping of float32 sums differs (measured: about 3e-8 on weights of ~0.1).
    const weights = scaledCheck(asF32(ddp.params), asF64(single.params), 1e-5);
    expect(weights, weights.join('\n')).toEqual([]);
    for (const moment of ['m', 'v']) {
      const lines = scaledCheck(
        asF32(ddp.optimizer!.moments[moment]!),
        asF64(single.optimizer!.moments[moment]!),
        1e-4,
      );
      expect(lines, `${moment}:\n${lines.join('\n')}`).toEqual([]);
    }
  });

  it(`loads in our library: on a fixed batch with fixed ε our objective, gradients and next Adam step equal the twin's (${adapter})`, async () => {
    await twin('probe', [
      '--checkpoint',
      path('ddp/model.safetensors'),
      '--data',
      'embedded',
      '--rows',
      '5',
      '--seed',
      '7',
      '--out',
      path('probe.json'),
    ]);
    const probe = readProbe(path('probe.json'));
    expect(probe.step).toBe(8);
    const rt = await runtimeFor(adapter);
    const x = Float32Array.from(probe.x);
    const ours = await gpuStep(rt, ddp, x, Float32Array.from(probe.eps), probe.batch);
    expectSameStep(ours, probe, 'torchrun checkpoint');
  });

  it('resumes in our Trainer (loadOptimizerState) with its Adam moments and step', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.fromDecoded(rt, ddp);
    const trainer = await Trainer.create(model, { batchSize: 16 });
    trainer.loadOptimizerState(ddp.optimizer!);
    expect(trainer.step).toBe(8);
    const state = await trainer.optimizerState();
    for (const moment of ['m', 'v'] as const) {
      const got = new Map(tensorEntries(state.moments[moment]!));
      for (const [name, t] of ddp.optimizer!.moments[moment]!) {
        expect(Array.from(got.get(name)!.data)).toEqual(Array.from(t.data));
      }
    }
    trainer.destroy();
    model.destroy();
  });
});

describe('a checkpoint of our Trainer', () => {
  const tmp = tempDir('webgpu-vae-twin-ts-');
  const path = (name: string) => join(tmp.dir, name);
  afterAll(() => tmp.remove());

  it('resumes in the twin, whose next step equals ours', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    // A capacity objective with a ramp, mean reduction and a learned σ: the step count matters
    // (C_t, bias corrections) and so do both moments.
    const config: VaeConfig = {
      inputSize: 784,
      latentSize: 3,
      encoder: { hidden: [12], activation: 'elu' },
      decoder: { hidden: [10], activation: 'softplus' },
      likelihood: { kind: 'gaussian-learned' },
      beta: 2,
      capacity: { max: 3, steps: 20 },
      reduction: 'mean',
    };
    const model = VaeModel.create(rt, config, { seed: seed % 1000 });
    const trainer = await Trainer.create(model, { batchSize: 8, lr: 3e-3, seed: 5 });
    await trainer.fit({ images: randomUniform(rng, 40 * 784, 0, 1), count: 40 }, { epochs: 1 });
    expect(trainer.step).toBe(5);
    writeFileSync(path('ts.safetensors'), await model.toCheckpoint(await trainer.optimizerState()));
    trainer.destroy();
    model.destroy();
    const ckpt = await readCheckpointFile(path('ts.safetensors'));

    const B = 5;
    const x = randomUniform(rng, B * 784, 0, 1);
    const eps = randomNormal(rng, B * 3);
    writeFileSync(
      path('fixed.json'),
      JSON.stringify({ batch: B, x: Array.from(x), eps: Array.from(eps) }),
    );
    await twin('probe', [
      '--checkpoint',
      path('ts.safetensors'),
      '--input',
      path('fixed.json'),
      '--out',
      path('probe.json'),
    ]);
    const probe = readProbe(path('probe.json'));
    expect(probe.step).toBe(5);
    expectSameStep(await gpuStep(rt, ckpt, x, eps, B), probe, `seed ${seed}`);
  });
});

describe('an M2 model the twin trained with --labels', () => {
  const tmp = tempDir('webgpu-vae-twin-m2-');
  const path = (name: string) => join(tmp.dir, name);
  afterAll(() => tmp.remove());

  it("loads in our library: q(y|x) and the test error are the twin's; Adam resumes", async () => {
    const config: VaeConfig = {
      version: 2,
      inputSize: 784,
      latentSize: 3,
      encoder: { hidden: [16], activation: 'relu' },
      decoder: { hidden: [16], activation: 'relu' },
      condition: { kind: 'label', classes: 10 },
      objective: { kind: 'm2', classifier: { hidden: [16], activation: 'softplus' } },
    };
    const TEST = 50;
    // 180 unlabeled embedded digits and 20 labeled ones: 9 steps of 20 + 20 rows.
    await twin('train', [
      ...['--config', JSON.stringify(config), '--data', 'embedded', '--limit', '200'],
      ...['--labels', '20', '--batch-size', '20', '--epochs', '1', '--lr', '0.003'],
      ...['--test-limit', String(TEST), '--seed', '3', '--quiet', '--out', path('m2')],
    ]);
    const ckpt = await readCheckpointFile(path('m2/model.safetensors'));
    expect(ckpt.metadata).toMatchObject({ labeled: '20', trainer: 'webgpu_vae_torch' });
    const report = JSON.parse(readFileSync(path('m2/metrics.jsonl'), 'utf8')) as {
      test: { classificationError: number };
    };
    // The twin's q(y|x) on the first test digits (its embedded split is ours).
    const script =
      'import json, sys, torch\n' +
      'from webgpu_vae_torch.checkpoint import load_checkpoint, net_from_checkpoint\n' +
      'from webgpu_vae_torch.data import load_data\n' +
      'net = net_from_checkpoint(load_checkpoint(sys.argv[1]), sys.argv[1])\n' +
      'test = load_data("embedded").test\n' +
      'with torch.no_grad():\n' +
      '    p = torch.softmax(net.classify(test.rows(torch.arange(int(sys.argv[2])))), 1)\n' +
      'print(json.dumps(p.reshape(-1).tolist()))\n';
    const stdout = await run(
      PYTHON,
      ['-c', script, path('m2/model.safetensors'), String(TEST)],
      'twin classify',
    );
    const want = Float64Array.from(JSON.parse(stdout) as number[]);

    const rt = await runtimeFor(adapter);
    const model = VaeModel.fromDecoded(rt, ckpt, 'twin m2 checkpoint');
    const inference = VaeInference.create(model);
    const { test } = await loadEmbeddedDigits();
    const probs = await inference.classify(test.images.subarray(0, TEST * 784), TEST);
    const far = Array.from(probs).filter((p, i) => Math.abs(p - want[i]!) > 1e-5);
    expect(far).toEqual([]);
    let wrong = 0;
    for (let i = 0; i < TEST; i++) {
      const row = Array.from(probs.subarray(i * 10, (i + 1) * 10));
      if (row.indexOf(Math.max(...row)) !== test.labels[i]) wrong++;
    }
    expect(wrong / TEST).toBeCloseTo(report.test.classificationError, 10);

    const trainer = await Trainer.create(model, { batchSize: 20 });
    trainer.loadOptimizerState(ckpt.optimizer!);
    expect(trainer.step).toBe(9);
    trainer.destroy();
    inference.destroy();
    model.destroy();
  });
});
