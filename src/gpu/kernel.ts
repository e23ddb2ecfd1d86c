// Kernels declared as data, in one registry: WGSL file, entry point, workgroup size (through the
// override constants WG_X/WG_Y/WG_Z), other overrides, and the dispatch size for a shape. The
// bindings and the uniform layout are not written here: they are reflected from the WGSL.
import type { ShaderFile } from '../shaders/wgsl.generated.js';

/**
 * Named sizes that a dispatch is planned for, e.g. { M: 128, N: 400, K: 784 }. A kernel declares
 * its names as K, so a shape that misses or misspells one is a compile error where it is prepared.
 */
export type Shape<K extends string = string> = Readonly<Record<K, number>>;

/** Workgroup counts of a dispatch in x, y and z. */
export type Workgroups = readonly [number, number, number];

/**
 * A compute kernel declared as data: its WGSL, entry point, workgroup size, override constants
 * and how many workgroups a shape needs. Register it with defineKernel. K names the sizes of its
 * shape: all that prepare must give, those read only as uniform fields included.
 */
export interface KernelDef<K extends string = string> {
  /** Unique name; also the label of every GPU object made for it. */
  name: string;
  /** A file under shaders/ (embedded at build time), or any name when `code` is given. */
  file: ShaderFile | (string & {});
  /** Inline WGSL instead of the embedded file (user-defined kernels, tests). */
  code?: string;
  entryPoint: string;
  /** Workgroup size; the WGSL must declare `override WG_X` (and WG_Y/WG_Z when given). */
  workgroupSize: readonly [number, number?, number?];
  /** Other override constants, by WGSL name. */
  constants?: Readonly<Record<string, number>>;
  // dispatch and elements are methods so that their parameters are bivariant: a KernelDef<'n'>
  // still goes where any KernelDef does (the registry, getKernel, runtime caches).
  /** Number of workgroups for a shape (each dimension at most maxComputeWorkgroupsPerDimension). */
  dispatch(shape: Shape<K>): Workgroups;
  /**
   * Minimum number of elements each storage binding must hold for a shape. Checked before any
   * bind group is made, so a too-small buffer is a clear error instead of a silent clamp.
   */
  elements?(shape: Shape<K>): Readonly<Record<string, number>>;
  /** Device features the kernel needs, e.g. 'subgroups'. */
  requires?: readonly string[];
}

const registry = new Map<string, KernelDef>();

/**
 * Adds a kernel to the registry; names are unique. Returns the definition for convenience, typed
 * by its size names: `defineKernel<'rows' | 'cols'>({ ... })`.
 */
export function defineKernel<K extends string>(def: KernelDef<K>): KernelDef<K> {
  const existing = registry.get(def.name);
  if (existing && existing !== def) throw new Error(`kernel '${def.name}' is defined twice`);
  registry.set(def.name, def);
  return def;
}

export function getKernel(name: string): KernelDef {
  const def = registry.get(name);
  if (!def)
    throw new Error(`unknown kernel '${name}' (registered: ${[...registry.keys()].join(', ')})`);
  return def;
}

/** Workgroup-size override constants for a definition. */
export function workgroupConstants(def: KernelDef): Record<string, number> {
  const [x, y, z] = def.workgroupSize;
  const constants: Record<string, number> = { WG_X: x };
  if (y !== undefined) constants.WG_Y = y;
  if (z !== undefined) constants.WG_Z = z;
  return constants;
}

export function invocationsPerWorkgroup(def: KernelDef): number {
  const [x, y, z] = def.workgroupSize;
  return x * (y ?? 1) * (z ?? 1);
}

/** Largest workgroup count allowed in one dimension by every WebGPU device. */
export const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/**
 * Spreads `count` workgroups over x and y so neither exceeds the 65535 limit. Kernels that use it
 * recover the linear workgroup index as `wid.y * num_workgroups.x + wid.x` and bounds-check it.
 */
export function dispatch1d(count: number): Workgroups {
  const groups = Math.max(1, Math.ceil(count));
  if (groups <= MAX_WORKGROUPS_PER_DIMENSION) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIMENSION);
  const x = Math.ceil(groups / y);
  return [x, y, 1];
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * Defines the kernels of one WGSL file from what they share (file, workgroup size, constants, a
 * default dispatch): each kernel is then named by its entry point and gives its element counts
 * (and its dispatch when it differs). K names the sizes every kernel of the family has; a kernel
 * adds its own as L: `family<'cols'>('entry', { elements: ({ n, cols }) => ... })`.
 */
export function kernelFamily<K extends string>(
  common: Omit<KernelDef<K>, 'name' | 'entryPoint' | 'dispatch' | 'elements'> & {
    dispatch?: KernelDef<K>['dispatch'];
  },
): <L extends string = never>(
  entryPoint: string,
  own: {
    dispatch?: KernelDef<K | L>['dispatch'];
    elements: NonNullable<KernelDef<K | L>['elements']>;
  },
) => KernelDef<K | L> {
  return (entryPoint, own) => {
    const dispatch = own.dispatch ?? common.dispatch;
    if (!dispatch) throw new Error(`kernel '${entryPoint}' has no dispatch`);
    return defineKernel({
      ...common,
      name: entryPoint,
      entryPoint,
      dispatch,
      elements: own.elements,
    });
  };
}
