// Per-kernel GPU timing with timestamp queries, where the adapter has `timestamp-query`.
import type { PreparedDispatch } from './runtime.js';

/** GPU time of one timed dispatch. */
export interface KernelTime {
  label: string;
  /** GPU time of the dispatch in milliseconds. */
  ms: number;
}

/** Times dispatches with timestamp queries (GpuRuntime.timer, where the adapter has them). */
export class GpuTimer {
  private querySet: GPUQuerySet | undefined;
  private resolveBuffer: GPUBuffer | undefined;
  private capacity = 0;

  constructor(private readonly device: GPUDevice) {}

  private ensure(dispatchCount: number): void {
    if (this.capacity >= dispatchCount) return;
    this.destroy();
    this.capacity = Math.max(dispatchCount, 16);
    this.querySet = this.device.createQuerySet({
      label: 'kernel timer',
      type: 'timestamp',
      count: 2 * this.capacity,
    });
    this.resolveBuffer = this.device.createBuffer({
      label: 'kernel timer resolve',
      size: 16 * this.capacity,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /**
   * Runs the dispatches once, each in its own compute pass with timestamps at its start and end,
   * and returns their GPU times. Awaits the result: for benchmarks, not for training.
   */
  async time(dispatches: readonly PreparedDispatch[]): Promise<KernelTime[]> {
    this.ensure(dispatches.length);
    const querySet = this.querySet!;
    const resolveBuffer = this.resolveBuffer!;
    const bytes = 16 * dispatches.length;
    const readBuffer = this.device.createBuffer({
      label: 'kernel timer read',
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const encoder = this.device.createCommandEncoder({ label: 'timed dispatches' });
      dispatches.forEach((d, i) => {
        const pass = encoder.beginComputePass({
          label: d.label,
          timestampWrites: {
            querySet,
            beginningOfPassWriteIndex: 2 * i,
            endOfPassWriteIndex: 2 * i + 1,
          },
        });
        d.encode(pass);
        pass.end();
      });
      encoder.resolveQuerySet(querySet, 0, 2 * dispatches.length, resolveBuffer, 0);
      encoder.copyBufferToBuffer(resolveBuffer, 0, readBuffer, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      await readBuffer.mapAsync(GPUMapMode.READ);
      const stamps = new BigUint64Array(readBuffer.getMappedRange().slice(0));
      return dispatches.map((d, i) => ({
        label: d.label,
        ms: Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e6,
      }));
    } finally {
      readBuffer.destroy();
    }
  }

  /** Frees the query set and its buffer. */
  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
    this.querySet = undefined;
    this.resolveBuffer = undefined;
    this.capacity = 0;
  }
}
