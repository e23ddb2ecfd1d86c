// The model description: sections with defaults, every unknown or misplaced field named, version 1
// read as version 2, and a checkpoint written by the version-1 code loading and evaluating as it
// did then.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MODEL_VERSION,
  mlpVaePreset,
  parameterSpecs,
  resolveVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';
import { VaeModel } from '../src/vae/model.js';
import { Trainer } from '../src/vae/trainer.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';

const base: VaeConfig = {
  version: 2,
  inputSize: 12,
  latentSize: 3,
  encoder: { hidden: [5], activation: 'tanh' },
  decoder: { hidden: [4], activation: 'elu' },
};

describe('the model description', () => {
  it('fills every section with its default', () => {
    const c = resolveVaeConfig(base);
    expect(c).toEqual({
      version: MODEL_VERSION,
      inputSize: 12,
      latentSize: 3,
      encoder: { hidden: [5], activation: 'tanh' },
      posterior: { kind: 'diagonal' },
      prior: { kind: 'standard-normal' },
      decoder: { hidden: [4], activation: 'elu' },
      likelihood: { kind: 'bernoulli' },
      objective: { kind: 'elbo', beta: 1, reduction: 'sum' },
      condition: { kind: 'none' },
    });
    // A resolved description (what checkpoints store) resolves to itself.
    expect(resolveVaeConfig(JSON.parse(JSON.stringify(c)) as VaeConfig)).toEqual(c);
  });

  it('reads version 1 (beta, capacity, reduction at the top) as an ELBO objective section', () => {
    const v1 = {
      inputSize: 12,
      latentSize: 3,
      encoder: { hidden: [5], activation: 'tanh' },
      decoder: { hidden: [4], activation: 'elu' },
      likelihood: { kind: 'gaussian-learned' },
      beta: 2,
      capacity: { max: 1.5, steps: 10 },
      reduction: 'mean',
    } as VaeConfig;
    const c = resolveVaeConfig(v1);
    expect(c.version).toBe(2);
    expect(c.objective).toEqual({
      kind: 'elbo',
      beta: 2,
      capacity: { max: 1.5, steps: 10 },
      reduction: 'mean',
    });
    expect(resolveVaeConfig({ ...v1, capacity: null })).toEqual({
      ...c,
      objective: { kind: 'elbo', beta: 2, reduction: 'mean' },
    });
  });

  it('widens the layers a condition enters, in PyTorch module order', () => {
    const cvae = resolveVaeConfig({ ...base, condition: { kind: 'label', classes: 4 } });
    expect(parameterSpecs(cvae).map((s) => `${s.name} ${s.shape.join('×')}`)).toEqual([
      'encoder.0.weight 5×16',
      'encoder.0.bias 5',
      'encoder.mu.weight 3×5',
      'encoder.mu.bias 3',
      'encoder.logvar.weight 3×5',
      'encoder.logvar.bias 3',
      'decoder.0.weight 4×7',
      'decoder.0.bias 4',
      'decoder.out.weight 12×4',
      'decoder.out.bias 12',
    ]);
    const channels = resolveVaeConfig({
      ...base,
      inputSize: 16,
      encoder: { conv: [{ channels: 2, kernel: 3 }], hidden: [], activation: 'relu' },
      condition: { kind: 'label', classes: 3, inject: 'channels' },
    });
    expect(parameterSpecs(channels)[0]).toEqual({
      name: 'encoder.conv.0.weight',
      shape: [2, 1 + 3, 3, 3],
      fanIn: 4 * 9,
    });
    expect(parameterSpecs(channels)[2]!.shape).toEqual([3, 2 * 2 * 2]); // encoder.mu: no extra input
  });

  const bad: [string, unknown, RegExp][] = [
    [
      'a typo at the top',
      { ...base, latentSise: 3 },
      /latentSise is unknown \(did you mean latentSize\?/,
    ],
    [
      'a typo in a section',
      { ...base, objective: { kind: 'iwae', samles: 5 } },
      /objective\.samles is unknown \(did you mean objective\.samples\?/,
    ],
    [
      'a version-1 field in version 2',
      { ...base, beta: 4 },
      /beta is not a field here; it belongs in objective \(objective\.beta\)/,
    ],
    [
      'a section field at the top',
      { ...base, samples: 4 },
      /samples is not a field here; it belongs in objective/,
    ],
    [
      'a version-2 section in version 1',
      { ...base, version: undefined, condition: { kind: 'none' } },
      /condition is not a field here; it belongs in a version 2 description/,
    ],
    [
      'a wrong version',
      { ...base, version: 3 },
      /version must be 2 \(or absent for version 1\), got 3/,
    ],
    [
      'an unknown kind',
      { ...base, objective: { kind: 'iwea', samples: 5 } },
      /objective\.kind must be one of 'elbo', 'iwae', 'm2', got "iwea" \(did you mean 'iwae'\?\)/,
    ],
    [
      'IWAE without samples',
      { ...base, objective: { kind: 'iwae' } },
      /objective\.samples must be an integer in \[1, 64\], got undefined/,
    ],
    [
      'too many IWAE samples',
      { ...base, objective: { kind: 'iwae', samples: 65 } },
      /objective\.samples must be an integer in \[1, 64\], got 65/,
    ],
    [
      'a label condition without classes',
      { ...base, condition: { kind: 'label' } },
      /condition\.classes must be an integer/,
    ],
    [
      'a wrong inject',
      { ...base, condition: { kind: 'label', classes: 2, inject: 'planes' } },
      /condition\.inject must be 'dense' or 'channels', got "planes"/,
    ],
    [
      'capacity in the IWAE objective',
      { ...base, objective: { kind: 'iwae', samples: 2, capacity: { max: 1, steps: 0 } } },
      /objective\.capacity is unknown/,
    ],
    [
      'a bad capacity',
      { ...base, objective: { kind: 'elbo', capacity: { max: -1, steps: 0 } } },
      /objective\.capacity\.max must be a finite number >= 0/,
    ],
    [
      'a posterior field',
      { ...base, posterior: { kind: 'diagonal', dims: 2 } },
      /posterior\.dims is unknown \(known: kind\)/,
    ],
    [
      'a field of the full posterior',
      { ...base, posterior: { kind: 'full', rank: 2 } },
      /posterior\.rank is unknown \(known: kind\)/,
    ],
    [
      'a full posterior of one latent dimension',
      { ...base, latentSize: 1, posterior: { kind: 'full' } },
      /posterior\.kind 'full' needs latentSize >= 2, got 1 \(.*use kind 'diagonal'\)/,
    ],
    [
      'a misspelt posterior kind',
      { ...base, posterior: { kind: 'ful' } },
      /posterior\.kind must be one of 'diagonal', 'full', 'planar', 'iaf', 'hierarchical', 'vq', got "ful" \(did you mean 'full'\?\)/,
    ],
    [
      'a likelihood field',
      { ...base, likelihood: { kind: 'bernoulli', sigma: 1 } },
      /likelihood\.sigma is unknown/,
    ],
    [
      'a condition entering a deconv decoder without a dense layer',
      {
        ...base,
        inputSize: 16,
        decoder: { hidden: [], deconv: [{ channels: 1, kernel: 3 }], activation: 'relu' },
        latentSize: 4,
        condition: { kind: 'label', classes: 2 },
      },
      /a decoder with deconv layers needs at least one decoder\.hidden layer/,
    ],
  ];
  it.each(bad)('names the field: %s', (_name, config, message) => {
    expect(() => resolveVaeConfig(config as VaeConfig)).toThrow(message);
  });

  it("declares the full posterior's heads after mu and logvar", () => {
    const c = resolveVaeConfig({ ...base, latentSize: 4, posterior: { kind: 'full' } });
    expect(c.posterior).toEqual({ kind: 'full' });
    const heads = parameterSpecs(c).filter((p) => /^encoder\.(mu|logvar|lower)/.test(p.name));
    expect(heads.map((p) => [p.name, p.shape])).toEqual([
      ['encoder.mu.weight', [4, 5]],
      ['encoder.mu.bias', [4]],
      ['encoder.logvar.weight', [4, 5]],
      ['encoder.logvar.bias', [4]],
      ['encoder.lower.weight', [6, 5]],
      ['encoder.lower.bias', [6]],
    ]);
  });

  it('has presets that resolve', () => {
    expect(resolveVaeConfig(mlpVaePreset()).encoder.hidden).toEqual([400]);
  });
});

interface V1Expected {
  step: number;
  loss: number;
  recon: number;
  kl: number;
  elbo: number;
}

describe.each(TEST_ADAPTERS)('a checkpoint of the version-1 code on %s', (adapter) => {
  it('loads, resumes its optimizer and evaluates as the old code did', async () => {
    const rt = await runtimeFor(adapter);
    const bytes = readFileSync(new URL('./fixtures/v1-checkpoint.safetensors', import.meta.url));
    const want = JSON.parse(
      readFileSync(new URL('./fixtures/v1-checkpoint.expected.json', import.meta.url), 'utf8'),
    ) as V1Expected;
    const { model, checkpoint } = VaeModel.fromCheckpoint(rt, new Uint8Array(bytes));
    expect(model.config.version).toBe(2);
    expect(model.config.objective).toEqual({
      kind: 'elbo',
      beta: 2,
      capacity: { max: 1.5, steps: 10 },
      reduction: 'mean',
    });
    const trainer = await Trainer.create(model, { batchSize: 8, seed: 5, matmulVariant: 'rb' });
    trainer.loadOptimizerState(checkpoint.optimizer!);
    expect(trainer.step).toBe(want.step);
    const images = Float32Array.from({ length: 20 * 12 }, (_, i) => Math.cos(i * 0.21));
    const m = await trainer.evaluate({ images, count: 20 });
    for (const [name, got, expected] of [
      ['loss', m.loss, want.loss],
      ['recon', m.values.recon!, want.recon],
      ['kl', m.values.kl!, want.kl],
      ['elbo', m.values.elbo!, want.elbo],
    ] as const) {
      expect(Math.abs(got - expected), name).toBeLessThan(1e-4 * (1 + Math.abs(expected)));
    }
    // And it resumes: a step runs and the checkpoint now says version 2.
    await trainer.trainStep(images.subarray(0, 8 * 12), 8);
    await trainer.flush();
    expect(trainer.step).toBe(want.step + 1);
    const again = VaeModel.fromCheckpoint(
      rt,
      await model.toCheckpoint(await trainer.optimizerState()),
    );
    expect(again.model.config).toEqual(model.config);
    expect(JSON.parse(JSON.stringify(again.checkpoint.config)).version).toBe(2);
    again.model.destroy();
    trainer.destroy();
    model.destroy();
  });
});
