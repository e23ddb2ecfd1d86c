// Memory planning: temporaries are given pooled buffers by liveness, so tensors that are never
// alive at the same time share a buffer. Whole buffers, not sub-ranges of one arena: WebGPU
// validates storage usage per buffer within a dispatch, so a dispatch may not read one range of a
// buffer and write another. Parameters and their gradients are laid out in flat buffers (so Adam
// is one dispatch over them); inputs and state get their own buffers.
import type { Graph, Tensor } from './graph.js';

export interface Placement {
  /** Byte offset in the flat parameter/gradient buffer (params, grads); 0 for pooled temps. */
  offset: number;
  /** Bytes (4 × elements, not rounded). */
  bytes: number;
}

export interface Interval {
  /** Index of the first op that touches the tensor. */
  start: number;
  /** Index of the last op that touches it (the op count when it is kept to the end). */
  end: number;
}

export interface MemoryPlan {
  /** Index into `buffers` of each 'temp' tensor that is not a view (views use their base's). */
  temps: Map<Tensor, number>;
  /** Byte size of each pooled buffer. */
  buffers: number[];
  /** Bytes of all pooled buffers: the peak of live temporaries after reuse. */
  pooledBytes: number;
  /** Sum of every temporary's bytes, what a plan without reuse would need. */
  unplannedBytes: number;
  /** Liveness of each temporary. */
  intervals: Map<Tensor, Interval>;
}

/**
 * Liveness of each temp tensor over the op list (inclusive intervals). A view has no buffer of its
 * own: its uses count as uses of its base, which it keeps alive.
 */
export function liveness(graph: Graph): Map<Tensor, Interval> {
  const intervals = new Map<Tensor, Interval>();
  graph.ops.forEach((op, i) => {
    for (const t of [...op.inputs, ...op.outputs]) {
      const base = t.base;
      if (base.role !== 'temp') continue;
      const iv = intervals.get(base);
      if (iv) iv.end = Math.max(iv.end, i);
      else intervals.set(base, { start: i, end: i });
    }
  });
  for (const t of graph.tensors) {
    if (t.keep && t.base.role === 'temp') {
      const iv = intervals.get(t.base);
      if (iv) iv.end = graph.ops.length;
    }
  }
  for (const t of graph.tensors) {
    if (t.role === 'temp' && !intervals.has(t.base)) {
      throw new Error(`planner: temporary ${t.toString()} is used by no op`);
    }
  }
  return intervals;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * Greedy interval assignment in order of first use: a tensor takes a free buffer (its last
 * tenant's interval ended before this one starts; intervals are inclusive, so an op's inputs
 * never share a buffer with its outputs), preferring the smallest that fits, else the largest
 * (grown), else a new one.
 */
export function planMemory(graph: Graph): MemoryPlan {
  const intervals = liveness(graph);
  const order = [...intervals.keys()].sort(
    (a, b) => intervals.get(a)!.start - intervals.get(b)!.start || b.size - a.size || a.id - b.id,
  );
  const temps = new Map<Tensor, number>();
  const pool: { bytes: number; freeAfter: number }[] = [];
  let unplannedBytes = 0;
  for (const t of order) {
    const iv = intervals.get(t)!;
    const bytes = alignUp(4 * t.size, 16);
    unplannedBytes += bytes;
    let best = -1;
    for (let i = 0; i < pool.length; i++) {
      const b = pool[i]!;
      if (b.freeAfter >= iv.start) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const cur = pool[best]!;
      const fits = b.bytes >= bytes;
      const curFits = cur.bytes >= bytes;
      if (
        (fits && (!curFits || b.bytes < cur.bytes)) ||
        (!fits && !curFits && b.bytes > cur.bytes)
      ) {
        best = i;
      }
    }
    if (best < 0) {
      pool.push({ bytes, freeAfter: iv.end });
      best = pool.length - 1;
    } else {
      const b = pool[best]!;
      b.bytes = Math.max(b.bytes, bytes);
      b.freeAfter = iv.end;
    }
    temps.set(t, best);
  }
  const buffers = pool.map((b) => b.bytes);
  return {
    temps,
    buffers,
    pooledBytes: buffers.reduce((a, b) => a + b, 0),
    unplannedBytes,
    intervals,
  };
}

/** Flat layout of parameters: each at an aligned offset, in declaration order. */
export function planFlat<T extends { readonly size: number }>(
  params: readonly T[],
  alignment: number,
): { offsets: Map<T, Placement>; bytes: number } {
  const offsets = new Map<T, Placement>();
  let bytes = 0;
  for (const p of params) {
    offsets.set(p, { offset: bytes, bytes: 4 * p.size });
    bytes = alignUp(bytes + 4 * p.size, alignment);
  }
  return { offsets, bytes: Math.max(bytes, alignment) };
}
