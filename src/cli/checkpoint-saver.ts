// Checkpoints during training without pausing it. snapshot() is called right after a step is
// submitted: it records GPU copies of the weights and both Adam moments into a staging buffer, so
// the queue takes them after that step and before the next one (a consistent state at that step),
// then maps the copy and writes the file atomically (writeCheckpointFile: temp file, fsync,
// rename) while training goes on. Writes are serialized, so an older state never replaces a newer
// one. Staging buffers are reused; at most two periodic snapshots are in flight, a third is taken
// at the next step instead, and a forced one (epoch end, the end of the run) always goes through.
// Each file also gets the caller's metadata for its step (the CLI records its run: cli/resume.ts).
import { writeCheckpointFile } from '../checkpoint/file.js';
import type { OptimizerStateInput } from '../checkpoint/checkpoint.js';
import type { TensorInput } from '../checkpoint/safetensors.js';
import type { VaeModel } from '../vae/model.js';
import type { Trainer } from '../vae/trainer.js';

const MAX_PERIODIC_IN_FLIGHT = 2;

export class CheckpointSaver {
  private readonly free: GPUBuffer[] = [];
  private readonly all: GPUBuffer[] = [];
  private inFlight = 0;
  private chain: Promise<void> = Promise.resolve();
  private pendingStep: number | undefined;
  private failure: Error | undefined;
  /** The step of the last checkpoint written to disk (undefined before the first). */
  savedStep: number | undefined;
  /** Checkpoints written so far. */
  written = 0;
  /** The step of the last snapshot taken (written or not yet). */
  snapshotStep: number | undefined;

  private constructor(
    private readonly model: VaeModel,
    private readonly trainer: Trainer,
    readonly path: string,
    private readonly hyper: unknown,
    /** Called once when a write fails (e.g. to stop training). */
    private readonly onError: (error: Error) => void,
    private readonly metadata: (step: number) => Record<string, string>,
  ) {}

  static async create(
    trainer: Trainer,
    path: string,
    onError: (error: Error) => void = () => {},
    /** Extra metadata of the checkpoint of a step. */
    metadata: (step: number) => Record<string, string> = () => ({}),
  ): Promise<CheckpointSaver> {
    // The hyperparameters as the trainer states them (read once; the moments it reads are unused).
    const { hyper } = await trainer.optimizerState();
    return new CheckpointSaver(trainer.model, trainer, path, hyper, onError, metadata);
  }

  /** The first failed write, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Snapshots the state after `step` (call right after that step was submitted) and writes it in
   * the background. A periodic snapshot that finds two writes in flight is taken by the next call
   * instead; `force` always snapshots.
   */
  snapshot(step: number, force = false): void {
    if (this.failure) return;
    if (!force && this.inFlight >= MAX_PERIODIC_IN_FLIGHT) {
      this.pendingStep = step;
      return;
    }
    this.pendingStep = undefined;
    this.snapshotStep = step;
    const { rt, flatSize } = this.model;
    const bytes = flatSize * 4;
    const staging =
      this.free.pop() ??
      this.track(
        rt.buffers.create(
          `checkpoint.snapshot.${this.all.length}`,
          3 * bytes,
          GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        ),
      );
    const encoder = rt.device.createCommandEncoder({ label: `checkpoint.snapshot@${step}` });
    encoder.copyBufferToBuffer(this.model.params, 0, staging, 0, bytes);
    const { m, v } = this.trainer.optimizer;
    encoder.copyBufferToBuffer(m.buffer, m.offset, staging, bytes, bytes);
    encoder.copyBufferToBuffer(v.buffer, v.offset, staging, 2 * bytes, bytes);
    rt.device.queue.submit([encoder.finish()]);
    this.inFlight++;
    // Map now (frees the buffer soon); write after the writes before it.
    const state = staging.mapAsync(GPUMapMode.READ).then(
      () => {
        const flat = new Float32Array(staging.getMappedRange().slice(0));
        staging.unmap();
        return flat;
      },
      (e: unknown) => {
        // A lost device is the usual cause: name it and the work it was running.
        const why = rt.lossReport() ?? String(e);
        throw new Error(`checkpoint at step ${step}: reading the GPU state failed (${why})`);
      },
    );
    state.then(
      () => this.free.push(staging),
      () => {},
    );
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure) return;
        await this.write(step, await state);
        this.savedStep = step;
        this.written++;
      } catch (e) {
        this.fail(e);
      } finally {
        this.inFlight--;
      }
    });
  }

  /** Takes a periodic snapshot that was put off, if any (call after each submitted step). */
  catchUp(step: number): void {
    if (this.pendingStep !== undefined) this.snapshot(step);
  }

  /** Waits for every write; throws the first failure. */
  async flush(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Frees the staging buffers (after flush). */
  destroy(): void {
    for (const b of this.all) this.model.rt.buffers.destroy(b);
    this.all.length = 0;
    this.free.length = 0;
  }

  private track(buffer: GPUBuffer): GPUBuffer {
    this.all.push(buffer);
    return buffer;
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    const error = e instanceof Error ? e : new Error(String(e));
    this.failure = new Error(`cannot write the checkpoint ${this.path}: ${error.message}`, {
      cause: error,
    });
    this.onError(this.failure);
  }

  private async write(step: number, flat: Float32Array): Promise<void> {
    const n = this.model.flatSize;
    const tensors = (part: number): [string, TensorInput][] =>
      [...this.model.unflatten(flat.subarray(part * n, (part + 1) * n))].map(([name, data]) => [
        name,
        { shape: this.model.layout.get(name)!.shape, data },
      ]);
    const optimizer: OptimizerStateInput = {
      type: 'adam',
      step,
      moments: { m: tensors(1), v: tensors(2) },
      hyper: this.hyper,
    };
    await writeCheckpointFile(this.path, {
      params: tensors(0),
      config: this.model.config,
      optimizer,
      metadata: this.metadata(step),
    });
  }
}
