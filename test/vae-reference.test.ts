// The float64 CPU reference of the VAE (src/vae/reference.ts) against its PyTorch twin
// (python -m webgpu_vae_torch.golden -> test/fixtures/vae-golden.json) and against finite
// differences.
// No GPU needed.
import { describe, expect, it } from 'vitest';
import type { Activation } from '../src/kernels/activation-codes.js';
import {
  parameterSpecs,
  resolveVaeConfig,
  type ResolvedVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';
import {
  compareParamMaps,
  referenceAdamStep,
  referenceForward,
  referenceLossAndGrads,
  zeroParamMap,
  type ParamMap,
} from '../src/vae/reference.js';
import { finiteDifference, freshSeed, makeRng, mismatches } from './helpers/reference.js';
import { loadGolden } from './helpers/golden.js';

const golden = loadGolden();

const toMap = (record: Record<string, number[]>): ParamMap =>
  new Map(Object.entries(record).map(([name, values]) => [name, Float64Array.from(values)]));

const cloneMap = (map: ReadonlyMap<string, Float64Array>): ParamMap =>
  new Map([...map].map(([name, values]) => [name, values.slice()]));

/** The fixture stores 12 significant digits; float64 against float64 agrees far better. */
const TOL = { atol: 1e-12, rtol: 1e-9 };

function expectClose(
  got: ArrayLike<number> | number,
  want: ArrayLike<number> | number,
  name: string,
) {
  const a = typeof got === 'number' ? [got] : got;
  const e = typeof want === 'number' ? [want] : want;
  expect(mismatches(a, e, TOL, name)).toBeNull();
  expect(a.length).toBe(e.length);
}

describe('VAE reference vs the PyTorch twin', () => {
  it('has the three cases', () => {
    expect(golden.cases.map((c) => c.name)).toEqual([
      'bernoulli-relu-tanh-sum',
      'gaussian-elu-gelu-mean',
      'learned-leaky-linear-capacity-sum',
    ]);
  });

  for (const c of golden.cases) {
    describe(c.name, () => {
      const config = resolveVaeConfig(c.config);
      const x = Float64Array.from(c.x);
      const eps = Float64Array.from(c.eps);
      const options = { batch: c.batch, ...(c.capacity !== null ? { capacity: c.capacity } : {}) };

      it('uses our parameter names, in parameterSpecs order', () => {
        expect(Object.keys(c.params)).toEqual(parameterSpecs(config).map((s) => s.name));
        expect(Object.keys(c.grads)).toEqual(parameterSpecs(config).map((s) => s.name));
      });

      it('matches the forward: objective, losses, mu, logvar, z, outputs', () => {
        const r = referenceForward(config, toMap(c.params), x, eps, options);
        expectClose(r.objective, c.objective, 'objective');
        expectClose(r.reconSum, c.reconSum, 'reconSum');
        expectClose(r.klSum, c.klSum, 'klSum');
        expectClose(r.nll, c.nll, 'nll');
        expectClose(r.kl, c.kl, 'kl');
        expectClose(r.mu, c.mu, 'mu');
        expectClose(r.logvar, c.logvar, 'logvar');
        expectClose(r.z, c.z, 'z');
        expectClose(r.output, c.output, 'output');
        expect(r.logSigma === undefined).toBe(c.logSigma === undefined);
        if (c.logSigma) expectClose(r.logSigma!, c.logSigma, 'logSigma');
      });

      it('matches every gradient', () => {
        const { grads } = referenceLossAndGrads(config, toMap(c.params), x, eps, options);
        expect([...grads.keys()]).toEqual(Object.keys(c.grads));
        expect(compareParamMaps(grads, toMap(c.grads), TOL)).toEqual([]);
      });

      it('matches three torch.optim.Adam steps', () => {
        const params = toMap(c.params);
        const m = zeroParamMap(config);
        const v = zeroParamMap(config);
        const objectives: number[] = [];
        for (let t = 1; t <= golden.adam.steps; t++) {
          const r = referenceLossAndGrads(config, params, x, eps, options);
          objectives.push(r.objective);
          referenceAdamStep(params, r.grads, m, v, t, golden.adam);
        }
        expectClose(objectives, c.adam.objectives, 'objective per step');
        expect(compareParamMaps(params, toMap(c.adam.params), TOL)).toEqual([]);
        const final = referenceForward(config, params, x, eps, options);
        expectClose(final.objective, c.adam.finalObjective, 'objective after the steps');
      });
    });
  }
});

// ---- finite differences ----

interface FdCase {
  name: string;
  config: ResolvedVaeConfig;
  params: ParamMap;
  x: Float64Array;
  eps: Float64Array;
  batch: number;
  capacity?: number;
}

/** Random weights (PyTorch's init range), x in [0, 1], eps ~ N(0, 1). */
function randomCase(name: string, vae: VaeConfig, batch: number, rng: () => number): FdCase {
  const config = resolveVaeConfig(vae);
  const params: ParamMap = new Map();
  for (const s of parameterSpecs(config)) {
    const bound = 1 / Math.sqrt(s.fanIn);
    const n = s.shape.reduce((a, k) => a * k, 1);
    params.set(
      s.name,
      Float64Array.from({ length: n }, () => bound * (2 * rng() - 1)),
    );
  }
  const x = Float64Array.from({ length: batch * config.inputSize }, () => rng());
  const eps = Float64Array.from(
    { length: batch * config.latentSize },
    () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()),
  );
  const fd: FdCase = { name, config, params, x, eps, batch };
  if (config.objective.kind === 'elbo' && config.objective.capacity !== undefined) {
    // C half a nat away from the batch-mean KL, so |mean KL - C| has no kink nearby.
    const probe = referenceForward(config, params, x, eps, { batch, capacity: 0 });
    fd.capacity = probe.klSum / batch + 0.5;
  }
  return fd;
}

/** Smooth activations only: a kink of relu / elu within the step would break the difference
 * (those are covered by the golden cases, whose pre-activations stay >= 1e-3 from 0). */
const SMOOTH: Activation[] = ['identity', 'tanh', 'sigmoid', 'softplus', 'gelu'];

function fdCases(rng: () => number): FdCase[] {
  const cases: FdCase[] = golden.cases.map((c) => ({
    name: c.name,
    config: resolveVaeConfig(c.config),
    params: toMap(c.params),
    x: Float64Array.from(c.x),
    eps: Float64Array.from(c.eps),
    batch: c.batch,
    ...(c.capacity !== null ? { capacity: c.capacity } : {}),
  }));
  const pick = () => SMOOTH[Math.floor(rng() * SMOOTH.length)]!;
  cases.push(
    randomCase(
      'random bernoulli, mean, beta 0.5',
      {
        inputSize: 5,
        latentSize: 2,
        encoder: { hidden: [4], activation: pick() },
        decoder: { hidden: [3, 4], activation: pick() },
        beta: 0.5,
        reduction: 'mean',
      },
      3,
      rng,
    ),
    randomCase(
      'random gaussian sigma 0.3, sum',
      {
        inputSize: 4,
        latentSize: 3,
        encoder: { hidden: [], activation: pick() },
        decoder: { hidden: [5], activation: pick() },
        likelihood: { kind: 'gaussian', sigma: 0.3 },
        reduction: 'sum',
      },
      2,
      rng,
    ),
    randomCase(
      'random gaussian-learned, capacity, mean',
      {
        inputSize: 6,
        latentSize: 2,
        encoder: { hidden: [3], activation: pick() },
        decoder: { hidden: [4], activation: pick() },
        likelihood: { kind: 'gaussian-learned' },
        beta: 3,
        capacity: { max: 1, steps: 10 },
        reduction: 'mean',
      },
      4,
      rng,
    ),
  );
  return cases;
}

describe('VAE reference gradients vs central finite differences', () => {
  it('agree on a random subset of entries of every parameter', () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const failures: string[] = [];
    for (const c of fdCases(rng)) {
      const options = {
        batch: c.batch,
        ...(c.capacity !== undefined ? { capacity: c.capacity } : {}),
      };
      const { grads } = referenceLossAndGrads(c.config, c.params, c.x, c.eps, options);
      const objective = () => referenceForward(c.config, c.params, c.x, c.eps, options).objective;
      for (const [name, p] of c.params) {
        const g = grads.get(name)!;
        const count = Math.min(p.length, 4);
        const indices = new Set<number>();
        while (indices.size < count) indices.add(Math.floor(rng() * p.length));
        const which = [...indices];
        const fd = finiteDifference(objective, p, 1e-5, which);
        // Scale of the tensor's gradient: the step's rounding error is relative to the objective.
        const scale = Math.max(1, ...Array.from(g, Math.abs));
        for (const i of which) {
          const err = Math.abs(fd[i]! - g[i]!);
          if (err > 1e-7 * scale + 1e-6 * Math.abs(g[i]!)) {
            failures.push(`${c.name} ${name}[${i}]: analytic ${g[i]}, numeric ${fd[i]}`);
          }
        }
      }
    }
    const report = `seed=${seed}: ${failures.length} entries disagree\n${failures.slice(0, 12).join('\n')}`;
    expect(failures.length, report).toBe(0);
  });
});

// ---- the checker itself ----

describe('compareParamMaps', () => {
  const c = golden.cases[0]!;
  const config = resolveVaeConfig(c.config);
  const { grads } = referenceLossAndGrads(
    config,
    toMap(c.params),
    Float64Array.from(c.x),
    Float64Array.from(c.eps),
    { batch: c.batch },
  );

  it('reports a mutated gradient entry with name, index, got and want', () => {
    const bad = cloneMap(grads);
    const g = bad.get('decoder.0.weight')!;
    const want = g[3]!;
    g[3] = want * (1 + 1e-6) + 1e-9;
    const lines = compareParamMaps(bad, toMap(c.grads), TOL);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('decoder.0.weight[3]');
    expect(lines[0]).toContain(`got ${g[3]}`);
  });

  it('reports missing and extra parameters, wrong lengths and NaN', () => {
    const bad = cloneMap(grads);
    bad.delete('encoder.mu.bias');
    bad.set('encoder.logvar.bias', new Float64Array(1));
    bad.get('decoder.out.bias')![0] = NaN;
    bad.set('decoder.extra.weight', new Float64Array(2));
    const lines = compareParamMaps(bad, toMap(c.grads), TOL).join('\n');
    expect(lines).toContain('encoder.mu.bias: missing');
    expect(lines).toContain('encoder.logvar.bias: got 1 values');
    expect(lines).toContain('decoder.out.bias[0]: got NaN');
    expect(lines).toContain('decoder.extra.weight: unexpected parameter');
  });

  it('lists at most `limit` lines and counts the rest', () => {
    const zeros = zeroParamMap(config);
    const lines = compareParamMaps(zeros, grads, TOL, 3);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^\.\.\. \d+ more$/);
  });
});

describe('referenceForward argument checks', () => {
  const c = golden.cases[2]!;
  const config = resolveVaeConfig(c.config);
  const params = toMap(c.params);
  const x = Float64Array.from(c.x);
  const eps = Float64Array.from(c.eps);

  it('wants C exactly when the config has a capacity objective', () => {
    expect(() => referenceForward(config, params, x, eps, { batch: c.batch })).toThrow(/capacity/);
    const plain = resolveVaeConfig({ ...c.config, capacity: undefined });
    expect(() =>
      referenceForward(plain, params, x, eps, { batch: c.batch, capacity: 0.7 }),
    ).toThrow(/capacity/);
  });

  it('checks the shapes of x, eps and the parameters', () => {
    const opts = { batch: c.batch, capacity: 0.7 };
    expect(() => referenceForward(config, params, x.subarray(1), eps, opts)).toThrow(/x has/);
    expect(() => referenceForward(config, params, x, eps.subarray(1), opts)).toThrow(/eps has/);
    const short = cloneMap(params);
    short.set('decoder.logsigma.bias', new Float64Array(2));
    expect(() => referenceForward(config, short, x, eps, opts)).toThrow(/decoder.logsigma.bias/);
  });
});
