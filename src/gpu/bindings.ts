// What a caller binds to a kernel, checked against the WGSL before the GPU sees it: names, kinds,
// STORAGE usage, ranges, element counts for the shape, and aliasing (a buffer written by one
// binding and read or written by another in the same dispatch).
import type { BufferRange } from './buffers.js';
import type { ReflectedEntryPoint } from './reflect.js';

/** What a kernel binding takes: a buffer range, a whole buffer, or a texture view. */
export type BindingResource = BufferRange | GPUBuffer | GPUTextureView;

export const IS_BUFFER_RANGE = (r: BindingResource): r is BufferRange =>
  typeof r === 'object' && r !== null && 'buffer' in r && 'offset' in r;
export const IS_BUFFER = (r: BindingResource): r is GPUBuffer =>
  typeof r === 'object' && r !== null && 'mapAsync' in r && 'size' in r;

/** Whether two buffer ranges share bytes (the same buffer and intersecting [offset, offset + size)). */
export const rangesOverlap = (a: BufferRange, b: BufferRange): boolean =>
  a.buffer === b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;

/** Checks names, kinds, usages, sizes and aliasing of what a caller binds, before the GPU sees it. */
export function checkBindings(
  label: string,
  entry: ReflectedEntryPoint,
  given: Readonly<Record<string, BindingResource>>,
  requiredElements: Readonly<Record<string, number>>,
): void {
  const expected = entry.bindings.filter((b) => b.kind !== 'uniform');
  const expectedNames = expected.map((b) => b.name);
  const missing = expectedNames.filter((n) => !(n in given));
  const extra = Object.keys(given).filter((n) => !expectedNames.includes(n));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length) parts.push(`unknown ${extra.join(', ')}`);
    throw new Error(
      `kernel '${label}': binding mismatch: ${parts.join('; ')} (expects: ${expectedNames.join(', ')})`,
    );
  }
  const ranges: { name: string; range: BufferRange; writable: boolean }[] = [];
  for (const b of expected) {
    const resource = given[b.name]!;
    const isTexture = b.kind === 'texture' || b.kind === 'storage-texture';
    const isBuffer = IS_BUFFER_RANGE(resource) || IS_BUFFER(resource);
    if (isTexture && isBuffer) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' is a ${b.kind} but a buffer was given`,
      );
    }
    if (isTexture) continue;
    if (!isBuffer)
      throw new Error(`kernel '${label}': binding '${b.name}' needs a buffer (${b.kind})`);
    const range: BufferRange = IS_BUFFER_RANGE(resource)
      ? resource
      : { buffer: resource as GPUBuffer, offset: 0, size: (resource as GPUBuffer).size };
    if (!(range.buffer.usage & GPUBufferUsage.STORAGE)) {
      throw new Error(
        `kernel '${label}': buffer '${range.buffer.label}' bound to '${b.name}' lacks STORAGE usage`,
      );
    }
    if (range.offset + range.size > range.buffer.size || range.size <= 0) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' range [${range.offset}, ${range.offset + range.size}) is outside buffer '${range.buffer.label}' (${range.buffer.size} bytes)`,
      );
    }
    if (b.elementBytes > 0 && range.size % b.elementBytes !== 0) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' is ${range.size} bytes, not a multiple of its ${b.elementBytes}-byte element`,
      );
    }
    const need = requiredElements[b.name];
    if (need !== undefined && b.elementBytes > 0 && range.size < need * b.elementBytes) {
      throw new Error(
        `kernel '${label}': binding '${b.name}' holds ${range.size / b.elementBytes} elements, the shape needs ${need}`,
      );
    }
    ranges.push({ name: b.name, range, writable: b.kind === 'storage' });
  }
  for (let i = 0; i < ranges.length; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      const a = ranges[i]!;
      const c = ranges[j]!;
      if (a.range.buffer !== c.range.buffer) continue;
      if (rangesOverlap(a.range, c.range) && (a.writable || c.writable)) {
        throw new Error(
          `kernel '${label}': bindings '${a.name}' and '${c.name}' overlap and one is written`,
        );
      }
      // WebGPU validates usage per buffer, not per range: read-write and read-only storage of
      // one buffer in the same dispatch is an error even when the ranges are disjoint.
      if (a.writable !== c.writable) {
        throw new Error(
          `kernel '${label}': '${a.name}' and '${c.name}' bind the same buffer ` +
            `'${a.range.buffer.label}' as read-write and read-only storage (WebGPU forbids that in one ` +
            'dispatch even for disjoint ranges; use separate buffers)',
        );
      }
    }
  }
}
