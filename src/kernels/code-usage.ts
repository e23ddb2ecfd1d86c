// Codebook usage metrics of a vector quantizer (shaders/code_usage.wgsl), forward only: from one
// batch's code counts, scale·perplexity and scale·(fraction of codes in use).
import type { BufferRange } from '../gpu/buffers.js';
import { defineKernel } from '../gpu/kernel.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite } from './checks.js';

/** cu_perplexity (1), cu_used (1) from cu_counts (codes). */
export const codeUsageKernel = defineKernel<'codes'>({
  name: 'code_usage',
  file: 'code_usage.wgsl',
  entryPoint: 'code_usage',
  workgroupSize: [1],
  dispatch: () => [1, 1, 1],
  elements: ({ codes }) => ({ cu_perplexity: 1, cu_used: 1, cu_counts: codes }),
});

export interface CodeUsageOptions {
  /** (1): scale · exp(entropy of the code frequencies). */
  perplexity: BufferRange;
  /** (1): scale · (codes with a nonzero count) / codes. */
  used: BufferRange;
  /** (codes): how often each code was assigned. */
  counts: BufferRange;
  codes: number;
  /** Multiplies both results (e.g. the batch's example count). */
  scale: number;
  label?: string;
}

export async function prepareCodeUsage(
  rt: GpuRuntime,
  o: CodeUsageOptions,
): Promise<PreparedDispatch> {
  checkDim('code_usage', 'codes', o.codes);
  checkFinite('code_usage', 'scale', o.scale);
  return rt.prepare(codeUsageKernel, {
    bindings: { cu_perplexity: o.perplexity, cu_used: o.used, cu_counts: o.counts },
    shape: { codes: o.codes },
    uniforms: { scale: o.scale },
    label: o.label,
  });
}
