// KL(q || N(0, I)) for the diagonal Gaussian encoder (shaders/kl.wgsl), as a loss tensor:
// prepareKlRows (per-example KL (B)) and prepareKlBackwardRows (reads the upstream gradient dkl (B)
// into dmu / dlogvar); the graph composes the weights (beta, 1/B, capacity). KL(q || p) between two
// diagonal Gaussians (a learned prior p(z|·)): prepareKlGaussiansRows and, per side that needs it,
// prepareKlGaussiansBackwardRows.
//
// The per-example KL has the two row-sum variants of the likelihoods (RowSumVariant in
// likelihood.ts, chosen by rowSumVariantFor(rt) unless named): 'workgroup' (kl_forward, a tree in
// workgroup memory, for real GPUs) and 'blocks' (kl_blocks, barrier-free, for the CPU adapters:
// with Z <= ROW_BLOCK, e.g. Z = 20, one invocation per example; larger Z adds reduce_rows passes
// over a scratch buffer owned by the returned program).
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import { singleProgram, type Program } from '../gpu/program.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements } from './checks.js';
import {
  checkRowSumVariant,
  prepareRowBlocks,
  rowSumVariantFor,
  type RowSumVariant,
} from './likelihood.js';

const ROW_WG = 64;
/** Workgroup size of kl_blocks (one invocation per row block). */
const BLOCK_WG = 64;
const WG = 256;

/** kl (B) = 0.5 * sum_j (mu^2 + exp(lv) - 1 - lv); mu, logvar: (B, Z). One workgroup per row. */
export const klForward = defineKernel<'B' | 'Z'>({
  name: 'kl_forward',
  file: 'kl.wgsl',
  entryPoint: 'kl_forward',
  workgroupSize: [ROW_WG],
  dispatch: ({ B }) => dispatch1d(B),
  elements: ({ B, Z }) => ({ kl: B, mu: B * Z, logvar: B * Z }),
});

/** Barrier-free 'blocks' variant of kl_forward: kl (B, nb) = block sums of the KL terms. */
export const klBlocks = defineKernel<'B' | 'Z' | 'block'>({
  name: 'kl_blocks',
  file: 'kl.wgsl',
  entryPoint: 'kl_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: ({ B, Z, block }) => dispatch1d(ceilDiv(B * ceilDiv(Z, block), BLOCK_WG)),
  elements: ({ B, Z, block }) => ({ kl: B * ceilDiv(Z, block), mu: B * Z, logvar: B * Z }),
});

/** dmu = dkl[b] * mu, dlogvar = dkl[b] * 0.5 * (exp(lv) - 1): the gradient of sum_b dkl[b] KL_b. */
export const klBackwardRows = defineKernel<'B' | 'Z'>({
  name: 'kl_backward_rows',
  file: 'kl.wgsl',
  entryPoint: 'kl_backward_rows',
  workgroupSize: [WG],
  dispatch: ({ B, Z }) => dispatch1d(ceilDiv(B * Z, WG)),
  elements: ({ B, Z }) => {
    const n = B * Z;
    return { dmu: n, dlogvar: n, mu_in: n, logvar_in: n, dkl: B };
  },
});

export interface KlRowsOptions {
  /** Output (B): per-example KL. */
  kl: BindingResource;
  /** (B, Z). */
  mu: BindingResource;
  /** (B, Z). */
  logvar: BindingResource;
  batch: number;
  latent: number;
  /** How rows are summed (default rowSumVariantFor(rt): 'blocks' on CPU adapters). */
  variant?: RowSumVariant;
  label?: string;
}

/**
 * Per-example KL only (kl_forward, or kl_blocks and its row passes): the KL as a loss tensor (B)
 * whose weighting and batch reduction the graph composes.
 */
export async function prepareKlRows(rt: GpuRuntime, o: KlRowsOptions): Promise<Program> {
  checkDim('kl_forward', 'batch', o.batch);
  checkDim('kl_forward', 'latent', o.latent);
  checkElements('kl_forward', 'mu', o.batch * o.latent);
  const label = o.label !== undefined ? { label: o.label } : {};
  const variant = checkRowSumVariant('kl_forward', o.variant ?? rowSumVariantFor(rt));
  if (variant === 'blocks') {
    return prepareRowBlocks(rt, {
      kernel: klBlocks.name,
      rows: o.batch,
      cols: o.latent,
      rowsOut: o.kl,
      ...label,
      first: (kl, block) =>
        rt.prepare(klBlocks, {
          bindings: { kl, mu: o.mu, logvar: o.logvar },
          shape: { B: o.batch, Z: o.latent, block },
          ...label,
        }),
    });
  }
  return singleProgram(
    await rt.prepare(klForward, {
      bindings: { kl: o.kl, mu: o.mu, logvar: o.logvar },
      shape: { B: o.batch, Z: o.latent },
      ...label,
    }),
  );
}

export interface KlBackwardRowsOptions {
  /** Output (B, Z). */
  dmu: BindingResource;
  /** Output (B, Z). */
  dlogvar: BindingResource;
  /** (B, Z). */
  mu: BindingResource;
  /** (B, Z). */
  logvar: BindingResource;
  /** (B): upstream gradient of each example's KL (d loss / d KL_b). */
  dkl: BindingResource;
  batch: number;
  latent: number;
  /** Add into dmu/dlogvar instead of assigning (reparam_backward is the other contributor). */
  accumulate?: boolean;
  label?: string;
}

/** Gradient of sum_b dkl[b] * KL_b w.r.t. mu and logvar (no beta, scale or capacity inside). */
export async function prepareKlBackwardRows(
  rt: GpuRuntime,
  o: KlBackwardRowsOptions,
): Promise<PreparedDispatch> {
  checkDim('kl_backward_rows', 'batch', o.batch);
  checkDim('kl_backward_rows', 'latent', o.latent);
  checkElements('kl_backward_rows', 'dmu', o.batch * o.latent);
  return rt.prepare(klBackwardRows, {
    bindings: { dmu: o.dmu, dlogvar: o.dlogvar, mu_in: o.mu, logvar_in: o.logvar, dkl: o.dkl },
    shape: { B: o.batch, Z: o.latent },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

// ---- KL between two diagonal Gaussians (a learned prior) ----

const klGaussiansElements = (B: number, Z: number, kl: number) => ({
  kl2: kl,
  mu_q: B * Z,
  logvar_q: B * Z,
  mu_p: B * Z,
  logvar_p: B * Z,
});

/** kl (B) = KL(N(mu_q, exp(lv_q)) ‖ N(mu_p, exp(lv_p))) per example; one workgroup per row. */
export const klGaussiansForward = defineKernel<'B' | 'Z'>({
  name: 'kl_gaussians_forward',
  file: 'kl.wgsl',
  entryPoint: 'kl_gaussians_forward',
  workgroupSize: [ROW_WG],
  dispatch: ({ B }) => dispatch1d(B),
  elements: ({ B, Z }) => klGaussiansElements(B, Z, B),
});

/** Barrier-free 'blocks' variant of kl_gaussians_forward: kl (B, nb) block sums. */
export const klGaussiansBlocks = defineKernel<'B' | 'Z' | 'block'>({
  name: 'kl_gaussians_blocks',
  file: 'kl.wgsl',
  entryPoint: 'kl_gaussians_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: ({ B, Z, block }) => dispatch1d(ceilDiv(B * ceilDiv(Z, block), BLOCK_WG)),
  elements: ({ B, Z, block }) => klGaussiansElements(B, Z, B * ceilDiv(Z, block)),
});

/** The gradient of Σ_b dkl[b] KL_b w.r.t. one side's mean and logvar (SIDE_P picks p). */
export const klGaussiansBackwardRows = defineKernel<'B' | 'Z'>({
  name: 'kl_gaussians_backward_rows',
  file: 'kl.wgsl',
  entryPoint: 'kl_gaussians_backward_rows',
  workgroupSize: [WG],
  dispatch: ({ B, Z }) => dispatch1d(ceilDiv(B * Z, WG)),
  elements: ({ B, Z }) => {
    const n = B * Z;
    return {
      dmu_side: n,
      dlogvar_side: n,
      q_mu: n,
      q_logvar: n,
      p_mu: n,
      p_logvar: n,
      dkl2: B,
    };
  },
});

/** A diagonal Gaussian's buffers: mean and log-variance, each (B, Z). */
export interface GaussianBuffers {
  mu: BindingResource;
  logvar: BindingResource;
}

export interface KlGaussiansRowsOptions {
  /** Output (B): per-example KL(q ‖ p). */
  kl: BindingResource;
  q: GaussianBuffers;
  p: GaussianBuffers;
  batch: number;
  latent: number;
  /** How rows are summed (default rowSumVariantFor(rt): 'blocks' on CPU adapters). */
  variant?: RowSumVariant;
  label?: string;
}

/** Per-example KL between two diagonal Gaussians, as a loss tensor (B). */
export async function prepareKlGaussiansRows(
  rt: GpuRuntime,
  o: KlGaussiansRowsOptions,
): Promise<Program> {
  const name = klGaussiansForward.name;
  checkDim(name, 'batch', o.batch);
  checkDim(name, 'latent', o.latent);
  checkElements(name, 'mu', o.batch * o.latent);
  const label = o.label !== undefined ? { label: o.label } : {};
  const variant = checkRowSumVariant(name, o.variant ?? rowSumVariantFor(rt));
  const inputs = { mu_q: o.q.mu, logvar_q: o.q.logvar, mu_p: o.p.mu, logvar_p: o.p.logvar };
  if (variant === 'blocks') {
    return prepareRowBlocks(rt, {
      kernel: klGaussiansBlocks.name,
      rows: o.batch,
      cols: o.latent,
      rowsOut: o.kl,
      ...label,
      first: (kl2, block) =>
        rt.prepare(klGaussiansBlocks, {
          bindings: { kl2, ...inputs },
          shape: { B: o.batch, Z: o.latent, block },
          ...label,
        }),
    });
  }
  return singleProgram(
    await rt.prepare(klGaussiansForward, {
      bindings: { kl2: o.kl, ...inputs },
      shape: { B: o.batch, Z: o.latent },
      ...label,
    }),
  );
}

export interface KlGaussiansBackwardRowsOptions {
  /** Which side's gradients: q's (the first argument of the KL) or p's. */
  side: 'q' | 'p';
  /** Outputs (B, Z): that side's mean and logvar gradients. */
  grad: GaussianBuffers;
  q: GaussianBuffers;
  p: GaussianBuffers;
  /** (B): upstream gradient of each example's KL. */
  dkl: BindingResource;
  batch: number;
  latent: number;
  /** Add into the outputs instead of assigning. */
  accumulate?: boolean;
  label?: string;
}

/** Gradient of Σ_b dkl[b] KL(q_b ‖ p_b) w.r.t. one side's mean and logvar. */
export async function prepareKlGaussiansBackwardRows(
  rt: GpuRuntime,
  o: KlGaussiansBackwardRowsOptions,
): Promise<PreparedDispatch> {
  const name = klGaussiansBackwardRows.name;
  checkDim(name, 'batch', o.batch);
  checkDim(name, 'latent', o.latent);
  checkElements(name, 'dmu', o.batch * o.latent);
  if (o.side !== 'q' && o.side !== 'p') {
    throw new Error(`${name}: side must be 'q' or 'p', got ${String(o.side)}`);
  }
  return rt.prepare(klGaussiansBackwardRows, {
    bindings: {
      dmu_side: o.grad.mu,
      dlogvar_side: o.grad.logvar,
      q_mu: o.q.mu,
      q_logvar: o.q.logvar,
      p_mu: o.p.mu,
      p_logvar: o.p.logvar,
      dkl2: o.dkl,
    },
    shape: { B: o.batch, Z: o.latent },
    constants: { SIDE_P: o.side === 'p' ? 1 : 0, ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
