// Kernel shapes are typed by the kernel's size names: a prepare call whose shape misses or
// misspells a size does not compile. tsc checks this file (npm test), so each @ts-expect-error
// below fails the type check if its line ever compiles.
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { BufferRange } from '../src/gpu/buffers.js';
import { defineKernel, dispatch1d, kernelFamily, type KernelDef } from '../src/gpu/kernel.js';
import type { ProgramBuilder } from '../src/gpu/program.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';

const copyRows = defineKernel<'rows' | 'cols'>({
  name: 'test_typed_copy_rows',
  file: 'test/typed-copy-rows.wgsl',
  code: '',
  entryPoint: 'main',
  workgroupSize: [64],
  dispatch: ({ rows, cols }) => dispatch1d(Math.ceil((rows * cols) / 64)),
  elements: ({ rows, cols }) => ({ dst: rows * cols, src: rows * cols }),
});

const family = kernelFamily<'n'>({
  file: 'test/typed-family.wgsl',
  code: '',
  workgroupSize: [64],
  dispatch: ({ n }) => dispatch1d(Math.ceil(n / 64)),
});
/** A family kernel with a size of its own besides the family's n. */
const strided = family<'stride'>('test_typed_strided', {
  elements: ({ n, stride }) => ({ out: n * stride }),
});

/** Type-checked, never run: the prepare call sites the compiler accepts and rejects. */
async function callSites(rt: GpuRuntime, b: ProgramBuilder, dst: BufferRange, src: BufferRange) {
  const bindings = { dst, src };
  await rt.prepare(copyRows, { bindings, shape: { rows: 2, cols: 3 } });
  // @ts-expect-error a misspelled size
  await rt.prepare(copyRows, { bindings, shape: { rows: 2, colz: 3 } });
  // @ts-expect-error a missing size
  await rt.prepare(copyRows, { bindings, shape: { rows: 2 } });
  // @ts-expect-error no shape for a kernel that names its sizes
  await rt.prepare(copyRows, { bindings });
  const partial = { rows: 2 };
  // @ts-expect-error a shape built beforehand is checked as well
  await rt.prepare(copyRows, { bindings, shape: partial });
  // Programs prepare and dispatch with the same check.
  await b.dispatch(copyRows, { bindings, shape: { rows: 2, cols: 3 } });
  // @ts-expect-error a misspelled size
  await b.prepare(copyRows, { bindings, shape: { row: 2, cols: 3 } });
  // A family kernel needs the family's sizes and its own.
  await rt.prepare(strided, { bindings: { out: dst }, shape: { n: 4, stride: 2 } });
  // @ts-expect-error the kernel's own size is missing
  await rt.prepare(strided, { bindings: { out: dst }, shape: { n: 4 } });
  // By name, the sizes are unknown until run time (where prepare names a missing one).
  await rt.prepare('test_typed_copy_rows', { bindings, shape: { rows: 2, cols: 3 } });
}

describe('typed kernel shapes', () => {
  it('keep a typed kernel a KernelDef, and its dispatch reading the declared sizes', () => {
    expectTypeOf(callSites).toBeFunction();
    expectTypeOf(copyRows).toEqualTypeOf<KernelDef<'rows' | 'cols'>>();
    expectTypeOf(strided).toEqualTypeOf<KernelDef<'n' | 'stride'>>();
    // The registry holds kernels of any sizes (dispatch and elements are bivariant methods).
    const registered: readonly KernelDef[] = [copyRows, strided];
    expect(registered.map((k) => k.name)).toEqual(['test_typed_copy_rows', 'test_typed_strided']);
    expect(copyRows.dispatch({ rows: 100, cols: 64 })).toEqual([100, 1, 1]);
    expect(strided.elements?.({ n: 10, stride: 3 })).toEqual({ out: 30 });
  });
});
