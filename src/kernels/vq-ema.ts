// The EMA codebook update of a vector quantizer (shaders/vq_ema.wgsl): decay the counts N and the
// sums m toward this batch's (n, s), total N, then e_k = m_k / N̂_k with Laplace smoothing; and the
// optional dead-code restart after it (shaders/vq_restart.wgsl). The state and the codebook are
// non-parameter tensors of the model's flat buffer: both write them in place, so texture packs of
// that buffer are marked stale when they are recorded.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { checkDim, checkElements, checkU32 } from './checks.js';
import { weightPacksOf } from './matmul-pack.js';
import { prepareReduceTotal } from './reduce.js';

const WG = 64;

/** N (K) and m (K, D) decayed toward the batch's n (K) and s (K, D). */
export const vqEmaStatsKernel = defineKernel<'codes' | 'dim'>({
  name: 'vq_ema_stats',
  file: 'vq_ema.wgsl',
  entryPoint: 'vq_ema_stats',
  workgroupSize: [WG],
  dispatch: ({ codes, dim }) => dispatch1d(ceilDiv(codes * (dim + 1), WG)),
  elements: ({ codes, dim }) => ({
    ema_count: codes,
    ema_sum: codes * dim,
    ema_batch_count: codes,
    ema_batch_sum: codes * dim,
  }),
});

/** e (K, D) = m / N̂ from the decayed state and its total. */
export const vqEmaCodebookKernel = defineKernel<'codes' | 'dim'>({
  name: 'vq_ema_codebook',
  file: 'vq_ema.wgsl',
  entryPoint: 'vq_ema_codebook',
  workgroupSize: [WG],
  dispatch: ({ codes, dim }) => dispatch1d(ceilDiv(codes * dim, WG)),
  elements: ({ codes, dim }) => ({
    cb_codebook: codes * dim,
    cb_count: codes,
    cb_sum: codes * dim,
    cb_total: 1,
  }),
});

export interface VqEmaOptions {
  /** e (K, D), rewritten. */
  codebook: BufferRange;
  /** N (K): the decayed code counts, updated in place. */
  count: BufferRange;
  /** m (K, D): the decayed sums of assigned vectors, updated in place. */
  sum: BufferRange;
  /** n (K): codes assigned in this batch. */
  batchCount: BufferRange;
  /** s (K, D): sums of the vectors assigned to each code in this batch. */
  batchSum: BufferRange;
  codes: number;
  dim: number;
  /** γ in [0, 1). */
  decay: number;
  /** ε > 0 of the Laplace smoothing. */
  eps: number;
  label?: string;
}

/** One EMA update of the codebook (three dispatches and a total). */
export async function prepareVqEma(rt: GpuRuntime, o: VqEmaOptions): Promise<Program> {
  const name = 'vq_ema';
  checkDim(name, 'codes', o.codes);
  checkDim(name, 'dim', o.dim);
  checkElements(name, 'codebook', o.codes * (o.dim + 1));
  if (!(o.decay >= 0 && o.decay < 1)) {
    throw new Error(`${name}: decay must be in [0, 1), got ${o.decay}`);
  }
  if (!(o.eps > 0 && Number.isFinite(o.eps))) {
    throw new Error(`${name}: eps must be a finite number > 0, got ${o.eps}`);
  }
  const label = o.label ?? name;
  return buildProgram(rt, label, async (b) => {
    await b.dispatch(vqEmaStatsKernel, {
      bindings: {
        ema_count: o.count,
        ema_sum: o.sum,
        ema_batch_count: o.batchCount,
        ema_batch_sum: o.batchSum,
      },
      shape: { codes: o.codes, dim: o.dim },
      uniforms: { decay: o.decay },
      label: `${label}.stats`,
    });
    const total = b.storage('total', 4);
    b.append(
      await prepareReduceTotal(rt, { x: o.count, out: total, n: o.codes, label: `${label}.total` }),
    );
    const codebook = await b.prepare(vqEmaCodebookKernel, {
      bindings: { cb_codebook: o.codebook, cb_count: o.count, cb_sum: o.sum, cb_total: total },
      shape: { codes: o.codes, dim: o.dim },
      uniforms: { eps: o.eps },
      label: `${label}.codebook`,
    });
    // Texture packs of the codebook's buffer are stale once the update is recorded.
    const packs = weightPacksOf(o.codebook.buffer);
    b.append(
      packs
        ? codebook.conditional(() => {
            packs.invalidate();
            return true;
          })
        : codebook,
    );
  });
}

/** Dead codes (N_k < threshold) moved onto a random row of z; state reset (vq_restart.wgsl). */
export const vqRestartKernel = defineKernel<'codes' | 'dim' | 'rows'>({
  name: 'vq_restart',
  file: 'vq_restart.wgsl',
  entryPoint: 'vq_restart',
  workgroupSize: [WG],
  dispatch: ({ codes }) => dispatch1d(ceilDiv(codes, WG)),
  elements: ({ codes, dim, rows }) => ({
    rs_codebook: codes * dim,
    rs_count: codes,
    rs_sum: codes * dim,
    rs_z: rows * dim,
  }),
});

export interface VqRestartOptions {
  /** e (K, D), N (K), m (K, D): rewritten where a code restarts. */
  codebook: BufferRange;
  count: BufferRange;
  sum: BufferRange;
  /** This batch's encoder outputs (rows, D), what dead codes restart on. */
  z: BufferRange;
  codes: number;
  dim: number;
  rows: number;
  /** Codes with N_k below it restart; in (0, 1), so a restarted code (N = 1) is live. */
  threshold: number;
  seed: number;
  /** Training step (u32); change it each step with setUniforms({ step }). */
  step?: number;
  /** The op's noise stream (u32). */
  stream: number;
  label?: string;
}

/** The dead-code restart: one dispatch; `setStep(step)` before each step's submit. */
export async function prepareVqRestart(
  rt: GpuRuntime,
  o: VqRestartOptions,
): Promise<Program & { setStep(step: number): void }> {
  const name = 'vq_restart';
  checkDim(name, 'codes', o.codes);
  checkDim(name, 'dim', o.dim);
  checkDim(name, 'rows', o.rows);
  checkElements(name, 'z', o.rows * o.dim);
  if (!(o.threshold > 0 && o.threshold < 1)) {
    throw new Error(`${name}: threshold must be in (0, 1), got ${o.threshold}`);
  }
  checkU32(name, 'seed', o.seed);
  checkU32(name, 'step', o.step ?? 0);
  checkU32(name, 'stream', o.stream);
  const label = o.label ?? name;
  return buildProgram(rt, label, async (b) => {
    const d = await b.prepare(vqRestartKernel, {
      bindings: { rs_codebook: o.codebook, rs_count: o.count, rs_sum: o.sum, rs_z: o.z },
      shape: { codes: o.codes, dim: o.dim, rows: o.rows },
      uniforms: { threshold: o.threshold, seed: o.seed, step: o.step ?? 0, stream: o.stream },
      label,
    });
    // Texture packs of the codebook's buffer are stale once the restart is recorded.
    const packs = weightPacksOf(o.codebook.buffer);
    b.append(
      packs
        ? d.conditional(() => {
            packs.invalidate();
            return true;
          })
        : d,
    );
    return { setStep: (step: number) => d.setUniforms({ step: step >>> 0 }) };
  });
}
