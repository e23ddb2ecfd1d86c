import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batcher } from '../src/data/batches.js';
import { EMBEDDED_DIGIT_COUNT, loadEmbeddedDigits } from '../src/data/embedded.js';
import {
  IdxFormatError,
  binarizeInto,
  combineIdx,
  createBinarizer,
  decodeIdxImages,
  decodeIdxLabels,
  isGzip,
  parseIdxImages,
  parseIdxLabels,
} from '../src/data/idx.js';
import {
  loadIdxDataset,
  loadIdxSplit,
  readIdxImagesFile,
  readIdxLabelsFile,
} from '../src/data/idx-node.js';
import { createRng, deriveSeed, randomPermutation } from '../src/data/rng.js';
import { idxBytes } from './helpers/idx.js';

// ---- hand-made IDX buffers -------------------------------------------------------------------

const idx = idxBytes;

/** 3 images of 2×2: pixel values 0, 51, 102, ..., 255 and 17. */
const PIXELS = new Uint8Array([0, 51, 102, 153, 204, 255, 17, 34, 0, 0, 255, 128]);
const IMAGES_2x2 = idx(2051, [3, 2, 2], PIXELS);
const LABELS_3 = idx(2049, [3], new Uint8Array([5, 0, 9]));
const SMALL = { rows: 2, cols: 2 };

function floatImages(values: number[], dims: number[]): Uint8Array {
  const body = new Uint8Array(values.length * 4);
  const v = new DataView(body.buffer);
  values.forEach((x, i) => v.setFloat32(4 * i, x, false));
  return idx(0x0d03, dims, body);
}

describe('IDX parsing (hand-made buffers)', () => {
  it('parses ubyte images and scales them to [0, 1]', () => {
    const r = parseIdxImages(IMAGES_2x2, { ...SMALL, name: 'tiny' });
    expect(r.count).toBe(3);
    expect(r.rows).toBe(2);
    expect(r.cols).toBe(2);
    expect(r.images).toBeInstanceOf(Float32Array);
    expect(r.images.length).toBe(12);
    for (let i = 0; i < 12; i++) expect(r.images[i]).toBeCloseTo(PIXELS[i]! / 255, 6);
    expect(r.images[5]).toBe(1);
    expect(r.images[0]).toBe(0);
  });

  it('parses labels', () => {
    const r = parseIdxLabels(LABELS_3);
    expect(r.count).toBe(3);
    expect([...r.labels]).toEqual([5, 0, 9]);
    const ds = combineIdx(parseIdxImages(IMAGES_2x2, SMALL), r);
    expect(ds.count).toBe(3);
    expect([...ds.labels]).toEqual([5, 0, 9]);
  });

  it('parses a 28×28 file by default and float32 images', () => {
    const body = new Uint8Array(784 * 2).map((_, i) => i % 256);
    expect(parseIdxImages(idx(2051, [2, 28, 28], body)).count).toBe(2);
    const f = parseIdxImages(floatImages([0, 0.25, 0.5, 1], [1, 2, 2]), SMALL);
    expect([...f.images]).toEqual([0, 0.25, 0.5, 1]);
  });

  it('gunzips with DecompressionStream (browser path) and detects gzip by magic', async () => {
    const gz = gzipSync(IMAGES_2x2);
    expect(isGzip(gz)).toBe(true);
    expect(isGzip(IMAGES_2x2)).toBe(false);
    const a = await decodeIdxImages(gz, SMALL);
    const b = await decodeIdxImages(IMAGES_2x2, SMALL);
    expect(a).toEqual(b);
    const l = await decodeIdxLabels(gzipSync(LABELS_3));
    expect([...l.labels]).toEqual([5, 0, 9]);
    expect(() => parseIdxImages(gz, { ...SMALL, name: 'x.gz' })).toThrow(
      /x\.gz: is gzip-compressed/,
    );
    await expect(
      decodeIdxImages(new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]), { name: 'bad.gz' }),
    ).rejects.toThrow(/bad\.gz: corrupt gzip data/);
  });

  const cases: [string, () => unknown, RegExp][] = [
    [
      'labels file given as images',
      () => parseIdxImages(LABELS_3, { name: 'imgs' }),
      /imgs: wrong magic number 0x00000801 \(2049\) \(that is an IDX labels file\); expected 2051/,
    ],
    [
      'images file given as labels',
      () => parseIdxLabels(IMAGES_2x2, { name: 'lbls' }),
      /lbls: wrong magic number 0x00000803 \(2051\) \(that is an IDX images file\); expected 2049/,
    ],
    [
      'not an IDX file',
      () => parseIdxImages(new TextEncoder().encode('<html>not found</html>'), { name: 'p' }),
      /p: wrong magic number 0x3c68746d .*first two bytes must be zero/,
    ],
    [
      'truncated header',
      () => parseIdxImages(IMAGES_2x2.subarray(0, 10), { ...SMALL, name: 't' }),
      /t: truncated: 10 bytes, shorter than the 16-byte IDX images header/,
    ],
    [
      'tiny file',
      () => parseIdxLabels(new Uint8Array([0, 0]), { name: 't' }),
      /t: truncated: 2 bytes/,
    ],
    [
      'truncated pixel data',
      () => parseIdxImages(IMAGES_2x2.subarray(0, IMAGES_2x2.length - 5), { ...SMALL, name: 't' }),
      /t: truncated: the header says 3 images of 2×2 \(12 bytes of data\) but only 7 bytes follow \(1 whole images\)/,
    ],
    [
      'truncated labels',
      () => parseIdxLabels(LABELS_3.subarray(0, 9), { name: 'l' }),
      /l: truncated: the header says 3 labels but only 1 bytes follow/,
    ],
    [
      'trailing bytes',
      () => parseIdxImages(idx(2051, [1, 2, 2], new Uint8Array(6)), SMALL),
      /2 unexpected bytes after the 1 images/,
    ],
    [
      'wrong image size (28×28 expected by default)',
      () => parseIdxImages(IMAGES_2x2, { name: 'f' }),
      /f: wrong image size 2×2; expected 28×28/,
    ],
    [
      'zero images',
      () => parseIdxImages(idx(2051, [0, 28, 28], new Uint8Array(0))),
      /holds 0 images/,
    ],
    [
      'NaN in float images',
      () => parseIdxImages(floatImages([0, 0.5, NaN, 1], [1, 2, 2]), { ...SMALL, name: 'fl' }),
      /fl: NaN at image 0, pixel 2/,
    ],
    [
      'float out of [0, 1]',
      () => parseIdxImages(floatImages([0, 0.5, 1, 1, 2, 0, 0, 0], [2, 2, 2]), SMALL),
      /value 2 outside \[0, 1\] at image 1, pixel 0/,
    ],
    [
      'label out of range',
      () => parseIdxLabels(idx(2049, [3], new Uint8Array([1, 10, 2])), { name: 'l' }),
      /l: label 10 at index 1 is out of range \[0, 9\]/,
    ],
    [
      'label count mismatch',
      () =>
        combineIdx(
          parseIdxImages(IMAGES_2x2, SMALL),
          parseIdxLabels(idx(2049, [2], new Uint8Array(2))),
          {
            images: 'a-images',
            labels: 'a-labels',
          },
        ),
      /a-labels: holds 2 labels but a-images holds 3 images/,
    ],
  ];
  for (const [what, fn, message] of cases) {
    it(`rejects: ${what}`, () => {
      expect(fn).toThrow(IdxFormatError);
      expect(fn).toThrow(message);
    });
  }

  it('accepts other class counts and image sizes when told', () => {
    expect(() =>
      parseIdxLabels(idx(2049, [1], new Uint8Array([10])), { numClasses: 11 }),
    ).not.toThrow();
    expect(parseIdxImages(IMAGES_2x2, { rows: null, cols: null }).rows).toBe(2);
  });
});

describe('IDX files from a folder (Node)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(IMAGES_2x2));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), LABELS_3);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx(2051, [1, 2, 2], new Uint8Array(4)));
    writeFileSync(
      join(dir, 't10k-labels-idx1-ubyte.gz'),
      gzipSync(idx(2049, [2], new Uint8Array(2))),
    );
    writeFileSync(
      join(dir, 'corrupt.gz'),
      new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 9, 9]),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads gzipped and raw files and finds the dataset files', () => {
    const train = loadIdxSplit(dir, 'train', SMALL);
    expect(train.count).toBe(3);
    expect([...train.labels]).toEqual([5, 0, 9]);
    expect(train.images).toEqual(parseIdxImages(IMAGES_2x2, SMALL).images);
    expect(readIdxLabelsFile(join(dir, 'train-labels-idx1-ubyte')).count).toBe(3);
  });

  it('names the file in errors', () => {
    const labels = join(dir, 't10k-labels-idx1-ubyte.gz');
    expect(() => loadIdxDataset(dir, SMALL)).toThrow(
      `${labels}: holds 2 labels but ${join(dir, 't10k-images-idx3-ubyte')} holds 1 images`,
    );
    expect(() => readIdxImagesFile(join(dir, 'corrupt.gz'))).toThrow(
      /corrupt\.gz: corrupt gzip data/,
    );
    expect(() => readIdxImagesFile(join(dir, 'missing'))).toThrow(/missing: cannot read/);
    expect(() => loadIdxDataset(join(dir, 'nowhere'))).toThrow(
      /nowhere: no trainImages file found \(tried train-images-idx3-ubyte, train-images-idx3-ubyte\.gz/,
    );
  });
});

// ---- the real data sets in ../shared/data ---------------------------------------------------------

const DATA = join(import.meta.dirname, '..', '..', 'shared', 'data');
const MNIST = join(DATA, 'mnist');
const FASHION = join(DATA, 'fashion-mnist');
const haveMnist = existsSync(join(MNIST, 'train-images-idx3-ubyte.gz'));
const haveFashion = existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'));
if (!haveMnist) console.warn(`data.test: skipping the MNIST file tests, ${MNIST} is missing`);
if (!haveFashion) console.warn(`data.test: skipping Fashion-MNIST tests, ${FASHION} is missing`);

function checkSplit(ds: ReturnType<typeof loadIdxSplit>, count: number): void {
  expect(ds.count).toBe(count);
  expect(ds.rows).toBe(28);
  expect(ds.cols).toBe(28);
  expect(ds.images.length).toBe(count * 784);
  expect(ds.labels.length).toBe(count);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < ds.images.length; i += 7) {
    const v = ds.images[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  expect(min).toBe(0);
  expect(max).toBe(1);
  const perClass = new Array<number>(10).fill(0);
  for (const l of ds.labels) perClass[l]!++;
  for (const c of perClass) expect(c).toBeGreaterThan(count / 20);
}

describe('real IDX data sets', () => {
  it.skipIf(!haveMnist)('loads MNIST: 60000 + 10000, pixels in [0, 1], labels 0..9', () => {
    const train = loadIdxSplit(MNIST, 'train');
    checkSplit(train, 60000);
    // Known facts: the first training digits are 5, 0, 4, 1, 9; the first test digit is a 7.
    expect([...train.labels.subarray(0, 5)]).toEqual([5, 0, 4, 1, 9]);
    // The first training image (a 5) has 166 non-zero pixels; its first row is blank.
    const first = train.images.subarray(0, 784);
    expect(first.filter((v) => v > 0).length).toBe(166);
    expect(first.subarray(0, 28).every((v) => v === 0)).toBe(true);
    const test = loadIdxSplit(MNIST, 'test');
    checkSplit(test, 10000);
    expect(test.labels[0]).toBe(7);
  });

  it.skipIf(!haveFashion)('loads Fashion-MNIST test split', () => {
    const test = loadIdxSplit(FASHION, 'test');
    checkSplit(test, 10000);
    // Fashion-MNIST's first test item is an ankle boot (9), then a pullover (2).
    expect([...test.labels.subarray(0, 2)]).toEqual([9, 2]);
    const perClass = new Array<number>(10).fill(0);
    for (const l of test.labels) perClass[l]!++;
    expect(perClass).toEqual(new Array(10).fill(1000));
  });
});

// ---- binarization ------------------------------------------------------------------------------

describe('dynamic binarization', () => {
  it('draws Bernoulli(pixel) with a seeded RNG, fresh every call', () => {
    const n = 20000;
    const src = new Float32Array(n).map((_, i) => (i % 5) / 4); // 0, .25, .5, .75, 1
    const bin = createBinarizer(3);
    const a = bin(src, new Float32Array(n));
    const b = bin(src, new Float32Array(n));
    expect(a).not.toEqual(b);
    expect(createBinarizer(3)(src, new Float32Array(n))).toEqual(a);
    expect(a.every((v) => v === 0 || v === 1)).toBe(true);
    for (let k = 0; k < 5; k++) {
      let ones = 0;
      for (let i = k; i < n; i += 5) ones += a[i]!;
      const p = k / 4;
      // mean of 4000 Bernoulli(p): 5 standard errors at most
      expect(Math.abs(ones / 4000 - p)).toBeLessThanOrEqual(
        5 * Math.sqrt((p * (1 - p)) / 4000) + 1e-9,
      );
    }
    const inPlace = src.slice();
    binarizeInto(inPlace, inPlace, createRng(1));
    expect(inPlace.every((v) => v === 0 || v === 1)).toBe(true);
  });
});

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    Buffer.compare(
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}

// ---- embedded digits ---------------------------------------------------------------------------

describe('embedded digits (mnist package)', () => {
  it('splits the 10000 digits deterministically into disjoint train/test sets', async () => {
    const { train, test } = await loadEmbeddedDigits({ seed: 7 });
    expect(train.count).toBe(8000);
    expect(test.count).toBe(2000);
    expect(train.images.length).toBe(8000 * 784);
    expect(test.labels.length).toBe(2000);
    let min = Infinity;
    let max = -Infinity;
    const im = train.images;
    for (let i = 0; i < im.length; i++) {
      const v = im[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    const counts = new Array<number>(10).fill(0);
    for (const l of train.labels) counts[l]!++;
    for (const c of counts) {
      expect(c).toBeGreaterThan(8000 * 0.07);
      expect(c).toBeLessThan(8000 * 0.14);
    }
    // Each image has ink.
    for (let i = 0; i < 50; i++) {
      expect(train.images.subarray(i * 784, (i + 1) * 784).some((v) => v > 0.5)).toBe(true);
    }
    const again = await loadEmbeddedDigits({ seed: 7 });
    expect(sameBytes(again.train.labels, train.labels)).toBe(true);
    expect(sameBytes(again.test.images, test.images)).toBe(true);
    const other = await loadEmbeddedDigits({ seed: 8, trainCount: 100, testCount: 10 });
    expect(other.train.count).toBe(100);
    expect(sameBytes(other.train.images, train.images.subarray(0, 100 * 784))).toBe(false);
    // train and test are disjoint: all 10000 images are distinct keys when taken together.
    const all = await loadEmbeddedDigits({ seed: 1, trainCount: 9000, testCount: 1000 });
    const key = (im: Float32Array, i: number): number => {
      // FNV-1a over the image's bytes
      const b = new Uint8Array(im.buffer, im.byteOffset + i * 784 * 4, 784 * 4);
      let h = 0x811c9dc5;
      for (let k = 0; k < b.length; k++) h = Math.imul(h ^ b[k]!, 0x01000193);
      return h >>> 0;
    };
    const trainKeys = new Set<number>();
    for (let i = 0; i < 9000; i++) trainKeys.add(key(all.train.images, i));
    let shared = 0;
    for (let i = 0; i < 1000; i++) if (trainKeys.has(key(all.test.images, i))) shared++;
    // (the package may hold a few exact duplicates; a leak would show ~all 1000)
    expect(shared).toBeLessThan(10);
    expect(EMBEDDED_DIGIT_COUNT).toBe(10000);
    await expect(loadEmbeddedDigits({ trainCount: 9000, testCount: 1001 })).rejects.toThrow(
      /exceeds the 10000 embedded digits/,
    );
  });
});

// ---- batches -----------------------------------------------------------------------------------

describe('Batcher', () => {
  const rows = 103;
  const rowSize = 3;
  const data = new Float32Array(rows * rowSize).map(
    (_, i) => Math.floor(i / rowSize) + (i % rowSize) / 10,
  );
  const labels = new Uint8Array(rows).map((_, i) => i % 10);

  function epochRows(b: Batcher): { ids: number[]; sizes: number[] } {
    b.startEpoch();
    const ids: number[] = [];
    const sizes: number[] = [];
    let n: number;
    while ((n = b.next()) > 0) {
      sizes.push(n);
      for (let r = 0; r < n; r++) {
        const id = b.batch[r * rowSize]!;
        // the row was copied intact, and its label and index follow it
        expect(b.batch[r * rowSize + 2]).toBeCloseTo(id + 0.2, 5);
        expect(b.batchIndices[r]).toBe(id);
        expect(b.batchLabels![r]).toBe(id % 10);
        ids.push(id);
      }
    }
    return { ids, sizes };
  }

  it('keeps the last partial batch when asked: each epoch is a permutation', () => {
    const b = new Batcher(data, rowSize, { batchSize: 10, seed: 1, dropLast: false, labels });
    expect(b.batchesPerEpoch).toBe(11);
    const e1 = epochRows(b);
    const e2 = epochRows(b);
    expect(e1.sizes).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    expect([...e1.ids].sort((x, y) => x - y)).toEqual([...Array(rows).keys()]);
    expect([...e2.ids].sort((x, y) => x - y)).toEqual([...Array(rows).keys()]);
    expect(e1.ids).not.toEqual(e2.ids);
    expect(e1.ids).not.toEqual([...Array(rows).keys()]);
    // the tail of the short last batch is zeroed
    expect(b.batch.subarray(3 * rowSize).every((v) => v === 0)).toBe(true);
    expect(b.epoch).toBe(1);
    // same seed, same epochs
    const c = new Batcher(data, rowSize, { batchSize: 10, seed: 1, dropLast: false, labels });
    expect(epochRows(c).ids).toEqual(e1.ids);
    expect(epochRows(c).ids).toEqual(e2.ids);
  });

  it('drops the last partial batch by default', () => {
    const b = new Batcher(data, rowSize, { batchSize: 10, seed: 2, labels });
    expect(b.batchesPerEpoch).toBe(10);
    const e = epochRows(b);
    expect(e.sizes).toEqual(new Array(10).fill(10));
    expect(new Set(e.ids).size).toBe(100);
    const unshuffled = new Batcher(data, rowSize, { batchSize: 10, shuffle: false, labels });
    expect(epochRows(unshuffled).ids).toEqual([...Array(100).keys()]);
  });

  it('reuses its preallocated buffers (no allocation per batch)', () => {
    const b = new Batcher(data, rowSize, { batchSize: 8, seed: 3, labels });
    const { batch, batchLabels, batchIndices, order } = b;
    // Count typed-array constructions during many epochs.
    const names = ['Float32Array', 'Uint32Array', 'Uint8Array', 'Array'] as const;
    const saved = names.map((n) => globalThis[n]);
    let constructed = 0;
    const g = globalThis as unknown as Record<string, unknown>;
    names.forEach((n, i) => {
      g[n] = new Proxy(saved[i]!, {
        construct(target, args, newTarget) {
          constructed++;
          return Reflect.construct(target, args, newTarget);
        },
      });
    });
    let batches = 0;
    try {
      for (let e = 0; e < 20; e++) {
        b.startEpoch();
        while (b.next() > 0) batches++;
      }
    } finally {
      names.forEach((n, i) => (g[n] = saved[i]));
    }
    expect(batches).toBe(20 * 12);
    expect(constructed).toBe(0);
    expect(b.batch).toBe(batch);
    expect(b.batchLabels).toBe(batchLabels);
    expect(b.batchIndices).toBe(batchIndices);
    expect(b.order).toBe(order);
  });

  it('can copy into a caller-owned buffer', () => {
    const b = new Batcher(data, rowSize, { batchSize: 4, seed: 4, labels });
    const ref = new Batcher(data, rowSize, { batchSize: 4, seed: 4, labels });
    const out = new Float32Array(4 * rowSize + 2).fill(-1);
    const lab = new Float32Array(4);
    expect(b.next(out, lab)).toBe(4);
    expect(ref.next()).toBe(4);
    expect(out.subarray(0, 4 * rowSize)).toEqual(ref.batch);
    expect([...lab]).toEqual([...ref.batchLabels!]);
    expect([...out.subarray(4 * rowSize)]).toEqual([-1, -1]);
    expect(() => b.next(new Float32Array(3))).toThrow(/out holds 3 floats, a batch needs 12/);
  });

  it('validates its arguments', () => {
    expect(() => new Batcher(data, 4, { batchSize: 2 })).toThrow(/not a multiple of rowSize 4/);
    expect(() => new Batcher(data, rowSize, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new Batcher(data, rowSize, { batchSize: 200 })).toThrow(/no full batch/);
    expect(() => new Batcher(data, rowSize, { batchSize: 2, labels: new Uint8Array(3) })).toThrow(
      /3 labels for 103 rows/,
    );
  });

  it('starts any epoch at any batch with the order a run from the start gives it', () => {
    const opts = { batchSize: 10, seed: 7, dropLast: false, labels } as const;
    const run = new Batcher(data, rowSize, opts);
    const epochs = [0, 1, 2, 3].map(() => epochRows(run).ids);
    expect(run.epoch).toBe(3);
    // Epoch 2 alone, from a fresh batcher, and after skipping 4 of its batches.
    const direct = new Batcher(data, rowSize, opts);
    direct.startEpoch(2);
    const ids: number[] = [];
    direct.skip(4);
    expect(direct.batchInEpoch).toBe(4);
    let n: number;
    while ((n = direct.next()) > 0) for (let r = 0; r < n; r++) ids.push(direct.batchIndices[r]!);
    expect(ids).toEqual(epochs[2]!.slice(40));
    // The next epoch after a jump follows on.
    direct.startEpoch();
    expect(direct.epoch).toBe(3);
    const next: number[] = [];
    while ((n = direct.next()) > 0) for (let r = 0; r < n; r++) next.push(direct.batchIndices[r]!);
    expect(next).toEqual(epochs[3]);
    // A different seed, a different order.
    const other = new Batcher(data, rowSize, { ...opts, seed: 8 });
    expect(epochRows(other).ids).not.toEqual(epochs[0]);
    direct.startEpoch(5);
    expect(() => direct.skip(12)).toThrow(/batches must be an integer in \[0, 11\]/);
    expect(() => direct.startEpoch(-1)).toThrow(/epoch must be an integer >= 0/);
  });

  it('derives unrelated seeds from a seed and a path', () => {
    const seen = new Set<number>();
    for (const seed of [0, 1, 2 ** 40]) {
      for (let e = 0; e < 30; e++) for (let b = 0; b < 30; b++) seen.add(deriveSeed(seed, e, b));
      seen.add(deriveSeed(seed));
      seen.add(deriveSeed(seed, 2 ** 33));
    }
    expect(seen.size).toBe(3 * (900 + 2));
    expect(deriveSeed(3, 4, 5)).toBe(deriveSeed(3, 4, 5));
    for (const s of seen) expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
    // Neighbouring paths give independent-looking first draws (mean of 900 uniforms near 1/2).
    let sum = 0;
    for (let e = 0; e < 900; e++) sum += createRng(deriveSeed(1, e)).next();
    expect(Math.abs(sum / 900 - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / 900));
    expect(() => deriveSeed(1, -1)).toThrow(/path parts must be integers >= 0/);
  });

  it('randomPermutation is uniform-ish (every position sees every value)', () => {
    const rng = createRng(5);
    const perm = new Uint32Array(4);
    const seen = Array.from({ length: 4 }, () => new Array<number>(4).fill(0));
    for (let t = 0; t < 4000; t++) {
      randomPermutation(perm, rng);
      perm.forEach((v, pos) => seen[pos]![v]!++);
    }
    for (const row of seen) for (const c of row) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});
