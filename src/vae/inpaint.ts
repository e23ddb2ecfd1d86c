// Iterative completion of missing pixels (Rezende, Mohamed & Wierstra 2014): the CPU side of
// VaeInference.inpaint — argument checks, the first fill, and the write-back that keeps every
// observed pixel bit-exact (values are copied from the input, never recomputed).

/** Options of {@link VaeInference.inpaint}. */
export interface InpaintOptions {
  /**
   * Encode–decode passes, an integer in [0, 1000] (default 10); 0 returns the input with the
   * missing pixels set to the fill value.
   */
  iterations?: number;
  /** The value missing pixels start from (default: the model's masking.fill, else 0). */
  fill?: number;
  /** Conditional models: the label of each row (or one label for all rows). */
  labels?: ArrayLike<number> | number;
  /**
   * Called after each pass with its 1-based number and the completed images so far (rows, D);
   * the array is the caller's to keep. For animations.
   */
  onIteration?: (iteration: number, images: Float32Array) => void;
}

/** The most passes one call may ask for. */
export const MAX_INPAINT_ITERATIONS = 1000;

/** Throws unless `iterations` is an integer in [0, MAX_INPAINT_ITERATIONS]. */
export function checkIterations(fn: string, iterations: unknown): number {
  if (
    typeof iterations !== 'number' ||
    !Number.isInteger(iterations) ||
    iterations < 0 ||
    iterations > MAX_INPAINT_ITERATIONS
  ) {
    throw new Error(
      `${fn}: iterations must be an integer in [0, ${MAX_INPAINT_ITERATIONS}], got ${String(iterations)}`,
    );
  }
  return iterations;
}

/** Throws unless `mask` is a Float32Array of exactly rows·D values, each 0 or 1. */
export function checkMask(fn: string, mask: unknown, rows: number, D: number): Float32Array {
  if (!(mask instanceof Float32Array)) {
    throw new Error(`${fn}: mask must be a Float32Array of ${rows}·${D} values (1 = missing)`);
  }
  if (mask.length !== rows * D) {
    throw new Error(
      `${fn}: mask holds ${mask.length} values, ${rows} rows of ${D} need ${rows * D} (1 = missing, 0 = observed)`,
    );
  }
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (v !== 0 && v !== 1) {
      throw new Error(
        `${fn}: mask[${i}] (row ${Math.floor(i / D)}, position ${i % D}) is ${v}; masks hold 0 (observed) or 1 (missing)`,
      );
    }
  }
  return mask;
}

/** x with the missing pixels set to `fill` (rows·D values). */
export function fillMissing(x: Float32Array, mask: Float32Array, fill: number): Float32Array {
  const out = x.slice(0, mask.length);
  for (let i = 0; i < mask.length; i++) if (mask[i] === 1) out[i] = fill;
  return out;
}

/** current[i] = decoded[i] where missing; observed pixels keep x's bits. */
export function writeMissing(
  current: Float32Array,
  decoded: Float32Array,
  mask: Float32Array,
  offset: number,
): void {
  for (let i = 0; i < decoded.length; i++) {
    if (mask[offset + i] === 1) current[offset + i] = decoded[i]!;
  }
}

/** Mean binary cross-entropy (nats per pixel) of `images` at the missing pixels of x. */
export function missingPixelBce(images: Float32Array, x: Float32Array, mask: Float32Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] !== 1) continue;
    // Clamped: a fill value of exactly 0 or 1 would give an infinite error.
    const q = Math.min(Math.max(images[i]!, 1e-6), 1 - 1e-6);
    sum -= x[i]! * Math.log(q) + (1 - x[i]!) * Math.log(1 - q);
    n++;
  }
  return n > 0 ? sum / n : 0;
}
