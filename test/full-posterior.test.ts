// The `full` posterior kind (src/vae/posterior/full.ts) against direct float64 formulas written
// here from the covariance Σ = L Lᵀ with general-matrix algebra (no triangular shortcuts): log
// q(z|x) against the multivariate normal log-density and the KL against ½(tr Σ + μᵀμ − Z −
// log det Σ), in the interpreter and on the GPU; the exact posterior of a linear-Gaussian model
// (a full covariance) giving log p(x) with zero variance; inference (encode reports L, sample,
// traverse, reconstruct); and a few hundred training steps whose loss falls.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGraph64 } from '../src/reference/graph.js';
import { buildEncoderGraph, buildModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { trainRotatedGaussian } from './helpers/synthetic-training.js';
import { compileModelGraph, stepInputs64, writeStepInputs } from './helpers/model-graph.js';
import { tempDir, twin } from './helpers/python.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';

const LOG_2PI = Math.log(2 * Math.PI);

/** Solves A x = b and gives log |det A| by Gaussian elimination with partial pivoting. */
function solveLogDet(A: number[][], b: number[]): { x: number[]; logDet: number } {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]!]);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const pivot = m[c]![c]!;
    logDet += Math.log(Math.abs(pivot));
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / pivot;
      for (let k = c; k <= n; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return { x, logDet };
}

/** log N(x; mean, cov) for a general covariance matrix. */
function mvnLogPdf(x: ArrayLike<number>, mean: ArrayLike<number>, cov: number[][]): number {
  const d = Array.from(mean, (m, i) => x[i]! - m);
  const { x: w, logDet } = solveLogDet(cov, d);
  const quad = d.reduce((s, v, i) => s + v * w[i]!, 0);
  return -0.5 * (quad + logDet + d.length * LOG_2PI);
}

/** Σ = L Lᵀ of example b from the heads' outputs: L[i][i] = exp(½ logvar_i), L[i][j<i] = L′. */
function covarianceOf(
  logvar: ArrayLike<number>,
  lower: ArrayLike<number>,
  b: number,
  Z: number,
): number[][] {
  const P = (Z * (Z - 1)) / 2;
  const L = Array.from({ length: Z }, (_, i) =>
    Array.from({ length: Z }, (_, j) => {
      if (j === i) return Math.exp(0.5 * logvar[b * Z + i]!);
      return j < i ? lower[b * P + (i * (i - 1)) / 2 + j]! : 0;
    }),
  );
  return L.map((Li) => L.map((Lj) => Li.reduce((s, v, k) => s + v * Lj[k]!, 0)));
}

function fullConfig(Z: number, objective: VaeConfig['objective']): ResolvedVaeConfig {
  return resolveVaeConfig({
    version: 2,
    inputSize: 6,
    latentSize: Z,
    encoder: { hidden: [5], activation: 'tanh' },
    decoder: { hidden: [4], activation: 'tanh' },
    posterior: { kind: 'full' },
    likelihood: { kind: 'gaussian', sigma: 0.8 },
    objective,
  });
}

/** A random case: weights, x (B, 6) and eps (B·K, Z). */
function randomCase(config: ResolvedVaeConfig, B: number, seed: number) {
  const rng = makeRng(seed);
  const K = config.objective.kind === 'iwae' ? config.objective.samples : 1;
  // Larger heads than the default init, so L′ and logvar are far from 0 and L is far from diagonal.
  const weights = initialWeights(config, seed);
  for (const name of ['encoder.logvar.bias', 'encoder.lower.bias']) {
    const w = weights.get(name)!;
    w.set(randomNormal(rng, w.length, 0.8));
  }
  const f64 = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
  return {
    weights,
    f64,
    x: randomNormal(rng, B * config.inputSize),
    eps: randomNormal(rng, B * K * config.latentSize),
  };
}

describe('log q(z|x) and the KL against direct formulas (float64 interpreter)', () => {
  it.each([2, 5])('Z=%i: log q is the multivariate normal density with covariance L Lᵀ', (Z) => {
    const seed = freshSeed();
    const config = fullConfig(Z, { kind: 'iwae', samples: 3, reduction: 'sum' });
    const [B, K] = [4, 3];
    const c = randomCase(config, B, seed);
    const mg = buildModelGraph(config, { batch: B, training: false, seed: 0, givenNoise: true });
    const inputs = stepInputs64(mg, config, { x: c.x, eps: c.eps });
    const r = runGraph64(mg.graph, { params: c.f64, inputs });
    const { mu, logvar, lower } = mg.posterior.outputs;
    const [m, lv, lo] = [r.value(mu!), r.value(logvar!), r.value(lower!)];
    const z = r.value(mg.posterior.z);
    const want = Array.from({ length: B * K }, (_, row) => {
      const b = Math.floor(row / K);
      const mean = m.subarray(b * Z, (b + 1) * Z);
      return mvnLogPdf(z.subarray(row * Z, (row + 1) * Z), mean, covarianceOf(lv, lo, b, Z));
    });
    const got = r.value(mg.posterior.logq());
    expect(mismatches(got, want, { atol: 1e-10, rtol: 1e-10 }, 'log q'), `seed ${seed}`).toBeNull();
  });

  it.each([2, 5])('Z=%i: the KL is ½(tr Σ + μᵀμ − Z − log det Σ)', (Z) => {
    const seed = freshSeed();
    const config = fullConfig(Z, { kind: 'elbo', beta: 1, reduction: 'sum' });
    const B = 4;
    const c = randomCase(config, B, seed);
    const mg = buildModelGraph(config, { batch: B, training: false, seed: 0, givenNoise: true });
    const r = runGraph64(mg.graph, {
      params: c.f64,
      inputs: stepInputs64(mg, config, { x: c.x, eps: c.eps }),
    });
    const { mu, logvar, lower } = mg.posterior.outputs;
    const [m, lv, lo] = [r.value(mu!), r.value(logvar!), r.value(lower!)];
    const want = Array.from({ length: B }, (_, b) => {
      const cov = covarianceOf(lv, lo, b, Z);
      const trace = cov.reduce((s, row, i) => s + row[i]!, 0);
      const mm = m.subarray(b * Z, (b + 1) * Z).reduce((s, v) => s + v * v, 0);
      const { logDet } = solveLogDet(cov, new Array<number>(Z).fill(0));
      return 0.5 * (trace + mm - Z - logDet);
    });
    const got = r.value(mg.perExample.kl!);
    expect(mismatches(got, want, { atol: 1e-10, rtol: 1e-10 }, 'KL'), `seed ${seed}`).toBeNull();
  });
});

// The twin in float64 against the interpreter: the GPU only holds the weights (first adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('checkpoints of the full posterior on %s', (adapter) => {
  it('writes checkpoints the twin reads: the same names, objective and gradients', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const config = fullConfig(3, { kind: 'iwae', samples: 2, reduction: 'mean' });
    const B = 3;
    const c = randomCase(config, B, seed);
    const model = VaeModel.create(rt, config, { weights: c.weights });
    const { dir, remove } = tempDir('webgpu-vae-full-');
    try {
      writeFileSync(join(dir, 'full.safetensors'), await model.toCheckpoint());
      const batch = { batch: B, x: Array.from(c.x), eps: Array.from(c.eps) };
      writeFileSync(join(dir, 'fixed.json'), JSON.stringify(batch));
      await twin('probe', [
        ...['--checkpoint', join(dir, 'full.safetensors'), '--input', join(dir, 'fixed.json')],
        ...['--out', join(dir, 'probe.json')],
      ]);
      const probe = JSON.parse(readFileSync(join(dir, 'probe.json'), 'utf8')) as {
        objective: number;
        lower: number[];
        grads: Record<string, number[]>;
      };
      // The twin's module order is ours; at the same (float32) weights both compute in float64.
      expect(Object.keys(probe.grads)).toEqual([...model.layout.keys()]);
      const mg = buildModelGraph(config, { batch: B, training: true, seed: 0, givenNoise: true });
      const r = runGraph64(mg.graph, {
        params: c.f64,
        inputs: stepInputs64(mg, config, { x: c.x, eps: c.eps }),
      });
      const tol = { atol: 1e-9, rtol: 1e-9 };
      expect(mismatches([r.loss / B], [probe.objective], tol, 'objective')).toBeNull();
      const lower = r.value(mg.posterior.outputs.lower!);
      expect(mismatches(lower, probe.lower, tol, 'lower')).toBeNull();
      for (const [name, want] of Object.entries(probe.grads)) {
        expect(mismatches(r.grads.get(name)!, want, tol, `d/d${name}`), `seed ${seed}`).toBeNull();
      }
    } finally {
      remove();
      model.destroy();
    }
  });
});

describe.each(TEST_ADAPTERS)('the full posterior on %s', (adapter) => {
  it('log q and the KL on the GPU match the direct formulas', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const Z = 5;
    for (const objective of [
      { kind: 'iwae', samples: 3, reduction: 'sum' },
      { kind: 'elbo', beta: 1, reduction: 'sum' },
    ] as const) {
      const config = fullConfig(Z, objective);
      const K = objective.kind === 'iwae' ? objective.samples : 1;
      const B = 7;
      const c = randomCase(config, B, seed);
      const model = VaeModel.create(rt, config, { weights: c.weights });
      const mg = buildModelGraph(config, { batch: B, training: false, seed: 0, givenNoise: true });
      const checked = objective.kind === 'iwae' ? mg.posterior.logq() : mg.perExample.kl!;
      checked.keep = true;
      checked.base.keep = true;
      const cg = await compileModelGraph(rt, model, mg);
      writeStepInputs(cg, mg, model, { x: c.x, eps: c.eps });
      await rt.submitChecked(cg.dispatches, 'full.check');
      const m = await cg.read(mg.posterior.mean);
      const lv = await cg.read(mg.posterior.outputs.logvar!);
      const lo = await cg.read(mg.posterior.outputs.lower!);
      const z = await cg.read(mg.posterior.z);
      const want = Array.from({ length: checked.size }, (_, row) => {
        const b = Math.floor(row / K);
        const cov = covarianceOf(lv, lo, b, Z);
        const mean = m.subarray(b * Z, (b + 1) * Z);
        if (objective.kind === 'iwae') {
          return mvnLogPdf(z.subarray(row * Z, (row + 1) * Z), mean, cov);
        }
        const trace = cov.reduce((s, r, i) => s + r[i]!, 0);
        const { logDet } = solveLogDet(cov, new Array<number>(Z).fill(0));
        return 0.5 * (trace + mean.reduce((s, v) => s + v * v, 0) - Z - logDet);
      });
      const got = await cg.read(checked);
      const m2 = mismatches(got, want, { atol: 2e-5, rtol: 2e-5 }, `${objective.kind}`);
      expect(m2, `seed ${seed}`).toBeNull();
      cg.destroy();
      model.destroy();
    }
  });

  it('the exact posterior of a linear-Gaussian model gives log p(x) exactly', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [D, Z, sigma] = [3, 2, 0.5];
    const config = resolveVaeConfig({
      version: 2,
      inputSize: D,
      latentSize: Z,
      encoder: { hidden: [] },
      decoder: { hidden: [] },
      posterior: { kind: 'full' },
      likelihood: { kind: 'gaussian', sigma },
    });
    // x = W z + b + σ n: the posterior is N(S Wᵀ (x − b) / σ², S), S = (I + WᵀW / σ²)⁻¹, whose
    // correlation is far from 0 for these columns of W (0.8 apart in direction at most).
    const w0 = randomNormal(rng, D);
    const W = Array.from({ length: D }, (_, i) => [
      w0[i]!,
      w0[i]! + 0.4 * randomNormal(rng, 1)[0]!,
    ]);
    const b = Array.from(randomNormal(rng, D, 0.5));
    const s2 = sigma * sigma;
    const prec = [0, 1].map((i) =>
      [0, 1].map((j) => (i === j ? 1 : 0) + W.reduce((s, r) => s + r[i]! * r[j]!, 0) / s2),
    );
    const det = prec[0]![0]! * prec[1]![1]! - prec[0]![1]! * prec[1]![0]!;
    const S = [
      [prec[1]![1]! / det, -prec[0]![1]! / det],
      [-prec[1]![0]! / det, prec[0]![0]! / det],
    ];
    const l00 = Math.sqrt(S[0]![0]!);
    const l10 = S[1]![0]! / l00;
    const l11 = Math.sqrt(S[1]![1]! - l10 * l10);
    const A = [0, 1].map((i) =>
      Array.from({ length: D }, (_, d) => (S[i]![0]! * W[d]![0]! + S[i]![1]! * W[d]![1]!) / s2),
    );
    const weights = (lowerShift: number) =>
      new Map<string, Float32Array>([
        ['encoder.mu.weight', Float32Array.from(A.flat())],
        [
          'encoder.mu.bias',
          Float32Array.from(A, (row) => -row.reduce((s, v, d) => s + v * b[d]!, 0)),
        ],
        ['encoder.logvar.weight', new Float32Array(Z * D)],
        ['encoder.logvar.bias', Float32Array.of(2 * Math.log(l00), 2 * Math.log(l11))],
        ['encoder.lower.weight', new Float32Array(D)],
        ['encoder.lower.bias', Float32Array.of(l10 + lowerShift)],
        ['decoder.out.weight', Float32Array.from(W.flat())],
        ['decoder.out.bias', Float32Array.from(b)],
      ]);
    const count = 11;
    const data = randomNormal(rng, count * D, 1.5);
    const cov = Array.from({ length: D }, (_, i) =>
      Array.from(
        { length: D },
        (_, j) => W[i]![0]! * W[j]![0]! + W[i]![1]! * W[j]![1]! + (i === j ? s2 : 0),
      ),
    );
    const want = Array.from({ length: count }, (_, i) =>
      mvnLogPdf(data.subarray(i * D, (i + 1) * D), b, cov),
    );
    const dataset = { images: data, count };
    for (const [shift, exact] of [
      [0, true],
      [0.5, false],
    ] as const) {
      const model = VaeModel.create(rt, config, { weights: weights(shift) });
      const trainer = await Trainer.create(model, { batchSize: 4, matmulVariant: 'rb' });
      // k = 3 in one chunk: every importance weight is p(x) itself when q is the posterior.
      const { perExample } = await trainer.logLikelihood(dataset, { k: 3, chunk: 3, batchSize: 4 });
      const worst = Math.max(...Array.from(perExample, (v, i) => Math.abs(v - want[i]!)));
      if (exact) expect(worst, `seed ${seed}: exact posterior`).toBeLessThan(5e-4);
      else expect(worst, `seed ${seed}: L′ shifted by 0.5`).toBeGreaterThan(1e-2);
      trainer.destroy();
      model.destroy();
    }
  });

  it('encode reports mu, logvar, L′ and L; sample, traverse and reconstruct run', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const Z = 4;
    const config = fullConfig(Z, { kind: 'elbo', beta: 1, reduction: 'sum' });
    const model = VaeModel.create(rt, config, { seed: seed % 1000 });
    const vae = VaeInference.create(model, { batchSizes: [1, 4] });
    // 6 rows: chunks of 4 and 2.
    const x = randomNormal(makeRng(seed), 6 * config.inputSize);
    const got = await vae.encode(x, 6);
    expect(Object.keys(got).sort()).toEqual(['logvar', 'lower', 'mu', 'scaleTril']);
    const eg = buildEncoderGraph(config, 6);
    const weights = await model.readWeights();
    const r = runGraph64(eg.graph, {
      params: new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)])),
      inputs: new Map([['x', x]]),
    });
    for (const [name, t] of Object.entries(eg.outputs)) {
      const m = mismatches(got[name]!, r.value(t), { atol: 2e-6, rtol: 2e-5 }, name);
      expect(m, `seed ${seed}`).toBeNull();
    }
    // L is lower triangular with σ on its diagonal.
    const L = got.scaleTril!;
    expect(L.length).toBe(6 * Z * Z);
    for (let i = 0; i < Z; i++) {
      expect(L[i * Z + i]).toBeCloseTo(Math.exp(0.5 * got.logvar[i]!), 5);
      for (let j = i + 1; j < Z; j++) expect(L[i * Z + j]).toBe(0);
    }
    const D = config.inputSize;
    const sampled = await vae.sample(4, { seed: 3 });
    const traversed = await vae.traverse(got.mu.subarray(0, Z), 1, { steps: 3 });
    const reconstructed = await vae.reconstruct(x, 2);
    const images = [sampled.images, traversed.images, reconstructed.images];
    expect(images.map((a) => a.length)).toEqual([4 * D, 3 * D, 2 * D]);
    expect(images.every((a) => a.every(Number.isFinite))).toBe(true);
    // Reconstructions decode the posterior mean.
    const decoded = await vae.decode(got.mu.subarray(0, 2 * Z), 2);
    const m = mismatches(reconstructed.images, decoded, { atol: 1e-6, rtol: 1e-6 }, 'reconstruct');
    expect(m).toBeNull();
    vae.destroy();
    model.destroy();
  });
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training the full posterior on %s', (adapter) => {
  it.each([
    ['elbo', { kind: 'elbo', beta: 1, reduction: 'sum' }],
    ['iwae k=4', { kind: 'iwae', samples: 4, reduction: 'sum' }],
  ] as const)(
    '%s: the loss falls over 300 steps of the rotated Gaussian',
    async (_n, objective) => {
      const rt = await runtimeFor(adapter);
      const { points, model, trainer, before, after, reports } = await trainRotatedGaussian(
        rt,
        { kind: 'full' },
        objective,
      );
      expect(reports.every((r) => Number.isFinite(r.train.loss))).toBe(true);
      expect(after.loss, `before ${before.loss}`).toBeLessThan(before.loss - 0.5);
      // The learned factor is not diagonal: some example has |L′| well away from 0.
      const vae = VaeInference.create(model, { batchSizes: [64] });
      const { lower } = await vae.encode(points.data.subarray(0, 128), 64);
      expect(Math.max(...Array.from(lower!, Math.abs))).toBeGreaterThan(1e-3);
      vae.destroy();
      trainer.destroy();
      model.destroy();
    },
  );
});
