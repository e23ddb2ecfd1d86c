// Argument checks shared by the prepare helpers of every kernel family: each error names the
// kernel and the argument.

/** Throws unless `value` is a positive integer (a tensor dimension). */
export function checkDim(kernel: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 0xffffffff) {
    throw new Error(`${kernel}: ${name} must be a positive integer, got ${value}`);
  }
}

/** Throws unless `value` fits a u32 uniform. */
export function checkU32(kernel: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`${kernel}: ${name} must be an integer in [0, 2^32), got ${value}`);
  }
}

/** Throws unless `value` is a finite number. */
export function checkFinite(kernel: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${kernel}: ${name} must be a finite number, got ${value}`);
  }
}

/** Throws when a product of dimensions no longer fits the u32 index math of the kernels. */
export function checkElements(kernel: string, what: string, count: number): void {
  if (count > 0xffffffff)
    throw new Error(`${kernel}: ${what} has ${count} elements, more than 2^32 - 1`);
}

/** Throws unless rows and cols are dimensions whose product fits the kernels' u32 indices. */
export function checkMatrix(kernel: string, what: string, rows: number, cols: number): void {
  checkDim(kernel, 'rows', rows);
  checkDim(kernel, 'cols', cols);
  checkElements(kernel, what, rows * cols);
}
