// Placeholder bindings: a kernel whose entry point declares a binding it does not use for some
// configuration (a matmul without bias, a concat part without a gradient) still needs a buffer
// bound there. One 16-byte buffer per runtime and name, made on first use and freed with the
// runtime's buffers. Writable bindings of one dispatch must not alias, so each unused writable
// binding of a kernel takes its own name.
import type { BufferRange } from './buffers.js';
import type { GpuRuntime } from './runtime.js';

const made = new WeakMap<GpuRuntime, Map<string, BufferRange>>();

/** The runtime's placeholder buffer named `name` (16 bytes, never read or written by design). */
export function placeholderBuffer(rt: GpuRuntime, name: string): BufferRange {
  let byName = made.get(rt);
  if (!byName) made.set(rt, (byName = new Map()));
  let range = byName.get(name);
  if (!range) byName.set(name, (range = rt.buffers.storage(`unused:${name}`, 16)));
  return range;
}
