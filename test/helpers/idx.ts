// MNIST-format (IDX) bytes made by hand, for the data tests and the small datasets the CLI tests
// train on.

/** An IDX file: big-endian magic, dimensions, then the body. */
export function idxBytes(magic: number, dims: readonly number[], body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(body, 4 + 4 * dims.length);
  return out;
}
