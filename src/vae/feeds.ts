// Datasets and how their rows reach a graph: every graph input that comes from the data (images,
// labels…) is a Feed (build.ts), written from a dataset slice before a submit. Labels are integer
// class indices; on the GPU they are f32 (exact for integers below 2^24).
import type { CompiledGraph } from '../graph/executor.js';
import type { ResolvedVaeConfig } from './config.js';
import type { Feed } from './build.js';
import { kindsOf } from './kinds.js';

/**
 * Examples to train or evaluate on: `count` rows of D = inputSize values, and their class labels
 * when the model is conditioned on them. Checked (once per array and model) before use: the count,
 * that `images` holds count·D values, that they are finite, and the labels a condition needs; a
 * problem throws an error naming the dataset ('train', 'test', …), the example and the value.
 *
 * @example
 * ```ts
 * const train: Dataset = { images: mnist.images, count: 60_000, labels: mnist.labels };
 * const small: Dataset = { images: mnist.images.subarray(0, 1000 * 784), count: 1000 };
 * ```
 */
export interface Dataset {
  /** (count, D) row-major; extra values after count·D are ignored. */
  images: Float32Array;
  /** Examples, an integer >= 1. */
  count: number;
  /** Class index per example (e.g. 0..9), as IDX files and the embedded digits give them. */
  labels?: ArrayLike<number>;
  /**
   * Semi-supervised training (objective 'm2'): the labeled examples, with labels; the dataset's
   * own examples are then the unlabeled ones (their labels, if any, are not read). Absent: every
   * example is labeled (its labels are read) and serves as both.
   */
  labeled?: Dataset;
}

/** Rows of a dataset as a graph reads them. */
export interface BatchData {
  /** (rows, D) row-major. */
  images: Float32Array;
  /** (rows): class indices. */
  labels?: ArrayLike<number> | undefined;
  /** (rows, D): 1 where a pixel is missing (inference with masks); absent: all observed. */
  masks?: Float32Array | undefined;
  /**
   * The step's labeled rows (images and labels) for inputs of the labeled stream (M2), from row 0;
   * absent: those inputs read the batch's own rows.
   */
  labeled?: BatchData | undefined;
}

/** Writes each feed of a compiled graph from rows [start, start + rows) of `data`. */
export function writeFeeds(
  cg: CompiledGraph,
  feeds: readonly Feed[],
  data: BatchData,
  start: number,
  rows: number,
): void {
  for (const feed of feeds) {
    if (feed.stream === 'labeled' && data.labeled) {
      const { tensor, field, width } = feed;
      writeFeeds(cg, [{ tensor, field, width }], data.labeled, 0, tensor.rows);
      continue;
    }
    const w = feed.width;
    if (feed.field === 'images') {
      cg.write(feed.tensor, data.images.subarray(start * w, (start + rows) * w));
      continue;
    }
    if (feed.field === 'masks') {
      const part = data.masks?.subarray(start * w, (start + rows) * w);
      cg.write(feed.tensor, part ?? new Float32Array(rows * w));
      continue;
    }
    const values = data.labels;
    if (!values) throw new Error(`graph input '${feed.tensor.name}' needs the dataset's labels`);
    cg.write(
      feed.tensor,
      Float32Array.from({ length: rows * w }, (_, i) => values[start * w + i]!),
    );
  }
}

const checked = new WeakMap<object, string>();

/**
 * Checks a dataset against a model once (cached per images array and model): counts, finite
 * values, and the labels a condition needs (present, one per example, integers in range).
 */
export function checkDataset(what: string, data: Dataset, config: ResolvedVaeConfig): void {
  const D = config.inputSize;
  if (!Number.isInteger(data.count) || data.count < 1) {
    throw new Error(`${what}: dataset count must be an integer >= 1, got ${data.count}`);
  }
  if (data.images.length < data.count * D) {
    throw new Error(
      `${what}: dataset holds ${data.images.length} values, ${data.count} examples of ${D} need ${data.count * D} ` +
        '(does the model inputSize match the images?)',
    );
  }
  if (data.labeled) {
    if (!kindsOf(config).objective.rows) {
      throw new Error(
        `${what}: labeled examples are read by objective 'm2' only (this model's objective is '${config.objective.kind}')`,
      );
    }
    const { images, count, labels } = data.labeled;
    checkDataset(
      `${what} (labeled)`,
      labels ? { images, count, labels } : { images, count },
      config,
    );
  }
  // With separate labeled examples, the dataset's own are unlabeled: their labels are not read.
  const labelsRead = needsLabels(config) && !data.labeled;
  const key = `${D}|${JSON.stringify(config.condition)}|${data.count}|${labelsRead}`;
  if (checked.get(data.images) === key && (!data.labels || checked.get(data.labels) === key)) {
    return;
  }
  const n = data.count * D;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(data.images[i]!)) {
      throw new Error(
        `${what}: value ${data.images[i]} at example ${Math.floor(i / D)}, position ${i % D} (data must be finite)`,
      );
    }
  }
  if (labelsRead) {
    checkLabels(what, data.labels, data.count, config);
    checked.set(data.labels as object, key);
  }
  checked.set(data.images, key);
}

/** Whether the model's condition reads labels. */
export function needsLabels(config: ResolvedVaeConfig): boolean {
  return kindsOf(config)
    .condition.inputs(config.condition, config)
    .some((i) => i.field === 'labels');
}

/** Labels present, one per example, integer classes of the model's condition. */
export function checkLabels(
  what: string,
  labels: ArrayLike<number> | undefined,
  count: number,
  config: ResolvedVaeConfig,
): void {
  const classes = config.condition.kind === 'label' ? config.condition.classes : Infinity;
  if (!labels) {
    throw new Error(
      `${what}: the model's condition '${config.condition.kind}' needs labels; the dataset has none`,
    );
  }
  if (labels.length < count)
    throw new Error(`${what}: ${labels.length} labels for ${count} examples`);
  for (let i = 0; i < count; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= classes || y >= 2 ** 24) {
      throw new Error(`${what}: label ${y} at example ${i} is not a class in [0, ${classes})`);
    }
  }
}
