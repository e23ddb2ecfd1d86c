// The learned prior of a vq model (src/vae/prior/made.ts, src/vae/prior-stage.ts): the config
// section's errors and tensors; the MADE's autoregressive structure (changing the code at position
// p changes no logits at positions <= p, in the float64 interpreter and on the GPU, which agree);
// the prior loss's gradients (GPU against the interpreter, the interpreter against finite
// differences); and the sampling test: a prior trained on a known joint distribution of
// three positions of three codes reproduces its frequencies (chi-square, fixed seeds), T = 0 gives
// one sequence, and the VAE's own training leaves the prior's tensors alone.
import { describe, expect, it } from 'vitest';
import { CompiledGraph } from '../src/graph/executor.js';
import { softmaxCrossEntropy } from '../src/graph/ops/softmax.js';
import { view } from '../src/graph/ops/util.js';
import { runGraph64 } from '../src/reference/graph.js';
import { parameterSpecs, resolveVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { buildPriorGraph, PriorSampler, PriorTrainer } from '../src/vae/prior-stage.js';
import { categoricalSample64 } from '../src/reference/categorical.js';
import { readFloats } from '../src/gpu/buffers.js';
import { madeLogits, madeMasks, type MadePriorConfig } from '../src/vae/prior/made.js';
import { Trainer } from '../src/vae/trainer.js';
import { checkGraphGradients, probedGraph } from './helpers/graph-check.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng, randomNormal } from './helpers/reference.js';
import { chiSquare, chiSquareCritical } from './helpers/stats.js';

/** A vq model on 4-value inputs whose codes are P positions of K codes. */
function vqConfig(P: number, K: number, prior?: Record<string, unknown>): VaeConfig {
  return {
    version: 2,
    inputSize: 4,
    latentSize: 2 * P,
    encoder: { hidden: [5], activation: 'tanh' },
    decoder: { hidden: [5], activation: 'tanh' },
    posterior: { kind: 'vq', codes: K, dim: 2 },
    likelihood: { kind: 'gaussian', sigma: 1 },
    ...(prior ? { prior: prior as VaeConfig['prior'] } : {}),
  };
}

describe('made prior config', () => {
  it.each([
    [{ kind: 'made', hiden: [8] }, /prior\.hiden is unknown.*did you mean prior\.hidden/],
    [{ kind: 'made', hidden: [] }, /prior\.hidden must be an array of 1 to 4 layer widths/],
    [{ kind: 'made', hidden: [0] }, /prior\.hidden\[0\] must be an integer/],
    [{ kind: 'made', activation: 'nope' }, /prior\.activation "nope" is unknown/],
  ])('%j is refused', (prior, message) => {
    expect(() => resolveVaeConfig(vqConfig(3, 4, prior))).toThrow(message);
  });

  it('needs a vq posterior', () => {
    expect(() =>
      resolveVaeConfig({ ...vqConfig(3, 4, { kind: 'made' }), posterior: { kind: 'diagonal' } }),
    ).toThrow(/prior\.kind 'made' is a prior over the code indices of posterior\.kind 'vq'/);
  });

  it('defaults, and its tensors come last as non-parameter tensors of the VAE', () => {
    const c = resolveVaeConfig(vqConfig(3, 4, { kind: 'made' }));
    expect(c.prior).toEqual({ kind: 'made', hidden: [128], activation: 'relu' });
    const specs = parameterSpecs(c);
    const prior = specs.filter((s) => s.name.startsWith('prior.'));
    expect(prior.map((s) => [s.name, s.shape, s.buffer])).toEqual([
      ['prior.hidden.0.weight', [128, 12], true],
      ['prior.hidden.0.bias', [128], true],
      ['prior.out.weight', [12, 128], true],
      ['prior.out.bias', [12], true],
    ]);
    expect(specs.slice(-4)).toEqual(prior);
  });

  it('masks: position p reads positions < p through every path', () => {
    const s = { positions: 4, codes: 3 };
    const hidden = [7, 5];
    const masks = madeMasks(s, hidden);
    // Reachability from input (q, k) to output (p, j) through the masked layers.
    let reach: number[][] = Array.from({ length: 12 }, (_, i) =>
      Array.from({ length: 12 }, (_, j) => (i === j ? 1 : 0)),
    );
    const widths = [12, ...hidden, 12];
    masks.forEach((m, l) => {
      const [inW, outW] = [widths[l]!, widths[l + 1]!];
      reach = reach.map((row) =>
        Array.from({ length: outW }, (_, o) => {
          let r = 0;
          for (let i = 0; i < inW; i++) r ||= row[i]! && m[o * inW + i]!;
          return r;
        }),
      );
    });
    for (let i = 0; i < 12; i++) {
      for (let o = 0; o < 12; o++) {
        const [q, p] = [Math.floor(i / 3), Math.floor(o / 3)];
        if (q >= p) expect(reach[i]![o], `input ${q} -> output ${p}`).toBe(0);
      }
    }
    // The last position sees every earlier one.
    expect(reach[0]![11]).toBe(1);
  });
});

// The MADE is composed of ops tested on every adapter (masked linear layers, one-hot): one suffices.
describe.each(TEST_ADAPTERS.slice(0, 1))('made prior on %s', (adapter) => {
  it('changing the code at position p changes no logits at positions <= p', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [P, K, R] = [5, 3, P_ROWS];
    const config = resolveVaeConfig(vqConfig(P, K, { kind: 'made', hidden: [9, 6] }));
    const weights = initialWeights(config, seed);
    const pg = buildPriorGraph(config, R, false);
    // Row 2r + 1 is row 2r with the code at position p = r mod P changed.
    const codes = new Float32Array(R * P);
    for (let r = 0; r < R; r += 2) {
      for (let q = 0; q < P; q++) codes[r * P + q] = Math.floor(rng() * K);
      codes.copyWithin((r + 1) * P, r * P, (r + 1) * P);
      const p = (r / 2) % P;
      codes[(r + 1) * P + p] = (codes[r * P + p]! + 1) % K;
    }
    const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const ref = runGraph64(pg.graph, {
      params,
      inputs: new Map([
        ['codes', codes],
        ['hyper', Float32Array.of(0)],
      ]),
    }).value(pg.logits);
    const model = VaeModel.create(rt, config, { weights });
    const cg = await CompiledGraph.compile(rt, pg.graph, {
      params: model.paramBuffers(),
      label: 'made.structure',
    });
    cg.write(pg.codes, codes);
    await rt.submitChecked(cg.dispatches);
    const gpu = await cg.read(pg.logits);
    cg.destroy();
    model.destroy();
    for (const [name, logits] of [
      ['reference', ref],
      ['gpu', gpu],
    ] as const) {
      for (let r = 0; r < R; r += 2) {
        const p = (r / 2) % P;
        for (let i = 0; i < P * K; i++) {
          const [a, b] = [logits[r * P * K + i]!, logits[(r + 1) * P * K + i]!];
          if (Math.floor(i / K) <= p) expect(b, `${name} seed=${seed} row ${r} logit ${i}`).toBe(a);
        }
      }
    }
    for (let i = 0; i < gpu.length; i++) {
      expect(Math.abs(gpu[i]! - ref[i]!), `logit ${i} seed=${seed}`).toBeLessThan(1e-4);
    }
  });
});

const P_ROWS = 20;

/** The known joint distribution of three positions of three codes: p(c0) p(c1|c0) p(c2|c0, c1). */
function knownDistribution(): Float64Array {
  const p0 = [0.5, 0.3, 0.2];
  const p1 = [
    [0.7, 0.2, 0.1],
    [0.1, 0.1, 0.8],
    [0.3, 0.4, 0.3],
  ];
  const joint = new Float64Array(27);
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      // p(c2 | c0, c1): most of the mass on (a + b) mod 3.
      const hot = (a + b) % 3;
      for (let c = 0; c < 3; c++) {
        joint[a * 9 + b * 3 + c] = p0[a]! * p1[a]![b]! * (c === hot ? 0.8 : 0.1);
      }
    }
  }
  return joint;
}

describe('made prior training and sampling', () => {
  const adapter = TEST_ADAPTERS[0]!;

  it('the ancestral sampler draws what the float64 interpreter draws, position by position', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const [P, K, R, T] = [4, 5, 37, 0.8];
    const config = resolveVaeConfig(vqConfig(P, K, { kind: 'made', hidden: [11] }));
    const weights = initialWeights(config, seed);
    // Larger weights than the init's: conditionals far from uniform.
    for (const [name, w] of weights)
      if (name.startsWith('prior.')) w.forEach((v, i) => (w[i] = 4 * v));
    const model = VaeModel.create(rt, config, { weights });
    const sampler = await PriorSampler.create(model, R, seed);
    const encoder = rt.device.createCommandEncoder({ label: 'test.sample' });
    sampler.encode(encoder, T, 3, 2);
    rt.device.queue.submit([encoder.finish()]);
    const got = await readFloats(rt.device, sampler.codes);
    sampler.destroy();
    model.destroy();
    // The reference: P forward passes of the interpreter, each drawing one position.
    const pg = buildPriorGraph(config, R, false);
    const params = new Map([...weights].map(([k, v]) => [k, Float64Array.from(v)]));
    const codes = new Float32Array(R * P);
    let nearBoundary = 0;
    for (let p = 0; p < P; p++) {
      const logits = runGraph64(pg.graph, {
        params,
        inputs: new Map([
          ['codes', codes],
          ['hyper', Float32Array.of(0)],
        ]),
      }).value(pg.logits);
      const draw = categoricalSample64(logits, {
        rows: R,
        classes: K,
        positions: P,
        position: p,
        temperature: T,
        seed,
        step: 3,
        sample: 2,
        stream: 0,
      });
      for (let r = 0; r < R; r++) {
        // Within float32 rounding of a boundary, take the GPU's draw and go on from there.
        if (draw.margin[r]! < 1e-4) nearBoundary++;
        codes[r * P + p] = draw.margin[r]! < 1e-4 ? got[r * P + p]! : draw.idx[r]!;
      }
    }
    expect(nearBoundary, `seed=${seed}`).toBeLessThan(R * P * 0.01 + 2);
    expect([...got], `seed=${seed}`).toEqual([...codes]);
  });

  it('the prior loss: GPU gradients = interpreter = finite differences', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const [P, K, R] = [3, 4, 5];
    const c: MadePriorConfig = { kind: 'made', hidden: [7], activation: 'tanh' };
    const s = { positions: P, codes: K };
    const codes = Float32Array.from({ length: R * P }, () => Math.floor(rng() * K));
    const checked = probedGraph(rng, (g, param, input) => {
      const x = input('codes', codes, [R, P]);
      const names = new Map<string, ReturnType<typeof param>>();
      const logits = madeLogits(
        g,
        (name) => {
          let t = names.get(name);
          if (!t) {
            const [l, kind] = [name.split('.')[1], name.endsWith('weight') ? 'w' : 'b'];
            const shape =
              l === 'hidden'
                ? kind === 'w'
                  ? [7, P * K]
                  : [7]
                : kind === 'w'
                  ? [P * K, 7]
                  : [P * K];
            t = param(
              name,
              randomNormal(
                rng,
                shape.reduce((a, b) => a * b),
              ),
              shape,
            );
            names.set(name, t);
          }
          return t;
        },
        c,
        s,
        x,
        true,
      );
      return softmaxCrossEntropy(g, 'ce', view(g, logits, [R * P, K], 'l'), {
        labels: view(g, x, [R * P], 'labels'),
      });
    });
    const problems = await checkGraphGradients(rt, checked, { fdPoints: 10 });
    expect(problems, `seed=${seed}`).toEqual([]);
  });

  it('reproduces the frequencies of a known distribution of codes (chi-square)', async () => {
    const rt = await runtimeFor(adapter);
    const config = vqConfig(3, 3, { kind: 'made', hidden: [48] });
    const model = VaeModel.create(rt, config, { seed: 3 });
    const before = await model.readWeights();
    // The training set: each sequence as often as its probability says (the MLE is the truth).
    const joint = knownDistribution();
    const N = 4000;
    const rows: number[] = [];
    joint.forEach((p, s) => {
      for (let i = 0; i < Math.round(p * N); i++) {
        rows.push(Math.floor(s / 9), Math.floor(s / 3) % 3, s % 3);
      }
    });
    const codes = Float32Array.from(rows);
    const trainer = await PriorTrainer.create(model, { batchSize: 256, lr: 1e-2, seed: 1 });
    await expect(trainer.trainStep(new Float32Array(3 * 300), 300)).rejects.toThrow(
      /prior trainer: rows must be an integer in \[1, 256\], got 300/,
    );
    await expect(trainer.fit(Float32Array.of(0, 1, 3), { epochs: 1 })).rejects.toThrow(
      /prior fit: codes\[2\] is 3, not a code index in \[0, 3\)/,
    );
    const reports = await trainer.fit(codes, { epochs: 12 });
    // Its entropy (bits per code) is the floor of the prior's NLL.
    let entropy = 0;
    joint.forEach((p) => (entropy -= p * Math.log2(p)));
    entropy /= 3;
    const bits = await trainer.evaluate(codes);
    expect(reports[0]!.trainBits).toBeGreaterThan(bits);
    expect(bits).toBeLessThan(entropy + 0.01);
    trainer.destroy();
    // Only the prior's tensors moved.
    const after = await model.readWeights();
    for (const [name, w] of before) {
      const moved = w.some((v, i) => v !== after.get(name)![i]);
      expect(moved, name).toBe(name.startsWith('prior.'));
    }
    const vae = VaeInference.create(model, { batchSizes: [1000], seed: 11 });
    const n = 3000;
    const { codes: drawn, rows: got } = await vae.sample(n, { temperature: 1, seed: 5 });
    expect(got).toBe(n);
    const counts = new Array<number>(27).fill(0);
    for (let r = 0; r < n; r++)
      counts[drawn[3 * r]! * 9 + drawn[3 * r + 1]! * 3 + drawn[3 * r + 2]!]!++;
    const { statistic, df } = chiSquare(counts, joint);
    expect(statistic, `counts ${counts.join(',')}`).toBeLessThan(chiSquareCritical(df, 1e-3));
    // T = 0: the most likely code at every position, so one sequence: (0, 0, 0).
    const greedy = await vae.sample(50, { temperature: 0, seed: 2 });
    for (let r = 0; r < 50; r++)
      expect([...greedy.codes.subarray(3 * r, 3 * r + 3)]).toEqual([0, 0, 0]);
    vae.destroy();
    model.destroy();
  });

  it("the VAE's training leaves the prior's tensors alone", async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, vqConfig(2, 3, { kind: 'made', hidden: [4] }), { seed: 1 });
    const before = await model.readWeights();
    const trainer = await Trainer.create(model, { batchSize: 8, weightDecay: 0.1 });
    const x = randomNormal(makeRng(1), 8 * 4);
    for (let i = 0; i < 3; i++) await trainer.trainStep(x, 8);
    await trainer.flush();
    const after = await model.readWeights();
    for (const [name, w] of before) {
      if (name.startsWith('prior.')) expect([...after.get(name)!], name).toEqual([...w]);
    }
    expect(after.get('decoder.out.weight')).not.toEqual(before.get('decoder.out.weight'));
    trainer.destroy();
    model.destroy();
  });

  it('sample() on a vq model without a learned prior says how to get one', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, vqConfig(2, 3), { seed: 1 });
    const vae = VaeInference.create(model);
    await expect(vae.sample(4)).rejects.toThrow(/no learned prior over its codes.*train-prior/);
    await expect(PriorTrainer.create(model)).rejects.toThrow(
      /prior trainer: the model has no learned prior/,
    );
    vae.destroy();
    model.destroy();
  });
});
