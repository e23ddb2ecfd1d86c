// A program: the one unit of prepared GPU work. Dispatches recorded in order, the GPU resources
// they own (scratch buffers, textures, the dispatches' uniform buffers) and whatever per-use hooks
// the maker attaches (a per-step update, setAlpha, stats). Every multi-dispatch kernel family, a
// graph op, an optimizer step and an inference program are programs, built by one scoped builder:
// if building fails half-way, everything made so far is freed.
import type { BufferRange } from './buffers.js';
import type { KernelDef } from './kernel.js';
import type { GpuRuntime, PrepareOptionsFor, PreparedDispatch } from './runtime.js';

/** Anything that records into a compute pass: a prepared dispatch or a program. */
export interface Encodable {
  /** Names the work in GPU labels and error messages. */
  readonly label: string;
  /** Records the work into an open compute pass (nothing is submitted). */
  encode(pass: GPUComputePassEncoder): void;
}

/**
 * Prepared GPU work made of several dispatches, with the resources it owns: an optimizer step
 * ({@link Optimizer.program}), a decoder ({@link DecoderProgram}). Record it with
 * {@link Program.encode} into your own compute pass, or submit it with {@link GpuRuntime.submit};
 * it replays without creating GPU objects. {@link Program.destroy} frees what it owns.
 */
export class Program implements Encodable {
  private destroyed = false;

  constructor(
    readonly label: string,
    /** Recorded in this order by encode(). */
    readonly dispatches: readonly PreparedDispatch[],
    private readonly cleanups: readonly (() => void)[],
  ) {}

  /** Records every dispatch, in order, into an open compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) d.encode(pass);
  }

  /** Frees everything the program owns (idempotent). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (let i = this.cleanups.length - 1; i >= 0; i--) this.cleanups[i]!();
  }
}

/** Collects a program's dispatches and resources; see buildProgram(). */
export class ProgramBuilder {
  private readonly dispatches: PreparedDispatch[] = [];
  private readonly cleanups: (() => void)[] = [];
  /** Dispatches made by prepare(): already owned when appended. */
  private readonly owned = new WeakSet<PreparedDispatch>();

  constructor(
    readonly rt: GpuRuntime,
    readonly label: string,
  ) {}

  /** A scratch storage buffer owned by the program (labelled `<program>.<name>`). */
  storage(name: string, bytes: number): BufferRange {
    const range = this.rt.buffers.storage(`${this.label}.${name}`, bytes);
    this.cleanups.push(() => this.rt.buffers.destroy(range.buffer));
    return range;
  }

  /** A texture owned by the program (labelled `<program>.<name>`). */
  texture(name: string, descriptor: Omit<GPUTextureDescriptor, 'label'>): GPUTexture {
    const texture = this.rt.device.createTexture({
      ...descriptor,
      label: `${this.label}.${name}`,
    });
    this.cleanups.push(() => texture.destroy());
    return texture;
  }

  /** Prepares a dispatch owned by the program, without appending it (append() it later). */
  async prepare<K extends string>(
    kernel: KernelDef<K> | string,
    options: PrepareOptionsFor<NoInfer<K>>,
  ): Promise<PreparedDispatch> {
    const d = await this.rt.prepare(kernel, options);
    this.owned.add(d);
    this.cleanups.push(() => d.destroy());
    return d;
  }

  /** Prepares a dispatch and appends it. */
  async dispatch<K extends string>(
    kernel: KernelDef<K> | string,
    options: PrepareOptionsFor<NoInfer<K>>,
  ): Promise<PreparedDispatch> {
    const d = await this.prepare(kernel, options);
    this.dispatches.push(d);
    return d;
  }

  /** Appends a dispatch or a whole program; one made elsewhere becomes owned by this program. */
  append<T extends PreparedDispatch | Program>(part: T): T {
    if (part instanceof Program) {
      this.dispatches.push(...part.dispatches);
      this.cleanups.push(() => part.destroy());
    } else {
      this.dispatches.push(part);
      if (!this.owned.has(part)) {
        this.owned.add(part);
        this.cleanups.push(() => part.destroy());
      }
    }
    return part;
  }

  /** Runs `cleanup` when the program is destroyed (resources made outside the builder). */
  onDestroy(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /** Frees everything collected so far (buildProgram calls it when the body throws). */
  abandon(): void {
    new Program(this.label, [], this.cleanups).destroy();
    this.dispatches.length = 0;
    this.cleanups.length = 0;
  }

  finish(): Program {
    return new Program(this.label, [...this.dispatches], [...this.cleanups]);
  }
}

/**
 * Builds a program: `body` prepares and appends its parts through the builder and may return
 * extras (hooks such as `update` or `setAlpha`, or handles such as `stats`) that are attached to
 * the program. If `body` throws, everything it made is freed and the error propagates.
 */
export async function buildProgram<E extends object = object>(
  rt: GpuRuntime,
  label: string,
  body: (b: ProgramBuilder) => Promise<E | void>,
): Promise<Program & E> {
  const b = new ProgramBuilder(rt, label);
  let extras: E | void;
  try {
    extras = await body(b);
  } catch (error) {
    b.abandon();
    throw error;
  }
  return Object.assign(b.finish(), extras ?? {}) as Program & E;
}

/** A program of one dispatch (it owns the dispatch's uniform buffer). */
export function singleProgram(d: PreparedDispatch): Program {
  return new Program(d.label, [d], [() => d.destroy()]);
}

/** A program as it is, or a dispatch as a program of one. */
export function asProgram(work: PreparedDispatch | Program): Program {
  return work instanceof Program ? work : singleProgram(work);
}
