// The PyTorch twin as a package (python/webgpu_vae_torch): its unit tests (python/tests: model
// descriptions, shapes, init, objectives, the trainer's gradient, checkpoints, data, and that the
// committed golden fixtures are what it computes), and that it builds our parameter list and splits
// the embedded digits as we do.
import { describe, expect, it } from 'vitest';
import { loadEmbeddedDigits } from '../src/data/embedded.js';
import {
  convVqPreset,
  parameterSpecs,
  resolveVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';
import { PYTHON, pythonScript, run } from './helpers/python.js';

const CONFIGS: VaeConfig[] = [
  {
    inputSize: 7,
    latentSize: 3,
    encoder: { hidden: [6, 5], activation: 'elu' },
    decoder: { hidden: [], activation: 'relu' },
    likelihood: { kind: 'gaussian-learned' },
  },
  {
    inputSize: 144,
    latentSize: 4,
    encoder: {
      conv: [
        { channels: 4, kernel: 4, stride: 2, padding: 1 },
        { channels: 6, kernel: 3, stride: 2 },
      ],
      hidden: [10],
    },
    decoder: {
      hidden: [10, 6 * 3 * 3],
      deconv: [
        { channels: 4, kernel: 4, stride: 2, padding: 1 },
        { channels: 1, kernel: 4, stride: 2, padding: 1 },
      ],
    },
  },
  {
    inputSize: 2 * 9 * 7,
    inputShape: [2, 9, 7],
    latentSize: 2,
    encoder: { conv: [{ channels: 3, kernel: 3, stride: 2, padding: 1 }], hidden: [] },
    decoder: {
      hidden: [36],
      deconv: [{ channels: 2, kernel: 3, stride: 2, padding: 0, outputPadding: 0 }],
      reshape: [3, 4, 3],
    },
  },
  // Conditional completion: the decoder reads [z, x_obs], the prior network comes last.
  {
    version: 2,
    inputSize: 2 * 6 * 4,
    inputShape: [2, 6, 4],
    latentSize: 3,
    encoder: { hidden: [7], activation: 'tanh' },
    decoder: { hidden: [6], deconv: [{ channels: 2, kernel: 2, stride: 2 }], reshape: [1, 3, 2] },
    condition: { kind: 'quadrants', observed: 2 },
    prior: { kind: 'conditional', hidden: [5, 4] },
  },
  {
    version: 2,
    inputSize: 9,
    latentSize: 2,
    encoder: { hidden: [4] },
    decoder: { hidden: [] },
    condition: { kind: 'label', classes: 5 },
    prior: { kind: 'conditional', hidden: [] },
  },
  // vq: encoder.ze and the codebook, a parameter or, with EMA updates, stored with its state.
  ...(['loss', 'ema'] as const).map((update): VaeConfig => ({
    version: 2,
    inputSize: 7,
    latentSize: 6,
    encoder: { hidden: [5] },
    decoder: { hidden: [4] },
    posterior: { kind: 'vq', codes: 9, dim: 3, update },
  })),
  // vq with its learned prior: the MADE's prior.hidden.{l}, prior.out last.
  {
    version: 2,
    inputSize: 7,
    latentSize: 6,
    encoder: { hidden: [5] },
    decoder: { hidden: [4] },
    posterior: { kind: 'vq', codes: 9, dim: 3, update: 'ema' },
    prior: { kind: 'made', hidden: [8, 6] },
  },
  // The conv VQ-VAE: a 1×1 Conv2d encoder.ze on the grid, deconv layers from the quantized grid.
  convVqPreset(32, 8),
  {
    version: 2,
    inputSize: 35,
    inputShape: [1, 5, 7],
    latentSize: 24,
    encoder: { conv: [{ channels: 3, kernel: 3, stride: 2, padding: 1 }], hidden: [] },
    decoder: { hidden: [], deconv: [{ channels: 1, kernel: 3, stride: 2, padding: 1 }] },
    posterior: { kind: 'vq', codes: 5, dim: 2, grid: true },
    // A MADE over its 3×4 grid of codes.
    prior: { kind: 'made', hidden: [7] },
  },
];

interface Report {
  specs: [string, number[]][][];
  embedded: { trainLabels: number[]; testLabels: number[]; trainSums: number[] };
}

describe('the PyTorch twin package', () => {
  it('passes its unit tests', async () => {
    const out = await run(PYTHON, ['-m', 'unittest', 'discover', '-s', 'python/tests'], 'unittest');
    expect(out).toBeDefined();
  });

  it('builds our parameters (names, order, shapes) and splits the embedded digits as we do', async () => {
    const report = JSON.parse(
      await pythonScript('test/helpers/twin_report.py', [JSON.stringify(CONFIGS)]),
    ) as Report;
    CONFIGS.forEach((config, i) => {
      const ours = parameterSpecs(resolveVaeConfig(config)).map((s) => [s.name, s.shape]);
      expect(report.specs[i]).toEqual(ours);
    });
    const digits = await loadEmbeddedDigits();
    expect(report.embedded.trainLabels).toEqual(Array.from(digits.train.labels.subarray(0, 200)));
    expect(report.embedded.testLabels).toEqual(Array.from(digits.test.labels.subarray(0, 200)));
    report.embedded.trainSums.forEach((sum, i) => {
      const image = digits.train.images.subarray(i * 784, (i + 1) * 784);
      expect(sum).toBeCloseTo(
        image.reduce((a, b) => a + b, 0),
        2,
      );
    });
  });
});
