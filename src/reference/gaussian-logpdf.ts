// Float64 references of the per-row Gaussian log-densities (src/kernels/gaussian-logpdf.ts):
// z (rows, size) scored under N(mu[r / samples], diag(exp(logvar[r / samples]))), or under the
// standard normal; with their vector-Jacobian products (backward: the upstream gradient first,
// then the forward's arguments). The exp of logvar is taken at c = clamp(logvar, -30, 20) and its
// gradient is straight-through (d exp(-c) / d logvar taken as -exp(-c) everywhere), as in the
// kernels; inside the range that is the exact gradient.
import { LOGVAR_CLAMP } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

const LOG_2PI = Math.log(2 * Math.PI);

const invVar = (lv: number) =>
  Math.exp(-Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max));

function checkArgs(
  fn: string,
  z: ArrayLike<number>,
  mu: ArrayLike<number> | undefined,
  logvar: ArrayLike<number> | undefined,
  rows: number,
  size: number,
  samples: number,
): void {
  expectSizes(fn, { rows, size, samples });
  if (rows % samples !== 0) throw new Error(`${fn}: rows ${rows} is not a multiple of ${samples}`);
  expectLength(fn, 'z', z, rows * size, 'rows*size');
  const params = (rows / samples) * size;
  if (mu) expectLength(fn, 'mu', mu, params, '(rows/samples)*size');
  if (logvar) expectLength(fn, 'logvar', logvar, params, '(rows/samples)*size');
}

/** logp (rows) = -1/2 Σ_j ((z - mu)^2 exp(-logvar) + logvar + log 2π), mean row r / samples. */
export function gaussianLogPdfForward64(
  z: ArrayLike<number>,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  rows: number,
  size: number,
  samples = 1,
): Float64Array {
  checkArgs('gaussianLogPdfForward64', z, mu, logvar, rows, size, samples);
  const logp = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const m = Math.floor(r / samples);
    let s = 0;
    for (let j = 0; j < size; j++) {
      const lv = logvar[m * size + j]!;
      const d = z[r * size + j]! - mu[m * size + j]!;
      s += d * d * invVar(lv) + lv + LOG_2PI;
    }
    logp[r] = -0.5 * s;
  }
  return logp;
}

/** dz (rows, size), dmu and dlogvar (rows / samples, size, summed over the samples). */
export function gaussianLogPdfBackward64(
  dlogp: ArrayLike<number>,
  z: ArrayLike<number>,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  rows: number,
  size: number,
  samples = 1,
): { dz: Float64Array; dmu: Float64Array; dlogvar: Float64Array } {
  checkArgs('gaussianLogPdfBackward64', z, mu, logvar, rows, size, samples);
  expectLength('gaussianLogPdfBackward64', 'dlogp', dlogp, rows, 'rows');
  const dz = new Float64Array(rows * size);
  const dmu = new Float64Array((rows / samples) * size);
  const dlogvar = new Float64Array((rows / samples) * size);
  for (let r = 0; r < rows; r++) {
    const m = Math.floor(r / samples);
    for (let j = 0; j < size; j++) {
      const p = m * size + j;
      const w = invVar(logvar[p]!);
      const d = z[r * size + j]! - mu[p]!;
      dz[r * size + j] = -dlogp[r]! * d * w;
      dmu[p] = dmu[p]! + dlogp[r]! * d * w;
      dlogvar[p] = dlogvar[p]! - 0.5 * dlogp[r]! * (1 - d * d * w);
    }
  }
  return { dz, dmu, dlogvar };
}

/** logp (rows) = -1/2 Σ_j (z^2 + log 2π). */
export function standardNormalLogPdfForward64(
  z: ArrayLike<number>,
  rows: number,
  size: number,
): Float64Array {
  checkArgs('standardNormalLogPdfForward64', z, undefined, undefined, rows, size, 1);
  const logp = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < size; j++) s += z[r * size + j]! ** 2 + LOG_2PI;
    logp[r] = -0.5 * s;
  }
  return logp;
}

/** dz (rows, size) = -dlogp[r] z. */
export function standardNormalLogPdfBackward64(
  dlogp: ArrayLike<number>,
  z: ArrayLike<number>,
  rows: number,
  size: number,
): Float64Array {
  checkArgs('standardNormalLogPdfBackward64', z, undefined, undefined, rows, size, 1);
  expectLength('standardNormalLogPdfBackward64', 'dlogp', dlogp, rows, 'rows');
  return Float64Array.from(z, (v, i) => -dlogp[Math.floor(i / size)]! * v);
}
