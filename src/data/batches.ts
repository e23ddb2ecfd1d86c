// Shuffled mini-batches: a seeded Fisher–Yates permutation per epoch, rows copied into buffers
// allocated once, so that a training step allocates nothing. Epoch e's order is a pure function of
// (seed, e), so a run can resume at any batch of any epoch with the order it would have had.

import { createRng, deriveSeed, shuffleInPlace } from './rng.js';

/** How a Batcher cuts and shuffles the rows. */
export interface BatcherOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Seed of the shuffling (default 0); epoch e is shuffled by a stream derived from (seed, e). */
  seed?: number;
  /** Shuffle each epoch (default true); false keeps the data order. */
  shuffle?: boolean;
  /**
   * Drop the last partial batch of each epoch (default true): every batch then has exactly
   * batchSize rows. With false the last batch may be shorter; the rest of the buffer is zeroed.
   */
  dropLast?: boolean;
  /** Per-row labels (class indices) to gather alongside the rows (optional). */
  labels?: ArrayLike<number>;
}

/**
 * Iterates over `data` (count rows of rowSize floats, row-major) in mini-batches:
 *
 *   const b = new Batcher(images, 784, { batchSize: 128, seed: 1 });
 *   for (let epoch = 0; epoch < 10; epoch++) {
 *     b.startEpoch();
 *     let rows: number;
 *     while ((rows = b.next()) > 0) upload(b.batch, rows);
 *   }
 *
 * `batch` (and `batchLabels`, `batchIndices`) are allocated once in the constructor and
 * overwritten by every next().
 */
export class Batcher {
  readonly count: number;
  readonly rowSize: number;
  readonly batchSize: number;
  readonly dropLast: boolean;
  readonly shuffle: boolean;
  /** The current batch, (batchSize, rowSize) row-major. */
  readonly batch: Float32Array;
  /**
   * Labels of the current batch's rows (present when `labels` was given), as f32: what the GPU
   * reads (class indices are exact below 2^24).
   */
  readonly batchLabels: Float32Array | undefined;
  /** Source row index of each row of the current batch. */
  readonly batchIndices: Uint32Array;
  /** The current epoch's order of rows. */
  readonly order: Uint32Array;
  private readonly data: Float32Array;
  private readonly labels: ArrayLike<number> | undefined;
  private readonly seed: number;
  private cursor = 0;
  private epochIndex = -1;

  constructor(data: Float32Array, rowSize: number, options: BatcherOptions) {
    if (!Number.isInteger(rowSize) || rowSize <= 0) {
      throw new RangeError(`Batcher: rowSize must be a positive integer, got ${rowSize}`);
    }
    if (data.length % rowSize !== 0) {
      throw new RangeError(
        `Batcher: data length ${data.length} is not a multiple of rowSize ${rowSize}`,
      );
    }
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new RangeError(`Batcher: batchSize must be a positive integer, got ${batchSize}`);
    }
    this.count = data.length / rowSize;
    if (options.labels && options.labels.length !== this.count) {
      throw new RangeError(
        `Batcher: ${options.labels.length} labels for ${this.count} rows of data`,
      );
    }
    this.rowSize = rowSize;
    this.batchSize = batchSize;
    this.dropLast = options.dropLast ?? true;
    this.shuffle = options.shuffle ?? true;
    if (this.dropLast && this.count < batchSize) {
      throw new RangeError(
        `Batcher: ${this.count} rows make no full batch of ${batchSize} (dropLast is on)`,
      );
    }
    this.data = data;
    this.labels = options.labels;
    this.seed = options.seed ?? 0;
    createRng(this.seed); // checks the seed now rather than at the first epoch
    this.batch = new Float32Array(batchSize * rowSize);
    this.batchLabels = options.labels ? new Float32Array(batchSize) : undefined;
    this.batchIndices = new Uint32Array(batchSize);
    this.order = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) this.order[i] = i;
  }

  /** Batches per epoch: floor(count / batchSize) with dropLast, else ceil. */
  get batchesPerEpoch(): number {
    return this.dropLast
      ? Math.floor(this.count / this.batchSize)
      : Math.ceil(this.count / this.batchSize);
  }

  /** The number of the current epoch (0 after the first startEpoch(), −1 before). */
  get epoch(): number {
    return this.epochIndex;
  }

  /** Batches already taken from the current epoch. */
  get batchInEpoch(): number {
    return Math.ceil(this.cursor / this.batchSize);
  }

  /**
   * Starts epoch `epoch` (default: the one after the current; 0-based): its order (the identity
   * when shuffle is off, else a permutation derived from the seed and the epoch) and rewinds.
   */
  startEpoch(epoch = this.epochIndex + 1): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new RangeError(`Batcher.startEpoch: epoch must be an integer >= 0, got ${epoch}`);
    }
    const { order } = this;
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) shuffleInPlace(order, createRng(deriveSeed(this.seed, epoch)));
    this.cursor = 0;
    this.epochIndex = epoch;
  }

  /**
   * Skips the next `batches` batches of the current epoch without copying them (resuming a run
   * mid-epoch: startEpoch(e), then skip(batches done)).
   */
  skip(batches: number): void {
    if (this.epochIndex < 0) this.startEpoch();
    const left = this.batchesPerEpoch - this.batchInEpoch;
    if (!Number.isSafeInteger(batches) || batches < 0 || batches > left) {
      throw new RangeError(
        `Batcher.skip: batches must be an integer in [0, ${left}] (batches left in epoch ${this.epochIndex}), got ${batches}`,
      );
    }
    this.cursor = Math.min(this.count, this.cursor + batches * this.batchSize);
  }

  /**
   * Copies the next batch into `batch` (or into `out`, e.g. a mapped staging buffer, which must
   * hold batchSize · rowSize floats) and returns its number of rows; returns 0 when the epoch is
   * over (call startEpoch() for the next one). Calls startEpoch() itself if it was never called.
   */
  next(
    out: Float32Array = this.batch,
    labelsOut: Float32Array | undefined = this.batchLabels,
  ): number {
    if (out.length < this.batchSize * this.rowSize) {
      throw new RangeError(
        `Batcher.next: out holds ${out.length} floats, a batch needs ${this.batchSize * this.rowSize}`,
      );
    }
    if (labelsOut && labelsOut.length < this.batchSize) {
      throw new RangeError(
        `Batcher.next: labelsOut holds ${labelsOut.length} labels, a batch needs ${this.batchSize}`,
      );
    }
    if (this.epochIndex < 0) this.startEpoch();
    const left = this.count - this.cursor;
    const rows = Math.min(this.batchSize, left);
    if (rows <= 0 || (this.dropLast && rows < this.batchSize)) return 0;
    const batch = out;
    const { data, order, rowSize } = this;
    for (let r = 0; r < rows; r++) {
      const src = order[this.cursor + r]!;
      this.batchIndices[r] = src;
      const s = src * rowSize;
      const d = r * rowSize;
      for (let k = 0; k < rowSize; k++) batch[d + k] = data[s + k]!;
      if (this.labels && labelsOut) labelsOut[r] = this.labels[src]!;
    }
    if (rows < this.batchSize) {
      batch.fill(0, rows * rowSize, this.batchSize * rowSize);
      this.batchIndices.fill(0, rows);
      labelsOut?.fill(0, rows, this.batchSize);
    }
    this.cursor += rows;
    return rows;
  }
}

/**
 * Rows drawn in turn from shuffled passes over a dataset, `batchSize` per step and across pass
 * boundaries: the labeled examples of semi-supervised training, fewer than a batch or far fewer
 * than the unlabeled ones, cycled at their own pace. Pass e's order is a permutation derived from
 * (seed, e), so the rows of step s are a pure function of (seed, s) and a resumed run draws what
 * it would have. `batch` and `batchLabels` are allocated once.
 */
export class CyclicBatcher {
  readonly count: number;
  /** The current step's rows, (batchSize, rowSize) row-major. */
  readonly batch: Float32Array;
  /** Their labels as f32 (present when `labels` was given). */
  readonly batchLabels: Float32Array | undefined;
  private readonly orders = new Map<number, Uint32Array>();

  constructor(
    private readonly data: Float32Array,
    readonly rowSize: number,
    readonly batchSize: number,
    private readonly seed: number,
    private readonly labels?: ArrayLike<number>,
  ) {
    if (!Number.isInteger(rowSize) || rowSize <= 0 || data.length % rowSize !== 0) {
      throw new RangeError(
        `CyclicBatcher: data length ${data.length} is not a whole number of rows of ${rowSize}`,
      );
    }
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new RangeError(`CyclicBatcher: batchSize must be a positive integer, got ${batchSize}`);
    }
    this.count = data.length / rowSize;
    if (this.count < 1) throw new RangeError('CyclicBatcher: the data has no rows');
    createRng(seed); // checks the seed now
    this.batch = new Float32Array(batchSize * rowSize);
    this.batchLabels = labels ? new Float32Array(batchSize) : undefined;
  }

  /** Pass e's order (the last two are kept: a step spans at most a few passes). */
  private order(pass: number): Uint32Array {
    let order = this.orders.get(pass);
    if (!order) {
      order = Uint32Array.from({ length: this.count }, (_, i) => i);
      shuffleInPlace(order, createRng(deriveSeed(this.seed, pass)));
      if (this.orders.size >= 2) this.orders.delete(this.orders.keys().next().value!);
      this.orders.set(pass, order);
    }
    return order;
  }

  /** Copies the rows of step `step` (0-based) into `batch` (and `batchLabels`). */
  fill(step: number): void {
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new RangeError(`CyclicBatcher.fill: step must be an integer >= 0, got ${step}`);
    }
    const { rowSize, data } = this;
    for (let r = 0; r < this.batchSize; r++) {
      const p = step * this.batchSize + r;
      const src = this.order(Math.floor(p / this.count))[p % this.count]!;
      this.batch.set(data.subarray(src * rowSize, (src + 1) * rowSize), r * rowSize);
      if (this.labels && this.batchLabels) this.batchLabels[r] = this.labels[src]!;
    }
  }
}
