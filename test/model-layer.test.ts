// The model layer end to end: every variant's training graph (the plain ELBO as version-1 configs,
// IWAE, CVAE) on the GPU against the float64 interpreter of the same graph (which is itself checked
// against finite differences and for its argument errors here, and against the PyTorch twin in
// model-golden.test.ts), with poisoned gradients and fresh random models of awkward sizes; noise
// drawn on the GPU reproduced by the interpreter (one PRNG stream per stochastic op); and the
// trainer running any variant without knowing it.
import { describe, expect, it } from 'vitest';
import { reparamOp } from '../src/graph/ops/latent.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { buildModelGraph, type ModelGraph } from '../src/vae/build.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { runGraph64 } from '../src/reference/graph.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  interpreterFdProblems,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import {
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

/** Every variant this layer has, at awkward sizes. */
const VARIANTS: [string, VaeConfig][] = [
  [
    'iwae k=3, bernoulli, mean',
    {
      version: 2,
      inputSize: 11,
      latentSize: 3,
      encoder: { hidden: [7], activation: 'tanh' },
      decoder: { hidden: [6], activation: 'elu' },
      objective: { kind: 'iwae', samples: 3, reduction: 'mean' },
    },
  ],
  [
    'iwae k=5, learned σ, no hidden encoder layer',
    {
      version: 2,
      inputSize: 9,
      latentSize: 2,
      encoder: { hidden: [], activation: 'relu' },
      decoder: { hidden: [5], activation: 'softplus' },
      likelihood: { kind: 'gaussian-learned' },
      objective: { kind: 'iwae', samples: 5, reduction: 'sum' },
    },
  ],
  [
    'cvae MLP, 4 classes, capacity',
    {
      version: 2,
      inputSize: 10,
      latentSize: 3,
      encoder: { hidden: [8], activation: 'gelu' },
      decoder: { hidden: [7], activation: 'tanh' },
      likelihood: { kind: 'gaussian', sigma: 0.7 },
      objective: { kind: 'elbo', beta: 2, capacity: { max: 3, steps: 50 }, reduction: 'sum' },
      condition: { kind: 'label', classes: 4 },
    },
  ],
  [
    'cvae conv, label as channels, deconv decoder',
    {
      version: 2,
      inputSize: 2 * 5 * 5,
      inputShape: [2, 5, 5],
      latentSize: 2,
      encoder: {
        conv: [{ channels: 3, kernel: 3, stride: 2, padding: 1 }],
        hidden: [5],
        activation: 'elu',
      },
      decoder: {
        hidden: [6 * 3 * 3],
        deconv: [{ channels: 2, kernel: 2, stride: 2, padding: 1, outputPadding: 1 }],
        activation: 'tanh',
      },
      condition: { kind: 'label', classes: 3, inject: 'channels' },
    },
  ],
  [
    'cvae conv, label at the dense layer, iwae k=2',
    {
      version: 2,
      inputSize: 36,
      inputShape: [1, 6, 6],
      latentSize: 3,
      encoder: { conv: [{ channels: 2, kernel: 3 }], hidden: [], activation: 'leaky_relu' },
      decoder: { hidden: [7], activation: 'sigmoid' },
      objective: { kind: 'iwae', samples: 2, reduction: 'mean' },
      condition: { kind: 'label', classes: 5, inject: 'dense' },
    },
  ],
  [
    'full covariance, elbo, Z=4, mean',
    {
      version: 2,
      inputSize: 9,
      latentSize: 4,
      encoder: { hidden: [6], activation: 'tanh' },
      decoder: { hidden: [5], activation: 'softplus' },
      posterior: { kind: 'full' },
      likelihood: { kind: 'gaussian', sigma: 0.6 },
      objective: { kind: 'elbo', beta: 1.5, reduction: 'mean' },
    },
  ],
  [
    'full covariance, iwae k=3, Z=3, learned σ',
    {
      version: 2,
      inputSize: 7,
      latentSize: 3,
      encoder: { hidden: [5], activation: 'elu' },
      decoder: { hidden: [6], activation: 'tanh' },
      posterior: { kind: 'full' },
      likelihood: { kind: 'gaussian-learned' },
      objective: { kind: 'iwae', samples: 3, reduction: 'sum' },
    },
  ],
  [
    'full covariance, cvae, Z=2, iwae k=1',
    {
      version: 2,
      inputSize: 8,
      latentSize: 2,
      encoder: { hidden: [], activation: 'relu' },
      decoder: { hidden: [5], activation: 'gelu' },
      posterior: { kind: 'full' },
      objective: { kind: 'iwae', samples: 1, reduction: 'mean' },
      condition: { kind: 'label', classes: 3 },
    },
  ],
  [
    'planar flow, global, elbo (Monte Carlo KL), Z=3, 3 steps',
    {
      version: 2,
      inputSize: 7,
      latentSize: 3,
      encoder: { hidden: [6], activation: 'tanh' },
      decoder: { hidden: [5], activation: 'softplus' },
      posterior: { kind: 'planar', steps: 3 },
      likelihood: { kind: 'gaussian', sigma: 0.6 },
      objective: { kind: 'elbo', beta: 1.5, reduction: 'mean' },
    },
  ],
  [
    'planar flow, amortized, iwae k=3, Z=2, 2 steps',
    {
      version: 2,
      inputSize: 6,
      latentSize: 2,
      encoder: { hidden: [5], activation: 'elu' },
      decoder: { hidden: [4], activation: 'tanh' },
      posterior: { kind: 'planar', steps: 2, amortized: true },
      likelihood: { kind: 'gaussian-learned' },
      objective: { kind: 'iwae', samples: 3, reduction: 'sum' },
    },
  ],
  [
    'iaf, elbo (Monte Carlo KL), Z=3, 2 steps, MADE [7] tanh, context 2',
    {
      version: 2,
      inputSize: 7,
      latentSize: 3,
      encoder: { hidden: [6], activation: 'tanh' },
      decoder: { hidden: [5], activation: 'softplus' },
      posterior: { kind: 'iaf', steps: 2, hidden: [7], context: 2, activation: 'tanh' },
      likelihood: { kind: 'gaussian', sigma: 0.6 },
      objective: { kind: 'elbo', beta: 1.5, reduction: 'mean' },
    },
  ],
  [
    'iaf, iwae k=3, Z=2, 3 steps, MADE [5, 4] softplus, default context',
    {
      version: 2,
      inputSize: 6,
      latentSize: 2,
      encoder: { hidden: [5], activation: 'tanh' },
      decoder: { hidden: [4], activation: 'tanh' },
      posterior: { kind: 'iaf', steps: 3, hidden: [5, 4], activation: 'softplus' },
      likelihood: { kind: 'gaussian-learned' },
      objective: { kind: 'iwae', samples: 3, reduction: 'sum' },
    },
  ],
  // The plain ELBO, as version-1 configs (flat beta / capacity / reduction fields).
  [
    'elbo v1, bernoulli, 2 hidden layers, mean',
    {
      inputSize: 13,
      latentSize: 5,
      encoder: { hidden: [11, 9], activation: 'tanh' },
      decoder: { hidden: [10], activation: 'softplus' },
      reduction: 'mean',
    },
  ],
  [
    'elbo v1, gaussian σ=0.3, β=0.5, Z=1',
    {
      inputSize: 9,
      latentSize: 1,
      encoder: { hidden: [7], activation: 'sigmoid' },
      decoder: { hidden: [6, 5], activation: 'tanh' },
      likelihood: { kind: 'gaussian', sigma: 0.3 },
      beta: 0.5,
    },
  ],
  [
    'elbo v1, learned σ, capacity, no hidden encoder layer',
    {
      inputSize: 10,
      latentSize: 4,
      encoder: { hidden: [], activation: 'relu' },
      decoder: { hidden: [7], activation: 'gelu' },
      likelihood: { kind: 'gaussian-learned' },
      beta: 3,
      capacity: { max: 2, steps: 100 },
    },
  ],
];

interface Case {
  config: ResolvedVaeConfig;
  B: number;
  weights: Map<string, Float32Array>;
  x: Float32Array;
  labels: Float32Array | undefined;
  eps: Float32Array;
}

function randomCase(raw: VaeConfig, seed: number): Case {
  const rng = makeRng(seed);
  const config = resolveVaeConfig(raw);
  const B = 2 + Math.floor(rng() * 4);
  const K = config.objective.kind === 'iwae' ? config.objective.samples : 1;
  const x =
    config.likelihood.kind === 'bernoulli'
      ? randomUniform(rng, B * config.inputSize, 0, 1)
      : randomNormal(rng, B * config.inputSize);
  const classes = config.condition.kind === 'label' ? config.condition.classes : 0;
  const labels = classes
    ? Float32Array.from({ length: B }, () => Math.floor(rng() * classes))
    : undefined;
  return {
    config,
    B,
    weights: initialWeights(config, seed),
    x,
    labels,
    eps: randomNormal(rng, B * K * config.latentSize),
  };
}

/** The interpreter's inputs for a graph of this case at `step`. */
function referenceInputs(c: Case, mg: ModelGraph, step: number) {
  return stepInputs64(mg, c.config, { x: c.x, labels: c.labels, eps: c.eps, step });
}

function toF64(m: Map<string, Float32Array>): Map<string, Float64Array> {
  return new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** Mismatches of each gradient relative to its tensor's scale. */
function gradientLines(
  got: Map<string, Float32Array>,
  want: Map<string, Float64Array>,
  rel: number,
): string[] {
  const lines: string[] = [];
  for (const [name, w] of want) {
    const scale = Math.max(1e-3, ...Array.from(w, Math.abs));
    const m = mismatches(
      got.get(name) ?? new Float32Array(),
      w,
      { atol: rel * scale, rtol: rel },
      name,
      4,
    );
    if (m) lines.push(m);
  }
  return lines;
}

describe('the float64 interpreter of the model graphs', () => {
  it.each(VARIANTS)('matches finite differences of its own loss (%s)', (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(raw, seed);
    const rng = makeRng(seed + 1);
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const problems = interpreterFdProblems(mg, toF64(c.weights), referenceInputs(c, mg, 17), {
      scale: c.config.objective.reduction === 'mean' ? 1 / c.B : 1,
      step: 17,
      // The first and last entries of every parameter and two at random.
      indices: (n) => [0, n - 1, Math.floor(rng() * n), Math.floor(rng() * n)],
    });
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });

  it('names a missing or misshapen parameter and a short input', () => {
    const c = randomCase(VARIANTS[0]![1], 5);
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const inputs = referenceInputs(c, mg, 0);
    const params = toF64(c.weights);
    const run = (p: Map<string, Float64Array>, i: Map<string, ArrayLike<number>>) => () =>
      runGraph64(mg.graph, { params: p, inputs: i });
    const missing = new Map(params);
    missing.delete('encoder.mu.bias');
    expect(run(missing, inputs)).toThrow(/no value for parameter 'encoder.mu.bias'/);
    const short = new Map(params).set('decoder.out.weight', new Float64Array(3));
    expect(run(short, inputs)).toThrow(/parameter 'decoder.out.weight' has 3 values, not \d+/);
    const shortX = new Map(inputs).set('x', c.x.subarray(1));
    expect(run(params, shortX)).toThrow(/input 'x' has \d+ values, not \d+/);
    const noEps = new Map(inputs);
    noEps.delete('eps');
    expect(run(params, noEps)).toThrow(/no value for input 'eps'/);
  });
});

describe.each(TEST_ADAPTERS)('model graphs on %s', (adapter) => {
  it.each(VARIANTS)('every gradient matches the float64 interpreter (%s)', async (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(raw, seed);
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const grads = rt.buffers.storage('variant.grads', model.flatSize * 4).buffer;
    // Every gradient entry must be written by the step (= before +=).
    rt.device.queue.writeBuffer(grads, 0, new Float32Array(model.flatSize).fill(Number.NaN));
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const cg = await compileModelGraph(rt, model, mg, grads);
    writeStepInputs(cg, mg, model, { x: c.x, labels: c.labels, eps: c.eps, step: 17 });
    await rt.submitChecked(cg.dispatches, 'variant.step');
    const ref = runGraph64(mg.graph, {
      params: toF64(c.weights),
      inputs: referenceInputs(c, mg, 17),
      step: 17,
    });
    const [loss] = await cg.read(mg.loss);
    expect(Math.abs(loss! - ref.loss), `seed ${seed}`).toBeLessThan(
      1e-4 * (1 + Math.abs(ref.loss)),
    );
    for (const metric of mg.metrics) {
      const [got] = await cg.read(metric.value);
      const want = ref.value(metric.value)[0]!;
      expect(Math.abs(got! - want), `seed ${seed}: metric ${metric.name}`).toBeLessThan(
        1e-4 * (1 + Math.abs(want)),
      );
    }
    const lines = gradientLines(await model.readFlat(grads), ref.grads, 3e-4);
    expect(lines, `seed ${seed}\n${lines.join('\n')}`).toEqual([]);
    cg.destroy();
    model.destroy();
    rt.buffers.destroy(grads);
  });

  it('draws the noise the interpreter draws: one Philox stream per stochastic op', async () => {
    const seed = freshSeed();
    const c = randomCase(VARIANTS[0]![1], seed);
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const mg = buildModelGraph(c.config, { batch: c.B, training: false, seed: seed >>> 8 });
    const cg = await compileModelGraph(rt, model, mg);
    writeStepInputs(cg, mg, model, { x: c.x, step: 5 });
    await rt.submitChecked(cg.dispatches, 'noise.step');
    const ref = runGraph64(mg.graph, {
      params: toF64(c.weights),
      inputs: referenceInputs(c, mg, 5),
      step: 5,
    });
    const z = await cg.read(mg.posterior.z);
    const m = mismatches(z, ref.value(mg.posterior.z), { atol: 2e-5, rtol: 2e-5 }, 'z');
    expect(m, `seed ${seed}`).toBeNull();
    cg.destroy();
    model.destroy();
  });

  it('draws the full-covariance noise the interpreter draws', async () => {
    const seed = freshSeed();
    const c = randomCase(
      VARIANTS.find(([name]) => name.startsWith('full covariance, iwae'))![1],
      seed,
    );
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const mg = buildModelGraph(c.config, { batch: c.B, training: false, seed: seed >>> 8 });
    expect(mg.graph.ops.filter((op) => op.type === 'full_reparam')).toHaveLength(1);
    const cg = await compileModelGraph(rt, model, mg);
    writeStepInputs(cg, mg, model, { x: c.x, step: 7 });
    await rt.submitChecked(cg.dispatches, 'full.noise.step');
    const ref = runGraph64(mg.graph, {
      params: toF64(c.weights),
      inputs: referenceInputs(c, mg, 7),
      step: 7,
    });
    for (const [name, t] of [
      ['z', mg.posterior.z],
      ['log w', mg.perExample.logWeights!],
    ] as const) {
      const got = await cg.read(t);
      const m = mismatches(got, ref.value(t), { atol: 1e-4, rtol: 1e-4 }, name);
      expect(m, `seed ${seed}`).toBeNull();
    }
    cg.destroy();
    model.destroy();
  });

  it('gives two sampling ops of one graph independent noise', async () => {
    const rt = await runtimeFor(adapter);
    const config = resolveVaeConfig(VARIANTS[0]![1]);
    const mg = buildModelGraph(config, { batch: 64, training: false, seed: 3 });
    // A second reparameterization of the same posterior, as a second stochastic section would add.
    const reparams = mg.graph.ops.filter((op) => op.type === 'reparam');
    expect(reparams.map((op) => (op.attrs as { stream: number }).stream)).toEqual([0]);
    const first = reparams[0]!;
    const second = mg.graph.add(
      reparamOp,
      'reparam.second',
      { mu: first.in.mu!, logvar: first.in.logvar! },
      { z: first.out.z!.shape, eps: first.out.z!.shape },
      { samples: 3, seed: 3, stream: 1, givenNoise: false },
    );
    second.out.eps!.keep = true;
    first.out.eps!.keep = true;
    const model = VaeModel.create(rt, config, { seed: 2 });
    const cg = await compileModelGraph(rt, model, mg);
    writeStepInputs(cg, mg, model, { x: new Float32Array(64 * 11).fill(0.5), step: 9 });
    await rt.submitChecked(cg.dispatches, 'streams');
    const a = await cg.read(first.out.eps!);
    const b = await cg.read(second.out.eps!);
    const n = a.length;
    let dot = 0;
    let same = 0;
    for (let i = 0; i < n; i++) {
      dot += a[i]! * b[i]!;
      if (a[i] === b[i]) same++;
    }
    // Independent N(0, 1) draws: the sample correlation is N(0, 1/n); 5σ bound.
    expect(Math.abs(dot / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(same).toBeLessThan(3);
    cg.destroy();
    model.destroy();
  });

  it('trains every variant through the same trainer: metrics by name, loss falls', async () => {
    const rt = await runtimeFor(adapter);
    const points = generateSynthetic('three-blobs', { count: 600, seed: 4 });
    const data = { images: points.data, count: 600, labels: points.labels };
    const base = {
      version: 2,
      inputSize: 2,
      latentSize: 2,
      encoder: { hidden: [16], activation: 'tanh' },
      decoder: { hidden: [16], activation: 'tanh' },
      likelihood: { kind: 'gaussian-learned' },
    } as const;
    const configs: [VaeConfig, string[]][] = [
      [
        { ...base, objective: { kind: 'iwae', samples: 8, reduction: 'sum' } },
        ['loss', 'lse', 'recon', 'iwae'],
      ],
      [{ ...base, condition: { kind: 'label', classes: 3 } }, ['loss', 'recon', 'kl', 'elbo']],
    ];
    for (const [config, names] of configs) {
      const model = VaeModel.create(rt, config, { seed: 5 });
      const trainer = await Trainer.create(model, { batchSize: 50, lr: 1e-2, seed: 6 });
      expect(trainer.metrics).toEqual(names.filter((n) => n !== 'iwae' && n !== 'elbo'));
      const before = await trainer.evaluate(data);
      const reports = await trainer.fit(data, { epochs: 4 });
      const after = await trainer.evaluate(data);
      expect(Object.keys(after.values).sort()).toEqual([...names].sort());
      expect(after.loss, `${config.objective?.kind} ${config.condition?.kind}`).toBeLessThan(
        before.loss - 0.3,
      );
      expect(reports.every((r) => Number.isFinite(r.train.loss))).toBe(true);
      trainer.destroy();
      model.destroy();
    }
  });
});
