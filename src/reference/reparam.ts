// Float64 references of the reparameterization kernels (src/kernels/reparam.ts) and their noise:
//   z[b, s, j] = mu[b, j] + exp(0.5 clamp(logvar[b, j], −30, 20)) eps[b, s, j]   (K samples s)
// with eps from the project's Philox4x32-10 stream (shaders/prng.wgsl): counter (index, sample,
// step, stream), key (seed, PRNG_KEY_HI). The Philox words here come from an independent BigInt
// implementation written from the Random123 paper, so it checks both the WGSL and the CPU
// generator of src/kernels/reparam.ts; the float64 Box-Muller transform is that file's.
// The logvar gradient is the kernels' straight-through one (not zeroed outside the clamp range).
import { LOGVAR_CLAMP, PRNG_KEY_HI, prngNormal4Words } from '../kernels/reparam.js';
import { expectLength, expectSizes } from './shape.js';

/** Philox4x32-10 (Salmon et al. 2011) in BigInt arithmetic: counter (4 u32), key (2 u32). */
export function philox4x32BigInt(counter: readonly number[], key: readonly number[]): number[] {
  const mask = 0xffffffffn;
  let c = counter.map((v) => BigInt(v >>> 0));
  let k = key.map((v) => BigInt(v >>> 0));
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c[0]!;
    const p1 = 0xcd9e8d57n * c[2]!;
    c = [(p1 >> 32n) ^ c[1]! ^ k[0]!, p1 & mask, (p0 >> 32n) ^ c[3]! ^ k[1]!, p0 & mask];
    k = [(k[0]! + 0x9e3779b9n) & mask, (k[1]! + 0xbb67ae85n) & mask];
  }
  return c.map((v) => Number(v));
}

function checkU32(fn: string, values: Readonly<Record<string, number>>): void {
  for (const [name, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new Error(`${fn}: ${name} must be an integer in [0, 2^32), got ${v}`);
    }
  }
}

/**
 * The noise eps (B, K, Z) that reparam_forward draws for (seed, step, stream): element e = b Z + j
 * of sample s is normal e % 4 of the Philox call with counter (floor(e / 4), s, step, stream).
 */
export function reparamNoise64(
  seed: number,
  step: number,
  B: number,
  Z: number,
  K = 1,
  stream = 0,
): Float64Array {
  expectSizes('reparamNoise64', { B, Z, K });
  checkU32('reparamNoise64', { seed, step, stream });
  const eps = new Float64Array(B * K * Z);
  for (let s = 0; s < K; s++) {
    for (let q = 0; 4 * q < B * Z; q++) {
      const normals = prngNormal4Words(philox4x32BigInt([q, s, step, stream], [seed, PRNG_KEY_HI]));
      for (let c = 0; c < 4 && 4 * q + c < B * Z; c++) {
        const e = 4 * q + c;
        const b = Math.floor(e / Z);
        eps[(b * K + s) * Z + (e - b * Z)] = normals[c]!;
      }
    }
  }
  return eps;
}

const stdOf = (lv: number) =>
  Math.exp(0.5 * Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max));

function checkReparam(
  fn: string,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  eps: ArrayLike<number>,
  B: number,
  Z: number,
  K: number,
): void {
  expectSizes(fn, { B, Z, K });
  expectLength(fn, 'mu', mu, B * Z, 'B*Z');
  expectLength(fn, 'logvar', logvar, B * Z, 'B*Z');
  expectLength(fn, 'eps', eps, B * K * Z, 'B*K*Z');
}

/** z (B, K, Z) = mu + exp(0.5 clamp(logvar)) eps; mu, logvar (B, Z), eps (B, K, Z). */
export function reparamForward64(
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  eps: ArrayLike<number>,
  B: number,
  Z: number,
  K = 1,
): Float64Array {
  checkReparam('reparamForward64', mu, logvar, eps, B, Z, K);
  return Float64Array.from(eps, (n, o) => {
    const e = Math.floor(o / (K * Z)) * Z + (o % Z);
    return mu[e]! + stdOf(logvar[e]!) * n;
  });
}

/**
 * Gradients of Σ dz·z: dmu = Σ_s dz, dlogvar = Σ_s 0.5 dz eps exp(0.5 clamp(logvar)) (straight-
 * through), deps = dz exp(0.5 clamp(logvar)) (for noise given as an input).
 */
export function reparamBackward64(
  dz: ArrayLike<number>,
  mu: ArrayLike<number>,
  logvar: ArrayLike<number>,
  eps: ArrayLike<number>,
  B: number,
  Z: number,
  K = 1,
): { dmu: Float64Array; dlogvar: Float64Array; deps: Float64Array } {
  checkReparam('reparamBackward64', mu, logvar, eps, B, Z, K);
  expectLength('reparamBackward64', 'dz', dz, B * K * Z, 'B*K*Z');
  const dmu = new Float64Array(B * Z);
  const dlogvar = new Float64Array(B * Z);
  const deps = new Float64Array(B * K * Z);
  for (let o = 0; o < B * K * Z; o++) {
    const e = Math.floor(o / (K * Z)) * Z + (o % Z);
    const std = stdOf(logvar[e]!);
    dmu[e] = dmu[e]! + dz[o]!;
    dlogvar[e] = dlogvar[e]! + 0.5 * dz[o]! * eps[o]! * std;
    deps[o] = dz[o]! * std;
  }
  return { dmu, dlogvar, deps };
}
