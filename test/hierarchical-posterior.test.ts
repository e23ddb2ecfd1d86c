// The `hierarchical` posterior kind (src/vae/posterior/hierarchical.ts, two stochastic layers):
// the float64 interpreter against central differences of its own loss (ELBO and IWAE k = 3, fresh
// seeds, awkward sizes), its log w against the layer-by-layer sum, the GPU graph against the
// interpreter (every gradient, poisoned buffers; drawn noise), config errors naming the field,
// inference (encode's two layers, decode through p(z1|z2), sample, traverse, reconstruct), a
// checkpoint round trip, and training runs whose loss falls (and whose log p(x) bound tightens
// from k = 1 to k = 64). The PyTorch twin's golden fixture
// (vae-golden-hierarchical.json) is checked with the others in test/model-golden.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/graph/graph.js';
import { runGraph64 } from '../src/reference/graph.js';
import {
  buildDecoderGraph,
  buildEncoderGraph,
  buildModelGraph,
  type ModelGraph,
} from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  interpreterFdProblems,
  poisonGradients,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import { freshSeed, makeRng, mismatches, randomNormal, scaledCheck } from './helpers/reference.js';
import { trainRotatedGaussian } from './helpers/synthetic-training.js';

const LOG_2PI = Math.log(2 * Math.PI);

const VARIANTS: [string, VaeConfig][] = [
  [
    'elbo, lower 3 below Z 2, hidden [4], tanh',
    {
      version: 2,
      inputSize: 7,
      latentSize: 2,
      encoder: { hidden: [6], activation: 'tanh' },
      posterior: { kind: 'hierarchical', lower: 3, hidden: [4] },
      decoder: { hidden: [5], activation: 'softplus' },
      likelihood: { kind: 'gaussian', sigma: 0.7 },
      objective: { kind: 'elbo', beta: 1.5, reduction: 'mean' },
    },
  ],
  [
    'iwae k=3, lower 5 below Z 3, hidden [3, 4], learned σ',
    {
      version: 2,
      inputSize: 6,
      latentSize: 3,
      encoder: { hidden: [5], activation: 'tanh' },
      posterior: { kind: 'hierarchical', lower: 5, hidden: [3, 4] },
      decoder: { hidden: [4], activation: 'gelu' },
      likelihood: { kind: 'gaussian-learned' },
      objective: { kind: 'iwae', samples: 3, reduction: 'sum' },
    },
  ],
];

interface Case {
  config: ResolvedVaeConfig;
  B: number;
  weights: Map<string, Float32Array>;
  x: Float32Array;
  eps: Float32Array;
}

/** Fresh weights (the library's init), 2..5 rows and noise for both layers. */
function randomCase(raw: VaeConfig, seed: number): Case {
  const rng = makeRng(seed);
  const config = resolveVaeConfig(raw);
  if (config.posterior.kind !== 'hierarchical') throw new Error('a hierarchical variant');
  const B = 2 + Math.floor(rng() * 4);
  const K = config.objective.kind === 'iwae' ? config.objective.samples : 1;
  return {
    config,
    B,
    weights: initialWeights(config, seed),
    x: randomNormal(rng, B * config.inputSize),
    eps: randomNormal(rng, B * K * (config.posterior.lower + config.latentSize)),
  };
}

const toF64 = (m: Map<string, Float32Array>) =>
  new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));

function reference(c: Case, mg: ModelGraph, step = 0) {
  return runGraph64(mg.graph, {
    params: toF64(c.weights),
    inputs: stepInputs64(mg, c.config, { x: c.x, eps: c.eps, step }),
    step,
  });
}

/** The tensor an op of this name wrote (its first output). */
function tensorNamed(mg: ModelGraph, name: string): Tensor {
  const op = mg.graph.ops.find((o) => o.name === name);
  if (!op) throw new Error(`no op '${name}'`);
  return op.outputs[0]!;
}

describe('the float64 interpreter of hierarchical models', () => {
  it.each(VARIANTS)('matches finite differences of its own loss (%s)', (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(raw, seed);
    const rng = makeRng(seed + 1);
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const problems = interpreterFdProblems(
      mg,
      toF64(c.weights),
      stepInputs64(mg, c.config, { x: c.x, eps: c.eps, step: 4 }),
      {
        scale: c.config.objective.reduction === 'mean' ? 1 / c.B : 1,
        step: 4,
        indices: (n) => [0, n - 1, Math.floor(rng() * n), Math.floor(rng() * n)],
      },
    );
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });

  it('sums log w over both layers: log p(x|z1) + log p(z1|z2) + log p(z2) − log q(z1|x) − log q(z2|z1)', () => {
    const seed = freshSeed();
    const c = randomCase(VARIANTS[1]![1], seed);
    const Z1 = 5;
    const Z = 3;
    const K = 3;
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 0, givenNoise: true });
    const r = reference(c, mg);
    const v = (name: string) => r.value(tensorNamed(mg, name));
    const [z1, z2] = [r.value(mg.posterior.z), r.value(mg.posterior.top!)];
    const [mu1, lv1] = [v('encoder.mu'), v('encoder.logvar')];
    const [mu2, lv2] = [v('encoder.up.mu'), v('encoder.up.logvar')];
    const [muP, lvP] = [v('decoder.down.mu'), v('decoder.down.logvar')];
    /** log N(z; μ, e^lv) of row `row` (μ, lv at row `at`), width n. */
    const logN =
      (z: ArrayLike<number>, mu: ArrayLike<number>, lv: ArrayLike<number>, n: number) =>
      (row: number, at = row) => {
        let s = -0.5 * n * LOG_2PI;
        for (let j = 0; j < n; j++) {
          const d = z[row * n + j]! - (mu[at * n + j] ?? 0);
          s -= 0.5 * (d * d * Math.exp(-(lv[at * n + j] ?? 0)) + (lv[at * n + j] ?? 0));
        }
        return s;
      };
    // The noise reaches each layer: z1 = μ1 + σ1·ε[:, :Z1], z2 = μ2 + σ2·ε[:, Z1:].
    for (let row = 0; row < c.B * K; row++) {
      for (let j = 0; j < Z; j++) {
        const e = c.eps[row * (Z1 + Z) + Z1 + j]!;
        const want = mu2[row * Z + j]! + Math.exp(0.5 * lv2[row * Z + j]!) * e;
        expect(Math.abs(z2[row * Z + j]! - want)).toBeLessThan(1e-12);
      }
    }
    const nll = r.value(mg.nll);
    const want = Array.from({ length: c.B * K }, (_, row) => {
      const b = Math.floor(row / K);
      return (
        -nll[row]! +
        logN(z1, muP, lvP, Z1)(row) +
        logN(z2, [], [], Z)(row) -
        logN(z1, mu1, lv1, Z1)(row, b) -
        logN(z2, mu2, lv2, Z)(row)
      );
    });
    const got = r.value(mg.perExample.logWeights!);
    expect(mismatches(got, want, { atol: 1e-10, rtol: 1e-10 }, 'log w'), `seed ${seed}`).toBeNull();
  });
});

describe('hierarchical config', () => {
  const base = {
    version: 2,
    inputSize: 4,
    latentSize: 2,
    encoder: { hidden: [] },
    decoder: { hidden: [] },
  } as const;
  const resolve = (posterior: unknown, more: object = {}) =>
    resolveVaeConfig({ ...base, ...more, posterior } as unknown as VaeConfig);

  it('defaults hidden to [] and declares encoder.up and decoder.down after the heads', () => {
    const config = resolve({ kind: 'hierarchical', lower: 3 });
    expect(config.posterior).toEqual({ kind: 'hierarchical', lower: 3, hidden: [] });
    const weights = initialWeights(resolve({ kind: 'hierarchical', lower: 3, hidden: [5] }), 0);
    const shapes = [...weights].map(([k, w]) => `${k}:${w.length}`);
    expect(shapes).toEqual([
      'encoder.mu.weight:12',
      'encoder.mu.bias:3',
      'encoder.logvar.weight:12',
      'encoder.logvar.bias:3',
      'encoder.up.0.weight:15',
      'encoder.up.0.bias:5',
      'encoder.up.mu.weight:10',
      'encoder.up.mu.bias:2',
      'encoder.up.logvar.weight:10',
      'encoder.up.logvar.bias:2',
      'decoder.down.0.weight:10',
      'decoder.down.0.bias:5',
      'decoder.down.mu.weight:15',
      'decoder.down.mu.bias:3',
      'decoder.down.logvar.weight:15',
      'decoder.down.logvar.bias:3',
      // The decoder reads z1 (3 wide), not the code (2).
      'decoder.out.weight:12',
      'decoder.out.bias:4',
    ]);
  });

  it('sizes a deconv decoder without hidden layers from z1', () => {
    const deconv = {
      inputShape: [1, 4, 4],
      inputSize: 16,
      decoder: { hidden: [], deconv: [{ channels: 1, kernel: 2, stride: 2 }] },
    };
    expect(resolve({ kind: 'hierarchical', lower: 8 }, deconv).decoder.reshape).toEqual([2, 2, 2]);
    expect(() => resolve({ kind: 'hierarchical', lower: 6 }, deconv)).toThrow(
      /last dense layer \(latentSize\) gives 6 values/,
    );
  });

  it.each([
    [{ kind: 'hierarchical' }, /posterior\.lower is required for kind 'hierarchical'/],
    [
      { kind: 'hierarchical', lower: 0 },
      /posterior\.lower must be an integer in \[1, 256\], got 0/,
    ],
    [{ kind: 'hierarchical', lower: 257 }, /posterior\.lower must be an integer in \[1, 256\]/],
    [{ kind: 'hierarchical', lower: '3' }, /posterior\.lower must be an integer/],
    [{ kind: 'hierarchical', lower: 3, hidden: 4 }, /posterior\.hidden must be an array/],
    [{ kind: 'hierarchical', lower: 3, hidden: [4, 0] }, /posterior\.hidden\[1\] must be/],
    [
      { kind: 'hierarchical', lower: 3, hiden: [4] },
      /posterior\.hiden is unknown \(did you mean posterior\.hidden/,
    ],
    [{ kind: 'hierarchical', lower: 3, steps: 2 }, /posterior\.steps is unknown/],
  ])('rejects %j', (posterior, message) => {
    expect(() => resolve(posterior)).toThrow(message);
  });
});

describe.each(TEST_ADAPTERS)('hierarchical models on %s', (adapter) => {
  it.each(VARIANTS)('every gradient matches the float64 interpreter (%s)', async (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(raw, seed);
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const grads = rt.buffers.storage('hierarchical.grads', model.flatSize * 4).buffer;
    poisonGradients(model, grads);
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const cg = await compileModelGraph(rt, model, mg, grads);
    writeStepInputs(cg, mg, model, { x: c.x, eps: c.eps, step: 6 });
    await rt.submitChecked(cg.dispatches, 'hierarchical.step');
    const ref = reference(c, mg, 6);
    const [loss] = await cg.read(mg.loss);
    expect(Math.abs(loss! - ref.loss), `seed ${seed}`).toBeLessThan(
      1e-4 * (1 + Math.abs(ref.loss)),
    );
    for (const metric of mg.metrics) {
      const [got] = await cg.read(metric.value);
      const want = ref.value(metric.value)[0]!;
      expect(Math.abs(got! - want), `seed ${seed}: ${metric.name}`).toBeLessThan(
        1e-4 * (1 + Math.abs(want)),
      );
    }
    const lines = scaledCheck(await model.readFlat(grads), ref.grads, 3e-4);
    expect(lines, `seed ${seed}\n${lines.join('\n')}`).toEqual([]);
    cg.destroy();
    model.destroy();
    rt.buffers.destroy(grads);
  });

  it('draws both layers the noise the interpreter draws (one Philox stream each)', async () => {
    const seed = freshSeed();
    const c = randomCase(VARIANTS[1]![1], seed);
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const mg = buildModelGraph(c.config, { batch: c.B, training: false, seed: seed >>> 8 });
    const cg = await compileModelGraph(rt, model, mg);
    writeStepInputs(cg, mg, model, { x: c.x, step: 3 });
    await rt.submitChecked(cg.dispatches, 'hierarchical.noise');
    const ref = reference(c, mg, 3);
    for (const [what, t] of [
      ['z1', mg.posterior.z],
      ['z2', mg.posterior.top!],
    ] as const) {
      const m = mismatches(await cg.read(t), ref.value(t), { atol: 3e-5, rtol: 3e-5 }, what);
      expect(m, `seed ${seed}`).toBeNull();
    }
    cg.destroy();
    model.destroy();
  });

  it('encode gives both layers, decode goes through p(z1|z2); sample, traverse, reconstruct; checkpoint round trip', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const c = randomCase(VARIANTS[0]![1], seed);
    const { config } = c;
    const [Z, Z1, D] = [config.latentSize, 3, config.inputSize];
    const model = VaeModel.create(rt, config, { weights: c.weights });
    const vae = VaeInference.create(model, { batchSizes: [1, 4] });
    const n = 6;
    const x = randomNormal(makeRng(seed), n * D);
    const got = await vae.encode(x, n);
    expect(Object.keys(got).sort()).toEqual(['logvar', 'logvar1', 'mu', 'mu1']);
    expect([got.mu.length, got.mu1!.length]).toEqual([n * Z, n * Z1]);
    const params = toF64(c.weights);
    const eg = buildEncoderGraph(config, n);
    const enc = runGraph64(eg.graph, { params, inputs: new Map([['x', x]]) });
    const tol = { atol: 2e-6, rtol: 2e-5 };
    for (const [name, t] of Object.entries(eg.outputs)) {
      expect(mismatches(got[name]!, enc.value(t), tol, name), `seed ${seed}`).toBeNull();
    }
    // decode(code) = the decoder at the mean of p(z1|z2), against the interpreter.
    const codes = got.mu.subarray(0, 4 * Z);
    const dg = buildDecoderGraph(config, 4);
    const dec = runGraph64(dg.graph, { params, inputs: new Map([['z', codes]]) });
    const decoded = await vae.decode(codes, 4);
    expect(mismatches(decoded, dec.value(dg.output), tol, 'decode'), `seed ${seed}`).toBeNull();
    const reconstructed = await vae.reconstruct(x.subarray(0, 2 * D), 2);
    expect(mismatches(reconstructed.codes, got.mu.subarray(0, 2 * Z), tol, 'codes')).toBeNull();
    expect(mismatches(reconstructed.images, decoded.subarray(0, 2 * D), tol, 'recon')).toBeNull();
    const sampled = await vae.sample(4, { seed: 3 });
    const traversed = await vae.traverse(got.mu.subarray(0, Z), 1, { steps: 3 });
    expect([sampled.codes.length, sampled.images.length]).toEqual([4 * Z, 4 * D]);
    expect(traversed.images.length).toBe(3 * D);
    for (const a of [sampled.images, traversed.images]) expect(a.every(Number.isFinite)).toBe(true);
    // The traversal sweeps the top latent: its codes differ in dimension 1 only.
    expect(traversed.codes[1]).not.toBeCloseTo(traversed.codes[Z + 1]!, 3);
    expect(traversed.codes[0]).toBe(traversed.codes[Z]);

    const dir = mkdtempSync(join(tmpdir(), 'hier-'));
    try {
      writeFileSync(join(dir, 'h.safetensors'), await model.toCheckpoint());
      const loaded = VaeModel.fromCheckpoint(rt, readFileSync(join(dir, 'h.safetensors')));
      expect(loaded.model.config).toEqual(config);
      const again = VaeInference.create(loaded.model, { batchSizes: [1, 4] });
      const back = await again.encode(x, n);
      for (const name of Object.keys(got)) expect(back[name]).toEqual(got[name]);
      expect(await again.decode(codes, 4)).toEqual(decoded);
      again.destroy();
      loaded.model.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    vae.destroy();
    model.destroy();
  });
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training a hierarchical model on %s', (adapter) => {
  it.each([
    ['elbo', { kind: 'elbo', beta: 1, reduction: 'sum' }],
    ['iwae k=4', { kind: 'iwae', samples: 4, reduction: 'sum' }],
  ] as const)(
    '%s: the loss falls over 300 steps of the rotated Gaussian',
    async (_n, objective) => {
      const rt = await runtimeFor(adapter);
      const { points, model, trainer, before, after, reports } = await trainRotatedGaussian(
        rt,
        { kind: 'hierarchical', lower: 3, hidden: [16] },
        objective,
      );
      expect(reports.every((r) => Number.isFinite(r.train.loss))).toBe(true);
      expect(after.loss, `before ${before.loss}`).toBeLessThan(before.loss - 0.5);
      // log p(x) through both layers: the bound tightens from k = 1 to k = 64.
      const data = { images: points.data, count: points.count };
      const one = await trainer.logLikelihood(data, { k: 1 });
      const many = await trainer.logLikelihood(data, { k: 64, chunk: 32 });
      expect(Number.isFinite(many.logPx)).toBe(true);
      expect(many.logPx, `k = 1: ${one.logPx}`).toBeGreaterThan(one.logPx + 0.01);
      trainer.destroy();
      model.destroy();
    },
  );
});
