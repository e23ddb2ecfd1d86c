// Conditional completion (condition 'quadrants' with prior 'conditional', Sohn et al. 2015's MNIST
// quadrant task): the description and its errors; in the float64 interpreter, that the loss is the
// Bernoulli NLL of the missing pixels only plus the closed-form KL between the posterior and the
// prior network's Gaussian, that the prior and the generator read x_obs (the image with its missing
// quadrants set to `fill`), that log w = log p(x_miss|z, x_obs) + log p(z|x_obs) − log q(z|x), and
// finite differences of the whole loss; on the GPU, a training step against the interpreter.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/graph/graph.js';
import { runGraph64 } from '../src/reference/graph.js';
import {
  buildCompletionGraph,
  buildLogWeightGraph,
  buildModelGraph,
  type ModelGraph,
} from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  compileModelGraph,
  interpreterFdProblems,
  poisonGradients,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';
import { freshSeed, makeRng, mismatches, randomNormal, scaledCheck } from './helpers/reference.js';

const LOG_2PI = Math.log(2 * Math.PI);
// A 5×4 image: the top half is rows 0–1, the left half columns 0–1.
const [H, W] = [5, 4];
const D = H * W;

function completion(observed: 1 | 2 | 3, more: Partial<VaeConfig> = {}): VaeConfig {
  return {
    version: 2,
    inputSize: D,
    inputShape: [1, H, W],
    latentSize: 3,
    encoder: { hidden: [6], activation: 'tanh' },
    decoder: { hidden: [5], activation: 'softplus' },
    likelihood: { kind: 'bernoulli' },
    condition: { kind: 'quadrants', observed, fill: -0.5 },
    prior: { kind: 'conditional', hidden: [4], activation: 'elu' },
    ...more,
  };
}

/** Pixel (h, w) observed in each task (as the Pyro reproduction lays the quadrants out). */
function observedPixel(observed: 1 | 2 | 3, h: number, w: number): boolean {
  const [bottom, left] = [h >= Math.floor(H / 2), w < Math.floor(W / 2)];
  if (observed === 1) return bottom && left;
  if (observed === 2) return left;
  return !(bottom && !left);
}

interface Case {
  config: ResolvedVaeConfig;
  B: number;
  weights: Map<string, Float32Array>;
  /** Pixels in (0, 1), away from 0 and 1. */
  x: Float32Array;
  eps: Float32Array;
}

function randomCase(raw: VaeConfig, seed: number): Case {
  const rng = makeRng(seed);
  const config = resolveVaeConfig(raw);
  const B = 2 + Math.floor(rng() * 4);
  const K = config.objective.kind === 'iwae' ? config.objective.samples : 1;
  return {
    config,
    B,
    weights: initialWeights(config, seed),
    x: Float32Array.from({ length: B * D }, () => 0.05 + 0.9 * rng()),
    eps: randomNormal(rng, B * K * config.latentSize),
  };
}

const toF64 = (m: Map<string, Float32Array>) =>
  new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));

/** The tensor an op of this name wrote (its first output). */
function tensorNamed(mg: { graph: ModelGraph['graph'] }, name: string): Tensor {
  const op = mg.graph.ops.find((o) => o.name === name);
  if (!op) throw new Error(`no op '${name}'`);
  return op.outputs[0]!;
}

const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

describe('conditional completion config', () => {
  it('defaults, the prior network after the decoder, the decoder reads z and x_obs', () => {
    const config = resolveVaeConfig({
      ...completion(2),
      condition: { kind: 'quadrants', observed: 2 },
      prior: { kind: 'conditional' },
    });
    expect(config.condition).toEqual({ kind: 'quadrants', observed: 2, fill: -1 });
    expect(config.prior).toEqual({ kind: 'conditional', hidden: [500, 500], activation: 'relu' });
    const shapes = [...initialWeights(resolveVaeConfig(completion(1)), 0)].map(
      ([k, w]) => `${k}:${w.length}`,
    );
    expect(shapes).toEqual([
      // The recognition network reads the whole image (D = 20).
      'encoder.0.weight:120',
      'encoder.0.bias:6',
      'encoder.mu.weight:18',
      'encoder.mu.bias:3',
      'encoder.logvar.weight:18',
      'encoder.logvar.bias:3',
      // The generator reads z (3) and x_obs (20).
      'decoder.0.weight:115',
      'decoder.0.bias:5',
      'decoder.out.weight:100',
      'decoder.out.bias:20',
      'prior.0.weight:80',
      'prior.0.bias:4',
      'prior.mu.weight:12',
      'prior.mu.bias:3',
      'prior.logvar.weight:12',
      'prior.logvar.bias:3',
    ]);
  });

  it('a conditional prior on labels reads the one-hot class', () => {
    const config = resolveVaeConfig({
      ...completion(1),
      condition: { kind: 'label', classes: 7 },
      prior: { kind: 'conditional', hidden: [] },
    });
    const weights = initialWeights(config, 0);
    expect(weights.get('prior.mu.weight')!.length).toBe(3 * 7);
  });

  it.each([
    [{ condition: { kind: 'quadrants', observed: 4 } }, /condition\.observed must be 1, 2 or 3/],
    [{ condition: { kind: 'quadrants' } }, /condition\.observed must be 1, 2 or 3/],
    [{ condition: { kind: 'quadrants', observed: 1, fill: 'x' } }, /condition\.fill must be a/],
    [{ condition: { kind: 'quadrants', observed: 1, bogus: 1 } }, /condition\.bogus|unknown field/],
    [
      { inputShape: undefined, inputSize: 20 },
      /condition\.kind 'quadrants' needs an image of at least 2×2: give inputShape/,
    ],
    [
      { likelihood: { kind: 'gaussian', sigma: 1 } },
      /condition\.kind 'quadrants' scores the missing pixels with a Bernoulli likelihood/,
    ],
    [
      { condition: { kind: 'none' } },
      /prior\.kind 'conditional' reads the condition; condition\.kind 'none' gives it nothing/,
    ],
    [{ prior: { kind: 'conditional', hidden: [0] } }, /prior\.hidden\[0\] must be an integer/],
    [
      { prior: { kind: 'conditional', activation: 'swish' } },
      /prior\.activation "swish" is unknown/,
    ],
    // Own keys of the activation table only: 'toString' is `in` every object.
    [
      { prior: { kind: 'conditional', activation: 'toString' } },
      /prior\.activation "toString" is unknown/,
    ],
  ])('rejects %j', (more, error) => {
    expect(() => resolveVaeConfig({ ...completion(1), ...more } as unknown as VaeConfig)).toThrow(
      error,
    );
  });
});

describe('the float64 interpreter of conditional completion', () => {
  it.each([1, 2, 3] as const)(
    '%i quadrant(s) observed: x_obs, the missing-pixel NLL and the KL to the prior network',
    (observed) => {
      const seed = freshSeed();
      const c = randomCase(completion(observed), seed);
      const mg = buildModelGraph(c.config, {
        batch: c.B,
        training: true,
        seed: 1,
        givenNoise: true,
      });
      const r = runGraph64(mg.graph, {
        params: toF64(c.weights),
        inputs: stepInputs64(mg, c.config, { x: c.x, eps: c.eps }),
      });
      const v = (name: string) => r.value(tensorNamed(mg, name));
      // x_obs: the image where observed, fill (−0.5) elsewhere.
      const xObs = v('x_obs');
      const wantObs = Array.from(c.x, (p, i) => {
        const pixel = i % D;
        return observedPixel(observed, Math.floor(pixel / W), pixel % W) ? p : -0.5;
      });
      expect(mismatches(xObs, wantObs, { atol: 0, rtol: 0 }, 'x_obs'), `seed ${seed}`).toBeNull();
      // NLL: Bernoulli over the missing pixels only, from the decoder's logits.
      const logits = r.value(mg.output);
      const nll = r.value(mg.nll);
      for (let b = 0; b < c.B; b++) {
        let want = 0;
        for (let p = 0; p < D; p++) {
          if (observedPixel(observed, Math.floor(p / W), p % W)) continue;
          const [l, t] = [logits[b * D + p]!, c.x[b * D + p]!];
          want += softplus(l) - t * l;
        }
        expect(Math.abs(nll[b]! - want), `row ${b}, seed ${seed}`).toBeLessThan(1e-10);
      }
      // KL(N(μ, σ²) ‖ N(μp, σp²)) in closed form, the prior's parameters from the prior network.
      const [mu, lv] = [v('encoder.mu'), v('encoder.logvar')];
      const [muP, lvP] = [v('prior.mu'), v('prior.logvar')];
      const kl = r.value(mg.perExample.kl!);
      const Z = c.config.latentSize;
      for (let b = 0; b < c.B; b++) {
        let want = 0;
        for (let j = 0; j < Z; j++) {
          const i = b * Z + j;
          const d = mu[i]! - muP[i]!;
          want += 0.5 * (lvP[i]! - lv[i]! + (Math.exp(lv[i]!) + d * d) / Math.exp(lvP[i]!) - 1);
        }
        expect(Math.abs(kl[b]! - want), `kl row ${b}, seed ${seed}`).toBeLessThan(1e-10);
      }
      // The prior network reads x_obs: its first layer's input is that tensor.
      const priorIn = mg.graph.ops.find((o) => o.name.startsWith('prior.0'))!;
      expect(Object.values(priorIn.in).some((t) => t?.name === 'x_obs')).toBe(true);
    },
  );

  it('log w = log p(x_miss|z, x_obs) + log p(z|x_obs) − log q(z|x) (k = 4)', () => {
    const seed = freshSeed();
    const c = randomCase(completion(2), seed);
    const K = 4;
    const lg = buildLogWeightGraph(c.config, { batch: c.B, samples: K, seed: seed % 1000 });
    const inputs = new Map<string, ArrayLike<number>>();
    for (const feed of lg.feeds) if (feed.field === 'images') inputs.set(feed.tensor.name, c.x);
    const r = runGraph64(lg.graph, { params: toF64(c.weights), inputs });
    const v = (name: string) => r.value(tensorNamed(lg, name));
    const z = v('reparam');
    const [mu, lv] = [v('encoder.mu'), v('encoder.logvar')];
    const [muP, lvP] = [v('prior.mu'), v('prior.logvar')];
    const nll = v('likelihood');
    const Z = c.config.latentSize;
    const logN = (row: number, m: Float64Array, l: Float64Array, b: number) => {
      let s = -0.5 * Z * LOG_2PI;
      for (let j = 0; j < Z; j++) {
        const d = z[row * Z + j]! - m[b * Z + j]!;
        s -= 0.5 * (d * d * Math.exp(-l[b * Z + j]!) + l[b * Z + j]!);
      }
      return s;
    };
    const want = Array.from({ length: c.B * K }, (_, row) => {
      const b = Math.floor(row / K);
      return -nll[row]! + logN(row, muP, lvP, b) - logN(row, mu, lv, b);
    });
    expect(
      mismatches(r.value(lg.logWeights), want, { atol: 1e-10, rtol: 1e-10 }, 'log w'),
      `seed ${seed}`,
    ).toBeNull();
  });

  it.each([
    ['elbo, 1 quadrant observed', completion(1)],
    [
      'iwae k = 3, 3 observed, mean reduction',
      completion(3, { objective: { kind: 'iwae', samples: 3, reduction: 'mean' } }),
    ],
  ])('matches finite differences of its own loss (%s)', (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(raw, seed);
    const rng = makeRng(seed + 1);
    const mg = buildModelGraph(c.config, { batch: c.B, training: true, seed: 1, givenNoise: true });
    const problems = interpreterFdProblems(
      mg,
      toF64(c.weights),
      stepInputs64(mg, c.config, { x: c.x, eps: c.eps }),
      {
        scale: c.config.objective.reduction === 'mean' ? 1 / c.B : 1,
        indices: (n) => [0, n - 1, Math.floor(rng() * n)],
      },
    );
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });
});

describe.each(TEST_ADAPTERS)('conditional completion on %s', (adapter) => {
  it('a training step (noise and the fixed mask on the GPU) matches the interpreter', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const model = VaeModel.create(rt, completion(1), { seed });
    const rng = makeRng(seed);
    const B = 7;
    const mg = buildModelGraph(model.config, { batch: B, training: true, seed });
    const grads = rt.buffers.storage('completion.grads', model.flatSize * 4).buffer;
    poisonGradients(model, grads);
    const cg = await compileModelGraph(rt, model, mg, grads, 'completion');
    const x = Float32Array.from({ length: B * D }, () => rng());
    const step = 3;
    writeStepInputs(cg, mg, model, { x, step });
    await rt.submitChecked(cg.dispatches, 'completion.step');
    const params = new Map(
      [...(await model.readWeights())].map(([k, v]) => [k, Float64Array.from(v)]),
    );
    const ref = runGraph64(mg.graph, {
      params,
      inputs: stepInputs64(mg, model.config, { x, step }),
      step,
    });
    const [loss] = await cg.read(mg.loss);
    expect(Math.abs(loss! - ref.loss), `loss, seed ${seed}`).toBeLessThan(
      2e-5 * Math.abs(ref.loss) + 1e-4,
    );
    const lines = scaledCheck(await model.readFlat(grads), ref.grads, 3e-4);
    expect(lines, `seed ${seed}\n${lines.join('\n')}`).toEqual([]);
    cg.destroy();
    rt.buffers.destroy(grads);
    model.destroy();
  });
});

/**
 * 4×4 images of two kinds: the left half is a vertical bar in column 0 or column 1 (the class),
 * the right half repeats it in column 2 or 3; pixels 0.9 on the bar, 0.1 elsewhere, so the left
 * half (2 quadrants observed) determines the right.
 */
function bars(count: number, seed: number): { images: Float32Array; classes: number[] } {
  const rng = makeRng(seed);
  const images = new Float32Array(count * 16).fill(0.1);
  const classes: number[] = [];
  for (let n = 0; n < count; n++) {
    const k = rng() < 0.5 ? 0 : 1;
    classes.push(k);
    for (let h = 0; h < 4; h++) {
      images[n * 16 + h * 4 + k] = 0.9;
      images[n * 16 + h * 4 + 2 + k] = 0.9;
    }
  }
  return { images, classes };
}

/** The 4×4 bars model: two quadrants (the left half) observed, a small prior network. */
function barsModel(rt: Parameters<typeof VaeModel.create>[0], seed: number): VaeModel {
  return VaeModel.create(
    rt,
    {
      version: 2,
      inputSize: 16,
      inputShape: [1, 4, 4],
      latentSize: 2,
      encoder: { hidden: [16], activation: 'tanh' },
      decoder: { hidden: [16], activation: 'tanh' },
      likelihood: { kind: 'bernoulli' },
      condition: { kind: 'quadrants', observed: 2 },
      prior: { kind: 'conditional', hidden: [16], activation: 'tanh' },
    },
    { seed },
  );
}

describe.each(TEST_ADAPTERS)('completing images on %s', (adapter) => {
  it("complete(): observed pixels exact, missing ones the interpreter's draw of z ~ p(z|x_obs)", async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const model = barsModel(rt, seed);
    const inference = VaeInference.create(model, { batchSizes: [8] });
    const test = bars(5, seed + 1);
    // The draw of seed 7 is the interpreter's draw at step 7 of the same graph (8 planned rows).
    const done = await inference.complete(test.images, 5, { seed: 7 });
    const cgraph = buildCompletionGraph(model.config, 8, 0);
    const padded = new Float32Array(8 * 16);
    padded.set(test.images);
    const inputs = new Map<string, ArrayLike<number>>();
    for (const feed of cgraph.feeds) inputs.set(feed.tensor.name, padded);
    const params = new Map(
      [...(await model.readWeights())].map(([k, v]) => [k, Float64Array.from(v)]),
    );
    const ref = runGraph64(cgraph.graph, { params, inputs, step: 7 });
    const logits = ref.value(cgraph.output);
    for (let i = 0; i < 5 * 16; i++) {
      const missing = i % 4 >= 2;
      expect(done.missing[i], `pixel ${i}`).toBe(missing ? 1 : 0);
      if (!missing) expect(done.images[i], `observed pixel ${i}`).toBe(test.images[i]);
      else {
        const want = 1 / (1 + Math.exp(-logits[i]!));
        expect(Math.abs(done.images[i]! - want), `pixel ${i}, seed ${seed}`).toBeLessThan(1e-4);
      }
    }
    const again = await inference.complete(test.images, 5, { seed: 7 });
    expect(Array.from(again.images)).toEqual(Array.from(done.images));
    const other = await inference.complete(test.images, 5, { seed: 8 });
    expect(Array.from(other.images)).not.toEqual(Array.from(done.images));
    await expect(inference.decode(new Float32Array(2), 1)).rejects.toThrow(
      /decoder reads the observed pixels of each image \(condition 'quadrants'\).*use complete\(x\)/,
    );
    inference.destroy();
    model.destroy();
  });
});

// A few hundred steps: on the first adapter only (the step-by-step checks run on every adapter).
describe.each(TEST_ADAPTERS.slice(0, 1))('training a completion model on %s', (adapter) => {
  it('log p(x_miss|x_obs) rises and completions put the bar where the left half shows it', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const model = barsModel(rt, seed);
    const train = bars(240, seed + 2);
    const data = { images: train.images, count: 240 };
    const trainer = await Trainer.create(model, { batchSize: 40, lr: 1e-2, seed });
    const before = await trainer.logLikelihood(data, { k: 20 });
    await trainer.fit(data, { epochs: 15 });
    const after = await trainer.logLikelihood(data, { k: 20 });
    // The optimum is the pixels' entropy: 8 missing pixels of 0.1 / 0.9, about −2.6 nats.
    expect(after.logPx, `log p(x_miss|x_obs) ${before.logPx} -> ${after.logPx}`).toBeGreaterThan(
      before.logPx + 2,
    );
    const test = bars(5, seed + 1);
    const inference = VaeInference.create(model, { batchSizes: [8] });
    const filled = await inference.complete(test.images, 5);
    for (let n = 0; n < 5; n++) {
      const k = test.classes[n]!;
      let [on, off] = [0, 0];
      for (let h = 0; h < 4; h++) {
        on += filled.images[n * 16 + h * 4 + 2 + k]!;
        off += filled.images[n * 16 + h * 4 + 3 - k]!;
      }
      expect(on, `row ${n}: the bar's column ${on} vs the other ${off}`).toBeGreaterThan(off + 1);
    }
    console.log(
      `completion: log p(x_miss|x_obs) ${before.logPx.toFixed(2)} -> ${after.logPx.toFixed(2)}`,
    );
    trainer.destroy();
    inference.destroy();
    model.destroy();
  });
});
