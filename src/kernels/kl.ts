// KL(q || N(0, I)) for the diagonal Gaussian encoder (shaders/kl.wgsl): per-example KL, the batch
// sum with the beta / capacity objective, and the backward into dmu / dlogvar. Two ways to use it:
//   fused objective: prepareKlForward (per-example KL + kl_reduce) and prepareKlBackward (beta,
//                    scale and capacity folded into the kernel);
//   loss tensor:     prepareKlRows (per-example KL (B) only) and prepareKlBackwardRows (reads the
//                    upstream gradient dkl (B)); the graph composes the weights.
//
// The per-example KL has the two row-sum variants of the likelihoods (RowSumVariant in
// likelihood.ts, chosen by rowSumVariantFor(rt) unless named): 'workgroup' (kl_forward, a tree in
// workgroup memory, for real GPUs) and 'blocks' (kl_blocks, barrier-free, for the CPU adapters:
// with Z <= ROW_BLOCK, e.g. Z = 20, one invocation per example; larger Z adds reduce_rows passes
// over a scratch buffer owned by the returned program).
import { ceilDiv, defineKernel, dispatch1d, type KernelDef, type Shape } from '../gpu/kernel.js';
import { buildProgram, singleProgram, type Program } from '../gpu/program.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkFinite } from './checks.js';
import { prepareRowBlocks, rowSumVariantFor, type RowSumVariant } from './likelihood.js';

const ROW_WG = 64;
/** Workgroup size of kl_blocks (one invocation per row block). */
const BLOCK_WG = 64;
const REDUCE_WG = 256;
const WG = 256;

/** kl (B) = 0.5 * sum_j (mu^2 + exp(lv) - 1 - lv); mu, logvar: (B, Z). One workgroup per row. */
export const klForward = defineKernel({
  name: 'kl_forward',
  file: 'kl.wgsl',
  entryPoint: 'kl_forward',
  workgroupSize: [ROW_WG],
  dispatch: ({ B }) => dispatch1d(B!),
  elements: ({ B, Z }) => ({ kl: B!, mu: B! * Z!, logvar: B! * Z! }),
});

/** Barrier-free 'blocks' variant of kl_forward: kl (B, nb) = block sums of the KL terms. */
export const klBlocks = defineKernel({
  name: 'kl_blocks',
  file: 'kl.wgsl',
  entryPoint: 'kl_blocks',
  workgroupSize: [BLOCK_WG],
  dispatch: ({ B, Z, block }) => dispatch1d(ceilDiv(B! * ceilDiv(Z!, block!), BLOCK_WG)),
  elements: ({ B, Z, block }) => ({ kl: B! * ceilDiv(Z!, block!), mu: B! * Z!, logvar: B! * Z! }),
});

/** kl_total (2) = [sum_b kl_rows[b], objective]; kl_rows: (B). One workgroup. */
export const klReduce = defineKernel({
  name: 'kl_reduce',
  file: 'kl.wgsl',
  entryPoint: 'kl_reduce',
  workgroupSize: [REDUCE_WG],
  dispatch: () => [1, 1, 1],
  elements: ({ B }) => ({ kl_total: 2, kl_rows: B! }),
});

/** A KL gradient kernel: dmu, dlogvar, mu_in, logvar_in (B, Z), plus its weight bindings. */
function gradKernel(
  entryPoint: string,
  weights: (shape: Shape) => Readonly<Record<string, number>>,
): KernelDef {
  return defineKernel({
    name: entryPoint,
    file: 'kl.wgsl',
    entryPoint,
    workgroupSize: [WG],
    dispatch: ({ B, Z }) => dispatch1d(ceilDiv(B! * Z!, WG)),
    elements: (shape) => {
      const n = shape.B! * shape.Z!;
      return { dmu: n, dlogvar: n, mu_in: n, logvar_in: n, ...weights(shape) };
    },
  });
}

/** dmu = w * mu, dlogvar = w * 0.5 * (exp(lv) - 1) (ACCUMULATE override); see kl.wgsl for w. */
export const klBackward = gradKernel('kl_backward', () => ({ kl_total_in: 2 }));

/** dmu = dkl[b] * mu, dlogvar = dkl[b] * 0.5 * (exp(lv) - 1): the gradient of sum_b dkl[b] KL_b. */
export const klBackwardRows = gradKernel('kl_backward_rows', ({ B }) => ({ dkl: B! }));

/**
 * The KL part of the loss. Plain: beta * scale * sum_b KL_b. With `capacity` set: the capacity
 * objective beta * |scale * sum_b KL_b - capacity|, i.e. with scale = 1/B, beta * |mean_b KL_b - C|
 * on the batch mean (Burgess et al. 2018), not per example.
 */
export interface KlObjective {
  /** Weight of the KL term (default 1). */
  beta?: number;
  /** Multiplies the batch sum, e.g. 1/B for a mean-reduced loss (default 1). */
  scale?: number;
  /** Capacity C (nats); when given, the capacity form is used. Change it with setUniforms. */
  capacity?: number;
}

/** Uniform values of an objective, for prepare() or setUniforms() of kl_reduce / kl_backward. */
export function klObjectiveUniforms(
  kernel: string,
  o: KlObjective,
): {
  beta: number;
  scale: number;
  capacity: number;
  use_capacity: number;
} {
  const beta = o.beta ?? 1;
  const scale = o.scale ?? 1;
  checkFinite(kernel, 'beta', beta);
  checkFinite(kernel, 'scale', scale);
  if (o.capacity !== undefined) {
    checkFinite(kernel, 'capacity', o.capacity);
    if (o.capacity < 0) throw new Error(`${kernel}: capacity must be >= 0, got ${o.capacity}`);
  }
  return { beta, scale, capacity: o.capacity ?? 0, use_capacity: o.capacity === undefined ? 0 : 1 };
}

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
  const variant = o.variant ?? rowSumVariantFor(rt);
  if (variant !== 'workgroup' && variant !== 'blocks') {
    throw new Error(`kl_forward: unknown row-sum variant '${String(variant)}' (workgroup, blocks)`);
  }
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

export interface KlForwardOptions extends KlObjective, KlRowsOptions {
  /** Output (2): [sum_b KL_b, objective]. Read by the backward of the capacity form. */
  klTotal: BindingResource;
}

/** Per-example KL (kl_forward, or kl_blocks and its row passes), then kl_reduce. */
export type KlForward = Program & {
  /** kl_reduce: batch sum and objective (setUniforms({ capacity }) to anneal C). */
  reduce: PreparedDispatch;
};

export async function prepareKlForward(rt: GpuRuntime, o: KlForwardOptions): Promise<KlForward> {
  const objective = klObjectiveUniforms('kl_forward', o);
  const label = o.label !== undefined ? { label: o.label } : {};
  const rows = await prepareKlRows(rt, o);
  return buildProgram(rt, `kl_forward${o.label ? `[${o.label}]` : ''}`, async (b) => {
    b.append(rows);
    const reduce = await b.dispatch(klReduce, {
      bindings: { kl_total: o.klTotal, kl_rows: o.kl },
      shape: { B: o.batch },
      uniforms: objective,
      ...label,
    });
    return { reduce };
  });
}

export interface KlBackwardOptions extends KlObjective {
  /** Output (B, Z). */
  dmu: BindingResource;
  /** Output (B, Z). */
  dlogvar: BindingResource;
  /** (B, Z). */
  mu: BindingResource;
  /** (B, Z). */
  logvar: BindingResource;
  /** (2): kl_total from the forward (its sum is used by the capacity form). */
  klTotal: BindingResource;
  batch: number;
  latent: number;
  /** Add into dmu/dlogvar instead of assigning (reparam_backward is the other contributor). */
  accumulate?: boolean;
  label?: string;
}

export async function prepareKlBackward(
  rt: GpuRuntime,
  o: KlBackwardOptions,
): Promise<PreparedDispatch> {
  checkDim('kl_backward', 'batch', o.batch);
  checkDim('kl_backward', 'latent', o.latent);
  checkElements('kl_backward', 'dmu', o.batch * o.latent);
  return rt.prepare(klBackward, {
    bindings: {
      dmu: o.dmu,
      dlogvar: o.dlogvar,
      mu_in: o.mu,
      logvar_in: o.logvar,
      kl_total_in: o.klTotal,
    },
    shape: { B: o.batch, Z: o.latent },
    uniforms: klObjectiveUniforms('kl_backward', o),
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
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
