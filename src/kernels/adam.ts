// Fused Adam / AdamW over one flat parameter buffer (shaders/adam.wgsl), with optional clipping by
// the global gradient norm. The sum of squares of the gradients is reduced on the GPU into a small
// `stats` buffer that the Adam kernel reads directly, so a whole step is a few dispatches with no
// CPU round trip:
//   reduce_rows (SQUARE) passes over grads -> stats[0];   adam_step reads stats[0]
// A step whose gradient sum of squares is not finite (NaN/Inf anywhere in grads, or squares past
// f32's range) is skipped on the GPU: params, m and v stay as they were and stats[1] counts it.
// The caller's step count t (and so bc1/bc2) still advances; read stats[1] now and then to notice.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { checkDim } from './checks.js';
import { weightPacksOf } from './matmul-pack.js';
import { prepareReduceTotal } from './reduce.js';

const WG = 256;

/** Adam step reading stats[0] (sum of squared grads) for clipping and the non-finite skip. */
export const adamStepKernel = defineKernel<'n'>({
  name: 'adam_step',
  file: 'adam.wgsl',
  entryPoint: 'adam_step',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ params: n, m: n, v: n, grads: n, stats: 2 }),
});

/** adam_step on vec4s (n a multiple of 4, 16-byte aligned ranges): 4 values per invocation. */
export const adamStep4Kernel = defineKernel<'n'>({
  name: 'adam_step4',
  file: 'adam.wgsl',
  entryPoint: 'adam_step4',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n / 4, WG)),
  elements: ({ n }) => ({ params4: n / 4, m4: n / 4, v4: n / 4, grads4: n / 4, stats: 2 }),
});

/** adam_step_unchecked on vec4s. */
export const adamStep4UncheckedKernel = defineKernel<'n'>({
  name: 'adam_step4_unchecked',
  file: 'adam.wgsl',
  entryPoint: 'adam_step4_unchecked',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n / 4, WG)),
  elements: ({ n }) => ({ params4: n / 4, m4: n / 4, v4: n / 4, grads4: n / 4 }),
});

/** Adam step without the norm: no clipping, no protection against non-finite gradients. */
export const adamStepUncheckedKernel = defineKernel<'n'>({
  name: 'adam_step_unchecked',
  file: 'adam.wgsl',
  entryPoint: 'adam_step_unchecked',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ params: n, m: n, v: n, grads: n }),
});

export interface AdamHyper {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Default 0. */
  weightDecay?: number;
  /**
   * true: AdamW, decoupled decay p *= 1 - lr * weightDecay (torch.optim.AdamW).
   * false: classic Adam with L2, g += weightDecay * p (torch.optim.Adam's weight_decay).
   * Default true for prepareAdam, false for Optimizer and Trainer (as torch.optim.Adam).
   */
  decoupled?: boolean;
  /** Clip gradients to this global L2 norm (torch.nn.utils.clip_grad_norm_); off when undefined. */
  maxNorm?: number;
  /**
   * Skip the step on the GPU when the gradient sum of squares is not finite (default true). When
   * false and maxNorm is undefined, no norm is computed (one fewer reduction, no protection).
   */
  skipNonFinite?: boolean;
}

export interface AdamConfig extends AdamHyper {
  /** Flat parameters, gradients and moment buffers, n floats each (m and v start at 0). */
  params: BufferRange;
  grads: BufferRange;
  m: BufferRange;
  v: BufferRange;
  n: number;
  /**
   * At least 2 floats: [0] sum of squared grads (written each step), [1] skipped-step count (the
   * caller zeroes it). Made (and zeroed) by the helper when not given.
   */
  stats?: BufferRange;
  /**
   * Compute the gradient sum of squares into stats[0] before the update (default true). False:
   * stats[0] is written elsewhere (one norm over several parameter ranges), and `stats` is required.
   */
  computeNorm?: boolean;
  /** Use the vec4 kernel when n and the offsets allow it (default true). */
  vec4?: boolean;
  label?: string;
}

/** Bias corrections for step t (1-based), computed in float64 on the CPU. */
export function adamBiasCorrections(
  beta1: number,
  beta2: number,
  t: number,
): { bc1: number; bc2: number } {
  if (!Number.isInteger(t) || t < 1)
    throw new Error(`adam: step t must be an integer >= 1, got ${t}`);
  return { bc1: 1 - Math.pow(beta1, t), bc2: 1 - Math.pow(beta2, t) };
}

/** A prepared optimizer step: a program recorded after the backward pass, with its hooks. */
export type AdamStep = Program & AdamHooks;

export interface AdamHooks {
  /** The stats buffer: [0] gradient sum of squares of the last step, [1] skipped steps. */
  readonly stats: BufferRange | undefined;
  /** Sets the step number t (1-based) used by the next submitted dispatches; optionally lr. */
  setStep(t: number, lr?: number): void;
  /** Changes hyperparameters for later steps (not decoupled/skipNonFinite, fixed at prepare). */
  setHyper(h: Pick<AdamHyper, 'lr' | 'beta1' | 'beta2' | 'eps' | 'weightDecay' | 'maxNorm'>): void;
}

function checkHyper(h: Required<Omit<AdamHyper, 'maxNorm'>> & { maxNorm?: number }): void {
  const bad = (name: string, value: number, why: string): never => {
    throw new Error(`adam: ${name} ${why}, got ${value}`);
  };
  if (!(h.lr >= 0) || !Number.isFinite(h.lr)) bad('lr', h.lr, 'must be finite and >= 0');
  if (!(h.beta1 >= 0 && h.beta1 < 1)) bad('beta1', h.beta1, 'must be in [0, 1)');
  if (!(h.beta2 >= 0 && h.beta2 < 1)) bad('beta2', h.beta2, 'must be in [0, 1)');
  if (!(h.eps > 0) || !Number.isFinite(h.eps)) bad('eps', h.eps, 'must be finite and > 0');
  if (!(h.weightDecay >= 0) || !Number.isFinite(h.weightDecay)) {
    bad('weightDecay', h.weightDecay, 'must be finite and >= 0');
  }
  if (h.maxNorm !== undefined && (!(h.maxNorm > 0) || !Number.isFinite(h.maxNorm))) {
    bad('maxNorm', h.maxNorm, 'must be finite and > 0 (leave it undefined to disable clipping)');
  }
}

/**
 * Prepares a whole optimizer step for a flat buffer of n parameters: the gradient sum of squares
 * (when clipping or the non-finite skip is on) and the fused Adam/AdamW update. Call setStep(t)
 * before submitting step t (it starts at t = 1).
 */
export async function prepareAdam(rt: GpuRuntime, cfg: AdamConfig): Promise<AdamStep> {
  checkDim('adam', 'n', cfg.n);
  const h = {
    lr: cfg.lr ?? 1e-3,
    beta1: cfg.beta1 ?? 0.9,
    beta2: cfg.beta2 ?? 0.999,
    eps: cfg.eps ?? 1e-8,
    weightDecay: cfg.weightDecay ?? 0,
    decoupled: cfg.decoupled ?? true,
    skipNonFinite: cfg.skipNonFinite ?? true,
    maxNorm: cfg.maxNorm,
  };
  checkHyper(h);
  for (const name of ['params', 'grads', 'm', 'v'] as const) {
    if (cfg[name].size < cfg.n * 4) {
      throw new Error(
        `adam: '${name}' holds ${cfg[name].size / 4} floats, n = ${cfg.n} needs ${cfg.n}`,
      );
    }
  }
  let t = 1;
  const uniforms = () => {
    const { bc1, bc2 } = adamBiasCorrections(h.beta1, h.beta2, t);
    return {
      lr: h.lr,
      beta1: h.beta1,
      beta2: h.beta2,
      one_minus_beta1: 1 - h.beta1,
      one_minus_beta2: 1 - h.beta2,
      eps: h.eps,
      weight_decay: h.weightDecay,
      bc1,
      bc2,
      max_norm: h.maxNorm ?? 1,
      clip: h.maxNorm !== undefined ? 1 : 0,
    };
  };
  const checked = h.skipNonFinite || h.maxNorm !== undefined;
  if (cfg.stats !== undefined && cfg.stats.size < 8) {
    throw new Error(`adam: 'stats' must hold 2 floats, got ${cfg.stats.size / 4}`);
  }
  const computeNorm = cfg.computeNorm ?? true;
  if (checked && !computeNorm && cfg.stats === undefined) {
    throw new Error('adam: computeNorm false needs the stats buffer its norm is written to');
  }
  return buildProgram<AdamHooks>(rt, cfg.label ?? 'adam', async (b) => {
    let stats = cfg.stats;
    if (checked && stats === undefined) {
      stats = b.storage('stats', 8);
      rt.device.queue.writeBuffer(stats.buffer, stats.offset, new Float32Array(2));
    }
    if (checked && computeNorm) {
      b.append(
        await prepareReduceTotal(rt, {
          x: cfg.grads,
          out: { buffer: stats!.buffer, offset: stats!.offset, size: 4 },
          n: cfg.n,
          op: 'sumsq',
          label: `${cfg.label ?? 'adam'}.gradnorm`,
        }),
      );
    }
    // vec4 kernels when every range holds whole, 16-byte aligned vec4s (the flat buffers do).
    const ranges = [cfg.params, cfg.m, cfg.v, cfg.grads];
    const vec4 = cfg.n % 4 === 0 && ranges.every((r) => r.offset % 16 === 0) && cfg.vec4 !== false;
    const fit = (r: BufferRange): BufferRange => ({ ...r, size: Math.min(r.size, cfg.n * 4) });
    const names = vec4 ? ['params4', 'm4', 'v4', 'grads4'] : ['params', 'm', 'v', 'grads'];
    const bindings: Record<string, BufferRange> = Object.fromEntries(
      names.map((name, i) => [name, vec4 ? fit(ranges[i]!) : ranges[i]!]),
    );
    if (checked) bindings.stats = stats!;
    const kernel = vec4
      ? checked
        ? adamStep4Kernel
        : adamStep4UncheckedKernel
      : checked
        ? adamStepKernel
        : adamStepUncheckedKernel;
    const update = await b.prepare(kernel, {
      bindings,
      shape: { n: cfg.n },
      uniforms: { ...uniforms(), decoupled: h.decoupled ? 1 : 0 },
      ...(cfg.label !== undefined ? { label: cfg.label } : {}),
    });
    // Weights packed into textures (matmul-pack.ts) are stale once the update is recorded: they
    // are repacked once, right after it (WeightPacks.encodeStale) or at their next use.
    const packs = weightPacksOf(cfg.params.buffer);
    b.append(
      packs
        ? update.conditional(() => {
            packs.invalidate();
            return true;
          })
        : update,
    );
    return {
      stats,
      setStep(newT: number, lr?: number) {
        adamBiasCorrections(h.beta1, h.beta2, newT);
        if (lr !== undefined) {
          checkHyper({ ...h, lr });
          h.lr = lr;
        }
        t = newT;
        update.setUniforms(uniforms());
      },
      setHyper(next) {
        const merged = {
          ...h,
          ...Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)),
        };
        if ('maxNorm' in next && next.maxNorm === undefined) merged.maxNorm = undefined;
        if (merged.maxNorm !== undefined && !checked) {
          throw new Error(
            'adam: clipping needs the gradient norm; prepare with maxNorm or skipNonFinite',
          );
        }
        checkHyper(merged);
        Object.assign(h, merged);
        update.setUniforms(uniforms());
      },
    };
  });
}
