// Argument checks of the float64 references: a wrong length is an error naming the op, the input
// and the shape it should have had, never a silent read past the end (NaN) or a short result.

/** Throws unless `values` holds exactly `n` numbers. */
export function expectLength(
  op: string,
  name: string,
  values: ArrayLike<number>,
  n: number,
  shape: string,
): void {
  if (values.length !== n) {
    throw new Error(`${op}: ${name} has ${values.length} values, expected ${shape} = ${n}`);
  }
}

/** Throws unless every size is a positive integer. */
export function expectSizes(op: string, sizes: Readonly<Record<string, number>>): void {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`${op}: ${name} must be a positive integer, got ${v}`);
    }
  }
}
