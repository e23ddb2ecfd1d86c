// Reparameterized sampling (shaders/reparam.wgsl) and the project's counter-based PRNG
// (shaders/prng.wgsl): kernel declarations, prepare helpers with shape checks, and a CPU copy of
// the generator (Philox4x32-10 + Box-Muller) for references and reproducibility.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkFinite, checkU32 } from './checks.js';

const WG = 256;

/** Range logvar is clamped to inside exp() by the reparameterization and KL kernels. */
export const LOGVAR_CLAMP = { min: -30, max: 20 } as const;

/**
 * Default noise stream (counter word 3, see shaders/prng.wgsl). Every stochastic op of a graph
 * passes its own `stream` so that ops sharing a seed and step draw independent noise.
 */
export const PRNG_STREAM_REPARAM = 0;

/** Second key word of every draw (the first is the seed). */
export const PRNG_KEY_HI = 0x56414521;

/**
 * z = mu + exp(0.5 * clamp(logvar)) * eps, eps ~ N(0, 1) from Philox; writes eps too.
 * z, eps: (B, K, Z); mu, logvar: (B, Z). Uniforms: B, Z, K, seed, step, stream.
 */
export const reparamForward = defineKernel<'B' | 'Z' | 'K'>({
  name: 'reparam_forward',
  file: 'reparam.wgsl',
  entryPoint: 'reparam_forward',
  workgroupSize: [WG],
  dispatch: ({ B, Z, K }) => dispatch1d(ceilDiv(ceilDiv(B * Z, 4) * K, WG)),
  elements: ({ B, Z, K }) => ({ z: B * K * Z, eps: B * K * Z, mu: B * Z, logvar: B * Z }),
});

/**
 * dmu = sum_k dz, dlogvar = sum_k 0.5 * dz * eps * exp(0.5 * clamp(logvar)) (ACCUMULATE override).
 * dmu, dlogvar, logvar_in: (B, Z); dz, eps_in: (B, K, Z).
 */
export const reparamBackward = defineKernel<'B' | 'Z' | 'K'>({
  name: 'reparam_backward',
  file: 'reparam.wgsl',
  entryPoint: 'reparam_backward',
  workgroupSize: [WG],
  dispatch: ({ B, Z }) => dispatch1d(ceilDiv(B * Z, WG)),
  elements: ({ B, Z, K }) => ({
    dmu: B * Z,
    dlogvar: B * Z,
    dz: B * K * Z,
    eps_in: B * K * Z,
    logvar_in: B * Z,
  }),
});

/** normals_out[e] = mean + stddev * (the Philox normal stream), e < n. */
export const randomNormal = defineKernel<'n'>({
  name: 'random_normal',
  file: 'reparam.wgsl',
  entryPoint: 'random_normal',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(ceilDiv(n, 4), WG)),
  elements: ({ n }) => ({ normals_out: n }),
});

/** Raw Philox4x32-10 words: words (n, 4) from counters (n, 4) and keys (n, 2). For tests. */
export const prngPhiloxRaw = defineKernel<'n'>({
  name: 'prng_philox_raw',
  file: 'reparam.wgsl',
  entryPoint: 'prng_philox_raw',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ words: 4 * n, counters: 4 * n, keys: 2 * n }),
});

/** Words (n, 4) -> uniforms in (0, 1] and Box-Muller normals, (n, 4) each. For tests. */
export const prngTransform = defineKernel<'n'>({
  name: 'prng_transform',
  file: 'reparam.wgsl',
  entryPoint: 'prng_transform',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ uniforms_out: 4 * n, gauss_out: 4 * n, words_in: 4 * n }),
});

// ---------------------------------------------------------------------------------------------
// Prepare helpers.

export interface ReparamForwardOptions {
  /** Output (B, K, Z). */
  z: BindingResource;
  /** Output (B, K, Z): the noise, kept for the backward. */
  eps: BindingResource;
  /** (B, Z). */
  mu: BindingResource;
  /** (B, Z). */
  logvar: BindingResource;
  batch: number;
  latent: number;
  /** Samples per example (IWAE's k); default 1. */
  samples?: number;
  /** PRNG seed (u32). */
  seed: number;
  /** Training step (u32), part of the counter; change it each step with setUniforms({ step }). */
  step?: number;
  /** Noise stream of this op (u32, default PRNG_STREAM_REPARAM = 0): one per stochastic op. */
  stream?: number;
  /** Read eps (filled by the caller) instead of drawing it; seed, step and stream are unused. */
  givenNoise?: boolean;
  label?: string;
}

export async function prepareReparamForward(
  rt: GpuRuntime,
  o: ReparamForwardOptions,
): Promise<PreparedDispatch> {
  const K = o.samples ?? 1;
  const step = o.step ?? 0;
  const stream = o.stream ?? PRNG_STREAM_REPARAM;
  checkDim('reparam_forward', 'batch', o.batch);
  checkDim('reparam_forward', 'latent', o.latent);
  checkDim('reparam_forward', 'samples', K);
  checkU32('reparam_forward', 'seed', o.seed);
  checkU32('reparam_forward', 'step', step);
  checkU32('reparam_forward', 'stream', stream);
  checkElements('reparam_forward', 'z', o.batch * K * o.latent);
  return rt.prepare(reparamForward, {
    bindings: { z: o.z, eps: o.eps, mu: o.mu, logvar: o.logvar },
    shape: { B: o.batch, Z: o.latent, K },
    uniforms: { seed: o.seed, step, stream },
    constants: { GIVEN_NOISE: o.givenNoise ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface ReparamBackwardOptions {
  /** Output (B, Z). */
  dmu: BindingResource;
  /** Output (B, Z). */
  dlogvar: BindingResource;
  /** (B, K, Z): gradient w.r.t. z. */
  dz: BindingResource;
  /** (B, K, Z): the eps written by the forward. */
  eps: BindingResource;
  /** (B, Z). */
  logvar: BindingResource;
  batch: number;
  latent: number;
  samples?: number;
  /** Add into dmu/dlogvar instead of assigning (the KL backward is the other contributor). */
  accumulate?: boolean;
  label?: string;
}

export async function prepareReparamBackward(
  rt: GpuRuntime,
  o: ReparamBackwardOptions,
): Promise<PreparedDispatch> {
  const K = o.samples ?? 1;
  checkDim('reparam_backward', 'batch', o.batch);
  checkDim('reparam_backward', 'latent', o.latent);
  checkDim('reparam_backward', 'samples', K);
  checkElements('reparam_backward', 'dz', o.batch * K * o.latent);
  return rt.prepare(reparamBackward, {
    bindings: { dmu: o.dmu, dlogvar: o.dlogvar, dz: o.dz, eps_in: o.eps, logvar_in: o.logvar },
    shape: { B: o.batch, Z: o.latent, K },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface RandomNormalOptions {
  /** Output (n). */
  out: BindingResource;
  n: number;
  seed: number;
  step?: number;
  sample?: number;
  /** Noise stream (default PRNG_STREAM_REPARAM = 0); reparam_forward's stream reproduces its eps. */
  stream?: number;
  mean?: number;
  stddev?: number;
  label?: string;
}

/** Fills `out` with normals from the project's Philox stream (e.g. z ~ N(0, I) for generation). */
export async function prepareRandomNormal(
  rt: GpuRuntime,
  o: RandomNormalOptions,
): Promise<PreparedDispatch> {
  const uniforms = {
    seed: o.seed,
    step: o.step ?? 0,
    sample: o.sample ?? 0,
    stream: o.stream ?? PRNG_STREAM_REPARAM,
    mean: o.mean ?? 0,
    stddev: o.stddev ?? 1,
  };
  checkDim('random_normal', 'n', o.n);
  for (const key of ['seed', 'step', 'sample', 'stream'] as const)
    checkU32('random_normal', key, uniforms[key]);
  checkFinite('random_normal', 'mean', uniforms.mean);
  checkFinite('random_normal', 'stddev', uniforms.stddev);
  return rt.prepare(randomNormal, {
    bindings: { normals_out: o.out },
    shape: { n: o.n },
    uniforms,
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// The generator on the CPU (bit-exact words; the float transforms in float64).

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 (16-bit halves, as in the WGSL). */
function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Philox4x32-10 of a counter (4 u32) and key (2 u32): 4 u32 words. */
export function philox4x32(
  counter: readonly number[],
  key: readonly number[],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((v) => v >>> 0) as [number, number];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** A word to a uniform in (0, 1], as prng_u01 in the WGSL. */
export function prngU01(word: number): number {
  return ((word >>> 8) + 1) / 16777216;
}

/** Four normals from four words (Box-Muller on pairs), in float64. */
export function prngNormal4Words(w: readonly number[]): [number, number, number, number] {
  const out: number[] = [];
  for (let p = 0; p < 2; p++) {
    const r = Math.sqrt(-2 * Math.log(prngU01(w[2 * p]!)));
    const theta = 2 * Math.PI * prngU01(w[2 * p + 1]!);
    out.push(r * Math.cos(theta), r * Math.sin(theta));
  }
  return out as [number, number, number, number];
}

/** The normal the kernels use for element `e` (float64 reference). */
export function prngNormal(
  seed: number,
  step: number,
  e: number,
  sample = 0,
  stream = PRNG_STREAM_REPARAM,
): number {
  const w = philox4x32([Math.floor(e / 4), sample, step, stream], [seed, PRNG_KEY_HI]);
  return prngNormal4Words(w)[e % 4]!;
}
