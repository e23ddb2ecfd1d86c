// Weights from PyTorch: the pytorch/examples VAE, saved with torch.save(state_dict) and converted
// to safetensors by the twin's script, loads through PYTORCH_EXAMPLES_VAE's name map and encodes
// and decodes as PyTorch does; F16 and BF16 files widen exactly (every bit pattern, against
// PyTorch's own conversion) and decode within half-precision tolerance; mismatches name the tensor
// and both shapes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../src/checkpoint/file.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  float16ToNumber,
  type Tensor,
} from '../src/checkpoint/safetensors.js';
import { parameterSpecs, resolveVaeConfig, type VaeConfig } from '../src/vae/config.js';
import { VaeInference } from '../src/vae/inference.js';
import { VaeModel } from '../src/vae/model.js';
import { PYTORCH_EXAMPLES_VAE, renameTensor, weightsFromStateDict } from '../src/vae/state-dict.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { pythonScript, tempDir } from './helpers/python.js';
import { mismatches } from './helpers/reference.js';

interface Expected {
  z: number[];
  x: number[];
  decode: number[];
  mu: number[];
  logvar: number[];
  decode_f16: number[];
  decode_bf16: number[];
  /** Float32 values of every bit pattern; NaN and the infinities as strings for Number(). */
  patterns_f16: (number | string)[];
  patterns_bf16: (number | string)[];
}

const adapter = TEST_ADAPTERS[0]!;

describe('the pytorch/examples VAE from torch.save(state_dict)', () => {
  const tmp = tempDir('webgpu-vae-pt-');
  const file = (name: string) => join(tmp.dir, name);
  let expected: Expected;

  beforeAll(async () => {
    await pythonScript('test/helpers/pytorch_examples_vae.py', [tmp.dir]);
    expected = JSON.parse(readFileSync(file('expected.json'), 'utf8')) as Expected;
  }, 120_000);
  afterAll(() => tmp.remove());

  async function inference(name: string) {
    const rt = await runtimeFor(adapter);
    const { tensors } = await readSafetensorsFile(file(name));
    expect([...tensors.keys()]).toEqual([
      'fc1.weight',
      'fc1.bias',
      'fc21.weight',
      'fc21.bias',
      'fc22.weight',
      'fc22.bias',
      'fc3.weight',
      'fc3.bias',
      'fc4.weight',
      'fc4.bias',
    ]);
    const model = VaeModel.fromStateDict(rt, PYTORCH_EXAMPLES_VAE.config, tensors, {
      rename: PYTORCH_EXAMPLES_VAE.rename,
      source: name,
    });
    return { model, inference: VaeInference.create(model, { batchSizes: [8] }) };
  }

  it(`loads through the name map and decodes and encodes as PyTorch (${adapter})`, async () => {
    const { model, inference: inf } = await inference('vae-f32.safetensors');
    const images = await inf.decode(Float32Array.from(expected.z));
    expect(mismatches(images, expected.decode, { atol: 2e-5, rtol: 0 }, 'decode')).toBeNull();
    const { mu, logvar } = await inf.encode(Float32Array.from(expected.x));
    expect(mismatches(mu, expected.mu, { atol: 1e-4, rtol: 1e-4 }, 'mu')).toBeNull();
    expect(mismatches(logvar, expected.logvar, { atol: 1e-4, rtol: 1e-4 }, 'logvar')).toBeNull();
    inf.destroy();
    model.destroy();
  });

  for (const dtype of ['f16', 'bf16'] as const) {
    it(`loads ${dtype.toUpperCase()} weights widened exactly and decodes within half-precision tolerance (${adapter})`, async () => {
      const { model, inference: inf } = await inference(`vae-${dtype}.safetensors`);
      const images = await inf.decode(Float32Array.from(expected.z));
      // Against PyTorch decoding the same half-precision weights widened to float32: as exact
      // as float32 decoding is.
      const widened = expected[`decode_${dtype}`];
      expect(mismatches(images, widened, { atol: 2e-5, rtol: 0 }, 'decode')).toBeNull();
      // Against the float32 model: what half precision costs (measured 6e-5 for F16, 5.5e-4
      // for BF16, whose 8-bit mantissa is 8 times coarser).
      const atol = dtype === 'f16' ? 1e-3 : 8e-3;
      expect(mismatches(images, expected.decode, { atol, rtol: 0 }, 'decode')).toBeNull();
      inf.destroy();
      model.destroy();
    });

    it(`widens every ${dtype.toUpperCase()} bit pattern as PyTorch does`, async () => {
      const { tensors } = await readSafetensorsFile(file(`patterns-${dtype}.safetensors`));
      const got = tensors.get('all')!.data;
      const want = expected[`patterns_${dtype}`];
      expect(got.length).toBe(65536);
      const bad: string[] = [];
      for (let i = 0; i < 65536; i++) {
        const w = Number(want[i]);
        const g = got[i]!;
        const same = Number.isNaN(w) ? Number.isNaN(g) : Object.is(g, w);
        if (!same && bad.length < 5) bad.push(`0x${i.toString(16)}: got ${g}, PyTorch ${w}`);
      }
      expect(bad).toEqual([]);
    });
  }
});

describe('weights from a state_dict', () => {
  const config = PYTORCH_EXAMPLES_VAE.config;
  const specs = parameterSpecs(resolveVaeConfig(config));
  const renamed = new Map(
    Object.entries(PYTORCH_EXAMPLES_VAE.rename).flatMap(([from, to]) => [
      [`${to}.weight`, `${from}.weight`],
      [`${to}.bias`, `${from}.bias`],
    ]),
  );
  const stateDict = (): Map<string, Tensor> =>
    new Map(
      specs.map((s, i) => [
        renamed.get(s.name)!,
        {
          shape: [...s.shape],
          data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(i + 0.5),
        },
      ]),
    );
  const load = (tensors: Map<string, Tensor>, rename = PYTORCH_EXAMPLES_VAE.rename) =>
    weightsFromStateDict(config, tensors, { rename, source: 'vae.safetensors' });

  it('renames module prefixes, exact names first, then the longest prefix', () => {
    const rename = { fc1: 'encoder.0', 'fc1.bias': 'x.bias', 'fc1.sub': 'y' };
    expect(renameTensor('fc1.weight', rename)).toBe('encoder.0.weight');
    expect(renameTensor('fc1.bias', rename)).toBe('x.bias');
    expect(renameTensor('fc1.sub.weight', rename)).toBe('y.weight');
    expect(renameTensor('fc10.weight', rename)).toBe('fc10.weight');
    expect(renameTensor('a.b', (n) => (n === 'a.b' ? 'c.d' : undefined))).toBe('c.d');
    expect(renameTensor('e.f', (n) => (n === 'a.b' ? 'c.d' : undefined))).toBe('e.f');
  });

  it('maps every tensor to its parameter in module order', () => {
    const weights = load(stateDict());
    expect([...weights.keys()]).toEqual(specs.map((s) => s.name));
    specs.forEach((s, i) => expect(weights.get(s.name)![0]).toBe(i + 0.5));
  });

  it('names the tensor and both shapes on a mismatch', () => {
    const tensors = stateDict();
    tensors.set('fc1.weight', { shape: [784, 400], data: new Float32Array(784 * 400) });
    expect(() => load(tensors)).toThrow(
      "vae.safetensors: tensor 'fc1.weight' (→ 'encoder.0.weight') has shape [784, 400], " +
        'the model expects [400, 784]',
    );
  });

  it('names missing, unexpected and colliding tensors', () => {
    const missing = stateDict();
    missing.delete('fc22.bias');
    missing.set('fc5.weight', { shape: [1], data: new Float32Array(1) });
    expect(() => load(missing)).toThrow(
      "missing tensors the model expects: encoder.logvar.bias; tensors the model does not have: 'fc5.weight'",
    );
    expect(() => load(stateDict(), {})).toThrow(
      /missing tensors the model expects: encoder.0.weight, .*tensors the model does not have: 'fc1.weight'/,
    );
    const both = stateDict();
    both.set('encoder.0.weight', both.get('fc1.weight')!);
    expect(() => load(both)).toThrow(
      "'fc1.weight' and 'encoder.0.weight' both map to 'encoder.0.weight'",
    );
  });

  it('refuses a data length that does not fit the shape', () => {
    const tensors = stateDict();
    tensors.set('fc3.bias', { shape: [400], data: new Float32Array(399) });
    expect(() => load(tensors)).toThrow("tensor 'fc3.bias' (→ 'decoder.0.bias') holds 399 values");
  });

  it('loads a state_dict with our names and no map', async () => {
    const rt = await runtimeFor(adapter);
    const small: VaeConfig = {
      inputSize: 5,
      latentSize: 2,
      encoder: { hidden: [3] },
      decoder: { hidden: [] },
    };
    const ours = VaeModel.create(rt, small, { seed: 4 });
    const bytes = encodeSafetensors(
      [...(await ours.readWeights())].map(
        ([n, d]) => [n, { shape: ours.layout.get(n)!.shape, data: d }] as const,
      ),
    );
    const again = VaeModel.fromStateDict(rt, small, decodeSafetensors(bytes).tensors);
    expect(await again.readWeights()).toEqual(await ours.readWeights());
    ours.destroy();
    again.destroy();
  });
});

describe('half-precision safetensors', () => {
  /** A one-tensor file of raw little-endian 16-bit values. */
  function file16(dtype: 'F16' | 'BF16', bits: number[]): Uint8Array {
    const header = JSON.stringify({
      a: { dtype, shape: [bits.length], data_offsets: [0, 2 * bits.length] },
    });
    const n = Math.ceil(header.length / 8) * 8;
    const out = new Uint8Array(8 + n + 2 * bits.length);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, BigInt(n), true);
    out.set(new TextEncoder().encode(header.padEnd(n, ' ')), 8);
    bits.forEach((b, i) => view.setUint16(8 + n + 2 * i, b, true));
    return out;
  }

  it('widens F16 specials: signed zeros, subnormals, the largest value, infinities, NaN', () => {
    const bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0xfc00];
    const want = [0, -0, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 1, -2, 65504, Infinity, -Infinity];
    const got = decodeSafetensors(file16('F16', bits)).tensors.get('a')!.data;
    want.forEach((w, i) => expect(Object.is(got[i], w), `0x${bits[i]!.toString(16)}`).toBe(true));
    expect(Number.isNaN(float16ToNumber(0x7e00))).toBe(true);
  });

  it('widens BF16 by the 16-bit shift', () => {
    const got = decodeSafetensors(file16('BF16', [0x3f80, 0xc049, 0x0001, 0xff80])).tensors.get(
      'a',
    )!.data;
    expect(Array.from(got)).toEqual([1, -3.140625, 2 ** -133, -Infinity]);
  });

  it('names the tensor and the dtype it cannot load', () => {
    const bytes = file16('F16', [0x3c00]);
    const text = new TextDecoder().decode(bytes);
    const i32 = new TextEncoder().encode(
      text.replace(
        '"F16","shape":[1],"data_offsets":[0,2]',
        '"I16","shape":[1],"data_offsets":[0,2]',
      ),
    );
    expect(() => decodeSafetensors(i32, { source: 'w.safetensors' })).toThrow(
      'w.safetensors: tensor "a" has dtype I16; only the floats F32, F16, BF16 can be loaded',
    );
  });
});
