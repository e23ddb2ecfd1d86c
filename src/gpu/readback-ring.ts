// Reads a small GPU accumulator without stalling the caller: each recorded copy goes to a free
// MAP_READ staging buffer of a ring and the accumulator is cleared in the same command buffer;
// the copy is mapped without awaiting, and delivered when the GPU gets there. Only the number of
// staging buffers bounds how many reads are in flight; with none free, the copy waits for a later
// step (the sums keep accumulating on the GPU meanwhile).
import type { BufferRange } from './buffers.js';
import type { GpuRuntime } from './runtime.js';

/** What one readback covers: the summed values and how many steps and examples went into them. */
export interface Readback {
  sums: Float32Array;
  steps: number;
  examples: number;
  /** The last step (1-based) included. */
  lastStep: number;
}

export class ReadbackRing {
  private readonly slots: { buffer: GPUBuffer; busy: boolean }[];
  private pendingSteps = 0;
  private pendingExamples = 0;
  private lastStep = 0;
  private inflight: Promise<void>[] = [];

  constructor(
    private readonly rt: GpuRuntime,
    private readonly acc: BufferRange,
    size: number,
    label: string,
    private readonly deliver: (r: Readback) => void,
  ) {
    this.slots = Array.from({ length: size }, (_, i) => ({
      buffer: rt.buffers.create(
        `${label}.readback${i}`,
        acc.size,
        GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      ),
      busy: false,
    }));
  }

  /** Counts a recorded step; with copyNow and a free slot, records the copy and the reset. */
  record(
    encoder: GPUCommandEncoder,
    examples: number,
    step: number,
    copyNow: boolean,
  ): (() => void) | undefined {
    this.pendingSteps++;
    this.pendingExamples += examples;
    this.lastStep = step;
    return copyNow ? this.copy(encoder) : undefined;
  }

  /** Records acc -> a free staging buffer and acc = 0; returns what to call after the submit. */
  private copy(encoder: GPUCommandEncoder): (() => void) | undefined {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot || this.pendingSteps === 0) return undefined;
    slot.busy = true;
    encoder.copyBufferToBuffer(this.acc.buffer, this.acc.offset, slot.buffer, 0, this.acc.size);
    encoder.clearBuffer(this.acc.buffer, this.acc.offset, this.acc.size);
    const steps = this.pendingSteps;
    const examples = this.pendingExamples;
    const lastStep = this.lastStep;
    this.pendingSteps = 0;
    this.pendingExamples = 0;
    // Called after the submit: map and deliver when the GPU gets there.
    return () => {
      const done = slot.buffer.mapAsync(GPUMapMode.READ).then(
        () => {
          const sums = new Float32Array(slot.buffer.getMappedRange().slice(0));
          slot.buffer.unmap();
          slot.busy = false;
          this.deliver({ sums, steps, examples, lastStep });
        },
        (error: unknown) => {
          slot.busy = false;
          throw error;
        },
      );
      this.inflight.push(done);
      void done.finally(() => {
        this.inflight = this.inflight.filter((p) => p !== done);
      });
    };
  }

  /** Reads everything accumulated so far (a final copy when steps are pending). */
  async flush(): Promise<void> {
    while (this.pendingSteps > 0) {
      if (!this.slots.some((s) => !s.busy)) {
        await Promise.race(this.inflight);
        continue;
      }
      const encoder = this.rt.device.createCommandEncoder({ label: 'readback.flush' });
      const after = this.copy(encoder)!;
      this.rt.device.queue.submit([encoder.finish()]);
      after();
    }
    await Promise.all(this.inflight);
  }

  destroy(): void {
    for (const s of this.slots) this.rt.buffers.destroy(s.buffer);
  }
}
