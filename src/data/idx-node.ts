// Node-only helpers for IDX files: read from paths, gunzip with zlib, find a dataset in a folder.
// Kept apart from idx.ts so that browser bundles do not pull in node:fs / node:zlib.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { IdxDataset, IdxImageOptions, IdxImages, IdxLabelOptions, IdxLabels } from './idx.js';
import { IdxFormatError, combineIdx, isGzip, parseIdxImages, parseIdxLabels } from './idx.js';

/** Reads a file and gunzips it when it starts with the gzip magic 1f 8b. */
export function readMaybeGzip(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new IdxFormatError(path, `cannot read (${(e as Error).message})`);
  }
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new IdxFormatError(path, `corrupt gzip data (${(e as Error).message})`);
  }
}

/** Reads an IDX images file (gzipped or not) from a path. */
export function readIdxImagesFile(path: string, options: IdxImageOptions = {}): IdxImages {
  return parseIdxImages(readMaybeGzip(path), { ...options, name: options.name ?? path });
}

/** Reads an IDX labels file (gzipped or not) from a path. */
export function readIdxLabelsFile(path: string, options: IdxLabelOptions = {}): IdxLabels {
  return parseIdxLabels(readMaybeGzip(path), { ...options, name: options.name ?? path });
}

/** Reads an images file and a labels file and checks that they match. */
export function readIdxPair(
  imagesPath: string,
  labelsPath: string,
  options: IdxImageOptions & IdxLabelOptions = {},
): IdxDataset {
  const images = readIdxImagesFile(imagesPath, { ...options, name: imagesPath });
  const labels = readIdxLabelsFile(labelsPath, { ...options, name: labelsPath });
  return combineIdx(images, labels, { images: imagesPath, labels: labelsPath });
}

/** The file-name stems tried for each part; each is tried as-is and with .gz. */
export const IDX_FILE_STEMS = {
  trainImages: ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'],
  trainLabels: ['train-labels-idx1-ubyte', 'train-labels.idx1-ubyte'],
  testImages: ['t10k-images-idx3-ubyte', 't10k-images.idx3-ubyte'],
  testLabels: ['t10k-labels-idx1-ubyte', 't10k-labels.idx1-ubyte'],
} as const;

/** Finds one part of an IDX dataset in `dir`; throws naming every file name tried. */
export function findIdxFile(dir: string, part: keyof typeof IDX_FILE_STEMS): string {
  const tried: string[] = [];
  for (const stem of IDX_FILE_STEMS[part]) {
    for (const name of [stem, `${stem}.gz`]) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
      tried.push(name);
    }
  }
  throw new Error(`${dir}: no ${part} file found (tried ${tried.join(', ')})`);
}

/** The train and test splits of an MNIST-style dataset folder. */
export interface IdxDatasetSplits {
  train: IdxDataset;
  test: IdxDataset;
}

/**
 * Loads an MNIST-style dataset folder: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally gzipped (.gz).
 */
export function loadIdxDataset(
  dir: string,
  options: IdxImageOptions & IdxLabelOptions = {},
): IdxDatasetSplits {
  return {
    train: loadIdxSplit(dir, 'train', options),
    test: loadIdxSplit(dir, 'test', options),
  };
}

/** Loads one split ('train' or 'test') of an MNIST-style dataset folder. */
export function loadIdxSplit(
  dir: string,
  split: 'train' | 'test',
  options: IdxImageOptions & IdxLabelOptions = {},
): IdxDataset {
  const imagesPath = findIdxFile(dir, split === 'train' ? 'trainImages' : 'testImages');
  const labelsPath = findIdxFile(dir, split === 'train' ? 'trainLabels' : 'testLabels');
  return readIdxPair(imagesPath, labelsPath, options);
}
