// When a kernel may bind a buffer range as array<vec4<f32>>: the range must hold whole vec4s.
import type { BufferRange } from '../gpu/buffers.js';

/** True when `range` can be bound as array<vec4<f32>> (size and offset multiples of 16 bytes). */
export function holdsVec4s(range: BufferRange): boolean {
  return range.size % 16 === 0 && range.offset % 16 === 0;
}
