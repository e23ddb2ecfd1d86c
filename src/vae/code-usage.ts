// How a vq model uses its codebook: per-code counts of code indices, the perplexity of their
// frequencies (exp of the entropy: K when every code is equally used, 1 when one code takes all)
// and the codes in use. Over a whole set, so unlike the trainer's per-batch metrics it does not
// depend on the batch size. Used by VaeInference.codeUsage, the CLI's eval and the demo.

/** The use of a codebook of `codes` vectors by some code indices. */
export interface CodeUsage {
  /** Per code (K): how many of the indices are that code; they sum to `vectors`. */
  counts: number[];
  /** Indices counted. */
  vectors: number;
  /** exp(entropy) of the codes' frequencies (1 … K). */
  perplexity: number;
  /** Codes used at least once, and that count over K. */
  inUse: number;
  used: number;
}

/** Counts code indices (integer-valued, in [0, codes)) of a codebook of `codes` vectors. */
export function codeUsage(indices: ArrayLike<number>, codes: number): CodeUsage {
  if (!Number.isInteger(codes) || codes < 1) {
    throw new Error(`codeUsage: codes must be an integer >= 1, got ${codes}`);
  }
  const counts = new Array<number>(codes).fill(0);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i] ?? NaN;
    if (!Number.isInteger(k) || k < 0 || k >= codes) {
      throw new Error(`codeUsage: index ${i} is ${k}, not a code in [0, ${codes})`);
    }
    counts[k]!++;
  }
  let entropy = 0;
  let inUse = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / indices.length;
    entropy -= p * Math.log(p);
    inUse++;
  }
  return {
    counts,
    vectors: indices.length,
    perplexity: Math.exp(entropy),
    inUse,
    used: inUse / codes,
  };
}
