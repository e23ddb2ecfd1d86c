// The objective's scalar kernels (shaders/objective.wgsl): a weighted sum of scalar terms with
// weights read from the per-step `hyper` input, its backward (the seed of the reverse walk), the
// backward of a total sum (a broadcast), and the capacity objective's |x − C|.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite } from './checks.js';

const WG = 256;

/** loss (1) (+)= w · term (1), w = weight · (hyper[index] when a hyper index is given). */
export const objectiveForwardKernel = defineKernel<'H'>({
  name: 'objective_forward',
  file: 'objective.wgsl',
  entryPoint: 'objective_forward',
  workgroupSize: [1],
  dispatch: () => [1, 1, 1],
  elements: ({ H }) => ({ loss: 1, term: 1, hyper: H }),
});

/** dterm (1) (+)= w · scale. */
export const objectiveBackwardKernel = defineKernel<'H'>({
  name: 'objective_backward',
  file: 'objective.wgsl',
  entryPoint: 'objective_backward',
  workgroupSize: [1],
  dispatch: () => [1, 1, 1],
  elements: ({ H }) => ({ dterm: 1, hyper: H }),
});

/** dx (n) (+)= scale · dy (1). */
export const broadcastScalarKernel = defineKernel<'n'>({
  name: 'broadcast_scalar',
  file: 'objective.wgsl',
  entryPoint: 'broadcast_scalar',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: ({ n }) => ({ bc_dx: n, bc_dy: 1 }),
});

/** out (1) = |x − factor · hyper[index]|. */
export const absDiffForwardKernel = defineKernel<'H'>({
  name: 'abs_diff_forward',
  file: 'objective.wgsl',
  entryPoint: 'abs_diff_forward',
  workgroupSize: [1],
  dispatch: () => [1, 1, 1],
  elements: ({ H }) => ({ ad_out: 1, ad_x: 1, ad_hyper: H }),
});

/** dx (1) (+)= dout · sign(x − factor · hyper[index]). */
export const absDiffBackwardKernel = defineKernel<'H'>({
  name: 'abs_diff_backward',
  file: 'objective.wgsl',
  entryPoint: 'abs_diff_backward',
  workgroupSize: [1],
  dispatch: () => [1, 1, 1],
  elements: ({ H }) => ({ ad_dx: 1, ad_dout: 1, ad_xin: 1, ad_hyp: H }),
});

/** A term's weight: a constant, times hyper[index] when `index` is given (changes per step). */
export interface TermWeight {
  weight: number;
  /** Entry of the hyper input multiplying the weight. */
  index?: number;
}

export interface ObjectiveTermOptions extends TermWeight {
  /** (H): the per-step hyperparameters (bound even when `index` is absent). */
  hyper: BindingResource;
  /** Entries in hyper. */
  hyperSize: number;
  accumulate: boolean;
  label?: string;
}

function termUniforms(
  kernel: string,
  o: TermWeight & { hyperSize: number },
  scale = 1,
  offset = 0,
) {
  checkFinite(kernel, 'weight', o.weight);
  checkFinite(kernel, 'scale', scale);
  checkFinite(kernel, 'offset', offset);
  checkDim(kernel, 'hyperSize', o.hyperSize);
  if (
    o.index !== undefined &&
    (!Number.isInteger(o.index) || o.index < 0 || o.index >= o.hyperSize)
  ) {
    throw new Error(`${kernel}: hyper index ${o.index} is outside [0, ${o.hyperSize})`);
  }
  return { weight: o.weight, index: o.index ?? 0, scale, offset };
}

/** loss (+)= w · term; the first (assigning) term also adds the objective's constant `offset`. */
export function prepareObjectiveTerm(
  rt: GpuRuntime,
  o: ObjectiveTermOptions & { loss: BindingResource; term: BindingResource; offset?: number },
): Promise<PreparedDispatch> {
  if (o.accumulate && o.offset) {
    throw new Error('objective_forward: the offset goes with the first (assigning) term');
  }
  return rt.prepare(objectiveForwardKernel, {
    bindings: { loss: o.loss, term: o.term, hyper: o.hyper },
    shape: { H: o.hyperSize },
    uniforms: termUniforms('objective_forward', o, 1, o.offset ?? 0),
    constants: { ACCUMULATE: o.accumulate ? 1 : 0, HYPER: o.index !== undefined ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

/** dterm (+)= w · scale: the gradient of scale · loss w.r.t. one term. */
export function prepareObjectiveSeed(
  rt: GpuRuntime,
  o: ObjectiveTermOptions & { dterm: BindingResource; scale: number },
): Promise<PreparedDispatch> {
  return rt.prepare(objectiveBackwardKernel, {
    bindings: { dterm: o.dterm, hyper: o.hyper },
    shape: { H: o.hyperSize },
    uniforms: termUniforms('objective_backward', o, o.scale),
    constants: { ACCUMULATE: o.accumulate ? 1 : 0, HYPER: o.index !== undefined ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

/** dx (n) (+)= scale · dy (1): the backward of a total sum. */
export function prepareBroadcastScalar(
  rt: GpuRuntime,
  o: {
    dx: BindingResource;
    dy: BindingResource;
    n: number;
    scale?: number;
    accumulate: boolean;
    label?: string;
  },
): Promise<PreparedDispatch> {
  checkDim('broadcast_scalar', 'n', o.n);
  const scale = o.scale ?? 1;
  checkFinite('broadcast_scalar', 'scale', scale);
  return rt.prepare(broadcastScalarKernel, {
    bindings: { bc_dx: o.dx, bc_dy: o.dy },
    shape: { n: o.n },
    uniforms: { scale },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface AbsDiffOptions {
  /** target = factor · hyper[index]. */
  factor: number;
  index: number;
  hyper: BindingResource;
  hyperSize: number;
  label?: string;
}

/** out = |x − factor · hyper[index]|. */
export function prepareAbsDiff(
  rt: GpuRuntime,
  o: AbsDiffOptions & { out: BindingResource; x: BindingResource },
): Promise<PreparedDispatch> {
  const u = termUniforms('abs_diff_forward', {
    weight: o.factor,
    index: o.index,
    hyperSize: o.hyperSize,
  });
  return rt.prepare(absDiffForwardKernel, {
    bindings: { ad_out: o.out, ad_x: o.x, ad_hyper: o.hyper },
    shape: { H: o.hyperSize },
    uniforms: { factor: u.weight, index: u.index },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

/** dx (+)= dout · sign(x − factor · hyper[index]). */
export function prepareAbsDiffBackward(
  rt: GpuRuntime,
  o: AbsDiffOptions & {
    dx: BindingResource;
    dout: BindingResource;
    x: BindingResource;
    accumulate: boolean;
  },
): Promise<PreparedDispatch> {
  const u = termUniforms('abs_diff_backward', {
    weight: o.factor,
    index: o.index,
    hyperSize: o.hyperSize,
  });
  return rt.prepare(absDiffBackwardKernel, {
    bindings: { ad_dx: o.dx, ad_dout: o.dout, ad_xin: o.x, ad_hyp: o.hyper },
    shape: { H: o.hyperSize },
    uniforms: { factor: u.weight, index: u.index },
    constants: { ACCUMULATE: o.accumulate ? 1 : 0 },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
