// Reparameterized sampling of a full-covariance Gaussian (shaders/full_reparam.wgsl): z = mu + L·eps
// with L = mask ⊙ L′ + diag(exp(½ clamp(logvar))), L′ the strictly lower entries packed row-major
// (P = Z(Z−1)/2 per example), K samples per example at rows b·K + k. The forward draws eps with
// the Philox stream of reparam_forward (unless given) and then takes the triangular matvec; the
// backward writes any of dmu, dlogvar, dlower and deps, one dispatch each with its own ACCUMULATE;
// full_scale_tril writes L itself (what inference reports).
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, dispatch1d, kernelFamily, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { checkDim, checkElements, checkU32 } from './checks.js';
import { LOGVAR_CLAMP, PRNG_STREAM_REPARAM } from './reparam.js';

const WG = 64;

/** Packed strictly lower entries per example: Z(Z−1)/2. */
export function lowerSize(latent: number): number {
  return (latent * (latent - 1)) / 2;
}

// Shapes: B examples, Z latent values, K samples per example (W: values per example of dparam).
const fullKernel = kernelFamily({
  file: 'full_reparam.wgsl',
  workgroupSize: [WG],
  constants: { LOGVAR_MIN: LOGVAR_CLAMP.min, LOGVAR_MAX: LOGVAR_CLAMP.max },
  dispatch: ({ B, Z, K }) => dispatch1d(ceilDiv(B! * K! * Z!, WG)),
});
const samples = ({ B, Z, K }: Shape) => B! * K! * Z!;
const perExample = ({ B, Z }: Shape) => B! * Z!;
const lower = ({ B, Z }: Shape) => B! * lowerSize(Z!);

/** fr_noise (B, K, Z): the N(0, 1) draw of reparam_forward for (seed, step, stream). */
export const fullReparamNoise = fullKernel('full_reparam_noise', {
  dispatch: ({ B, Z, K }) => dispatch1d(ceilDiv(ceilDiv(B! * Z!, 4) * K!, WG)),
  elements: (s) => ({ fr_noise: samples(s) }),
});
/** fr_z (B, K, Z) = mu + L·eps. */
export const fullReparamForward = fullKernel('full_reparam_forward', {
  elements: (s) => ({
    fr_z: samples(s),
    fr_mu: perExample(s),
    fr_lv: perExample(s),
    fr_lower: lower(s),
    fr_eps: samples(s),
  }),
});
/** fr_dparam (B, W) (=|+=) dmu (PARAM 0), dlogvar (1) or dlower (2, W = P) for dz. */
export const fullReparamBackward = fullKernel('full_reparam_backward', {
  dispatch: ({ B, W }) => dispatch1d(ceilDiv(B! * W!, WG)),
  elements: (s) => ({
    fr_dparam: s.B! * s.W!,
    fr_dz: samples(s),
    fr_eps_in: samples(s),
    fr_lv_in: perExample(s),
  }),
});
/** fr_deps (B, K, Z) (=|+=) Lᵀ dz. */
export const fullReparamBackwardEps = fullKernel('full_reparam_backward_eps', {
  elements: (s) => ({
    fr_deps: samples(s),
    fr_dz_e: samples(s),
    fr_lv_e: perExample(s),
    fr_lower_e: lower(s),
  }),
});

/** fr_tril (B, Z, Z) = L, row-major. */
export const fullScaleTril = fullKernel('full_scale_tril', {
  dispatch: ({ B, Z }) => dispatch1d(ceilDiv(B! * Z! * Z!, WG)),
  elements: (s) => ({ fr_tril: s.B! * s.Z! * s.Z!, fr_lv_t: perExample(s), fr_lower_t: lower(s) }),
});

interface FullShape {
  batch: number;
  latent: number;
  /** Samples per example (default 1). */
  samples?: number;
}

function checkShape(kernel: string, o: FullShape): { B: number; Z: number; K: number } {
  const K = o.samples ?? 1;
  checkDim(kernel, 'batch', o.batch);
  checkDim(kernel, 'latent', o.latent);
  checkDim(kernel, 'samples', K);
  checkElements(kernel, 'z', o.batch * K * o.latent);
  checkElements(kernel, 'lower', o.batch * lowerSize(o.latent));
  return { B: o.batch, Z: o.latent, K };
}

export interface FullReparamForwardOptions extends FullShape {
  /** Output (B, K, Z). */
  z: BufferRange;
  /** (B, K, Z): written with the drawn noise, or read when givenNoise. */
  eps: BufferRange;
  /** (B, Z). */
  mu: BufferRange;
  /** (B, Z): log σ². */
  logvar: BufferRange;
  /** (B, Z(Z−1)/2): L′ packed row-major (any buffer when Z = 1: nothing is read). */
  lower: BufferRange;
  /** PRNG seed (u32). */
  seed: number;
  /** Training step (u32), part of the counter; change it with the program's setStep(). */
  step?: number;
  /** Noise stream of this op (u32, default PRNG_STREAM_REPARAM = 0): one per stochastic op. */
  stream?: number;
  /** Read eps (written by the caller) instead of drawing it; seed, step and stream are unused. */
  givenNoise?: boolean;
  label?: string;
}

/** z = mu + L·eps, with eps drawn first unless given. setStep(step) changes the noise's step. */
export async function prepareFullReparamForward(
  rt: GpuRuntime,
  o: FullReparamForwardOptions,
): Promise<Program & { setStep(step: number): void }> {
  const name = 'full_reparam_forward';
  const shape = checkShape(name, o);
  const step = o.step ?? 0;
  const stream = o.stream ?? PRNG_STREAM_REPARAM;
  checkU32(name, 'seed', o.seed);
  checkU32(name, 'step', step);
  checkU32(name, 'stream', stream);
  const sub = (part: string) => `${o.label ? o.label + '.' : ''}${part}`;
  return buildProgram(rt, o.label ?? name, async (b) => {
    const noise = o.givenNoise
      ? undefined
      : await b.dispatch(fullReparamNoise, {
          bindings: { fr_noise: o.eps },
          shape,
          uniforms: { seed: o.seed, step, stream },
          label: sub('noise'),
        });
    await b.dispatch(fullReparamForward, {
      bindings: { fr_z: o.z, fr_mu: o.mu, fr_lv: o.logvar, fr_lower: o.lower, fr_eps: o.eps },
      shape,
      ...(o.label !== undefined ? { label: o.label } : {}),
    });
    return {
      setStep(s: number) {
        checkU32(name, 'step', s);
        noise?.setUniforms({ step: s });
      },
    };
  });
}

export interface FullReparamBackwardOptions extends FullShape {
  /** (B, K, Z): the gradient of z. */
  dz: BufferRange;
  /** (B, K, Z): the forward's noise. */
  eps: BufferRange;
  /** (B, Z). */
  logvar: BufferRange;
  /** (B, Z(Z−1)/2): the forward's L′ (read for deps only). */
  lower: BufferRange;
  /** Gradient of mu (B, Z), summed over the samples. */
  dmu?: BufferRange;
  accumulateMu?: boolean;
  /** Gradient of logvar (B, Z) (straight-through clamp). */
  dlogvar?: BufferRange;
  accumulateLogvar?: boolean;
  /** Gradient of L′ (B, Z(Z−1)/2); nothing is written when Z = 1. */
  dlower?: BufferRange;
  accumulateLower?: boolean;
  /** Gradient of eps (B, K, Z) = Lᵀ dz, for noise given as an input. */
  deps?: BufferRange;
  accumulateEps?: boolean;
  label?: string;
}

/** The gradients asked for (at least one), one dispatch each. */
export async function prepareFullReparamBackward(
  rt: GpuRuntime,
  o: FullReparamBackwardOptions,
): Promise<Program> {
  const name = 'full_reparam_backward';
  const shape = checkShape(name, o);
  if (!o.dmu && !o.dlogvar && !o.dlower && !o.deps) {
    throw new Error(`${name}: give dmu, dlogvar, dlower and/or deps`);
  }
  const sub = (part: string) => `${o.label ? o.label + '.' : ''}${part}`;
  const acc = (flag: boolean | undefined) => ({ ACCUMULATE: flag ? 1 : 0 });
  const P = lowerSize(o.latent);
  return buildProgram(rt, o.label ?? name, async (b) => {
    const inputs = { fr_dz: o.dz, fr_eps_in: o.eps, fr_lv_in: o.logvar };
    for (const [param, grad, accumulate, W, part] of [
      [0, o.dmu, o.accumulateMu, o.latent, 'dmu'],
      [1, o.dlogvar, o.accumulateLogvar, o.latent, 'dlogvar'],
      [2, o.dlower, o.accumulateLower, P, 'dlower'],
    ] as const) {
      if (!grad || W === 0) continue;
      await b.dispatch(fullReparamBackward, {
        bindings: { fr_dparam: grad, ...inputs },
        shape: { ...shape, W },
        constants: { PARAM: param, ...acc(accumulate) },
        label: sub(part),
      });
    }
    if (o.deps) {
      await b.dispatch(fullReparamBackwardEps, {
        bindings: { fr_deps: o.deps, fr_dz_e: o.dz, fr_lv_e: o.logvar, fr_lower_e: o.lower },
        shape,
        constants: acc(o.accumulateEps),
        label: sub('deps'),
      });
    }
  });
}

export interface ScaleTrilOptions {
  /** Output (B, Z, Z): L, row-major (zeros above the diagonal). */
  L: BufferRange;
  /** (B, Z). */
  logvar: BufferRange;
  /** (B, Z(Z−1)/2). */
  lower: BufferRange;
  batch: number;
  latent: number;
  label?: string;
}

/** L = mask ⊙ L′ + diag(exp(½ clamp(logvar))) per example. */
export async function prepareScaleTril(rt: GpuRuntime, o: ScaleTrilOptions): Promise<Program> {
  const name = 'full_scale_tril';
  checkShape(name, o);
  checkElements(name, 'L', o.batch * o.latent * o.latent);
  return buildProgram(rt, o.label ?? name, async (b) => {
    await b.dispatch(fullScaleTril, {
      bindings: { fr_tril: o.L, fr_lv_t: o.logvar, fr_lower_t: o.lower },
      shape: { B: o.batch, Z: o.latent },
      ...(o.label !== undefined ? { label: o.label } : {}),
    });
  });
}
