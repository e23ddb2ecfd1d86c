// Draws from categorical distributions (shaders/categorical.wgsl), forward only: one draw per row
// of softmax(logits / T) by the inverse CDF of a Philox uniform from the op's own stream; T = 0 is
// the argmax. The column a row draws for (of P per row) is read on the GPU, so an ancestral
// sampler replays one recorded program P times and advances the column between replays.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkElements, checkU32 } from './checks.js';

const WG = 64;

/**
 * cs_out (rows, P): column cs_position[0] of each row gets a draw from softmax of its K logits
 * (cs_logits (rows, P·K)) over cs_temperature[0]. Uniforms: rows, cols (K), positions (P), seed,
 * step, sample, stream.
 */
export const categoricalSampleKernel = defineKernel<'rows' | 'cols' | 'positions'>({
  name: 'categorical_sample',
  file: 'categorical.wgsl',
  entryPoint: 'categorical_sample',
  workgroupSize: [WG],
  dispatch: ({ rows }) => dispatch1d(ceilDiv(rows, WG)),
  elements: ({ rows, cols, positions }) => ({
    cs_out: rows * positions,
    cs_logits: rows * positions * cols,
    cs_temperature: 1,
    cs_position: 1,
  }),
});

export interface CategoricalSampleOptions {
  /** (rows, positions): the drawn indices, integer-valued f32 (only the current column written). */
  out: BindingResource;
  /** (rows, positions · classes). */
  logits: BindingResource;
  /** (1): T >= 0 (0: argmax). */
  temperature: BindingResource;
  /** (1): the column p < positions to draw, an integer-valued f32. */
  position: BindingResource;
  rows: number;
  /** K: classes per draw, at most 2^24 (indices are exact f32). */
  classes: number;
  /** P: draws per row (default 1). */
  positions?: number;
  seed: number;
  /** Counter word 2 (u32, default 0): a new value draws new numbers. */
  step?: number;
  /** Counter word 1 (u32, default 0). */
  sample?: number;
  /** The op's own noise stream (u32). */
  stream: number;
  label?: string;
}

/** One draw per row from softmax(logits / T) (see shaders/categorical.wgsl). */
export async function prepareCategoricalSample(
  rt: GpuRuntime,
  o: CategoricalSampleOptions,
): Promise<PreparedDispatch> {
  const kernel = 'categorical_sample';
  const P = o.positions ?? 1;
  checkDim(kernel, 'rows', o.rows);
  checkDim(kernel, 'classes', o.classes);
  checkDim(kernel, 'positions', P);
  if (o.classes > 2 ** 24) {
    throw new Error(`${kernel}: classes ${o.classes} exceeds 2^24 (indices are f32)`);
  }
  checkElements(kernel, 'logits', o.rows * P * o.classes);
  for (const [name, v] of [
    ['seed', o.seed],
    ['step', o.step ?? 0],
    ['sample', o.sample ?? 0],
    ['stream', o.stream],
  ] as const) {
    checkU32(kernel, name, v);
  }
  return rt.prepare(categoricalSampleKernel, {
    bindings: {
      cs_out: o.out,
      cs_logits: o.logits,
      cs_temperature: o.temperature,
      cs_position: o.position,
    },
    shape: { rows: o.rows, cols: o.classes, positions: P },
    uniforms: { seed: o.seed, step: o.step ?? 0, sample: o.sample ?? 0, stream: o.stream },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
