// What an op's prepare() gets and returns (see executor.ts): the runtime and each tensor's buffer
// range, and a Program with an optional per-step update.
import type { BufferRange } from '../gpu/buffers.js';
import type { Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { MatmulVariant } from '../kernels/matmul.js';
import type { Tensor } from './graph.js';

/** Values that change between steps, pushed into uniforms by update(). */
export interface StepState {
  /** 0-based step counter (part of the PRNG counter: new noise every step). */
  step: number;
  /** Chunk of one call (counter word 1 of the samplers that read it; default 0). */
  sample?: number;
}

export interface PrepareContext {
  rt: GpuRuntime;
  /** The buffer range of a tensor (a view's range is its base's). */
  buffer(t: Tensor): BufferRange;
  /** Matmul variant pinned for every matmul of the graph (default: per-shape selection). */
  matmulVariant: MatmulVariant | undefined;
}

/** An op's program; `update` writes this step's uniforms (only ops whose uniforms change). */
export type PreparedOp = Program & { update?(state: StepState): void };
