// The `vq` posterior kind (src/vae/posterior/vq.ts): config errors naming the field; the float64
// interpreter's forward pass against the quantizer written out here (nearest codes, z = e_k, the
// codebook and commitment losses) and its gradients (straight-through to the encoder, codebook
// and commitment gradients) against the formulas; the GPU's training step against the
// interpreter (assignments compared only where the distance gap exceeds a margin: inputs are
// drawn until every gap does), the EMA update of the codebook and its state after a step; and
// training on the rotated Gaussian with both updates (loss falls, codes in use, metrics named);
// the dead-code restart (dead codes onto the batch's encoder outputs, live ones as without it).
import { describe, expect, it } from 'vitest';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { codeUsage } from '../src/vae/code-usage.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  poisonGradients,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';
import { trainRotatedGaussian } from './helpers/synthetic-training.js';

const [K, DIM, L, B, D] = [7, 3, 6, 5, 4];

function vqConfig(update: 'loss' | 'ema', beta = 0.25): ResolvedVaeConfig {
  return resolveVaeConfig({
    version: 2,
    inputSize: D,
    latentSize: L,
    encoder: { hidden: [5], activation: 'tanh' },
    decoder: { hidden: [4], activation: 'tanh' },
    posterior: { kind: 'vq', codes: K, dim: DIM, beta, update },
    likelihood: { kind: 'gaussian', sigma: 0.8 },
  });
}

/** Squared distances (N, K) of rows z (N, dim) to the codebook (K, dim). */
function distances(z: ArrayLike<number>, e: ArrayLike<number>, N: number): number[][] {
  return Array.from({ length: N }, (_, r) =>
    Array.from({ length: K }, (_, k) => {
      let s = 0;
      for (let j = 0; j < DIM; j++) s += (z[r * DIM + j]! - e[k * DIM + j]!) ** 2;
      return s;
    }),
  );
}

/** Parameters and a batch whose every latent vector has a clear nearest code (gap > margin). */
function drawProblem(config: ResolvedVaeConfig, margin: number) {
  for (let attempt = 0; ; attempt++) {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const weights = initialWeights(config, seed);
    // A spread-out codebook: codes O(1) apart, like the encoder's outputs.
    weights.set('posterior.codebook', randomNormal(rng, K * DIM));
    if (config.posterior.kind === 'vq' && config.posterior.update === 'ema') {
      weights.set('posterior.ema.sum', weights.get('posterior.codebook')!.slice());
    }
    const x = randomNormal(rng, B * D, 2);
    const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const mg = buildModelGraph(config, { batch: B, training: true, seed: 1 });
    const inputs = stepInputs64(mg, config, { x });
    const ref = runGraph64(mg.graph, { params, inputs });
    const ze = ref.value(mg.posterior.outputs.ze!);
    const gaps = distances(ze, params.get('posterior.codebook')!, B * (L / DIM)).map((row) => {
      const s = [...row].sort((a, b) => a - b);
      return s[1]! - s[0]!;
    });
    if (gaps.every((g) => g > margin) || attempt === 20) {
      return { seed, weights, params, x, mg, ref, ze, gaps };
    }
  }
}

describe('vq posterior config', () => {
  const base: VaeConfig = {
    version: 2,
    inputSize: 4,
    latentSize: 6,
    encoder: { hidden: [] },
    decoder: { hidden: [] },
  };
  it.each([
    [{ kind: 'vq', codes: 8, dim: 4 }, /posterior\.dim 4 must divide latentSize 6/],
    [{ kind: 'vq', dim: 3 }, /posterior\.codes must be an integer/],
    [{ kind: 'vq', codes: 8, dim: 3, update: 'sgd' }, /posterior\.update must be 'loss' or 'ema'/],
    [
      { kind: 'vq', codes: 8, dim: 3, update: 'ema', decay: 1 },
      /posterior\.decay must be in \[0, 1\)/,
    ],
    [{ kind: 'vq', codes: 8, dim: 3, epsilon: 0 }, /posterior\.epsilon must be > 0/],
    [{ kind: 'vq', codes: 8, dim: 3, beta: -1 }, /posterior\.beta must be a finite number >= 0/],
    [{ kind: 'vq', codes: 8, dim: 3, temperature: 1 }, /posterior\.temperature/],
    [
      { kind: 'vq', codes: 8, dim: 3, restart: { threshold: 0.1 } },
      /posterior\.restart needs update 'ema'/,
    ],
    [
      { kind: 'vq', codes: 8, dim: 3, update: 'ema', restart: { threshold: 1 } },
      /posterior\.restart\.threshold must be in \(0, 1\)/,
    ],
    [
      { kind: 'vq', codes: 8, dim: 3, update: 'ema', restart: { treshold: 0.1 } },
      /posterior\.restart\.treshold is unknown \(did you mean posterior\.restart\.threshold/,
    ],
  ])('%j is refused', (posterior, message) => {
    expect(() => resolveVaeConfig({ ...base, posterior } as VaeConfig)).toThrow(message);
  });

  it('refuses an objective that needs log q', () => {
    expect(() =>
      resolveVaeConfig({
        ...base,
        posterior: { kind: 'vq', codes: 8, dim: 3 },
        objective: { kind: 'iwae', samples: 2 },
      }),
    ).toThrow(/objective\.kind 'iwae' needs the posterior's density.*posterior\.kind 'vq'/);
  });

  it('defaults and parameters: the codebook, and EMA state as non-parameter tensors', () => {
    const loss = resolveVaeConfig({ ...base, posterior: { kind: 'vq', codes: 8, dim: 3 } });
    expect(loss.posterior).toEqual({
      kind: 'vq',
      codes: 8,
      dim: 3,
      beta: 0.25,
      update: 'loss',
      decay: 0.99,
      epsilon: 1e-5,
    });
    const ema = resolveVaeConfig({
      ...base,
      posterior: { kind: 'vq', codes: 8, dim: 3, update: 'ema' },
    });
    const w = initialWeights(ema, 3);
    expect([...w.get('posterior.ema.count')!]).toEqual(new Array(8).fill(1));
    expect(w.get('posterior.ema.sum')).toEqual(w.get('posterior.codebook'));
    expect(Math.max(...w.get('posterior.codebook')!.map(Math.abs))).toBeLessThanOrEqual(1 / 8);
  });
});

describe('codeUsage', () => {
  it('counts codes, and names an index outside the codebook', () => {
    const u = codeUsage([2, 0, 2, 2, 5, 0], 6);
    expect(u.counts).toEqual([2, 0, 3, 0, 0, 1]);
    expect([u.vectors, u.inUse, u.used]).toEqual([6, 3, 0.5]);
    const p = [2 / 6, 3 / 6, 1 / 6];
    expect(u.perplexity).toBeCloseTo(Math.exp(-p.reduce((s, q) => s + q * Math.log(q), 0)), 12);
    expect(codeUsage([4, 4, 4], 8).perplexity).toBe(1);
    expect(() => codeUsage([1, 6], 6)).toThrow('codeUsage: index 1 is 6, not a code in [0, 6)');
    expect(() => codeUsage([0.5], 6)).toThrow('index 0 is 0.5');
    expect(() => codeUsage([0], 0)).toThrow('codes must be an integer >= 1, got 0');
  });
});

describe('vq posterior in float64', () => {
  it.each(['loss', 'ema'] as const)(
    'update %s: nearest codes, losses and the straight-through gradients',
    (update) => {
      const beta = 0.3;
      const config = vqConfig(update, beta);
      const { params, mg, ref, ze, seed } = drawProblem(config, 0);
      const ctx = `seed=${seed}`;
      const N = B * (L / DIM);
      const e = Float64Array.from(params.get('posterior.codebook')!);
      const d = distances(ze, e, N);
      const idx = d.map((row) => row.indexOf(Math.min(...row)));
      expect([...ref.value(mg.posterior.outputs.codes!)], ctx).toEqual(idx);
      const z = ref.value(mg.posterior.z);
      const zq = idx.flatMap((k) => Array.from(e.subarray(k * DIM, (k + 1) * DIM)));
      expect(mismatches(z, zq, { atol: 1e-12, rtol: 0 }, `${ctx} z`)).toBeNull();
      // Both losses are Σ‖z_e − e_k‖² per batch; commitment has weight β in the loss.
      const sq = d.reduce((s, row, r) => s + row[idx[r]!]!, 0);
      const metric = (name: string) =>
        ref.value(mg.metrics.find((m) => m.name === name)!.value)[0]!;
      expect(metric('commitment')).toBeCloseTo(sq, 10);
      expect(metric('codebook')).toBeCloseTo(sq, 10);
      const recon = metric('recon');
      const codebookWeight = update === 'loss' ? 1 : 0;
      expect(ref.loss).toBeCloseTo(recon + codebookWeight * sq + beta * sq, 10);
      // Straight-through: dL/dz_e = dL/dz (the decoder's) + 2β(z_e − e_k).
      const dz = ref.grad(mg.posterior.z)!;
      const dze = ref.grad(mg.posterior.outputs.ze!)!;
      const want = Array.from(dz, (v, i) => v + 2 * beta * (ze[i]! - zq[i]!));
      expect(mismatches(dze, want, { atol: 1e-10, rtol: 1e-10 }, `${ctx} dze`)).toBeNull();
      // The codebook: 2(e_k − z_e) summed over the vectors assigned to k (loss), none (ema).
      const dE = ref.grads.get('posterior.codebook')!;
      const wantE = new Float64Array(K * DIM);
      if (update === 'loss') {
        idx.forEach((k, r) => {
          for (let j = 0; j < DIM; j++)
            wantE[k * DIM + j] = wantE[k * DIM + j]! + 2 * (zq[r * DIM + j]! - ze[r * DIM + j]!);
        });
      }
      expect(mismatches(dE, wantE, { atol: 1e-10, rtol: 1e-10 }, `${ctx} dE`)).toBeNull();
    },
  );
});

describe.each(TEST_ADAPTERS)('vq posterior on %s', (adapter) => {
  it.each(['loss', 'ema'] as const)(
    'update %s: a training step matches the interpreter (gradients, EMA state)',
    async (update) => {
      const rt = await runtimeFor(adapter);
      const config = vqConfig(update);
      const margin = 1e-3;
      const p = drawProblem(config, margin);
      const ctx = `seed=${p.seed}`;
      expect(Math.min(...p.gaps), `${ctx}: no draw with clear assignments`).toBeGreaterThan(margin);
      const model = VaeModel.create(rt, config, { weights: p.weights });
      const grads = rt.buffers.storage('vq.grads', model.flatSize * 4).buffer;
      poisonGradients(model, grads);
      const cg = await compileModelGraph(rt, model, p.mg, grads);
      writeStepInputs(cg, p.mg, model, { x: p.x });
      await rt.submitChecked([...cg.dispatches]);
      const codes = await cg.read(p.mg.posterior.outputs.codes!);
      expect([...codes], ctx).toEqual([...p.ref.value(p.mg.posterior.outputs.codes!)]);
      const loss = (await cg.read(p.mg.loss))[0]!;
      expect(Math.abs(loss - p.ref.loss), `${ctx} loss ${loss} vs ${p.ref.loss}`).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(p.ref.loss)),
      );
      const gpuGrads = await model.readFlat(grads);
      const tol = { atol: 1e-4, rtol: 1e-3 };
      for (const t of p.mg.paramGrads) {
        const name = t.gradOf!.name;
        expect(
          mismatches(gpuGrads.get(name)!, p.ref.grads.get(name)!, tol, `${ctx} d${name}`),
        ).toBeNull();
      }
      const after = await model.readWeights();
      const names = ['posterior.codebook', 'posterior.ema.count', 'posterior.ema.sum'];
      for (const name of update === 'ema' ? names : names.slice(0, 1)) {
        const t = p.mg.graph.params.find((q) => q.name === name)!;
        expect(mismatches(after.get(name)!, p.ref.value(t), tol, `${ctx} ${name}`)).toBeNull();
      }
      if (update === 'ema') {
        // The update moved the codebook (a step that leaves it alone would pass the check above
        // only if the interpreter's update were a no-op too).
        const moved = after
          .get('posterior.codebook')!
          .some((v, i) => v !== p.weights.get('posterior.codebook')![i]);
        expect(moved).toBe(true);
      }
      cg.destroy();
      rt.buffers.destroy(grads);
      model.destroy();
    },
  );
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training the vq posterior on %s', (adapter) => {
  it.each(['loss', 'ema'] as const)(
    'update %s: training lowers the reconstruction loss and uses several codes; encode/decode',
    async (update) => {
      const rt = await runtimeFor(adapter);
      const { model, trainer, before, after, reports } = await trainRotatedGaussian(
        rt,
        { kind: 'vq', codes: 16, dim: 2, beta: 0.25, update, decay: 0.9, epsilon: 1e-5 },
        { kind: 'elbo', beta: 1, reduction: 'sum' },
      );
      expect(Object.keys(after.values).sort()).toEqual(
        ['codebook', 'codes_used', 'commitment', 'loss', 'perplexity', 'recon'].sort(),
      );
      // The reconstruction improves and more codes come into use; the codebook loss may grow
      // meanwhile, as the encoder's outputs spread faster than the codebook follows.
      expect(after.values.recon).toBeLessThan(0.7 * before.values.recon!);
      expect(after.values.perplexity).toBeGreaterThan(before.values.perplexity!);
      expect(reports.at(-1)!.train.values.perplexity).toBeGreaterThan(2);
      expect(after.values.codes_used).toBeGreaterThan(2 / 16);
      const inference = VaeInference.create(model);
      const x = Float32Array.from([0.5, -0.3, 1.2, 0.8, -1, 0]);
      const enc = await inference.encode(x);
      const codes = enc.codes!;
      expect(codes.length).toBe(3);
      for (const k of codes) expect(Number.isInteger(k) && k >= 0 && k < 16).toBe(true);
      // codeUsage: encode()'s codes over more inputs, counted per code; perplexity from them.
      const many = Float32Array.from({ length: 2 * 37 }, (_, i) => 1.5 * Math.sin(1.7 * i + 0.3));
      const manyCodes = (await inference.encode(many)).codes!;
      const usage = await inference.codeUsage(many);
      const want = new Array<number>(16).fill(0);
      for (const k of manyCodes) want[k]!++;
      expect(usage.counts).toEqual(want);
      expect(usage.vectors).toBe(37);
      const freqs = want.filter((c) => c > 0).map((c) => c / 37);
      expect(usage.inUse).toBe(freqs.length);
      expect(usage.used).toBe(freqs.length / 16);
      const entropy = -freqs.reduce((sum, q) => sum + q * Math.log(q), 0);
      expect(usage.perplexity).toBeCloseTo(Math.exp(entropy), 10);
      const decoded = await inference.decode(codes);
      const recon = await inference.reconstruct(x);
      expect(
        mismatches(
          decoded,
          recon.images,
          { atol: 1e-5, rtol: 1e-5 },
          'decode(codes) = reconstruct',
        ),
      ).toBeNull();
      inference.destroy();
      trainer.destroy();
      model.destroy();
    },
  );
});

// One adapter: the kernel itself is checked on every adapter in test/quantize.test.ts.
describe(`vq dead-code restart on ${TEST_ADAPTERS[0]}`, () => {
  const adapter = TEST_ADAPTERS[0]!;
  it('a step moves the dead codes onto encoder outputs, state reset; live codes as without', async () => {
    const rt = await runtimeFor(adapter);
    const threshold = 0.5;
    const withRestart = (restart: boolean) =>
      resolveVaeConfig({
        ...vqConfig('ema'),
        posterior: {
          kind: 'vq',
          codes: K,
          dim: DIM,
          update: 'ema',
          decay: 0.96,
          ...(restart ? { restart: { threshold } } : {}),
        },
      });
    const config = withRestart(true);
    const p = drawProblem(config, 1e-3);
    const ctx = `seed=${p.seed}`;
    // Codes 0, 2 and 5 nearly dead (0.96·0.05 + 0.04·n < 0.5 for the n <= 10 vectors of the batch
    // they may get); the others well alive.
    const count = Float64Array.from({ length: K }, (_, k) => ([0, 2, 5].includes(k) ? 0.05 : 3));
    p.params.set('posterior.ema.count', count);
    p.weights.set('posterior.ema.count', Float32Array.from(count));
    const inputs = stepInputs64(p.mg, config, { x: p.x });
    const ref = runGraph64(p.mg.graph, { params: p.params, inputs, step: 3 });
    const plain = buildModelGraph(withRestart(false), { batch: B, training: true, seed: 1 });
    const without = runGraph64(plain.graph, {
      params: p.params,
      inputs: stepInputs64(plain, config, { x: p.x }),
      step: 3,
    });
    const value = (r: typeof ref, mg: typeof plain, name: string) =>
      r.value(mg.graph.params.find((t) => t.name === name)!);
    const ze = ref.value(p.mg.posterior.outputs.ze!);
    const after = {
      codebook: value(ref, p.mg, 'posterior.codebook'),
      count: value(ref, p.mg, 'posterior.ema.count'),
      sum: value(ref, p.mg, 'posterior.ema.sum'),
    };
    const ema = {
      codebook: value(without, plain, 'posterior.codebook'),
      count: value(without, plain, 'posterior.ema.count'),
      sum: value(without, plain, 'posterior.ema.sum'),
    };
    const row = (a: Float64Array, k: number) => [...a.subarray(k * DIM, (k + 1) * DIM)];
    const zeRows = Array.from({ length: (B * L) / DIM }, (_, r) => row(ze, r));
    const dead = [...ema.count].map((n) => n < threshold);
    expect(dead, ctx).toEqual([true, false, true, false, false, true, false]);
    for (let k = 0; k < K; k++) {
      if (dead[k]) {
        // On one of this batch's encoder outputs, the state as at initialization.
        expect(zeRows, `${ctx} code ${k}`).toContainEqual(row(after.codebook, k));
        expect(row(after.sum, k)).toEqual(row(after.codebook, k));
        expect(after.count[k]).toBe(1);
      } else {
        expect(row(after.codebook, k)).toEqual(row(ema.codebook, k));
        expect(row(after.sum, k)).toEqual(row(ema.sum, k));
        expect(after.count[k]).toBe(ema.count[k]);
      }
    }
    // The GPU's step: the same codes restart on the same rows.
    const model = VaeModel.create(rt, config, { weights: p.weights });
    const grads = rt.buffers.storage('vq.grads', model.flatSize * 4).buffer;
    const cg = await compileModelGraph(rt, model, p.mg, grads);
    writeStepInputs(cg, p.mg, model, { x: p.x, step: 3 });
    await rt.submitChecked([...cg.dispatches]);
    const gpu = await model.readWeights();
    const tol = { atol: 1e-4, rtol: 1e-4 };
    for (const [name, want] of [
      ['posterior.codebook', after.codebook],
      ['posterior.ema.count', after.count],
      ['posterior.ema.sum', after.sum],
    ] as const) {
      expect(mismatches(gpu.get(name)!, want, tol, `${ctx} ${name}`)).toBeNull();
    }
    cg.destroy();
    rt.buffers.destroy(grads);
    model.destroy();
  });
});
