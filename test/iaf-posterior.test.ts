// The `iaf` posterior kind (src/vae/posterior/iaf.ts) against an IAF step written directly here in
// float64 (its MADE connectivity from the degrees, not from iafMasks): each step's Jacobian by
// central differences is triangular in the step's order (exact zeros above, the order reversed on
// odd steps) and its log|det| is the graph's Σ log σ; z after every step, z_K and log q match the
// direct composition (float64 interpreter, Z = 2, 3, 5); the first step's outputs in the graph
// itself do not move with later noise coordinates; the ELBO's Monte Carlo KL; the masks; config
// errors and parameter order; inference (encode reports zK on the GPU as in the interpreter,
// sample, traverse, reconstruct); and training runs whose loss falls. The GPU against the twin's
// golden fixture is in model-golden.test.ts, against finite differences in model-layer.test.ts.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/graph/graph.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph, type ModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { IAF_GATE_BIAS, iafMasks, type IafPosteriorConfig } from '../src/vae/posterior/iaf.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { expectFlowInference } from './helpers/flow-inference.js';
import { trainRotatedGaussian } from './helpers/synthetic-training.js';
import { stepInputs64 } from './helpers/model-graph.js';
import { freshSeed, makeRng, mismatches, randomNormal } from './helpers/reference.js';

const LOG_2PI = Math.log(2 * Math.PI);

function iafConfig(
  Z: number,
  posterior: Omit<IafPosteriorConfig, 'kind' | 'hidden' | 'context' | 'activation'> &
    Partial<IafPosteriorConfig>,
  objective: VaeConfig['objective'],
): ResolvedVaeConfig {
  return resolveVaeConfig({
    version: 2,
    inputSize: 6,
    latentSize: Z,
    encoder: { hidden: [5], activation: 'tanh' },
    decoder: { hidden: [4], activation: 'tanh' },
    posterior: { ...posterior, kind: 'iaf' },
    likelihood: { kind: 'gaussian', sigma: 0.8 },
    objective,
  });
}

function iafOf(config: ResolvedVaeConfig): IafPosteriorConfig {
  if (config.posterior.kind !== 'iaf') throw new Error('not an iaf config');
  return config.posterior;
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

const ACT: Record<string, (v: number) => number> = {
  tanh: Math.tanh,
  elu: (v) => (v > 0 ? v : Math.expm1(v)),
};

/** Position of coordinate j in step k's order (0 first): natural on even steps, reversed on odd. */
const rank = (Z: number, k: number, j: number) => (k % 2 === 0 ? j : Z - 1 - j);

/**
 * Step k written directly: a MADE whose unit u of every hidden layer sees z_j when u mod Z ≥
 * rank(j) + 1 (all of h in the first layer, units of degree <= its own after it), and whose
 * outputs m_i, s_i see hidden units of degree < rank(i) + 1; then σ = 1/(1 + e^−(s + 2)),
 * z′ = σ z + (1 − σ) m. Returns z′, Σ log σ and the smallest σ.
 */
function directStep(
  z: readonly number[],
  h: readonly number[],
  layers: { W: Float64Array; b: Float64Array }[],
  act: (v: number) => number,
  k: number,
): { z: number[]; logdet: number; minSigma: number } {
  const Z = z.length;
  let a = [...z, ...h];
  let degree = [...z.map((_, j) => rank(Z, k, j) + 1), ...h.map(() => 0)];
  layers.forEach(({ W, b }, l) => {
    const last = l === layers.length - 1;
    const width = b.length;
    const inn = a.length;
    const next: number[] = [];
    const nextDegree: number[] = [];
    for (let u = 0; u < width; u++) {
      const d = last ? rank(Z, k, u % Z) + 1 : u % Z;
      let s = b[u]!;
      for (let j = 0; j < inn; j++) {
        const sees = last ? degree[j]! < d : (l === 0 && j >= Z) || degree[j]! <= d;
        if (sees) s += W[u * inn + j]! * a[j]!;
      }
      next.push(last ? s : act(s));
      nextDegree.push(d);
    }
    a = next;
    degree = nextDegree;
  });
  let logdet = 0;
  let minSigma = 1;
  const out = z.map((v, i) => {
    const sigma = 1 / (1 + Math.exp(-(a[Z + i]! + IAF_GATE_BIAS)));
    logdet += Math.log(sigma);
    minSigma = Math.min(minSigma, sigma);
    return sigma * v + (1 - sigma) * a[i]!;
  });
  return { z: out, logdet, minSigma };
}

function tensorNamed(mg: ModelGraph, name: string): Tensor {
  const t = mg.graph.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor '${name}'`);
  return t;
}

/** Random weights with the MADE's far from the init's scale, so the gates move away from σ(2). */
function randomWeights(config: ResolvedVaeConfig, seed: number) {
  const rng = makeRng(seed);
  const weights = initialWeights(config, seed);
  for (const [name, w] of weights) {
    if (name.startsWith('posterior.flow.')) w.set(randomNormal(rng, w.length, 0.9));
  }
  return weights;
}

function stepLayers(
  config: ResolvedVaeConfig,
  params: ReadonlyMap<string, Float64Array>,
  k: number,
) {
  const c = iafOf(config);
  const names = [...c.hidden.map((_, l) => `hidden.${l}`), 'out'];
  return names.map((n) => {
    const at = `posterior.flow.${k}.${n}`;
    const W = params.get(`${at}.weight`);
    const b = params.get(`${at}.bias`);
    if (!W || !b) throw new Error(`no parameters ${at}`);
    return { W, b };
  });
}

describe('the inverse autoregressive flow against a direct float64 step (interpreter)', () => {
  it.each([
    [2, 3, [6], 2, 'tanh'],
    [3, 4, [7, 5], 3, 'elu'],
    [5, 2, [11], 4, 'tanh'],
    [5, 3, [6, 8], 1, 'tanh'],
  ] as const)(
    'Z=%i, %i steps, MADE %j, context %i, %s: triangular steps, log|det J|, z_K and log q',
    (Z, steps, hidden, context, activation) => {
      const seed = freshSeed();
      const config = iafConfig(
        Z,
        { steps, hidden: [...hidden], context, activation },
        { kind: 'iwae', samples: 2, reduction: 'sum' },
      );
      const [B, K] = [3, 2];
      const params = new Map(
        [...randomWeights(config, seed)].map(([k, v]) => [k, Float64Array.from(v)]),
      );
      const rng = makeRng(seed + 1);
      const x = randomNormal(rng, B * config.inputSize);
      const eps = randomNormal(rng, B * K * Z);
      const mg = buildModelGraph(config, { batch: B, training: false, seed: 0, givenNoise: true });
      const logq = mg.posterior.logq();
      const r = runGraph64(mg.graph, { params, inputs: stepInputs64(mg, config, { x, eps }) });
      const mu = r.value(mg.posterior.outputs.mu!);
      const logvar = r.value(mg.posterior.outputs.logvar!);
      const h = r.value(tensorNamed(mg, 'encoder.context'));
      const act = ACT[activation]!;
      let gates = 0;
      for (let row = 0; row < B * K; row++) {
        const e = Math.floor(row / K);
        const hRow = Array.from(h.subarray(e * context, (e + 1) * context));
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
          const layers = stepLayers(config, params, k);
          const f = (v: number[]) => directStep(v, hRow, layers, act, k).z;
          const J = jacobian(f, z);
          // Output i depends on z_j only for j before i in the step's order, and on z_i itself.
          for (let i = 0; i < Z; i++) {
            for (let j = 0; j < Z; j++) {
              if (rank(Z, k, j) > rank(Z, k, i)) expect(J[i]![j], `J[${i}][${j}] ${what}`).toBe(0);
            }
          }
          const step = directStep(z, hRow, layers, act, k);
          const direct = logAbsDet(J);
          // A central difference's rounding error in J_ii (~1e-10 here) is divided by σ_i in the log.
          const fdTol = 1e-6 + 1e-8 / step.minSigma;
          expect(Math.abs(step.logdet - direct), `Σ log σ vs log|det J| ${what}`).toBeLessThan(
            fdTol,
          );
          const negLogdet = r.value(tensorNamed(mg, `flow.${k}.negLogdet`))[row]!;
          expect(Math.abs(-negLogdet - direct), `graph log|det| ${what}`).toBeLessThan(fdTol);
          // Against the direct formula itself (no differencing): as exact as float64 allows.
          expect(Math.abs(-negLogdet - step.logdet), `graph Σ log σ ${what}`).toBeLessThan(1e-10);
          // The gate's argument s + bias, from the MADE output [m | s].
          const gate = r
            .value(tensorNamed(mg, `flow.${k}.out`))
            .subarray(row * 2 * Z + Z, (row + 1) * 2 * Z)
            .map((s) => s + IAF_GATE_BIAS);
          if (gate.some((s) => s < 1)) gates++;
          z = step.z;
          want -= step.logdet;
          const zk = r.value(tensorNamed(mg, `flow.${k}`)).subarray(row * Z, (row + 1) * Z);
          expect(mismatches(zk, z, { atol: 1e-12, rtol: 1e-10 }, `z ${what}`)).toBeNull();
        }
        const zK = r.value(mg.posterior.z).subarray(row * Z, (row + 1) * Z);
        expect(mismatches(zK, z, { atol: 1e-12, rtol: 1e-10 }, `z_K row ${row}`)).toBeNull();
        const tol = { atol: 1e-9, rtol: 1e-9 };
        expect(mismatches([r.value(logq)[row]!], [want], tol, `log q row ${row}`)).toBeNull();
      }
      // With MADE weights ~ N(0, 0.9²) some gate is below σ(1) in almost every draw.
      if (gates === 0) console.warn(`iaf seed ${seed}: every gate stayed above σ(1)`);
    },
  );

  it('in the graph, the first step output i does not move with the noise of later coordinates', () => {
    const seed = freshSeed();
    const Z = 4;
    const config = iafConfig(
      Z,
      { steps: 2, hidden: [9] },
      { kind: 'elbo', beta: 1, reduction: 'sum' },
    );
    const params = new Map(
      [...randomWeights(config, seed)].map(([k, v]) => [k, Float64Array.from(v)]),
    );
    const rng = makeRng(seed);
    const x = randomNormal(rng, config.inputSize);
    const eps = Array.from(randomNormal(rng, Z));
    const mg = buildModelGraph(config, { batch: 1, training: false, seed: 0, givenNoise: true });
    const first = tensorNamed(mg, 'flow.0');
    const step0 = (e: number[]) =>
      Array.from(
        runGraph64(mg.graph, { params, inputs: stepInputs64(mg, config, { x, eps: e }) }).value(
          first,
        ),
      );
    // ∂z1_i/∂ε_j = ∂z1_i/∂z0_j · σ_j: zero exactly for j > i, not for j <= i.
    const J = jacobian(step0, eps);
    for (let i = 0; i < Z; i++) {
      for (let j = 0; j < Z; j++) {
        if (j > i) expect(J[i]![j], `J[${i}][${j}] seed ${seed}`).toBe(0);
        else expect(Math.abs(J[i]![j]!), `J[${i}][${j}] seed ${seed}`).toBeGreaterThan(1e-9);
      }
    }
  });

  it('the ELBO KL is the one-sample estimate log q(z_K|x) − log p(z_K)', () => {
    const seed = freshSeed();
    const config = iafConfig(3, { steps: 2 }, { kind: 'elbo', beta: 1, reduction: 'sum' });
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
      const zb = Array.from(z.subarray(b * 3, b * 3 + 3));
      return logq[b]! + 0.5 * (zb.reduce((s, v) => s + v * v, 0) + 3 * LOG_2PI);
    });
    expect(
      mismatches(r.value(mg.perExample.kl!), want, { atol: 1e-12, rtol: 1e-10 }, 'kl'),
    ).toBeNull();
  });
});

describe('iaf masks', () => {
  it('Z = 1: the only output reads the context alone, through every hidden unit', () => {
    const [first, out] = iafMasks(1, 2, [3], 0);
    // Hidden units have degree 0: z (degree 1) is cut, the context connected.
    expect(first).toEqual([0, 1, 1, 0, 1, 1, 0, 1, 1]);
    expect(out).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('odd steps reverse the order of the first layer and the outputs', () => {
    const [even, evenOut] = iafMasks(3, 1, [3], 0);
    const [odd, oddOut] = iafMasks(3, 1, [3], 1);
    // Unit u (degree u) sees z_j with j + 1 <= u on even steps, 3 − j <= u on odd ones.
    expect(even).toEqual([0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1]);
    expect(odd).toEqual([0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1]);
    // m_i and s_i (rows i and 3 + i) see units of degree < deg(z_i).
    expect(evenOut).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1]);
    expect(oddOut).toEqual([1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0]);
  });
});

describe('iaf config', () => {
  const base = {
    version: 2,
    inputSize: 4,
    latentSize: 3,
    encoder: { hidden: [] },
    decoder: { hidden: [] },
  } as const;
  const resolve = (posterior: unknown) =>
    resolveVaeConfig({ ...base, posterior } as unknown as VaeConfig);

  it('fills the defaults and declares the context head, then the MADEs after the heads', () => {
    expect(resolve({ kind: 'iaf', steps: 2 }).posterior).toEqual({
      kind: 'iaf',
      steps: 2,
      hidden: [16],
      context: 3,
      activation: 'elu',
    });
    expect(resolve({ kind: 'iaf', steps: 1, hidden: [4, 40], context: 5 }).posterior).toEqual({
      kind: 'iaf',
      steps: 1,
      hidden: [4, 40],
      context: 5,
      activation: 'elu',
    });
    const config = resolve({ kind: 'iaf', steps: 2, hidden: [7, 5], context: 2 });
    const weights = initialWeights(config, 0);
    const shapes = [...weights].map(([name, w]) => `${name} ${w.length}`);
    expect(shapes).toEqual([
      'encoder.mu.weight 12',
      'encoder.mu.bias 3',
      'encoder.logvar.weight 12',
      'encoder.logvar.bias 3',
      'encoder.context.weight 8',
      'encoder.context.bias 2',
      ...[0, 1].flatMap((k) => [
        `posterior.flow.${k}.hidden.0.weight ${7 * 5}`,
        `posterior.flow.${k}.hidden.0.bias 7`,
        `posterior.flow.${k}.hidden.1.weight ${5 * 7}`,
        `posterior.flow.${k}.hidden.1.bias 5`,
        `posterior.flow.${k}.out.weight ${6 * 5}`,
        `posterior.flow.${k}.out.bias 6`,
      ]),
      'decoder.out.weight 12',
      'decoder.out.bias 4',
    ]);
  });

  it.each([
    [{ kind: 'iaf' }, /posterior\.steps is required for kind 'iaf'/],
    [{ kind: 'iaf', steps: 0 }, /posterior\.steps must be an integer in \[1, 64\], got 0/],
    [{ kind: 'iaf', steps: 65 }, /posterior\.steps must be an integer in \[1, 64\], got 65/],
    [{ kind: 'iaf', steps: 2.5 }, /posterior\.steps must be an integer/],
    [{ kind: 'iaf', steps: 2, hidden: 16 }, /posterior\.hidden must be an array of 1 to 8/],
    [{ kind: 'iaf', steps: 2, hidden: [] }, /posterior\.hidden must be an array of 1 to 8/],
    [{ kind: 'iaf', steps: 2, hidden: [8, -1] }, /posterior\.hidden\[1\] must be an integer/],
    [{ kind: 'iaf', steps: 2, context: 0 }, /posterior\.context must be an integer/],
    [{ kind: 'iaf', steps: 2, activation: 'swish' }, /posterior\.activation "swish" is unknown/],
    [{ kind: 'iaf', steps: 2, amortized: true }, /posterior\.amortized is unknown/],
    [{ kind: 'iaf', steps: 2, hiden: [4] }, /posterior\.hiden is unknown \(did you mean/],
  ])('rejects %j', (posterior, message) => {
    expect(() => resolve(posterior)).toThrow(message);
  });
});

describe.each(TEST_ADAPTERS)('the iaf posterior on %s', (adapter) => {
  it('encode reports mu, logvar and zK as the interpreter; sample, traverse run; reconstruct decodes zK', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const Z = 3;
    const config = iafConfig(
      Z,
      { steps: 3, hidden: [7], context: 2 },
      {
        kind: 'elbo',
        beta: 1,
        reduction: 'sum',
      },
    );
    const model = VaeModel.create(rt, config, { weights: randomWeights(config, seed) });
    await expectFlowInference(model, config, seed);
    model.destroy();
  });
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training the iaf posterior on %s', (adapter) => {
  it.each([
    ['elbo', { kind: 'elbo', beta: 1, reduction: 'sum' }],
    ['iwae k=4', { kind: 'iwae', samples: 4, reduction: 'sum' }],
  ] as const)(
    '%s: the loss falls over 300 steps of the rotated Gaussian',
    async (_n, objective) => {
      const rt = await runtimeFor(adapter);
      const { model, trainer, before, after, reports } = await trainRotatedGaussian(
        rt,
        { kind: 'iaf', steps: 4, hidden: [16], context: 4, activation: 'elu' },
        objective,
      );
      expect(reports.every((r) => Number.isFinite(r.train.loss))).toBe(true);
      expect(after.loss, `before ${before.loss}`).toBeLessThan(before.loss - 0.5);
      trainer.destroy();
      model.destroy();
    },
  );
});
