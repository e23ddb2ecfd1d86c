// Conv encoders and decoders in the graph: the config format and its errors, the float64
// interpreter of the conv model graphs (src/reference/graph.ts) against finite differences, the GPU
// graph's losses and every gradient against that interpreter on tiny conv VAEs with awkward sizes
// (both adapters), the reshape op, and the 28×28 preset training on embedded digits.
import { describe, expect, it } from 'vitest';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import { CompiledGraph } from '../src/graph/executor.js';
import { Graph } from '../src/graph/graph.js';
import { activationOp } from '../src/graph/ops/dense.js';
import { likelihoodOp } from '../src/graph/ops/loss.js';
import { objective } from '../src/graph/ops/objective.js';
import { total, view } from '../src/graph/ops/util.js';
import {
  convVaePreset,
  parameterSpecs,
  resolveVaeConfig,
  vaeLayers,
  type ResolvedVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';
import { buildModelGraph } from '../src/vae/build.js';
import { VaeModel, initialWeights } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { conv2dForward64 } from '../src/reference/conv.js';
import { runGraph64 } from '../src/reference/graph.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import {
  freshSeed,
  makeRng,
  randomNormal,
  randomUniform,
  scaledCheck,
} from './helpers/reference.js';
import {
  compileModelGraph,
  interpreterFdProblems,
  scaledObjective,
  stepInputs64,
  writeStepInputs,
} from './helpers/model-graph.js';

/** Conv encoder and deconv decoder on 1×9×7 images: odd sizes, channels 3 and 5. */
const both: VaeConfig = {
  inputSize: 63,
  inputShape: [1, 9, 7],
  latentSize: 3,
  encoder: {
    conv: [
      { channels: 3, kernel: 3, stride: 2, padding: 1 }, // 9×7 -> 5×4
      { channels: 5, kernel: 2 }, // -> 4×3
    ],
    hidden: [6],
    activation: 'tanh',
  },
  decoder: {
    hidden: [7, 100], // 100 = 5·5·4: reshape derived as [5, 5, 4]
    deconv: [
      { channels: 3, kernel: 3, stride: 2, padding: 1 }, // 5×4 -> 9×7
      { channels: 1, kernel: 3, padding: 1 }, // -> 9×7
    ],
    activation: 'elu',
  },
};

/** Conv encoder straight into the heads, MLP decoder with a learned σ, mean reduction. */
const encoderOnly: VaeConfig = {
  inputSize: 2 * 5 * 6,
  inputShape: [2, 5, 6],
  latentSize: 2,
  encoder: { conv: [{ channels: 3, kernel: 3, stride: 2 }], hidden: [], activation: 'softplus' },
  decoder: { hidden: [8], activation: 'tanh' },
  likelihood: { kind: 'gaussian-learned' },
  reduction: 'mean',
};

/** MLP encoder, deconv decoder from z itself with outputPadding and 2 channels, Gaussian σ. */
const decoderOnly: VaeConfig = {
  inputSize: 2 * 7 * 7,
  inputShape: [2, 7, 7],
  latentSize: 4,
  encoder: { hidden: [9], activation: 'tanh' },
  decoder: {
    hidden: [],
    reshape: [1, 2, 2], // z (4 values) viewed as 1×2×2
    deconv: [{ channels: 2, kernel: 3, stride: 3, outputPadding: 1 }], // (2−1)·3 + 3 + 1 = 7
    activation: 'tanh',
  },
  likelihood: { kind: 'gaussian', sigma: 0.5 },
};

const CASES: [string, VaeConfig][] = [
  ['conv encoder + deconv decoder, 1×9×7, bernoulli', both],
  ['conv encoder only, 2×5×6, learned σ, mean', encoderOnly],
  ['deconv decoder only, 2×7×7, outputPadding, gaussian', decoderOnly],
];

const toF64 = (m: Map<string, Float32Array>): Map<string, Float64Array> =>
  new Map([...m].map(([k, v]) => [k, Float64Array.from(v)]));

/** The training graph of a batch of B with given noise, as the GPU and the interpreter run it. */
const trainingGraph = (config: ResolvedVaeConfig, B: number) =>
  buildModelGraph(config, { batch: B, training: true, seed: 0, givenNoise: true });

function batchData(config: ResolvedVaeConfig, rng: () => number, B: number) {
  const x =
    config.likelihood.kind === 'bernoulli'
      ? randomUniform(rng, B * config.inputSize, 0, 1)
      : randomNormal(rng, B * config.inputSize);
  return { x, eps: randomNormal(rng, B * config.latentSize) };
}

describe('conv VAE config', () => {
  it('lays out the preset like PyTorch: names, shapes, fan-ins, module order', () => {
    const config = resolveVaeConfig(convVaePreset());
    expect(config.inputShape).toEqual([1, 28, 28]);
    expect(config.decoder.reshape).toEqual([64, 7, 7]);
    const specs = parameterSpecs(config);
    expect(specs.map((s) => [s.name, s.shape.join('×'), s.fanIn])).toEqual([
      ['encoder.conv.0.weight', '32×1×4×4', 16],
      ['encoder.conv.0.bias', '32', 16],
      ['encoder.conv.1.weight', '64×32×4×4', 512],
      ['encoder.conv.1.bias', '64', 512],
      ['encoder.0.weight', '256×3136', 3136],
      ['encoder.0.bias', '256', 3136],
      ['encoder.mu.weight', '20×256', 256],
      ['encoder.mu.bias', '20', 256],
      ['encoder.logvar.weight', '20×256', 256],
      ['encoder.logvar.bias', '20', 256],
      ['decoder.0.weight', '256×20', 20],
      ['decoder.0.bias', '256', 20],
      ['decoder.1.weight', '3136×256', 256],
      ['decoder.1.bias', '3136', 256],
      // ConvTranspose2d: (Cin, Cout, kh, kw); PyTorch's fan_in is weight.size(1)·kh·kw.
      ['decoder.deconv.0.weight', '64×32×4×4', 512],
      ['decoder.deconv.0.bias', '32', 512],
      ['decoder.deconv.1.weight', '32×1×4×4', 16],
      ['decoder.deconv.1.bias', '1', 16],
    ]);
    const l = vaeLayers(config);
    expect(l.encoderConv.map((c) => `${c.outChannels}×${c.outHeight}×${c.outWidth}`)).toEqual([
      '32×14×14',
      '64×7×7',
    ]);
    expect(l.decoderDeconv.map((c) => `${c.outChannels}×${c.outHeight}×${c.outWidth}`)).toEqual([
      '32×14×14',
      '1×28×28',
    ]);
    expect(l.out).toBeUndefined();
    // A resolved config (as stored in checkpoints) resolves to itself.
    expect(resolveVaeConfig(JSON.parse(JSON.stringify(config)) as VaeConfig)).toEqual(config);
    expect(resolveVaeConfig(convVaePreset(7)).latentSize).toBe(7);
  });

  it('derives inputShape and decoder.reshape, and leaves MLP configs as they were', () => {
    const mlp = resolveVaeConfig({
      inputSize: 784,
      latentSize: 2,
      encoder: { hidden: [10] },
      decoder: { hidden: [10] },
    });
    expect(Object.keys(mlp).sort()).toEqual(
      [
        'condition',
        'decoder',
        'encoder',
        'inputSize',
        'latentSize',
        'likelihood',
        'objective',
        'posterior',
        'prior',
        'version',
      ].sort(),
    );
    expect(mlp.encoder).toEqual({ hidden: [10], activation: 'relu' });
    const derived = resolveVaeConfig({
      inputSize: 64,
      latentSize: 2,
      encoder: { conv: [{ channels: 2, kernel: 3 }], hidden: [] },
      decoder: { hidden: [4] },
    });
    expect(derived.inputShape).toEqual([1, 8, 8]);
    expect(vaeLayers(derived).heads[0]!.inSize).toBe(2 * 6 * 6);
    expect(derived.decoder).toEqual({ hidden: [4], activation: 'relu' });
    const c = resolveVaeConfig(both);
    expect(c.decoder.reshape).toEqual([5, 5, 4]);
  });

  const bad: [string, Partial<VaeConfig> & Record<string, unknown>, RegExp][] = [
    [
      'non-square inputSize',
      { inputShape: undefined, inputSize: 63 },
      /inputShape \[C, H, W\] is needed/,
    ],
    [
      'inputShape size',
      { inputShape: [1, 9, 8] },
      /inputShape \[1, 9, 8\] holds 72 values, inputSize is 63/,
    ],
    [
      'inputShape form',
      { inputShape: [9, 7] as never },
      /inputShape must be \[channels, height, width\]/,
    ],
    [
      'padding',
      { encoder: { hidden: [], conv: [{ channels: 2, kernel: 3, padding: 3 }] } },
      /encoder\.conv\[0\]\.padding must be an integer in \[0, kernel - 1 = 2\]/,
    ],
    [
      'channels',
      { encoder: { hidden: [], conv: [{ channels: 0, kernel: 3 }] } },
      /encoder\.conv\[0\]\.channels must be an integer/,
    ],
    [
      'unknown key',
      { encoder: { hidden: [], conv: [{ channels: 2, kernel: 3, strides: 2 } as never] } },
      /encoder\.conv\[0\]\.strides is unknown/,
    ],
    [
      'empty conv output',
      {
        encoder: {
          hidden: [],
          conv: [
            { channels: 2, kernel: 5, stride: 1 },
            { channels: 2, kernel: 5 },
          ],
        },
      },
      /encoder\.conv\[1\]: a 2×5×3 input gives an empty output/,
    ],
    [
      'outputPadding in the encoder',
      { encoder: { hidden: [], conv: [{ channels: 2, kernel: 3, outputPadding: 1 }] } },
      /encoder\.conv\[0\]\.outputPadding applies to decoder\.deconv layers only/,
    ],
    [
      'outputPadding ≥ stride',
      {
        decoder: {
          hidden: [100],
          deconv: [{ channels: 1, kernel: 3, stride: 2, outputPadding: 2 }],
        },
      },
      /decoder\.deconv\[0\]\.outputPadding must be an integer in \[0, stride - 1 = 1\]/,
    ],
    [
      'sizes that do not come out integer',
      { decoder: { hidden: [100], deconv: [{ channels: 1, kernel: 4, stride: 2, padding: 1 }] } },
      /decoder\.deconv\[0\]: no input height gives an output height of 9/,
    ],
    [
      'last width not C·h·w',
      { decoder: { hidden: [7, 99], deconv: both.decoder.deconv! } },
      /the last dense layer \(decoder\.hidden\[1\]\) gives 99 values, not a whole number of 5×4/,
    ],
    [
      'reshape size',
      { decoder: { hidden: [7, 100], reshape: [4, 5, 4], deconv: both.decoder.deconv! } },
      /decoder\.reshape \[4, 5, 4\] holds 80 values, the last dense layer \(decoder\.hidden\[1\]\) gives 100/,
    ],
    [
      'output size mismatch',
      { decoder: { hidden: [7, 100], reshape: [25, 2, 2], deconv: both.decoder.deconv! } },
      /decoder\.deconv: the last layer gives 1×3×3 per example, inputShape is 1×9×7/,
    ],
    [
      'output channels mismatch',
      {
        decoder: { hidden: [7, 100], deconv: [{ channels: 2, kernel: 3, stride: 2, padding: 1 }] },
      },
      /the last layer gives 2×9×7 per example, inputShape is 1×9×7/,
    ],
    [
      'reshape without deconv',
      { decoder: { hidden: [4], reshape: [1, 2, 2] } },
      /decoder\.reshape applies only with decoder\.deconv layers/,
    ],
    [
      'misplaced field',
      { decoder: { hidden: [4], conv: [] } as never },
      /decoder\.conv is not a field here; it belongs in encoder\.conv \(did you mean decoder\.deconv\?\)/,
    ],
    [
      'learned σ with deconv',
      { likelihood: { kind: 'gaussian-learned' } },
      /'gaussian-learned' needs decoder\.out/,
    ],
  ];
  it.each(bad)('names the field: %s', (_name, patch, message) => {
    const config = { ...both, ...patch } as VaeConfig;
    expect(() => resolveVaeConfig(config)).toThrow(message);
  });
});

describe('conv VAE float64 interpreter', () => {
  it('feeds its conv layers the layer geometry (the reference conv of the kernel tests)', () => {
    const config = resolveVaeConfig(both);
    const rng = makeRng(3);
    const weights = toF64(initialWeights(config, 3));
    const B = 2;
    const { x, eps } = batchData(config, rng, B);
    const mg = trainingGraph(config, B);
    const ref = runGraph64(mg.graph, {
      params: weights,
      inputs: stepInputs64(mg, config, { x, eps }),
    });
    const spec = vaeLayers(config).encoderConv[0]!;
    const op = mg.graph.ops.find((o) => o.type === 'conv2d' && o.in.x === mg.x)!;
    expect(op.in.weight!.name).toBe('encoder.conv.0.weight');
    const want = conv2dForward64(
      x,
      weights.get('encoder.conv.0.weight')!,
      weights.get('encoder.conv.0.bias')!,
      {
        batch: B,
        inChannels: spec.inChannels,
        outChannels: spec.outChannels,
        height: spec.height,
        width: spec.width,
        kernelH: spec.kernel,
        kernelW: spec.kernel,
        stride: spec.stride,
        padding: spec.padding,
      },
      { act: config.encoder.activation },
    );
    const got = ref.value(op.out.y!);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 12);
  });

  it.each(CASES)('has gradients that match finite differences (%s)', (_name, raw) => {
    const config = resolveVaeConfig(raw);
    const seed = freshSeed();
    const rng = makeRng(seed);
    const B = 2;
    const { x, eps } = batchData(config, rng, B);
    const mg = trainingGraph(config, B);
    const problems = interpreterFdProblems(
      mg,
      toF64(initialWeights(config, seed)),
      stepInputs64(mg, config, { x, eps }),
      {
        scale: config.objective.reduction === 'mean' ? 1 / B : 1,
        indices: (n) => Array.from({ length: 3 }, () => Math.floor(rng() * n)),
      },
    );
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });
});

// Every case on the first adapter; on the others the case with every conv op type (compiling the
// pipelines dominates there, SwiftShader most).
describe.each(TEST_ADAPTERS.map((a, i) => [a, i === 0 ? CASES : CASES.slice(0, 1)] as const))(
  'conv VAE graph on %s',
  (adapter, cases) => {
    it.each(cases)(
      'matches the float64 reference: losses and every gradient (%s)',
      async (_name, raw) => {
        const seed = freshSeed();
        const rng = makeRng(seed);
        const rt = await runtimeFor(adapter);
        const config = resolveVaeConfig(raw);
        const B = 2 + Math.floor(rng() * 2);
        const weights = initialWeights(config, seed);
        const model = VaeModel.create(rt, config, { weights });
        const grads = rt.buffers.storage('conv.grads', model.flatSize * 4).buffer;
        // Every gradient entry must be written by the step (= before +=).
        rt.device.queue.writeBuffer(grads, 0, new Float32Array(model.flatSize).fill(Number.NaN));
        const mg = trainingGraph(config, B);
        const types = new Set(mg.graph.ops.map((op) => op.type));
        if (config.encoder.conv) {
          expect(types.has('conv2d')).toBe(true);
          expect(types.has('conv2d_backward_weight')).toBe(true);
        }
        if (config.decoder.deconv) expect(types.has('conv_transpose2d_backward_input')).toBe(true);
        // The data needs no gradient.
        expect(types.has('conv2d_backward_input')).toBe((config.encoder.conv?.length ?? 0) > 1);
        const cg = await compileModelGraph(rt, model, mg, grads);
        const { x, eps } = batchData(config, rng, B);
        writeStepInputs(cg, mg, model, { x, eps });
        await rt.submitChecked(cg.dispatches, 'conv.step');
        const ref = runGraph64(mg.graph, {
          params: toF64(weights),
          inputs: stepInputs64(mg, config, { x, eps }),
        });
        const output = await cg.read(mg.output);
        const outLines = scaledCheck(
          new Map([['output', output]]),
          new Map([['output', ref.value(mg.output)]]),
          2e-4,
        );
        expect(outLines, `seed ${seed}\n${outLines.join('\n')}`).toEqual([]);
        const loss = scaledObjective(model, B, (await cg.read(mg.loss))[0]!);
        const want = scaledObjective(model, B, ref.loss);
        expect(Math.abs(loss - want), `seed ${seed}`).toBeLessThan(1e-4 * Math.abs(want) + 1e-4);
        const lines = scaledCheck(await model.readFlat(grads), ref.grads, 5e-4);
        expect(lines, `seed ${seed}\n${lines.join('\n')}`).toEqual([]);
        cg.destroy();
        model.destroy();
        rt.buffers.destroy(grads);
      },
    );

    it('views share the buffer forward; back, one gradient is adopted as a view, the other added', async () => {
      const rt = await runtimeFor(adapter);
      // L = Σ ½(relu(p) − t)² twice through two views: dL/dp = 2(relu(p) − t)·[p > 0].
      const g = new Graph();
      const p = g.param('p', [2, 6]);
      const t = g.input('t', [3, 4]);
      const hyper = g.input('hyper', [1]);
      // Views are of temporaries: a standalone relu makes one from the parameter.
      const h = g.add(activationOp, 'relu', { x: p }, { y: [2, 6] }, { act: 'relu' }).out.y;
      const terms = [0, 1].map((i) => {
        const y = view(g, h, [3, 4], `view${i}`);
        y.keep = true;
        const { nll } = g.add(
          likelihoodOp,
          `nll${i}`,
          { output: y, target: t },
          { nll: [3] },
          { likelihood: { kind: 'gaussian', sigma: 1 } },
        ).out;
        return { name: `nll${i}`, weight: 1, value: total(g, nll, `sum${i}`), view: y };
      });
      objective(g, hyper, terms, 1);
      g.backward();
      // The reverse walk meets view1 first: h's gradient is view1's, viewed (no copy); view0's is
      // then added to it by a copy.
      const writers = g.ops.filter((op) => op.type === 'copy');
      expect(writers.map((op) => (op.attrs as { accumulate: boolean }).accumulate)).toEqual([true]);
      const adopted = g.ops.filter((op) => op.type === 'view' && op.phase === 'backward');
      expect(adopted.map((op) => op.in.x?.name)).toEqual(['view1.grad']);
      const pv = Float32Array.from({ length: 12 }, (_, i) => i / 4 - 1);
      const tv = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
      const params = rt.buffers.upload('view.p', pv);
      const gradBuf = rt.buffers.storage('view.g', 12 * 4);
      const layout = new Map([['p', { offset: 0, shape: [2, 6] }]]);
      const cg = await CompiledGraph.compile(rt, g, {
        params: { layout, params: params.buffer, grads: gradBuf.buffer },
      });
      cg.write(t, tv);
      cg.write(hyper, new Float32Array(1));
      await rt.submitChecked(cg.dispatches, 'view');
      const relu = (v: number) => Math.max(0, v);
      for (const { view: y } of terms) {
        expect(Array.from(await cg.read(y))).toEqual(Array.from(pv, relu));
        expect(cg.buffer(y).buffer).toBe(cg.buffer(y.viewOf!).buffer);
      }
      const grad = await cg.read(g.tensors.find((x) => x.name === 'p.grad')!);
      expect(Array.from(grad)).toEqual(
        Array.from(pv, (v, i) => expect.closeTo(v > 0 ? 2 * (v - tv[i]!) : 0, 5)),
      );
      cg.destroy();
      rt.buffers.destroy(params.buffer);
      rt.buffers.destroy(gradBuf.buffer);
    });
  },
);

describe.each(TEST_ADAPTERS.slice(0, 1))('conv VAE preset on %s', (adapter) => {
  it('trains on embedded digits: the test loss falls', async () => {
    const rt = await runtimeFor(adapter);
    const { train, test } = await loadEmbeddedDigits({ trainCount: 160, testCount: 32, seed: 1 });
    const model = VaeModel.create(rt, convVaePreset(8), { seed: 2 });
    const trainer = await Trainer.create(model, { batchSize: 32, lr: 3e-3, seed: 4 });
    const before = await trainer.evaluate(test);
    const reports = await trainer.fit(train, { epochs: 2, test });
    console.log(
      before.loss,
      reports.map((r) => [r.train.loss, r.test!.loss]),
    );
    const after = reports.at(-1)!.test!;
    // An untrained model is near 784·ln 2 ≈ 543 nats; a few steps take it well below.
    expect(before.loss).toBeGreaterThan(450);
    expect(after.loss).toBeLessThan(before.loss - 100);
    expect(reports.map((r) => r.train.loss).every(Number.isFinite)).toBe(true);
    trainer.destroy();
    model.destroy();
  }, 60_000);
});
