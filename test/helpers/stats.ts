// Sample statistics for the statistical tests of the random streams (PRNG, reparameterization).
import { normalCdf64 } from '../../src/reference/math.js';

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
