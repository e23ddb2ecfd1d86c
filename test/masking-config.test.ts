// The model description's `masking` section: defaults, every field's error naming it, checks
// against the geometry and the likelihood, and the extra encoder inputs `channels` adds.
import { describe, expect, it } from 'vitest';
import {
  convVaePreset,
  mlpVaePreset,
  parameterSpecs,
  resolveVaeConfig,
  type VaeConfig,
} from '../src/vae/config.js';

const mlp = (masking: unknown, extra: Partial<VaeConfig> = {}): VaeConfig =>
  ({ ...mlpVaePreset(4), ...extra, masking }) as VaeConfig;

describe('the masking section', () => {
  it('fills defaults per kind and leaves descriptions without it unchanged', () => {
    expect(resolveVaeConfig(mlp({ kind: 'pixels' })).masking).toEqual({
      kind: 'pixels',
      p: 0.5,
      fill: 0,
      channels: false,
      loss: 'all',
    });
    expect(resolveVaeConfig(mlp({ kind: 'quadrant', loss: 'missing' })).masking).toEqual({
      kind: 'quadrant',
      fill: 0,
      channels: false,
      loss: 'missing',
    });
    expect('masking' in resolveVaeConfig(mlpVaePreset(4))).toBe(false);
    expect('masking' in resolveVaeConfig(mlp({ kind: 'none' }))).toBe(false);
  });

  it.each([
    [{ kind: 'pixel' }, /masking.kind must be one of .* \(did you mean 'pixels'\?\)/],
    [{ kind: 'pixels', p: 1.2 }, /masking.p must be a probability in \[0, 1\], got 1.2/],
    [{ kind: 'pixels', p: -0.1 }, /masking.p must be a finite number >= 0/],
    [{ kind: 'pixels', fill: 'x' }, /masking.fill must be a finite number/],
    [{ kind: 'pixels', channels: 1 }, /masking.channels must be true or false, got 1/],
    [{ kind: 'pixels', loss: 'observed' }, /masking.loss must be 'all' or 'missing'/],
    [{ kind: 'quadrant', p: 0.5 }, /masking.p is unknown/],
    [{ kind: 'block', maxSize: 9 }, /masking.minSize must be an integer/],
    [{ kind: 'block', minSize: 9, maxSize: 4 }, /masking.maxSize must be >= masking.minSize \(9\)/],
    [{ kind: 'block', minSize: 4, maxSize: 29 }, /maxSize <= min\(H, W\) = 28, got 4..29/],
    [
      { kind: 'block', minSize: 4, maxsize: 9 },
      /masking.maxsize is unknown \(did you mean masking.maxSize/,
    ],
  ])('rejects %j naming the field', (masking, message) => {
    expect(() => resolveVaeConfig(mlp(masking))).toThrow(message);
  });

  it('checks the geometry and the likelihood', () => {
    expect(() => resolveVaeConfig(mlp({ kind: 'quadrant' }, { inputSize: 30 }))).toThrow(
      /masking.kind 'quadrant' needs the image's geometry: give inputShape/,
    );
    // Pixel dropout needs no geometry.
    expect(resolveVaeConfig(mlp({ kind: 'pixels' }, { inputSize: 30 })).masking?.kind).toBe(
      'pixels',
    );
    expect(() =>
      resolveVaeConfig(
        mlp({ kind: 'pixels', loss: 'missing' }, { likelihood: { kind: 'gaussian', sigma: 1 } }),
      ),
    ).toThrow(/masking.loss 'missing' needs likelihood 'bernoulli' \(got 'gaussian'\)/);
  });

  it('feeds the mask as D extra features (MLP) or one extra channel (conv) with channels', () => {
    const shapeOf = (config: VaeConfig, name: string) =>
      parameterSpecs(resolveVaeConfig(config)).find((p) => p.name === name)?.shape;
    expect(shapeOf(mlp({ kind: 'pixels', channels: true }), 'encoder.0.weight')).toEqual([
      400,
      2 * 784,
    ]);
    expect(shapeOf(mlp({ kind: 'pixels' }), 'encoder.0.weight')).toEqual([400, 784]);
    const conv = {
      ...convVaePreset(4),
      masking: { kind: 'block', minSize: 3, maxSize: 9, channels: true },
    } as VaeConfig;
    expect(shapeOf(conv, 'encoder.conv.0.weight')).toEqual([32, 2, 4, 4]);
    const labelled = {
      ...conv,
      condition: { kind: 'label', classes: 10, inject: 'channels' },
    } as VaeConfig;
    expect(shapeOf(labelled, 'encoder.conv.0.weight')).toEqual([32, 12, 4, 4]);
  });
});
