// The executor: turns a graph into prepared dispatches once (buffers planned, pipelines and bind
// groups made at compile time), then replays them. A step records every dispatch of the graph
// into one compute pass; the only per-step CPU work is writing inputs and small uniforms.
import { readFloats, type BufferRange } from '../gpu/buffers.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import type { Graph, Tensor } from './graph.js';
import type { PreparedOp, StepState } from './prepare.js';
import { planMemory, type MemoryPlan } from './planner.js';

/** The flat parameter buffers a graph's 'param' and 'param-grad' tensors are views into. */
export interface ParamBuffers {
  /** Byte offset and shape of each parameter by name. */
  layout: ReadonlyMap<string, { offset: number; shape: readonly number[] }>;
  params: GPUBuffer;
  /** Needed only by graphs with a backward pass. */
  grads?: GPUBuffer;
}

export interface CompileOptions {
  params: ParamBuffers;
  /** Buffers for 'input' or 'state' tensors by name, shared with other graphs (e.g. metrics). */
  external?: ReadonlyMap<string, BufferRange>;
  matmulVariant?: MatmulVariant;
  label?: string;
  /** Prepare the ops one after another instead of all at once (tests, debugging). */
  serial?: boolean;
}

export interface GraphMemory {
  /** Bytes of the pooled temporaries: the peak of the step's temporaries after reuse. */
  pooledBytes: number;
  /** What the temporaries would take without reuse. */
  unplannedBytes: number;
  /** Bytes of the input and state buffers this graph owns. */
  ioBytes: number;
  /** Pooled temporaries plus inputs and state: what one step needs besides the parameters. */
  peakStepBytes: number;
}

export class CompiledGraph {
  readonly dispatches: readonly PreparedDispatch[];

  private constructor(
    readonly rt: GpuRuntime,
    readonly graph: Graph,
    readonly plan: MemoryPlan,
    readonly memory: GraphMemory,
    private readonly ranges: Map<Tensor, BufferRange>,
    private readonly prepared: PreparedOp[],
    private readonly owned: GPUBuffer[],
  ) {
    this.dispatches = prepared.flatMap((p) => p.dispatches);
  }

  static async compile(
    rt: GpuRuntime,
    graph: Graph,
    options: CompileOptions,
  ): Promise<CompiledGraph> {
    const label = options.label ?? 'graph';
    const plan = planMemory(graph);
    const owned: GPUBuffer[] = [];
    const ranges = new Map<Tensor, BufferRange>();
    const prepared: PreparedOp[] = [];
    let ioBytes = 0;
    try {
      const pool = plan.buffers.map((bytes, i) => {
        const range = rt.buffers.storage(`${label}.temp${i}`, bytes);
        owned.push(range.buffer);
        return range.buffer;
      });
      for (const t of graph.tensors) {
        if (t.viewOf) continue;
        ranges.set(t, resolveRange(rt, t, plan, pool, options, label, owned));
        if ((t.role === 'input' || t.role === 'state') && !options.external?.has(t.name)) {
          ioBytes += 4 * t.size;
        }
      }
      // A view is its base's range (the same bytes under another shape).
      for (const t of graph.tensors) {
        if (t.viewOf) ranges.set(t, { ...ranges.get(t.base)!, size: 4 * t.size });
      }
      const buffer = (t: Tensor): BufferRange => ranges.get(t)!;
      const prepareOp = async (op: (typeof graph.ops)[number]): Promise<PreparedOp> => {
        try {
          return await op.def.prepare({ rt, buffer, matmulVariant: options.matmulVariant }, op);
        } catch (error) {
          throw new Error(
            `graph '${label}': preparing ${op.type} '${op.name}' failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
      };
      if (options.serial) {
        for (const op of graph.ops) prepared.push(await prepareOp(op));
      } else {
        // Every op at once: their pipelines compile concurrently. Results keep the graph's order;
        // on a failure everything that was prepared is freed (below) and the first error (in op
        // order) is thrown.
        const settled = await Promise.allSettled(graph.ops.map(prepareOp));
        for (const s of settled) if (s.status === 'fulfilled') prepared.push(s.value);
        const failed = settled.find((s) => s.status === 'rejected');
        if (failed) throw failed.reason;
      }
    } catch (error) {
      for (const p of prepared) p.destroy();
      for (const b of owned) rt.buffers.destroy(b);
      throw error;
    }
    const memory: GraphMemory = {
      pooledBytes: plan.pooledBytes,
      unplannedBytes: plan.unplannedBytes,
      ioBytes,
      peakStepBytes: plan.pooledBytes + ioBytes,
    };
    return new CompiledGraph(rt, graph, plan, memory, ranges, prepared, owned);
  }

  /** The buffer range holding a tensor. */
  buffer(t: Tensor): BufferRange {
    const r = this.ranges.get(t);
    if (!r) throw new Error(`graph: ${t.toString()} is not in this graph`);
    return r;
  }

  /** Writes an input tensor (queued; the next submitted step sees it). */
  write(t: Tensor, data: Float32Array): void {
    if (t.role !== 'input' && t.role !== 'state') {
      throw new Error(`graph: ${t.toString()} is not an input (role ${t.role})`);
    }
    if (data.length > t.size) {
      throw new Error(`graph: ${t.toString()} holds ${t.size} values, got ${data.length}`);
    }
    const r = this.buffer(t);
    this.rt.device.queue.writeBuffer(
      r.buffer,
      r.offset,
      data.buffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Reads a tensor back (waits for the GPU; for tests, evaluation and debugging). */
  async read(t: Tensor): Promise<Float32Array> {
    return readFloats(this.rt.device, this.buffer(t));
  }

  /** Pushes per-step values (step counter, capacity) into the uniforms of the ops that use them. */
  update(state: StepState): void {
    for (const p of this.prepared) p.update?.(state);
  }

  /** Records the whole graph into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) d.encode(pass);
  }

  destroy(): void {
    for (const p of this.prepared) p.destroy();
    for (const b of this.owned) this.rt.buffers.destroy(b);
    this.prepared.length = 0;
    this.owned.length = 0;
  }
}

function resolveRange(
  rt: GpuRuntime,
  t: Tensor,
  plan: MemoryPlan,
  pool: readonly GPUBuffer[],
  options: CompileOptions,
  label: string,
  owned: GPUBuffer[],
): BufferRange {
  const bytes = 4 * t.size;
  switch (t.role) {
    case 'temp': {
      return { buffer: pool[plan.temps.get(t)!]!, offset: 0, size: bytes };
    }
    case 'param':
    case 'param-grad': {
      const param = t.role === 'param' ? t : t.gradOf!;
      const entry = options.params.layout.get(param.name);
      if (!entry)
        throw new Error(`graph '${label}': parameter '${param.name}' is not in the model`);
      if (entry.shape.join() !== param.shape.join()) {
        throw new Error(
          `graph '${label}': parameter '${param.name}' is [${entry.shape.join(', ')}] in the model, ` +
            `[${param.shape.join(', ')}] in the graph`,
        );
      }
      const buffer = t.role === 'param' ? options.params.params : options.params.grads;
      if (!buffer) throw new Error(`graph '${label}': a backward pass needs the gradient buffer`);
      return { buffer, offset: entry.offset, size: bytes };
    }
    case 'input':
    case 'state': {
      const external = options.external?.get(t.name);
      if (external) {
        if (external.size < bytes) {
          throw new Error(
            `graph '${label}': buffer given for ${t.toString()} holds ${external.size / 4} values`,
          );
        }
        return { ...external, size: bytes };
      }
      const range = rt.buffers.storage(`${label}.${t.name}`, bytes);
      owned.push(range.buffer);
      return range;
    }
  }
}
