// The `planar` posterior kind (src/vae/posterior/planar.ts): each flow step's log-determinant
// against log|det J| of its Jacobian computed by central differences of a direct float64 step
// written here, û by its formula inside the fused step (wᵀû ≥ −1, the fix binding on some steps), z_K and log q
// against the direct composition (float64 interpreter, Z = 2, 3, 5, global and amortized); config
// errors; inference (encode reports zK, sample, traverse, reconstruct decodes zK); and a few hundred training
// steps whose loss falls.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/graph/graph.js';
import { runGraph64, type GraphResult64 } from '../src/reference/graph.js';
import { buildModelGraph, type ModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { expectFlowInference } from './helpers/flow-inference.js';
import { trainRotatedGaussian } from './helpers/synthetic-training.js';
import { stepInputs64 } from './helpers/model-graph.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';

const LOG_2PI = Math.log(2 * Math.PI);

function planarConfig(
  Z: number,
  steps: number,
  amortized: boolean,
  objective: VaeConfig['objective'],
): ResolvedVaeConfig {
  return resolveVaeConfig({
    version: 2,
    inputSize: 6,
    latentSize: Z,
    encoder: { hidden: [5], activation: 'tanh' },
    decoder: { hidden: [4], activation: 'tanh' },
    posterior: { kind: 'planar', steps, amortized },
    likelihood: { kind: 'gaussian', sigma: 0.8 },
    objective,
  });
}

/** log|det A| by Gaussian elimination with partial pivoting. */
function logAbsDet(A: number[][]): number {
  const m = A.map((r) => [...r]);
  const n = m.length;
  let s = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const pivot = m[c]![c]!;
    s += Math.log(Math.abs(pivot));
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / pivot;
      for (let k = c; k < n; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
    }
  }
  return s;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

/** û = u + (m(wᵀu) − wᵀu)·w/‖w‖², m(a) = −1 + log(1 + eᵃ): written directly. */
function uHatOf(u: ArrayLike<number>, w: ArrayLike<number>): number[] {
  const a = dot(w, u);
  const m = -1 + Math.log1p(Math.exp(a));
  return Array.from(u, (v, i) => v + ((m - a) * w[i]!) / dot(w, w));
}

function stepOf(z: readonly number[], uHat: readonly number[], w: ArrayLike<number>, b: number) {
  const t = Math.tanh(dot(w, z) + b);
  return z.map((v, i) => v + uHat[i]! * t);
}

/** The Jacobian of f at z by central differences (columns: ∂f/∂z_j). */
function jacobian(f: (z: number[]) => number[], z: readonly number[], h = 1e-6): number[][] {
  const Z = z.length;
  const J = Array.from({ length: Z }, () => new Array<number>(Z).fill(0));
  for (let j = 0; j < Z; j++) {
    const plus = [...z];
    const minus = [...z];
    plus[j] = plus[j]! + h;
    minus[j] = minus[j]! - h;
    const [fp, fm] = [f(plus), f(minus)];
    for (let i = 0; i < Z; i++) J[i]![j] = (fp[i]! - fm[i]!) / (2 * h);
  }
  return J;
}

function tensorNamed(mg: ModelGraph, name: string): Tensor {
  const t = mg.graph.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor '${name}'`);
  return t;
}

/** Random weights with the flow's u, w, b far from 0 (so wᵀu < −1 on some steps: the fix binds). */
function randomWeights(config: ResolvedVaeConfig, seed: number) {
  const rng = makeRng(seed);
  const weights = initialWeights(config, seed);
  for (const [name, w] of weights) {
    if (name.startsWith('posterior.flow.') || name === 'encoder.flow.bias') {
      w.set(randomNormal(rng, w.length, 1.3));
    }
  }
  return weights;
}

/** Step k's u, w, b for example e from the parameters or the head's output. */
function stepParamsOf(
  config: ResolvedVaeConfig,
  r: GraphResult64,
  mg: ModelGraph,
  params: ReadonlyMap<string, Float64Array>,
  k: number,
  e: number,
) {
  const Z = config.latentSize;
  if (!(config.posterior.kind === 'planar' && config.posterior.amortized)) {
    const at = `posterior.flow.${k}`;
    return {
      u: params.get(`${at}.u`)!,
      w: params.get(`${at}.w`)!,
      b: params.get(`${at}.b`)![0]!,
    };
  }
  const head = r.value(tensorNamed(mg, 'encoder.flow'));
  const P = config.posterior.steps * (2 * Z + 1);
  const o = e * P + k * (2 * Z + 1);
  return { u: head.subarray(o, o + Z), w: head.subarray(o + Z, o + 2 * Z), b: head[o + 2 * Z]! };
}

describe('the planar flow against direct float64 formulas (interpreter)', () => {
  it.each([
    [2, 3, false],
    [3, 4, true],
    [5, 2, false],
    [5, 3, true],
  ] as const)(
    'Z=%i, %i steps, amortized %s: log|det| of each step is log|det J|, wᵀû ≥ −1, z_K and log q',
    (Z, steps, amortized) => {
      const seed = freshSeed();
      const config = planarConfig(Z, steps, amortized, {
        kind: 'iwae',
        samples: 2,
        reduction: 'sum',
      });
      const [B, K] = [3, 2];
      const weights = randomWeights(config, seed);
      const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
      const rng = makeRng(seed + 1);
      const x = randomNormal(rng, B * config.inputSize);
      const eps = randomNormal(rng, B * K * Z);
      const mg = buildModelGraph(config, { batch: B, training: false, seed: 0, givenNoise: true });
      const logq = mg.posterior.logq();
      const r = runGraph64(mg.graph, { params, inputs: stepInputs64(mg, config, { x, eps }) });
      const mu = r.value(mg.posterior.outputs.mu!);
      const logvar = r.value(mg.posterior.outputs.logvar!);
      const tol = { atol: 1e-7, rtol: 1e-6 };
      let bound = 0;
      for (let row = 0; row < B * K; row++) {
        const e = Math.floor(row / K);
        // z0 = μ + σ·ε and log N(z0; μ, σ²) written directly.
        let z = Array.from({ length: Z }, (_, j) => {
          const i = e * Z + j;
          return mu[i]! + Math.exp(0.5 * logvar[i]!) * eps[row * Z + j]!;
        });
        let want =
          -0.5 *
          Array.from({ length: Z }, (_, j) => {
            const i = e * Z + j;
            return eps[row * Z + j]! ** 2 + logvar[i]! + LOG_2PI;
          }).reduce((a, b) => a + b, 0);
        for (let k = 0; k < steps; k++) {
          const what = `seed ${seed} row ${row} step ${k}`;
          const p = stepParamsOf(config, r, mg, params, k, e);
          // û is computed inside the fused step: the step's z′ and log|det| below use this one.
          const uHat = uHatOf(p.u, p.w);
          expect(dot(p.w, uHat), what).toBeGreaterThanOrEqual(-1);
          if (dot(p.w, p.u) < -1) bound++;
          const f = (v: number[]) => stepOf(v, uHat, p.w, p.b);
          const direct = logAbsDet(jacobian(f, z));
          const logdet = r.value(tensorNamed(mg, `flow.${k}.logdet`))[row]!;
          expect(
            Math.abs(logdet - direct),
            `log|det J| ${what}: ${logdet} vs ${direct}`,
          ).toBeLessThan(1e-6);
          z = f(z);
          want -= direct;
          const zk = r.value(tensorNamed(mg, `flow.${k}`)).subarray(row * Z, (row + 1) * Z);
          expect(mismatches(zk, z, { atol: 1e-12, rtol: 1e-10 }, `z ${what}`)).toBeNull();
        }
        const zK = r.value(mg.posterior.z).subarray(row * Z, (row + 1) * Z);
        expect(mismatches(zK, z, { atol: 1e-12, rtol: 1e-10 }, `z_K row ${row}`)).toBeNull();
        expect(mismatches([r.value(logq)[row]!], [want], tol, `log q row ${row}`)).toBeNull();
      }
      // With u, w ~ N(0, 1.3²) some step has wᵀu < −1 in almost every draw; record it when not.
      if (bound === 0) console.warn(`planar seed ${seed}: the invertibility fix never bound`);
    },
  );

  it('the ELBO KL is the one-sample estimate log q(z_K|x) − log p(z_K)', () => {
    const seed = freshSeed();
    const config = planarConfig(3, 2, true, { kind: 'elbo', beta: 1, reduction: 'sum' });
    const B = 4;
    const params = new Map(
      [...randomWeights(config, seed)].map(([k, v]) => [k, Float64Array.from(v)]),
    );
    const rng = makeRng(seed);
    const x = randomNormal(rng, B * config.inputSize);
    const eps = randomNormal(rng, B * 3);
    const mg = buildModelGraph(config, { batch: B, training: true, seed: 0, givenNoise: true });
    const r = runGraph64(mg.graph, { params, inputs: stepInputs64(mg, config, { x, eps }) });
    const z = r.value(mg.posterior.z);
    const logq = r.value(mg.posterior.logq());
    const want = Array.from({ length: B }, (_, b) => {
      const zb = z.subarray(b * 3, b * 3 + 3);
      return logq[b]! + 0.5 * (dot(zb, zb) + 3 * LOG_2PI);
    });
    expect(
      mismatches(r.value(mg.perExample.kl!), want, { atol: 1e-12, rtol: 1e-10 }, 'kl'),
    ).toBeNull();
  });
});

describe('planar config', () => {
  const base = {
    version: 2,
    inputSize: 4,
    latentSize: 2,
    encoder: { hidden: [] },
    decoder: { hidden: [] },
  } as const;
  const resolve = (posterior: unknown) =>
    resolveVaeConfig({ ...base, posterior } as unknown as VaeConfig);

  it('defaults amortized to false and declares the global parameters after the heads', () => {
    expect(resolve({ kind: 'planar', steps: 2 }).posterior).toEqual({
      kind: 'planar',
      steps: 2,
      amortized: false,
    });
    const names = [...initialWeights(resolve({ kind: 'planar', steps: 2 }), 0).keys()];
    expect(names).toEqual([
      'encoder.mu.weight',
      'encoder.mu.bias',
      'encoder.logvar.weight',
      'encoder.logvar.bias',
      ...[0, 1].flatMap((k) => ['u', 'w', 'b'].map((p) => `posterior.flow.${k}.${p}`)),
      'decoder.out.weight',
      'decoder.out.bias',
    ]);
    const amortized = initialWeights(resolve({ kind: 'planar', steps: 3, amortized: true }), 0);
    expect(amortized.get('encoder.flow.weight')!.length).toBe(3 * 5 * 4);
    expect([...amortized.keys()].some((n) => n.startsWith('posterior.'))).toBe(false);
  });

  it.each([
    [{ kind: 'planar' }, /posterior\.steps is required/],
    [{ kind: 'planar', steps: 0 }, /posterior\.steps must be an integer in \[1, 256\], got 0/],
    [{ kind: 'planar', steps: 1.5 }, /posterior\.steps must be an integer/],
    [{ kind: 'planar', steps: '4' }, /posterior\.steps must be an integer/],
    [{ kind: 'planar', steps: 2, amortized: 'yes' }, /posterior\.amortized must be true or false/],
    [{ kind: 'planar', steps: 2, amortised: true }, /posterior\.amortised/],
  ])('rejects %j', (posterior, message) => {
    expect(() => resolve(posterior)).toThrow(message);
  });
});

describe.each(TEST_ADAPTERS)('the planar posterior on %s', (adapter) => {
  it.each([false, true])(
    'amortized %s: encode reports mu, logvar and zK; sample, traverse run; reconstruct decodes zK',
    async (amortized) => {
      const rt = await runtimeFor(adapter);
      const seed = freshSeed();
      const Z = 3;
      const config = planarConfig(Z, 2, amortized, { kind: 'elbo', beta: 1, reduction: 'sum' });
      const model = VaeModel.create(rt, config, { weights: randomWeights(config, seed) });
      await expectFlowInference(model, config, seed);
      model.destroy();
    },
  );
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training the planar posterior on %s', (adapter) => {
  it.each([
    ['global, elbo', false, { kind: 'elbo', beta: 1, reduction: 'sum' }],
    ['amortized, iwae k=4', true, { kind: 'iwae', samples: 4, reduction: 'sum' }],
  ] as const)(
    '%s: the loss falls over 300 steps of the rotated Gaussian',
    async (_n, amortized, objective) => {
      const rt = await runtimeFor(adapter);
      const { model, trainer, before, after, reports } = await trainRotatedGaussian(
        rt,
        { kind: 'planar', steps: 4, amortized },
        objective,
      );
      expect(reports.every((r) => Number.isFinite(r.train.loss))).toBe(true);
      expect(after.loss, `before ${before.loss}`).toBeLessThan(before.loss - 0.5);
      trainer.destroy();
      model.destroy();
    },
  );
});
