// Semi-supervised M2 (src/vae/objective/m2.ts) at awkward sizes (5 labeled + 7 unlabeled rows, 3
// classes): the loss composed independently in float64 (a CVAE graph per label and the classifier
// by hand) against the M2 graph's interpreter; the interpreter's gradients against finite
// differences and against the PyTorch twin's golden fixture (vae-golden-m2.json, with three Adam
// steps); the GPU's loss, metrics and every gradient against the interpreter; config errors; the
// labeled stream (CyclicBatcher) and the CLI's --objective m2 / --labels; and a short training
// run whose classifier reaches far above chance from 9 labels, with classify and styleTransfer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adamStep64, type Adam64Hyper } from '../src/reference/adam.js';
import { parseCliArgs } from '../src/cli/args.js';
import { semiSupervised } from '../src/cli/commands.js';
import { modelConfig } from '../src/cli/model.js';
import { CyclicBatcher } from '../src/data/batches.js';
import { labeledSubset } from '../src/data/labeled-subset.js';
import { runGraph64 } from '../src/reference/graph.js';
import { buildModelGraph } from '../src/vae/build.js';
import { resolveVaeConfig, type ResolvedVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { hyperAt } from '../src/vae/evaluator.js';
import { writeFeeds } from '../src/vae/feeds.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { pythonScript, tempDir } from './helpers/python.js';
import { compileModelGraph, interpreterFdProblems } from './helpers/model-graph.js';
import {
  freshSeed,
  makeRng,
  mismatches,
  randomNormal,
  randomUniform,
} from './helpers/reference.js';

const L = 5;
const U = 7;
const C = 3;

const M2: VaeConfig = {
  version: 2,
  inputSize: 6,
  latentSize: 2,
  encoder: { hidden: [5], activation: 'tanh' },
  decoder: { hidden: [4], activation: 'elu' },
  objective: { kind: 'm2', alpha: 1.7, classifier: { hidden: [4], activation: 'softplus' } },
  condition: { kind: 'label', classes: C },
};

/** M2 with conv layers in the encoder and the classifier (its own trunk on the image). */
const M2_CONV: VaeConfig = {
  version: 2,
  inputSize: 2 * 5 * 5,
  inputShape: [2, 5, 5],
  latentSize: 2,
  encoder: { conv: [{ channels: 3, kernel: 3, stride: 2, padding: 1 }], hidden: [5] },
  decoder: { hidden: [4], activation: 'tanh' },
  objective: {
    kind: 'm2',
    alpha: 0.4,
    classifier: { conv: [{ channels: 2, kernel: 3, stride: 2 }], hidden: [4], activation: 'elu' },
  },
  condition: { kind: 'label', classes: C },
};

interface Case {
  config: ResolvedVaeConfig;
  weights: Map<string, Float32Array>;
  xl: Float32Array;
  yl: Float32Array;
  xu: Float32Array;
  eps: Float32Array;
}

function randomCase(seed: number, raw: VaeConfig = M2): Case {
  const rng = makeRng(seed);
  const config = resolveVaeConfig(raw);
  const D = config.inputSize;
  return {
    config,
    weights: initialWeights(config, seed),
    xl: randomUniform(rng, L * D, 0, 1),
    yl: Float32Array.from({ length: L }, (_, i) => (i + Math.floor(rng() * C)) % C),
    xu: randomUniform(rng, U * D, 0, 1),
    eps: randomNormal(rng, (L + U * C) * config.latentSize),
  };
}

function graphOf(c: Case) {
  return buildModelGraph(c.config, {
    batch: U,
    labeledBatch: L,
    training: true,
    seed: 1,
    givenNoise: true,
  });
}

function inputs64(c: Case): Map<string, ArrayLike<number>> {
  return new Map<string, ArrayLike<number>>([
    ['xl', c.xl],
    ['yl', c.yl],
    ['xu', c.xu],
    ['eps', c.eps],
    ['hyper', hyperAt(c.config, 0)],
  ]);
}

const f64 = (m: Map<string, Float32Array>) =>
  new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));

/** softplus MLP then linear logits, in float64 from the weights. */
function classifierLogits64(c: Case, x: Float32Array, rows: number): Float64Array[] {
  const w = c.weights;
  const D = c.config.inputSize;
  const dense = (v: ArrayLike<number>, name: string, n: number, k: number) => {
    const W = w.get(`${name}.weight`)!;
    const b = w.get(`${name}.bias`)!;
    return Float64Array.from({ length: n }, (_, o) => {
      let s = b[o]!;
      for (let i = 0; i < k; i++) s += W[o * k + i]! * v[i]!;
      return s;
    });
  };
  return Array.from({ length: rows }, (_, r) => {
    const h = dense(x.subarray(r * D, (r + 1) * D), 'classifier.0', 4, D).map((v) =>
      Math.log1p(Math.exp(v)),
    );
    return dense(h, 'classifier.out', C, 4);
  });
}

/** −ELBO per row of a plain CVAE graph (the same weights) for rows x with labels y and noise. */
function nelboRows(c: Case, x: Float32Array, y: Float32Array, eps: Float32Array): Float64Array {
  const raw: VaeConfig = { ...M2, objective: { kind: 'elbo', beta: 1 } };
  const config = resolveVaeConfig(raw);
  const rows = y.length;
  const mg = buildModelGraph(config, { batch: rows, training: false, seed: 1, givenNoise: true });
  const ref = runGraph64(mg.graph, {
    params: f64(c.weights),
    inputs: new Map<string, ArrayLike<number>>([
      ['x', x],
      ['y', y],
      ['eps', eps],
      ['hyper', hyperAt(config, 0)],
    ]),
  });
  const nll = ref.value(mg.nll);
  const kl = ref.value(mg.perExample.kl!);
  return nll.map((v, i) => v + kl[i]!);
}

describe('M2 in float64', () => {
  it('the graph is the M2 loss: labeled −ELBO + α·CE, unlabeled Σ_y q·(−ELBO) − H', () => {
    const seed = freshSeed();
    const c = randomCase(seed);
    const D = c.config.inputSize;
    const Z = c.config.latentSize;
    const mg = graphOf(c);
    const ref = runGraph64(mg.graph, { params: f64(c.weights), inputs: inputs64(c) });
    // Labeled rows first, then each unlabeled row under labels 0 … C−1, with their noise rows.
    const labeled = nelboRows(c, c.xl, c.yl, c.eps.subarray(0, L * Z));
    const repeated = new Float32Array(U * C * D);
    for (let r = 0; r < U * C; r++) {
      repeated.set(c.xu.subarray(Math.floor(r / C) * D, (Math.floor(r / C) + 1) * D), r * D);
    }
    const every = Float32Array.from({ length: U * C }, (_, r) => r % C);
    const unlabeled = nelboRows(c, repeated, every, c.eps.subarray(L * Z));
    const logSoftmax = (l: Float64Array) => {
      const m = Math.max(...l);
      const lse = m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0));
      return l.map((v) => v - lse);
    };
    let want = 0;
    classifierLogits64(c, c.xl, L).forEach((l, r) => {
      want += labeled[r]! - 1.7 * logSoftmax(l)[c.yl[r]!]!;
    });
    classifierLogits64(c, c.xu, U).forEach((l, u) => {
      const lq = logSoftmax(l);
      for (let y = 0; y < C; y++) {
        const q = Math.exp(lq[y]!);
        want += q * unlabeled[u * C + y]! + q * lq[y]!;
      }
    });
    expect(Math.abs(ref.loss - want), `seed ${seed}`).toBeLessThan(1e-9 * (1 + Math.abs(want)));
  });

  it.each([
    ['mlp', M2],
    ['conv', M2_CONV],
  ] as const)('its gradients match finite differences (%s)', (_name, raw) => {
    const seed = freshSeed();
    const c = randomCase(seed, raw);
    const rng = makeRng(seed + 1);
    const problems = interpreterFdProblems(graphOf(c), f64(c.weights), inputs64(c), {
      scale: 1,
      indices: (n) => [0, n - 1, Math.floor(rng() * n)],
    });
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });

  it.each([
    ['mlp', M2],
    ['conv', M2_CONV],
  ] as const)(
    "the encoder's layers before the label columns run once per image, not per label (%s)",
    (_name, raw) => {
      const c = randomCase(freshSeed(), raw);
      const ops = graphOf(c).graph.ops;
      const linear = ops.filter((op) => op.type === 'linear' && op.name.startsWith('encoder.0'));
      // [xl ; xu] once: L + U rows for the image part; L + U·C rows for the label part.
      const rows = (name: string) => linear.find((op) => op.name === name)?.in.x?.rows;
      expect(rows('encoder.0.distinct')).toBe(L + U);
      expect(rows('encoder.0.appended')).toBe(L + U * C);
      const convs = ops.filter((o) => o.type === 'conv2d' && o.name.startsWith('encoder.'));
      expect(convs.map((op) => op.in.x?.rows)).toEqual(raw.encoder.conv ? [L + U] : []);
    },
  );

  it('α defaults to 0.1·N/N_l from the data sizes, and is a per-step hyperparameter', () => {
    const config = resolveVaeConfig({ ...M2, objective: { kind: 'm2' } });
    expect(hyperAt(config, 3, { examples: 60_000, labeled: 100 })).toEqual([60]);
    expect(hyperAt(config, 0)).toEqual([0.2]);
    expect(config.objective).toEqual({
      kind: 'm2',
      classifier: { hidden: [500], activation: 'softplus' },
      reduction: 'sum',
    });
  });

  it('names a bad field', () => {
    const bad =
      (objective: object, rest: Partial<VaeConfig> = {}) =>
      () =>
        resolveVaeConfig({ ...M2, ...rest, objective } as VaeConfig);
    expect(bad({ kind: 'm2', alpha: -1 })).toThrow(/objective\.alpha must be a finite number >= 0/);
    expect(bad({ kind: 'm2', classifier: { hidden: [0] } })).toThrow(
      /objective\.classifier\.hidden\[0\] must be an integer/,
    );
    expect(bad({ kind: 'm2', classifier: { hiden: [3] } })).toThrow(
      /objective\.classifier\.hiden is unknown \(did you mean objective\.classifier\.hidden\?/,
    );
    expect(bad({ kind: 'm2', classifier: { activation: 'nope' } })).toThrow(
      /objective\.classifier\.activation "nope" is unknown/,
    );
    expect(bad({ kind: 'm2' }, { condition: { kind: 'none' } })).toThrow(
      /objective\.kind 'm2' needs condition\.kind 'label'/,
    );
    expect(bad({ kind: 'm2', classifier: { conv: [{ channels: 2, kernel: 3 }] } })).toThrow(
      /objective\.classifier\.conv needs inputShape/,
    );
    expect(
      bad(
        { kind: 'm2', classifier: { conv: [{ channels: 2, kernel: 6 }] } },
        { inputShape: [1, 2, 3] },
      ),
    ).toThrow(/objective\.classifier\.conv\[0\]: a 1×2×3 input gives an empty output/);
  });
});

describe('M2 data and CLI', () => {
  it('CyclicBatcher: every row once per pass, across steps and pass ends, a function of the step', () => {
    const count = 7;
    const data = Float32Array.from({ length: count * 2 }, (_, i) => Math.floor(i / 2));
    const labels = Float32Array.from({ length: count }, (_, i) => 10 + i);
    const b = new CyclicBatcher(data, 2, 3, 5, labels);
    const seen: number[] = [];
    for (let step = 0; step < 7; step++) {
      b.fill(step);
      for (let r = 0; r < 3; r++) {
        expect(b.batch[2 * r + 1]).toBe(b.batch[2 * r]);
        expect(b.batchLabels![r]).toBe(10 + b.batch[2 * r]!);
        seen.push(b.batch[2 * r]!);
      }
    }
    // 21 rows = 3 passes of 7: each a permutation of 0..6.
    for (let pass = 0; pass < 3; pass++) {
      expect([...seen.slice(7 * pass, 7 * pass + 7)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    }
    const again = new CyclicBatcher(data, 2, 3, 5, labels);
    again.fill(4);
    b.fill(4);
    expect(again.batch).toEqual(b.batch);
    expect(() => b.fill(-1)).toThrow(/step must be an integer >= 0/);
    expect(() => new CyclicBatcher(data, 3, 3, 5)).toThrow(/not a whole number of rows of 3/);
  });

  it('--objective m2 builds M2 on a label condition; --labels splits the training set by seed', async () => {
    const r = parseCliArgs(['train', '--objective', 'm2', '--labels', '30', '--hidden', '32']);
    if (r.command !== 'train') throw new Error('expected train');
    const o = r.options;
    expect(o.objective).toEqual({ kind: 'm2' });
    expect(o.condition).toEqual({ kind: 'label', classes: 10, inject: 'dense' });
    expect(o.labels).toBe(30);
    expect(() => parseCliArgs(['train', '--objective', 'm2', '--condition', 'none'])).toThrow(
      /--objective m2 needs --condition label/,
    );
    expect(() => parseCliArgs(['train', '--objective', 'm2', '--beta', '2'])).toThrow(
      /--beta does not apply to --objective m2/,
    );
    const config = resolveVaeConfig(await modelConfig(o, 4));
    expect(config.objective).toEqual({
      kind: 'm2',
      classifier: { hidden: [32], activation: 'relu' },
      reduction: 'sum',
    });
    // --preset conv: the classifier gets the preset encoder's conv trunk.
    const conv = parseCliArgs(['train', '--objective', 'm2', '--preset', 'conv']);
    if (conv.command !== 'train') throw new Error('expected train');
    const convConfig = resolveVaeConfig(await modelConfig(conv.options, 784));
    expect(convConfig.objective.kind === 'm2' && convConfig.objective.classifier).toMatchObject({
      conv: [{ channels: 32 }, { channels: 64 }],
      hidden: [256],
    });
    const rng = makeRng(3);
    const train = {
      images: randomUniform(rng, 100 * 4, 0, 1),
      count: 100,
      labels: Float32Array.from({ length: 100 }, (_, i) => i % 10),
    };
    const split = semiSupervised(train, config, 30, 7);
    expect(split.count).toBe(70);
    expect(split.labeled!.count).toBe(30);
    const chosen = labeledSubset(train.labels, 30, 10, 7).labeled;
    expect(split.labeled!.labels).toEqual(Float32Array.from(chosen, (i) => train.labels[i]!));
    expect(split.labeled!.images.subarray(4, 8)).toEqual(
      train.images.subarray(chosen[1]! * 4, chosen[1]! * 4 + 4),
    );
    expect(() => semiSupervised(train, config, 25, 7)).toThrow(
      /--labels 25: .*multiple of the 10 classes/,
    );
    const elbo = resolveVaeConfig({ ...M2, objective: { kind: 'elbo' } });
    expect(() => semiSupervised(train, elbo, 30, 7)).toThrow(
      /--labels applies only to semi-supervised models \(objective m2\)/,
    );
  });
});

/** A case of test/fixtures/vae-golden-m2.json (python/webgpu_vae_torch/golden.py, run_m2_case). */
interface M2Golden {
  name: string;
  config: VaeConfig;
  labeledBatch: number;
  batch: number;
  alpha: number;
  xl: number[];
  yl: number[];
  xu: number[];
  eps: number[];
  params: Record<string, number[]>;
  objective: number;
  labeledSum: number;
  ceSum: number;
  unlabeledSum: number;
  correct: number;
  nelbo: number[];
  grads: Record<string, number[]>;
  adam: { objectives: number[]; params: Record<string, number[]>; finalObjective: number };
}

const golden = JSON.parse(
  readFileSync(new URL('./fixtures/vae-golden-m2.json', import.meta.url), 'utf8'),
) as { adam: Adam64Hyper & { steps: number }; cases: M2Golden[] };

describe('M2 against the PyTorch twin (float64 interpreter)', () => {
  it.each(golden.cases.map((c) => [c.name, c] as const))(
    '%s: the objective, its terms, −ELBO per row, every gradient, three Adam steps',
    (_name, c) => {
      const config = resolveVaeConfig(c.config);
      const mg = buildModelGraph(config, {
        batch: c.batch,
        labeledBatch: c.labeledBatch,
        training: true,
        seed: 0,
        givenNoise: true,
      });
      expect(hyperAt(config, 0)).toEqual([c.alpha]);
      const inputs = new Map<string, ArrayLike<number>>([
        ['xl', c.xl],
        ['yl', c.yl],
        ['xu', c.xu],
        ['eps', c.eps],
        ['hyper', [c.alpha]],
      ]);
      const scale = config.objective.reduction === 'mean' ? 1 / c.batch : 1;
      const params = new Map(Object.entries(c.params).map(([k, v]) => [k, Float64Array.from(v)]));
      const run = () => runGraph64(mg.graph, { params, inputs });
      const ref = run();
      const TOL = { atol: 1e-12, rtol: 1e-9 };
      const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
        expect(got.length, what).toBe(want.length);
        expect(mismatches(got, want, TOL, what)).toBeNull();
      };
      close([scale * ref.loss], [c.objective], 'objective');
      const metric = (name: string) => ref.value(mg.metrics.find((m) => m.name === name)!.value);
      close(metric('labeled'), [c.labeledSum], 'labeled');
      close(metric('ce'), [c.ceSum], 'ce');
      close(metric('unlabeled'), [c.unlabeledSum], 'unlabeled');
      close(metric('accuracy'), [c.correct], 'correct');
      close(ref.value(mg.perExample.nelbo!), c.nelbo, 'nelbo');
      expect([...ref.grads.keys()]).toEqual(Object.keys(c.grads));
      for (const [name, g] of Object.entries(c.grads)) close(ref.grads.get(name)!, g, `d/d${name}`);
      const m = new Map([...params].map(([k, v]) => [k, new Float64Array(v.length)]));
      const v = new Map([...params].map(([k, p]) => [k, new Float64Array(p.length)]));
      const objectives: number[] = [];
      for (let t = 1; t <= golden.adam.steps; t++) {
        const r = run();
        objectives.push(scale * r.loss);
        for (const [k, p] of params) {
          adamStep64(p, m.get(k)!, v.get(k)!, r.grads.get(k)!, t, golden.adam);
        }
      }
      close(objectives, c.adam.objectives, 'objective before each step');
      for (const [name, p] of Object.entries(c.adam.params)) {
        close(params.get(name)!, p, `${name} after`);
      }
      close([scale * run().loss], [c.adam.finalObjective], 'objective after the steps');
    },
  );
});

// On the first adapter only: M2's one new kernel (class_cycle) is checked on every adapter in
// test/gather.test.ts, its other ops in theirs; this checks the composition (and costs 15 s of
// pipeline compiles on SwiftShader).
describe.each(TEST_ADAPTERS.slice(0, 1))('M2 on %s', (adapter) => {
  it.each([
    ['mlp', M2],
    ['conv encoder and classifier', M2_CONV],
  ] as const)(
    'the loss, the metrics and every gradient match the interpreter (%s)',
    async (_n, raw) => {
      const seed = freshSeed();
      const c = randomCase(seed, raw);
      const rt = await runtimeFor(adapter);
      const model = VaeModel.create(rt, c.config, { weights: c.weights });
      const grads = rt.buffers.storage('m2.grads', model.flatSize * 4).buffer;
      rt.device.queue.writeBuffer(grads, 0, new Float32Array(model.flatSize).fill(Number.NaN));
      const mg = graphOf(c);
      const cg = await compileModelGraph(rt, model, mg, grads);
      writeFeeds(cg, mg.feeds, { images: c.xu, labeled: { images: c.xl, labels: c.yl } }, 0, U);
      cg.write(mg.eps!, c.eps);
      cg.write(mg.hyper, Float32Array.from(hyperAt(c.config, 0)));
      cg.update({ step: 0 });
      await rt.submitChecked(cg.dispatches, 'm2.step');
      const ref = runGraph64(mg.graph, { params: f64(c.weights), inputs: inputs64(c) });
      const [loss] = await cg.read(mg.loss);
      expect(Math.abs(loss! - ref.loss), `seed ${seed}`).toBeLessThan(
        1e-4 * (1 + Math.abs(ref.loss)),
      );
      const names = mg.metrics.map((m) => m.name);
      expect(names).toEqual(['loss', 'labeled', 'ce', 'accuracy', '_labeled_rows', 'unlabeled']);
      for (const metric of mg.metrics) {
        const [got] = await cg.read(metric.value);
        const want = ref.value(metric.value)[0]!;
        expect(Math.abs(got! - want), `seed ${seed}: ${metric.name}`).toBeLessThan(
          1e-4 * (1 + Math.abs(want)),
        );
      }
      const got = await model.readFlat(grads);
      for (const [name, want] of ref.grads) {
        const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
        const m = mismatches(got.get(name)!, want, { atol: 3e-4 * scale, rtol: 3e-4 }, name, 4);
        expect(m, `seed ${seed}`).toBeNull();
      }
      cg.destroy();
      model.destroy();
      rt.buffers.destroy(grads);
    },
  );
});

describe('M2 checkpoints both ways with the PyTorch twin', () => {
  it("the twin loads ours and computes our objective; ours loads the twin's", async () => {
    const seed = freshSeed();
    const c = randomCase(seed, M2_CONV);
    const rt = await runtimeFor(TEST_ADAPTERS[0]!);
    const model = VaeModel.create(rt, c.config, { weights: c.weights });
    const { dir, remove } = tempDir('m2-twin');
    try {
      const ours = join(dir, 'ours.safetensors');
      writeFileSync(ours, await model.toCheckpoint());
      const batch = join(dir, 'batch.json');
      const alpha = hyperAt(c.config, 0)[0]!;
      const arrays = { xl: c.xl, yl: c.yl, xu: c.xu, eps: c.eps };
      const json = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, Array.from(v)]));
      writeFileSync(batch, JSON.stringify({ ...json, alpha }));
      const theirs = join(dir, 'theirs.safetensors');
      const out = JSON.parse(
        await pythonScript('test/helpers/m2_round_trip.py', [ours, batch, theirs]),
      ) as { objective: number; names: string[] };
      const ref = runGraph64(graphOf(c).graph, { params: f64(c.weights), inputs: inputs64(c) });
      // Ours in float64 at float32 weights (the checkpoint's), theirs at the same.
      expect(Math.abs(out.objective - ref.loss), `seed ${seed}`).toBeLessThan(
        1e-9 * (1 + Math.abs(ref.loss)),
      );
      expect(out.names).toEqual(model.specs.map((s) => s.name));
      const back = VaeModel.fromCheckpoint(rt, readFileSync(theirs), theirs).model;
      const weights = await back.readWeights();
      for (const [name, w] of c.weights) {
        const m = mismatches(
          weights.get(name)!,
          w.map((v) => v + 0.01),
          { atol: 1e-6, rtol: 1e-6 },
          name,
        );
        expect(m).toBeNull();
      }
      back.destroy();
    } finally {
      remove();
      model.destroy();
    }
  });
});

/** Three classes of 16-pixel binary images: class k lights pixels 5k … 5k+4 (noisy), plus noise. */
function threeClasses(rng: () => number, count: number) {
  const D = 16;
  const images = new Float32Array(count * D);
  const labels = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 3;
    labels[i] = k;
    for (let d = 0; d < D; d++) {
      const on = d >= 5 * k && d < 5 * k + 5 ? 0.85 : 0.1;
      images[i * D + d] = rng() < on ? 1 : 0;
    }
  }
  return { images, labels, count };
}

describe.each(TEST_ADAPTERS.slice(0, 1))('M2 training on %s', (adapter) => {
  it('9 labels of 3 classes: the test accuracy rises far above chance; classify, styleTransfer', async () => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const rt = await runtimeFor(adapter);
    const all = threeClasses(rng, 390);
    const test = threeClasses(rng, 150);
    const split = labeledSubset(all.labels, 9, 3, seed);
    const pick = (idx: Uint32Array) => ({
      images: Float32Array.from(
        { length: idx.length * 16 },
        (_, i) => all.images[idx[Math.floor(i / 16)]! * 16 + (i % 16)]!,
      ),
      labels: Float32Array.from(idx, (i) => all.labels[i]!),
      count: idx.length,
    });
    const labeled = pick(split.labeled);
    const unlabeled = pick(split.unlabeled);
    const config: VaeConfig = {
      version: 2,
      inputSize: 16,
      latentSize: 2,
      encoder: { hidden: [16], activation: 'tanh' },
      decoder: { hidden: [16], activation: 'tanh' },
      objective: { kind: 'm2', classifier: { hidden: [16], activation: 'tanh' } },
      condition: { kind: 'label', classes: 3 },
    };
    const model = VaeModel.create(rt, config, { seed });
    const trainer = await Trainer.create(model, {
      batchSize: 32,
      labeledBatchSize: 9,
      lr: 3e-3,
      seed,
    });
    const vae = VaeInference.create(model, { batchSizes: [16, 256] });
    const accuracy = async () => {
      const probs = await vae.classify(test.images, test.count);
      let hits = 0;
      for (let i = 0; i < test.count; i++) {
        const row = probs.subarray(i * 3, i * 3 + 3);
        expect(Math.abs(row[0]! + row[1]! + row[2]! - 1)).toBeLessThan(1e-5);
        if (row.indexOf(Math.max(...row)) === test.labels[i]) hits++;
      }
      return hits / test.count;
    };
    const reports = await trainer.fit(
      { images: unlabeled.images, count: unlabeled.count, labeled },
      { epochs: 10 },
    );
    const last = reports.at(-1)!;
    for (const name of ['labeled', 'unlabeled', 'ce', 'accuracy']) {
      expect(Number.isFinite(last.train.values[name]), name).toBe(true);
    }
    const after = await accuracy();
    expect(after, `seed ${seed}`).toBeGreaterThan(0.8);
    // evaluate() scores the test set's own labels: the same classifier, the same accuracy.
    const evaluated = await trainer.evaluate(test);
    expect(Math.abs(evaluated.values.accuracy! - after)).toBeLessThan(1e-6);
    const style = await vae.styleTransfer(test.images.subarray(0, 2 * 16), 2);
    expect(style.images).toHaveLength(2 * 3 * 16);
    expect(style.predicted).toHaveLength(2);
    const threes = await vae.sample(4, { labels: 2, seed: 1 });
    expect(threes.images).toHaveLength(4 * 16);
    vae.destroy();
    trainer.destroy();
    model.destroy();
  });
});
