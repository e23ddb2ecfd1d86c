// A linear combination of 2–7 tensors of one size in one dispatch each way (shaders/sum_terms.wgsl):
//   y = Σ_k c_k · x_k                                 prepareSumTermsForward
//   dx_k (=|+=) c_k · dy for each term with a gradient   prepareSumTermsBackward
// The coefficients are uniforms (setUniforms({ c0, … }) changes them without recompiling). Terms
// beyond the count, and gradients nobody wants, bind a placeholder of their own.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, defineKernel, dispatch1d, type Shape } from '../gpu/kernel.js';
import { placeholderBuffer } from '../gpu/placeholder.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite } from './checks.js';

const WG = 64;

/** Most terms one sum_terms dispatch takes: with the output, WebGPU's default 8 storage buffers. */
export const MAX_SUM_TERMS = 7;

/** n: elements of every tensor; bound: a bit per term whose binding holds it (else a placeholder). */
type SumShape = 'n' | 'bound';

const termElements = ({ n, bound }: Shape<SumShape>, prefix: string) =>
  Object.fromEntries(
    Array.from({ length: MAX_SUM_TERMS }, (_, k) => [`${prefix}${k}`, bound & (1 << k) ? n : 1]),
  );

/** st_y (n) = Σ_k c_k · t_k (n). */
export const sumTermsKernel = defineKernel<SumShape>({
  name: 'sum_terms',
  file: 'sum_terms.wgsl',
  entryPoint: 'sum_terms',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: (s) => ({ st_y: s.n, ...termElements(s, 't') }),
});

/** d_k (n) (=|+=) c_k · st_dy (n) for every term with a gradient. */
export const sumTermsBackwardKernel = defineKernel<SumShape>({
  name: 'sum_terms_backward',
  file: 'sum_terms.wgsl',
  entryPoint: 'sum_terms_backward',
  workgroupSize: [WG],
  dispatch: ({ n }) => dispatch1d(ceilDiv(n, WG)),
  elements: (s) => ({ st_dy: s.n, ...termElements(s, 'd') }),
});

function checkTerms(kernel: string, n: number, coefficients: readonly number[]): void {
  checkDim(kernel, 'n', n);
  if (coefficients.length < 2 || coefficients.length > MAX_SUM_TERMS) {
    throw new Error(
      `${kernel}: takes 2 to ${MAX_SUM_TERMS} terms, got ${coefficients.length} coefficients`,
    );
  }
  coefficients.forEach((c, k) => checkFinite(kernel, `coefficients[${k}]`, c));
}

/** The coefficient uniforms c0…c6 (unused ones 0). */
const coefficientUniforms = (coefficients: readonly number[]) =>
  Object.fromEntries(
    Array.from({ length: MAX_SUM_TERMS }, (_, k) => [`c${k}`, coefficients[k] ?? 0]),
  );

export interface SumTermsOptions {
  /** Output (n). */
  y: BufferRange;
  /** The terms, each (n), and their coefficients, one per term. */
  terms: readonly BufferRange[];
  coefficients: readonly number[];
  n: number;
  label?: string;
}

/** y = Σ_k c_k · x_k in one dispatch. */
export async function prepareSumTermsForward(
  rt: GpuRuntime,
  o: SumTermsOptions,
): Promise<PreparedDispatch> {
  const name = sumTermsKernel.name;
  checkTerms(name, o.n, o.coefficients);
  if (o.terms.length !== o.coefficients.length) {
    throw new Error(`${name}: ${o.terms.length} terms but ${o.coefficients.length} coefficients`);
  }
  const bindings: Record<string, BufferRange> = { st_y: o.y };
  for (let k = 0; k < MAX_SUM_TERMS; k++) {
    bindings[`t${k}`] = o.terms[k] ?? placeholderBuffer(rt, `sum_terms.t${k}`);
  }
  return rt.prepare(sumTermsKernel, {
    bindings,
    shape: { n: o.n, bound: (1 << o.terms.length) - 1 },
    uniforms: coefficientUniforms(o.coefficients),
    constants: { TERMS: o.terms.length },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface SumTermsBackwardOptions {
  /** Upstream gradient (n). */
  dy: BufferRange;
  /**
   * One entry per term of the forward, in order: its gradient `dx` (n) when it needs one, with
   * `accumulate` to add into it. The dx of different terms must not overlap.
   */
  grads: readonly { dx?: BufferRange | undefined; accumulate?: boolean }[];
  coefficients: readonly number[];
  n: number;
  label?: string;
}

/** dx_k (=|+=) c_k · dy for every term with a gradient, in one dispatch. */
export async function prepareSumTermsBackward(
  rt: GpuRuntime,
  o: SumTermsBackwardOptions,
): Promise<PreparedDispatch> {
  const name = sumTermsBackwardKernel.name;
  checkTerms(name, o.n, o.coefficients);
  if (o.grads.length !== o.coefficients.length) {
    throw new Error(
      `${name}: ${o.grads.length} gradients but ${o.coefficients.length} coefficients`,
    );
  }
  if (!o.grads.some((g) => g.dx)) throw new Error(`${name}: no term needs a gradient`);
  const bindings: Record<string, BufferRange> = { st_dy: o.dy };
  const constants: Record<string, number> = { TERMS: o.grads.length };
  let bound = 0;
  for (let k = 0; k < MAX_SUM_TERMS; k++) {
    const dx = o.grads[k]?.dx;
    // Writable placeholders must not alias: one per slot.
    bindings[`d${k}`] = dx ?? placeholderBuffer(rt, `sum_terms.d${k}`);
    if (dx) bound |= 1 << k;
    constants[`HAS${k}`] = dx ? 1 : 0;
    constants[`ACC${k}`] = o.grads[k]?.accumulate ? 1 : 0;
  }
  return rt.prepare(sumTermsBackwardKernel, {
    bindings,
    shape: { n: o.n, bound },
    uniforms: coefficientUniforms(o.coefficients),
    constants,
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
