import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsHeader,
} from '../src/checkpoint/safetensors.js';
import type { Tensor, TensorInput } from '../src/checkpoint/safetensors.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import type { CheckpointInput } from '../src/checkpoint/checkpoint.js';
import {
  readCheckpointFile,
  readSafetensorsFile,
  writeCheckpointFile,
  writeSafetensorsFile,
} from '../src/checkpoint/file.js';
import { parseJsonStrict } from '../src/checkpoint/json-strict.js';
import { createRng } from '../src/data/rng.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function randomTensor(shape: number[], seed: number): Tensor {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * 10 ** (rng.int(9) - 4);
  return { shape, data };
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A file from a raw header string and data bytes; the length field can be forced. */
function build(header: string, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

const t = (dtype: string, shape: unknown, offsets: unknown): string =>
  JSON.stringify({ dtype, shape, data_offsets: offsets });

describe('safetensors encode/decode', () => {
  it('writes the exact bytes of a tiny known file (hand-computed)', () => {
    // {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 79 bytes,
    // padded with one space to 80 = 0x50; then 1.0f = 00 00 80 3f and -2.0f = 00 00 00 c0.
    const header =
      '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} ';
    const expected = new Uint8Array([
      0x50,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...new TextEncoder().encode(header),
      0x00,
      0x00,
      0x80,
      0x3f,
      0x00,
      0x00,
      0x00,
      0xc0,
    ]);
    expect(expected.length).toBe(96);
    const bytes = encodeSafetensors(
      { a: { shape: [2], data: new Float32Array([1, -2]) } },
      { k: 'v' },
    );
    expect([...bytes]).toEqual([...expected]);
    expect([...readFileSync(join(FIXTURES, 'tiny.safetensors'))]).toEqual([...expected]);
    const back = decodeSafetensors(expected);
    expect([...back.tensors.keys()]).toEqual(['a']);
    expect(back.tensors.get('a')!.shape).toEqual([2]);
    expect([...back.tensors.get('a')!.data]).toEqual([1, -2]);
    expect(back.metadata).toEqual({ k: 'v' });
    const h = readSafetensorsHeader(expected);
    expect(h.headerLength).toBe(80);
    expect(h.dataStart).toBe(88);
  });

  it('round-trips tensors of awkward shapes bit for bit, with metadata', () => {
    const shapes = [
      [],
      [0],
      [1],
      [3, 5, 7],
      [2, 1, 3, 1],
      [257, 13],
      [4, 0, 3],
      [1, 1, 1, 1, 1],
      [33],
    ];
    const tensors = new Map<string, Tensor>();
    shapes.forEach((s, i) => tensors.set(`layer.${i}.weight`, randomTensor(s, i)));
    const special = new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e-45, 3.4028234e38, -1.5]);
    tensors.set('__proto__', { shape: [2, 4], data: special });
    tensors.set('décodeur.ünïcode', randomTensor([3], 99));
    // a view into a larger buffer at an odd offset
    const big = new Float32Array(20).map((_, i) => i);
    tensors.set('view', { shape: [5], data: big.subarray(3, 8) });
    const metadata = { note: 'héllo "quoted"\n', empty: '', json: JSON.stringify({ a: [1, 2] }) };
    const bytes = encodeSafetensors(tensors, metadata);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = decodeSafetensors(bytes);
    expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
    for (const [name, want] of tensors) {
      const got = back.tensors.get(name)!;
      expect(got.shape).toEqual(want.shape);
      expect(got.data).toBeInstanceOf(Float32Array);
      expect([...bytesOf(got.data)]).toEqual([...bytesOf(want.data)]);
    }
    expect(back.metadata).toEqual(metadata);
    // decoding an unaligned copy works too
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect([...decodeSafetensors(shifted).tensors.get('view')!.data]).toEqual([3, 4, 5, 6, 7]);
  });

  it('accepts headers written by others: any key order, no padding, zero-size tensors', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const header = `{"b":${t('F32', [2], [4, 12])},"e":${t('F32', [0], [4, 4])},"a":${t('F32', [], [0, 4])}}`;
    const out = decodeSafetensors(build(header, data), { expect: { a: [], b: [2], e: [0] } });
    expect([...out.tensors.get('a')!.data]).toEqual([1]);
    expect([...out.tensors.get('b')!.data]).toEqual([2, 3]);
    expect(out.tensors.get('e')!.data.length).toBe(0);
    expect(out.metadata).toEqual({});
    expect(decodeSafetensors(build('{}')).tensors.size).toBe(0);
    expect(decodeSafetensors(build('{}      ')).tensors.size).toBe(0);
  });

  const ok = t('F32', [2], [0, 8]);
  const cases: [string, () => Uint8Array, RegExp][] = [
    [
      'a file shorter than 8 bytes',
      () => new Uint8Array(5),
      /5 bytes, too short for the 8-byte header length/,
    ],
    [
      'a header length larger than the file',
      () => build(`{"a":${ok}}`, 8, 1000n),
      /header length 1000 is larger than the file \(70 bytes, 62 after the length\)/,
    ],
    [
      'an absurd header length',
      () => build('{}', 0, BigInt(MAX_HEADER_BYTES) + 1n),
      /header length 100000001 is absurd/,
    ],
    [
      'a header length of 2^64 − 1',
      () => build('{}', 0, 2n ** 64n - 1n),
      /header length 18446744073709551615 is absurd/,
    ],
    ['invalid JSON', () => build(`{"a":${ok}`, 8), /invalid JSON in header: expected ',' or '}'/],
    [
      'trailing garbage after the JSON',
      () => build(`{"a":${ok}}x`, 8),
      /invalid JSON in header: unexpected text after the JSON value/,
    ],
    [
      'a non-object header',
      () => build('[1, 2, 3]'),
      /header is not a JSON object \(got an array\)/,
    ],
    ['a null header', () => build('null'), /header is not a JSON object \(got null\)/],
    ['leading whitespace', () => build(' {}'), /header must start with '\{'/],
    [
      'invalid UTF-8',
      () => build('{"\xff":1}').map((b, i) => (i === 10 ? 0xff : b)),
      /header is not valid UTF-8/,
    ],
    [
      'an unknown dtype',
      () => build(`{"a":${t('F33', [2], [0, 8])}}`, 8),
      /tensor "a": unknown dtype "F33"/,
    ],
    [
      'a missing dtype',
      () => build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8),
      /tensor "a": unknown dtype null/,
    ],
    [
      'a known but unsupported dtype',
      () => build(`{"a":${t('I32', [2], [0, 8])}}`, 8),
      /tensor "a" has dtype I32; only the floats F32, F16, BF16 can be loaded/,
    ],
    [
      'an entry that is not an object',
      () => build('{"a":[1,2]}'),
      /tensor "a": entry is not an object/,
    ],
    [
      'an unknown field',
      () => build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 8),
      /tensor "a": unknown field "x"/,
    ],
    [
      'a shape/offset mismatch',
      () => build(`{"a":${t('F32', [3], [0, 8])}}`, 8),
      /tensor "a": data_offsets \[0,8\] span 8 bytes but F32 shape \[3\] needs 12/,
    ],
    [
      'a shape that is not an array',
      () => build(`{"a":${t('F32', 2, [0, 8])}}`, 8),
      /tensor "a": shape is not an array/,
    ],
    [
      'a negative dimension',
      () => build(`{"a":${t('F32', [-2], [0, 8])}}`, 8),
      /invalid dimension -2/,
    ],
    [
      'a fractional dimension',
      () => build(`{"a":${t('F32', [2.5], [0, 10])}}`, 10),
      /invalid dimension 2.5/,
    ],
    [
      'a dimension given as a string',
      () => build(`{"a":${t('F32', ['2'], [0, 8])}}`, 8),
      /invalid dimension "2"/,
    ],
    [
      'an enormous dimension',
      () => build('{"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', 8),
      /invalid dimension null/,
    ],
    [
      'a shape whose product overflows',
      () => build(`{"a":${t('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8])}}`, 8),
      /absurdly large \(element count overflows\)/,
    ],
    [
      'a shape with 2^64 elements',
      () => build('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', 8),
      /absurdly large/,
    ],
    [
      'negative offsets',
      () => build(`{"a":${t('F32', [2], [-8, 0])}}`, 8),
      /invalid data_offsets \[-8,0\]/,
    ],
    [
      'non-integer offsets',
      () => build(`{"a":${t('F32', [2], [0.5, 8.5])}}`, 8),
      /invalid data_offsets \[0.5,8.5\]/,
    ],
    [
      'huge offsets',
      () =>
        build(
          '{"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551616]}}',
          8,
        ),
      /invalid data_offsets/,
    ],
    [
      'offsets that are not a pair',
      () => build(`{"a":${t('F32', [2], [0, 8, 16])}}`, 8),
      /data_offsets must be an array \[begin, end\]/,
    ],
    [
      'out-of-order offsets',
      () => build(`{"a":${t('F32', [0], [8, 0])}}`, 8),
      /data_offsets \[8,0\] are out of order/,
    ],
    [
      'out-of-bounds offsets',
      () => build(`{"a":${t('F32', [4], [0, 16])}}`, 8),
      /tensor "a": data_offsets \[0, 16\] are out of bounds \(the data buffer has 8 bytes\)/,
    ],
    [
      'overlapping tensors',
      () => build(`{"a":${t('F32', [2], [0, 8])},"b":${t('F32', [2], [4, 12])}}`, 12),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" \[0, 8\]/,
    ],
    [
      'two tensors on the same bytes',
      () => build(`{"a":${ok},"b":${ok}}`, 8),
      /overlap tensor "a"/,
    ],
    [
      'a hole between tensors',
      () => build(`{"a":${t('F32', [1], [0, 4])},"b":${t('F32', [1], [8, 12])}}`, 12),
      /hole in the data buffer: bytes \[4, 8\) before tensor "b" belong to no tensor/,
    ],
    [
      'a hole at the start',
      () => build(`{"a":${t('F32', [1], [4, 8])}}`, 8),
      /hole in the data buffer: bytes \[0, 4\)/,
    ],
    [
      'bytes after the last tensor',
      () => build(`{"a":${ok}}`, 12),
      /4 bytes after the last tensor belong to no tensor/,
    ],
    [
      'duplicate names',
      () => build(`{"a":${ok},"a":${t('F32', [2], [8, 16])}}`, 16),
      /duplicate name in header: duplicate key "a"/,
    ],
    [
      'duplicate metadata keys',
      () => build('{"__metadata__":{"x":"1","x":"2"}}'),
      /duplicate key "x"/,
    ],
    [
      'metadata that is not an object',
      () => build('{"__metadata__":"x"}'),
      /__metadata__ must be an object of strings/,
    ],
    [
      'a non-string metadata value',
      () => build('{"__metadata__":{"step":3}}'),
      /__metadata__ value for "step" is not a string/,
    ],
    [
      'deeply nested JSON',
      () => build(`{"__metadata__":${'['.repeat(1000)}${']'.repeat(1000)}}`),
      /nesting deeper than 64/,
    ],
  ];
  for (const [what, make, message] of cases) {
    it(`rejects ${what}`, () => {
      const bytes = make();
      const fn = (): unknown => decodeSafetensors(bytes, { source: 'model.safetensors' });
      expect(fn).toThrow(SafetensorsError);
      expect(fn).toThrow(/^model\.safetensors: /);
      expect(fn).toThrow(message);
    });
  }

  it('checks names and shapes against what the model expects', () => {
    const bytes = encodeSafetensors({
      'encoder.0.weight': { shape: [3, 2], data: new Float32Array(6) },
      'encoder.0.bias': { shape: [3], data: new Float32Array(3) },
    });
    const expect0 = { 'encoder.0.weight': [3, 2], 'encoder.0.bias': [3] };
    expect(() => decodeSafetensors(bytes, { expect: expect0 })).not.toThrow();
    expect(() =>
      decodeSafetensors(bytes, { expect: { ...expect0, 'encoder.0.weight': [2, 3] } }),
    ).toThrow(/tensor "encoder.0.weight" has shape \[3,2\] but the model expects \[2,3\]/);
    expect(() =>
      decodeSafetensors(bytes, { expect: { ...expect0, 'decoder.0.bias': [4] } }),
    ).toThrow(/missing tensors the model expects: decoder.0.bias/);
    expect(() =>
      decodeSafetensors(bytes, { expect: new Map([['encoder.0.weight', [3, 2]]]) }),
    ).toThrow(/unexpected tensors the model does not have: encoder.0.bias/);
  });

  it('refuses to encode inconsistent input', () => {
    expect(() => encodeSafetensors({ a: { shape: [3], data: new Float32Array(2) } })).toThrow(
      /tensor a: data has 2 elements but shape \[3\] needs 3/,
    );
    expect(() => encodeSafetensors({ a: { shape: [-1], data: new Float32Array(0) } })).toThrow(
      /invalid dimension -1/,
    );
    expect(() =>
      encodeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } }),
    ).toThrow(/cannot be a tensor name/);
    expect(() =>
      encodeSafetensors(
        [
          ['a', { shape: [0], data: new Float32Array(0) }],
          ['a', { shape: [0], data: new Float32Array(0) }],
        ],
        {},
      ),
    ).toThrow(/duplicate tensor name "a"/);
    expect(() => encodeSafetensors({}, { a: 3 as unknown as string })).toThrow(/must be a string/);
  });

  it('parseJsonStrict follows JSON', () => {
    expect(parseJsonStrict('{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]}')).toEqual({
      a: [1, -2500, true, false, null, 'xé\n'],
    });
    for (const bad of ['{a:1}', "{'a':1}", '[1,]', '01', '"\t"', '{"a":1,}', 'NaN', '']) {
      expect(() => parseJsonStrict(bad), bad).toThrow();
    }
    const proto = parseJsonStrict('{"__proto__":{"x":1}}') as Record<string, unknown>;
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });
});

// ---- checkpoints -----------------------------------------------------------------------------------

function sampleCheckpoint(seed: number): CheckpointInput & { params: Map<string, Tensor> } {
  const shapes: [string, number[]][] = [
    ['encoder.0.weight', [16, 12]],
    ['encoder.0.bias', [16]],
    ['encoder.2.weight', [4, 16]],
    ['encoder.2.bias', [4]],
    ['decoder.0.weight', [12, 2]],
    ['decoder.0.bias', [12]],
  ];
  const params = new Map(shapes.map(([n, s], i) => [n, randomTensor(s, seed * 100 + i)]));
  const m = new Map(shapes.map(([n, s], i) => [n, randomTensor(s, seed * 100 + 10 + i)]));
  const v = new Map(shapes.map(([n, s], i) => [n, randomTensor(s, seed * 100 + 20 + i)]));
  return {
    params,
    config: { inputDim: 12, latentDim: 2, hidden: [16], activation: 'relu', seed },
    optimizer: {
      type: 'adam',
      step: 1234 + seed,
      moments: { m, v },
      hyper: { lr: 1e-3, beta1: 0.9 },
    },
    metadata: { run: `run-${seed}` },
  };
}

describe('checkpoints', () => {
  it('round-trips parameters, config, optimizer moments and metadata', () => {
    const ck = sampleCheckpoint(1);
    const bytes = encodeCheckpoint(ck);
    const header = readSafetensorsHeader(bytes);
    expect(header.tensors.map((x) => x.name).slice(0, 7)).toEqual([
      'encoder.0.weight',
      'encoder.0.bias',
      'encoder.2.weight',
      'encoder.2.bias',
      'decoder.0.weight',
      'decoder.0.bias',
      'optimizer.m.encoder.0.weight',
    ]);
    expect(header.metadata.format).toBe('webgpu-vae.checkpoint');
    expect(JSON.parse(header.metadata.optimizer!)).toEqual({
      type: 'adam',
      step: 1235,
      moments: ['m', 'v'],
      hyper: { lr: 1e-3, beta1: 0.9 },
    });
    const expectShapes = Object.fromEntries([...ck.params].map(([n, p]) => [n, p.shape]));
    const back = decodeCheckpoint(bytes, { expect: expectShapes, requireOptimizer: true });
    expect(back.config).toEqual(ck.config);
    expect(back.metadata).toEqual({ run: 'run-1' });
    expect([...back.params.keys()]).toEqual([...ck.params.keys()]);
    for (const [n, p] of ck.params) {
      expect(back.params.get(n)!.data).toEqual(p.data);
      const m = (ck.optimizer!.moments.m as Map<string, Tensor>).get(n)!;
      expect(back.optimizer!.moments.m!.get(n)!.data).toEqual(m.data);
      expect(back.optimizer!.moments.v!.get(n)!.shape).toEqual(p.shape);
    }
    expect(back.optimizer!.step).toBe(1235);
    expect(back.optimizer!.type).toBe('adam');
    // without optimizer state
    const plain = decodeCheckpoint(encodeCheckpoint({ params: ck.params }));
    expect(plain.optimizer).toBeUndefined();
    expect(plain.config).toBeUndefined();
    expect(() =>
      decodeCheckpoint(encodeCheckpoint({ params: ck.params }), { requireOptimizer: true }),
    ).toThrow(/has no optimizer state/);
  });

  it('rejects inconsistent checkpoints on write and on read', () => {
    const ck = sampleCheckpoint(2);
    const badMoment = new Map(ck.optimizer!.moments.m as Map<string, Tensor>);
    badMoment.set('encoder.0.bias', randomTensor([15], 1));
    expect(() =>
      encodeCheckpoint({ ...ck, optimizer: { ...ck.optimizer!, moments: { m: badMoment } } }),
    ).toThrow(/optimizer moment 'm' for encoder.0.bias has shape \[15\], the parameter has \[16\]/);
    const partial = new Map(ck.optimizer!.moments.m as Map<string, Tensor>);
    partial.delete('decoder.0.bias');
    expect(() =>
      encodeCheckpoint({ ...ck, optimizer: { ...ck.optimizer!, moments: { m: partial } } }),
    ).toThrow(/no tensor for parameter decoder.0.bias/);
    expect(() => encodeCheckpoint({ params: { 'optimizer.x': randomTensor([1], 1) } })).toThrow(
      /reserved prefix/,
    );
    expect(() => encodeCheckpoint({ ...ck, metadata: { config: 'x' } })).toThrow(/reserved/);
    expect(() => encodeCheckpoint({ ...ck, optimizer: { ...ck.optimizer!, step: -1 } })).toThrow(
      /step must be a non-negative integer/,
    );

    // Files edited by hand or by another tool:
    const tensors = new Map<string, TensorInput>(ck.params);
    const meta = { format: 'webgpu-vae.checkpoint', format_version: '1' };
    const withOpt = (
      extra: Record<string, string>,
      more: [string, TensorInput][] = [],
    ): Uint8Array => encodeSafetensors([...tensors, ...more], { ...meta, ...extra });
    const optMeta = JSON.stringify({ type: 'adam', step: 3, moments: ['m'] });
    const read = (b: Uint8Array): unknown => decodeCheckpoint(b, { source: 'ck.safetensors' });
    expect(() => read(withOpt({ config: '{oops' }))).toThrow(
      /ck.safetensors: metadata 'config' is not valid JSON/,
    );
    expect(() => read(withOpt({ optimizer: optMeta }))).toThrow(
      /optimizer tensor optimizer.m.encoder.0.weight is missing/,
    );
    expect(() =>
      read(withOpt({ optimizer: JSON.stringify({ type: 'adam', step: 1.5, moments: [] }) })),
    ).toThrow(/step 1.5 is not a non-negative integer/);
    expect(() => read(withOpt({}, [['optimizer.m.ghost', randomTensor([1], 1)]]))).toThrow(
      /optimizer tensors that match no parameter or moment: optimizer.m.ghost/,
    );
    expect(() => read(withOpt({ format_version: '2' }))).toThrow(
      /unsupported checkpoint format_version "2"/,
    );
    expect(() =>
      decodeCheckpoint(encodeCheckpoint(ck), { expect: { 'encoder.0.weight': [16, 12] } }),
    ).toThrow(/unexpected tensors the model does not have: encoder.0.bias/);
  });
});

describe('checkpoint files (Node, atomic)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes and reads checkpoints and plain safetensors files', async () => {
    const path = join(dir, 'model.safetensors');
    const ck = sampleCheckpoint(3);
    await writeCheckpointFile(path, ck);
    expect(readFileSync(path)).toEqual(Buffer.from(encodeCheckpoint(ck)));
    const back = await readCheckpointFile(path);
    expect(back.optimizer!.step).toBe(1237);
    expect(back.params.get('decoder.0.weight')!.data).toEqual(
      ck.params.get('decoder.0.weight')!.data,
    );
    const plain = join(dir, 'plain.safetensors');
    await writeSafetensorsFile(
      plain,
      { x: { shape: [2], data: new Float32Array([5, 6]) } },
      { a: 'b' },
    );
    expect((await readSafetensorsFile(plain)).metadata).toEqual({ a: 'b' });
    // overwriting replaces the file
    await writeSafetensorsFile(plain, { y: { shape: [], data: new Float32Array([7]) } });
    expect([...(await readSafetensorsFile(plain)).tensors.keys()]).toEqual(['y']);
    expect(readdirSync(dir).sort()).toEqual(['model.safetensors', 'plain.safetensors']);
  });

  it('names the path in read errors', async () => {
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, build('{"a":1}'));
    await expect(readCheckpointFile(bad)).rejects.toThrow(
      `${bad}: tensor "a": entry is not an object`,
    );
    await expect(readSafetensorsFile(bad)).rejects.toThrow(SafetensorsError);
    rmSync(bad);
  });

  it('a failure mid-write leaves the previous checkpoint intact and no temporary file', async () => {
    const path = join(dir, 'atomic.safetensors');
    const v1 = sampleCheckpoint(4);
    await writeCheckpointFile(path, v1);
    const before = readFileSync(path);

    const v2 = sampleCheckpoint(5);
    let sawTemp = false;
    const params = new Map<string, TensorInput>(v2.params);
    params.set('decoder.0.bias', {
      shape: [12],
      get data(): Float32Array {
        // By now the header and the first tensors are in the temporary file.
        const tmp = readdirSync(dir).filter((f) => f.includes('.tmp-'));
        sawTemp = tmp.length === 1 && readFileSync(join(dir, tmp[0]!)).length > 100;
        throw new Error('GPU readback failed');
      },
    });
    // the moments refer to the parameter's shape only, so they are fine
    await expect(writeCheckpointFile(path, { ...v2, params })).rejects.toThrow(
      'GPU readback failed',
    );
    expect(sawTemp).toBe(true);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir).filter((f) => f.includes('atomic') || f.includes('.tmp-'))).toEqual([
      'atomic.safetensors',
    ]);
    // a wrong-sized tensor discovered mid-write fails the same way
    const wrong = new Map<string, TensorInput>(v2.params);
    wrong.set('encoder.2.bias', { shape: [4], data: new Float32Array(5) });
    await expect(writeCheckpointFile(path, { ...v2, params: wrong })).rejects.toThrow(
      /encoder.2.bias: data has 5 elements but shape \[4\] needs 4/,
    );
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);
    expect((await readCheckpointFile(path)).optimizer!.step).toBe(1238);
    // writing into a folder that does not exist fails cleanly
    await expect(writeCheckpointFile(join(dir, 'no', 'such.safetensors'), v1)).rejects.toThrow(
      /ENOENT/,
    );
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });
});
