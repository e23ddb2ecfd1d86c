// Sample statistics for the statistical tests of the random streams (PRNG, reparameterization).
import { inverseNormalCdf64, normalCdf64 } from '../../src/reference/math.js';

/** Pearson correlation of two equally long samples. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Sample mean and (biased) variance. */
export function moments(x: ArrayLike<number>): { mean: number; variance: number } {
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    s1 += x[i]!;
    s2 += x[i]! * x[i]!;
  }
  const mean = s1 / x.length;
  return { mean, variance: s2 / x.length - mean * mean };
}

/** Kolmogorov-Smirnov statistic D_n of a sample against the standard normal CDF. */
export function ksNormalStatistic(values: ArrayLike<number>): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = normalCdf64(sorted[i]!);
    d = Math.max(d, (i + 1) / n - f, f - i / n);
  }
  return d;
}

/**
 * Pearson's chi-square statistic of observed counts against probabilities (the expected counts
 * n·p), with cells of expected count below `minExpected` pooled into one (so the statistic stays
 * chi-square distributed); df = cells − 1. Observations in cells of probability 0 make it Infinity.
 */
export function chiSquare(
  counts: ArrayLike<number>,
  probs: ArrayLike<number>,
  minExpected = 5,
): { statistic: number; df: number } {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i]!;
  let statistic = 0;
  let cells = 0;
  let pooledObserved = 0;
  let pooledExpected = 0;
  for (let i = 0; i < counts.length; i++) {
    const e = n * probs[i]!;
    if (e === 0 && counts[i]! > 0) return { statistic: Infinity, df: counts.length - 1 };
    if (e < minExpected) {
      pooledObserved += counts[i]!;
      pooledExpected += e;
      continue;
    }
    statistic += (counts[i]! - e) ** 2 / e;
    cells++;
  }
  if (pooledExpected > 0) {
    statistic += (pooledObserved - pooledExpected) ** 2 / pooledExpected;
    cells++;
  }
  return { statistic, df: Math.max(1, cells - 1) };
}

/** The chi-square quantile at 1 − alpha (Wilson-Hilferty; within ~1% for df >= 2). */
export function chiSquareCritical(df: number, alpha: number): number {
  const z = inverseNormalCdf64(1 - alpha);
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}
