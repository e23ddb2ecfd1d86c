// Data loaders: IDX files (MNIST format), the synthetic 2-D sets, batching and binarizing, and
// the labeled subset of semi-supervised training.
import {
  Batcher,
  CyclicBatcher,
  binarizeInto,
  createBinarizer,
  createRng,
  decodeIdxImages,
  decodeIdxLabels,
  fetchIdxDataset,
  generateSynthetic,
  IdxFormatError,
  labeledSubset,
  parseIdxImages,
  parseIdxLabels,
  SYNTHETIC_NAMES,
  syntheticLogDensity,
  type Dataset,
  type IdxDataset,
  type LabeledSplit,
  type SyntheticData,
} from 'webgpu-vae';

export async function dataExample(base: string, imageBytes: Uint8Array): Promise<number> {
  // Over HTTP, gzipped or not (gzip is detected and inflated with DecompressionStream).
  const test: IdxDataset = await fetchIdxDataset(
    `${base}/t10k-images-idx3-ubyte.gz`,
    `${base}/t10k-labels-idx1-ubyte.gz`,
  );
  // From bytes already in memory (a File, a fetch of your own).
  const images = await decodeIdxImages(imageBytes, { name: 'upload.idx3-ubyte' });
  const sets: SyntheticData[] = SYNTHETIC_NAMES.map((name) =>
    generateSynthetic(name, { count: 1000, seed: 7 }),
  );
  // The exact log-density of each set's generating process at its own points (float64).
  const logDensities: Float64Array[] = sets.map((set) => syntheticLogDensity(set, set.data));
  // Shuffled batches of 128 rows, and a fresh Bernoulli draw of each.
  const batcher = new Batcher(test.images, test.rows * test.cols, { batchSize: 128, seed: 1 });
  const binary = new Float32Array(batcher.batch.length);
  const rng = createRng(2);
  batcher.startEpoch();
  let rows: number;
  let batches = 0;
  while ((rows = batcher.next()) > 0) {
    binarizeInto(batcher.batch, binary, rng, rows * test.rows * test.cols);
    batches++;
  }
  return batches + images.count + sets.length + logDensities.length;
}

/** Uncompressed IDX bytes, parsed synchronously; a bad file names itself and the problem. */
export async function idxExample(images: Uint8Array, labels: Uint8Array): Promise<number> {
  try {
    const x = parseIdxImages(images, { name: 'train-images-idx3-ubyte' });
    const y = parseIdxLabels(labels, { name: 'train-labels-idx1-ubyte' });
    const z = await decodeIdxLabels(labels); // gzipped or not
    const binarize = createBinarizer(3); // a fresh Bernoulli draw per call
    return binarize(x.images).length + y.labels.length + z.labels.length;
  } catch (e) {
    if (e instanceof IdxFormatError) console.error(e.message);
    throw e;
  }
}

/**
 * Semi-supervised training data (objective 'm2'): 100 labeled examples, 10 per class chosen by a
 * seed, the rest unlabeled; the labeled ones are cycled 64 per step at their own pace.
 */
export function semiSupervisedExample(train: IdxDataset): Dataset {
  const D = train.rows * train.cols;
  const split: LabeledSplit = labeledSubset(train.labels, 100, 10, 1);
  const rows = (idx: Uint32Array): Dataset => ({
    images: Float32Array.from(
      { length: idx.length * D },
      (_, i) => train.images[idx[Math.floor(i / D)]! * D + (i % D)]!,
    ),
    labels: Float32Array.from(idx, (i) => train.labels[i]!),
    count: idx.length,
  });
  const labeled = rows(split.labeled);
  const stream = new CyclicBatcher(labeled.images, D, 64, 1, labeled.labels);
  stream.fill(0); // the labeled rows of step 0: stream.batch, stream.batchLabels
  return { ...rows(split.unlabeled), labeled }; // Trainer.fit reads `labeled` beside each batch
}
