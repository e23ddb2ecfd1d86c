// Reads a small GPU accumulator without stalling the caller: each recorded copy goes to a free
// MAP_READ staging buffer of a ring and the accumulator is cleared in the same command buffer;
// the copy is mapped without awaiting, and delivered when the GPU gets there. Only the number of
// staging buffers bounds how many reads are in flight; with none free, the copy waits for a later
// step (the sums keep accumulating on the GPU meanwhile). A `tail` range (a running count kept
// elsewhere, never cleared) can ride along in the same copy. A failed map (a lost device) is kept
// and thrown by flush(), never left as an unhandled rejection.
import type { BufferRange } from './buffers.js';
import type { GpuRuntime } from './runtime.js';

/** What one readback covers: the summed values and how many steps and examples went into them. */
export interface Readback {
  sums: Float32Array;
  steps: number;
  examples: number;
  /** The last step (1-based) included. */
  lastStep: number;
  /** The tail range's values at that point (empty without one). */
  tail: Float32Array;
}

export class ReadbackRing {
  private readonly slots: { buffer: GPUBuffer; busy: boolean }[];
  private pendingSteps = 0;
  private pendingExamples = 0;
  private lastStep = 0;
  private inflight: Promise<void>[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly rt: GpuRuntime,
    private readonly acc: BufferRange,
    size: number,
    label: string,
    private readonly deliver: (r: Readback) => void,
    private readonly tail?: BufferRange,
  ) {
    this.slots = Array.from({ length: size }, (_, i) => ({
      buffer: rt.buffers.create(
        `${label}.readback${i}`,
        acc.size + (tail?.size ?? 0),
        GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      ),
      busy: false,
    }));
  }

  /** The first failed readback (e.g. the device was lost), if any. */
  get error(): Error | undefined {
    return this.failure;
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
    const tail = this.tail;
    if (tail) {
      encoder.copyBufferToBuffer(tail.buffer, tail.offset, slot.buffer, this.acc.size, tail.size);
    }
    const steps = this.pendingSteps;
    const examples = this.pendingExamples;
    const lastStep = this.lastStep;
    this.pendingSteps = 0;
    this.pendingExamples = 0;
    // Called after the submit: map and deliver when the GPU gets there.
    return () => {
      const done = slot.buffer.mapAsync(GPUMapMode.READ).then(
        () => {
          const all = new Float32Array(slot.buffer.getMappedRange().slice(0));
          slot.buffer.unmap();
          slot.busy = false;
          const n = this.acc.size / 4;
          this.deliver({
            sums: all.subarray(0, n),
            steps,
            examples,
            lastStep,
            tail: all.subarray(n),
          });
        },
        (error: unknown) => {
          slot.busy = false;
          this.failure ??= error instanceof Error ? error : new Error(String(error));
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
    while (this.pendingSteps > 0 && !this.failure) {
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
    if (this.failure) throw this.failure;
  }

  destroy(): void {
    for (const s of this.slots) this.rt.buffers.destroy(s.buffer);
  }
}
