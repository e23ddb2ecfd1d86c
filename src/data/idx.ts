// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/), parsed from bytes
// so that the same code runs in Node and in the browser. The Node file-path helpers live in
// idx-node.ts so that browser bundles never pull in node:fs or node:zlib.
//
// Layout: a 4-byte big-endian magic number 0x0000TTDD (TT = element type, DD = number of dims),
// then DD big-endian uint32 dimension sizes, then the elements, big-endian, row-major.
// Images: magic 2051 (0x00000803: ubyte, 3 dims N × rows × cols). Labels: magic 2049 (0x00000801).
// Float image files (type 0x0D float32, magic 3331; 0x0E float64, magic 3587) are accepted too;
// their values must be finite and in [0, 1].

import type { Rng } from './rng.js';
import { createRng } from './rng.js';

/** Images scaled to [0, 1], row-major (count, rows · cols). */
export interface IdxImages {
  images: Float32Array;
  count: number;
  rows: number;
  cols: number;
}

/** Integer class labels. */
export interface IdxLabels {
  labels: Uint8Array;
  count: number;
}

/** Images and their labels: images (count, rows · cols) in [0, 1], labels (count). */
export interface IdxDataset extends IdxImages {
  labels: Uint8Array;
}

/** Checks and conversion of an IDX images file. */
export interface IdxImageOptions {
  /** File name used in error messages. */
  name?: string;
  /** Expected image height; null accepts any. Default 28. */
  rows?: number | null;
  /** Expected image width; null accepts any. Default 28. */
  cols?: number | null;
}

/** Checks of an IDX labels file. */
export interface IdxLabelOptions {
  /** File name used in error messages. */
  name?: string;
  /** Labels must lie in [0, numClasses). Default 10. */
  numClasses?: number;
}

/** An IDX file that cannot be used; the message names the file and the problem. */
export class IdxFormatError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'IdxFormatError';
  }
}

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;
const IDX_FLOAT32_IMAGES_MAGIC = 0x0d03;
const IDX_FLOAT64_IMAGES_MAGIC = 0x0e03;

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function describeMagic(magic: number): string {
  if (magic === IDX_LABELS_MAGIC) return ' (that is an IDX labels file)';
  if (magic === IDX_IMAGES_MAGIC) return ' (that is an IDX images file)';
  if (magic >>> 16 !== 0) return ' (not an IDX file: the first two bytes must be zero)';
  return '';
}

function readHeader(
  bytes: Uint8Array,
  name: string,
  dims: number,
): { magic: number; sizes: number[]; offset: number } {
  if (isGzip(bytes)) {
    throw new IdxFormatError(
      name,
      'is gzip-compressed; decompress it first (decodeIdxImages/decodeIdxLabels do this)',
    );
  }
  const headerBytes = 4 + 4 * dims;
  if (bytes.length < 4) {
    throw new IdxFormatError(name, `truncated: ${bytes.length} bytes, too short for an IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const sizes: number[] = [];
  if (bytes.length >= headerBytes) {
    for (let i = 0; i < dims; i++) sizes.push(view.getUint32(4 + 4 * i, false));
  }
  return { magic, sizes, offset: headerBytes };
}

/**
 * Parses an uncompressed IDX images file (ubyte pixels are divided by 255; float pixels are
 * checked to be finite and in [0, 1]). Throws an IdxFormatError naming the file and the problem.
 */
export function parseIdxImages(bytes: Uint8Array, options: IdxImageOptions = {}): IdxImages {
  const name = options.name ?? 'IDX images';
  const wantRows = options.rows === undefined ? 28 : options.rows;
  const wantCols = options.cols === undefined ? 28 : options.cols;
  const { magic, sizes, offset } = readHeader(bytes, name, 3);
  let elemBytes: number;
  if (magic === IDX_IMAGES_MAGIC) elemBytes = 1;
  else if (magic === IDX_FLOAT32_IMAGES_MAGIC) elemBytes = 4;
  else if (magic === IDX_FLOAT64_IMAGES_MAGIC) elemBytes = 8;
  else {
    throw new IdxFormatError(
      name,
      `wrong magic number ${hex(magic)} (${magic})${describeMagic(magic)}; expected ` +
        `${IDX_IMAGES_MAGIC} (${hex(IDX_IMAGES_MAGIC)}, unsigned-byte images with 3 dimensions)`,
    );
  }
  if (sizes.length < 3) {
    throw new IdxFormatError(
      name,
      `truncated: ${bytes.length} bytes, shorter than the ${offset}-byte IDX images header`,
    );
  }
  const [count, rows, cols] = sizes as [number, number, number];
  if ((wantRows !== null && rows !== wantRows) || (wantCols !== null && cols !== wantCols)) {
    throw new IdxFormatError(
      name,
      `wrong image size ${rows}×${cols}; expected ${wantRows ?? rows}×${wantCols ?? cols}`,
    );
  }
  if (count === 0) throw new IdxFormatError(name, 'the header says it holds 0 images');
  if (rows === 0 || cols === 0) throw new IdxFormatError(name, `empty image size ${rows}×${cols}`);
  const pixels = count * rows * cols;
  const needed = pixels * elemBytes;
  const have = bytes.length - offset;
  if (have < needed) {
    const whole = Math.floor(have / (rows * cols * elemBytes));
    throw new IdxFormatError(
      name,
      `truncated: the header says ${count} images of ${rows}×${cols} (${needed} bytes of data) ` +
        `but only ${have} bytes follow (${whole} whole images)`,
    );
  }
  if (have > needed) {
    throw new IdxFormatError(
      name,
      `${have - needed} unexpected bytes after the ${count} images the header announces`,
    );
  }
  const images = new Float32Array(pixels);
  if (elemBytes === 1) {
    const scale = 1 / 255;
    for (let i = 0; i < pixels; i++) images[i] = bytes[offset + i]! * scale;
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, needed);
    for (let i = 0; i < pixels; i++) {
      const v = elemBytes === 4 ? view.getFloat32(4 * i, false) : view.getFloat64(8 * i, false);
      if (Number.isNaN(v) || !(v >= 0 && v <= 1)) {
        const img = Math.floor(i / (rows * cols));
        const px = i % (rows * cols);
        throw new IdxFormatError(
          name,
          `${Number.isNaN(v) ? 'NaN' : `value ${v} outside [0, 1]`} at image ${img}, pixel ${px}`,
        );
      }
      images[i] = v;
    }
  }
  return { images, count, rows, cols };
}

/** Parses an uncompressed IDX labels file (magic 2049). Throws an IdxFormatError on problems. */
export function parseIdxLabels(bytes: Uint8Array, options: IdxLabelOptions = {}): IdxLabels {
  const name = options.name ?? 'IDX labels';
  const numClasses = options.numClasses ?? 10;
  const { magic, sizes, offset } = readHeader(bytes, name, 1);
  if (magic !== IDX_LABELS_MAGIC) {
    throw new IdxFormatError(
      name,
      `wrong magic number ${hex(magic)} (${magic})${describeMagic(magic)}; expected ` +
        `${IDX_LABELS_MAGIC} (${hex(IDX_LABELS_MAGIC)}, unsigned-byte labels with 1 dimension)`,
    );
  }
  if (sizes.length < 1) {
    throw new IdxFormatError(
      name,
      `truncated: ${bytes.length} bytes, shorter than the 8-byte header`,
    );
  }
  const count = sizes[0]!;
  if (count === 0) throw new IdxFormatError(name, 'the header says it holds 0 labels');
  const have = bytes.length - offset;
  if (have < count) {
    throw new IdxFormatError(
      name,
      `truncated: the header says ${count} labels but only ${have} bytes follow`,
    );
  }
  if (have > count) {
    throw new IdxFormatError(
      name,
      `${have - count} unexpected bytes after the ${count} labels the header announces`,
    );
  }
  const labels = bytes.slice(offset, offset + count);
  for (let i = 0; i < count; i++) {
    if (labels[i]! >= numClasses) {
      throw new IdxFormatError(
        name,
        `label ${labels[i]} at index ${i} is out of range [0, ${numClasses - 1}]`,
      );
    }
  }
  return { labels, count };
}

/** Pairs images with labels, checking that the counts agree. */
export function combineIdx(
  images: IdxImages,
  labels: IdxLabels,
  names: { images?: string; labels?: string } = {},
): IdxDataset {
  if (images.count !== labels.count) {
    throw new IdxFormatError(
      names.labels ?? 'IDX labels',
      `holds ${labels.count} labels but ${names.images ?? 'the images file'} holds ` +
        `${images.count} images`,
    );
  }
  return { ...images, labels: labels.labels };
}

/** Decompresses gzip bytes with the web-standard DecompressionStream (browsers, Node ≥ 18). */
export async function gunzipWeb(bytes: Uint8Array, name = 'input'): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new IdxFormatError(name, 'is gzip-compressed and DecompressionStream is not available');
  }
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>])
      .stream()
      .pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new IdxFormatError(name, `corrupt gzip data (${(e as Error).message})`);
  }
}

/** Parses an IDX images file, gzipped or not (gzip is detected by its 1f 8b magic). */
export async function decodeIdxImages(
  bytes: Uint8Array,
  options: IdxImageOptions = {},
): Promise<IdxImages> {
  const raw = isGzip(bytes) ? await gunzipWeb(bytes, options.name ?? 'IDX images') : bytes;
  return parseIdxImages(raw, options);
}

/** Parses an IDX labels file, gzipped or not. */
export async function decodeIdxLabels(
  bytes: Uint8Array,
  options: IdxLabelOptions = {},
): Promise<IdxLabels> {
  const raw = isGzip(bytes) ? await gunzipWeb(bytes, options.name ?? 'IDX labels') : bytes;
  return parseIdxLabels(raw, options);
}

/** Fetches and parses an images/labels pair (browser or Node: any URL fetch() can read). */
export async function fetchIdxDataset(
  imagesUrl: string | URL,
  labelsUrl: string | URL,
  options: IdxImageOptions & IdxLabelOptions = {},
): Promise<IdxDataset> {
  const get = async (url: string | URL): Promise<Uint8Array> => {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${String(url)}: HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const [ib, lb] = await Promise.all([get(imagesUrl), get(labelsUrl)]);
  const imgName = String(imagesUrl);
  const lblName = String(labelsUrl);
  const images = await decodeIdxImages(ib, { ...options, name: imgName });
  const labels = await decodeIdxLabels(lb, { ...options, name: lblName });
  return combineIdx(images, labels, { images: imgName, labels: lblName });
}

/**
 * Dynamic binarization: out[i] = 1 with probability src[i], else 0 (x ~ Bernoulli(pixel)), a fresh
 * draw every call. `out` may be `src` (in place). Allocates nothing.
 */
export function binarizeInto(
  src: Float32Array,
  out: Float32Array,
  rng: Rng,
  length?: number,
): void {
  const n = length ?? src.length;
  if (n > src.length || n > out.length) {
    throw new RangeError(
      `binarizeInto: length ${n} exceeds src (${src.length}) or out (${out.length})`,
    );
  }
  for (let i = 0; i < n; i++) out[i] = rng.next() < src[i]! ? 1 : 0;
}

/**
 * A seeded dynamic binarizer: each call draws a new Bernoulli sample of the batch. With `out`
 * omitted the batch is binarized in place.
 */
export function createBinarizer(
  seed: number,
): (batch: Float32Array, out?: Float32Array, length?: number) => Float32Array {
  const rng = createRng(seed);
  return (batch, out = batch, length) => {
    binarizeInto(batch, out, rng, length);
    return out;
  };
}
