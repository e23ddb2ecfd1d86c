// Packing matmul operands into rgba32float textures for the texture-fed matmul (matmul_tex.wgsl).
// An activation changes every run, so its pack is part of the matmul program. A weight changes
// only when it is written (an upload, or an optimizer step), so its pack is shared by every matmul
// that reads it and recorded once per change:
//   - WeightPacks belongs to one weight buffer (a model's flat parameters). prepareMatmul finds it
//     by the buffer (weightPacksOf) and acquires a shared pack of the operand it reads.
//   - Each matmul program holds a conditional view of the shared pack dispatch: it records the
//     pack only when the weights changed since the last pack. Writers invalidate(): an upload
//     (VaeModel.writeWeights), and an Adam step over the buffer when it is recorded (adam.ts).
//   - A trainer calls encodeStale(pass) right after the optimizer step in the step's pass: the
//     packs are recorded there, once per step, and the step's next runs find them fresh. Without
//     that call, they are recorded at their next use: still once per change.
import type { BufferRange } from '../gpu/buffers.js';
import { defineKernel } from '../gpu/kernel.js';
import type { ProgramBuilder } from '../gpu/program.js';
import type { GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';

/** Fills an rgba32float texture with op(X), rows × cols (see matmul_pack.wgsl). */
export const matmulPack = defineKernel<'rows' | 'cols' | 'offset'>({
  name: 'matmul_pack',
  file: 'matmul_pack.wgsl',
  entryPoint: 'matmul_pack',
  workgroupSize: [8, 8],
  dispatch: ({ rows, cols }) => [Math.ceil(Math.ceil(cols / 4) / 8), Math.ceil(rows / 8), 1],
  elements: ({ rows, cols, offset }) => ({ src: offset + rows * cols }),
});

/** op(X) as rows × cols read from a buffer with strides (in elements). */
export interface PackLayout {
  rows: number;
  cols: number;
  rowStride: number;
  colStride: number;
  /** Element of the buffer where op(X) starts (default 0). */
  offset?: number;
  /**
   * Rows of the texture: `rows` rounded up to a multiple of 4 for a B operand, so the last k4 step
   * of the matmul reads zero rows past K (textures start zeroed).
   */
  textureRows: number;
}

function textureFor(
  rt: GpuRuntime,
  label: string,
  layout: PackLayout,
  make?: ProgramBuilder,
): GPUTexture {
  const descriptor = {
    size: [Math.ceil(layout.cols / 4), layout.textureRows],
    format: 'rgba32float' as const,
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING,
  };
  return make ? make.texture(label, descriptor) : rt.device.createTexture({ ...descriptor, label });
}

function packOptions(dst: GPUTexture, src: BufferRange, layout: PackLayout, label: string) {
  return {
    bindings: { dst: dst.createView(), src },
    shape: { rows: layout.rows, cols: layout.cols, offset: layout.offset ?? 0 },
    uniforms: { row_stride: layout.rowStride, col_stride: layout.colStride },
    label,
  };
}

/** Appends a pack of `src` into a texture owned by the program (packed on every run). */
export async function appendPack(
  program: ProgramBuilder,
  name: string,
  src: BufferRange,
  layout: PackLayout,
  label: string,
): Promise<GPUTextureView> {
  const texture = textureFor(program.rt, name, layout, program);
  await program.dispatch(matmulPack, packOptions(texture, src, layout, label));
  return texture.createView();
}

interface SharedPack {
  texture: GPUTexture;
  view: GPUTextureView;
  dispatch: PreparedDispatch;
  /** The WeightPacks version the texture holds (-1: never packed). */
  packedAt: number;
  refs: number;
}

/** A matmul's use of a shared weight pack: bind `view`, record `dispatch`, release() when done. */
export interface WeightPackHandle {
  readonly view: GPUTextureView;
  /** Records the pack only when the weights changed since it was last recorded. */
  readonly dispatch: PreparedDispatch;
  release(): void;
}

const registry = new WeakMap<GPUBuffer, WeightPacks>();

/** The WeightPacks of a weight buffer, or undefined when the buffer holds no registered weights. */
export function weightPacksOf(buffer: GPUBuffer): WeightPacks | undefined {
  return registry.get(buffer);
}

/** The shared texture packs of one weight buffer (see the top of this file). */
export class WeightPacks {
  private version = 0;
  private readonly packs = new Map<string, Promise<SharedPack>>();
  private readonly live = new Set<SharedPack>();
  private destroyed = false;
  /** Pack dispatches recorded so far (tests and benchmarks count them). */
  recorded = 0;

  constructor(
    readonly rt: GpuRuntime,
    readonly buffer: GPUBuffer,
    readonly label: string,
  ) {
    if (registry.has(buffer)) throw new Error(`weight packs: '${label}' is already registered`);
    registry.set(buffer, this);
  }

  /** Packs currently shared (each is one texture). */
  get size(): number {
    return this.live.size;
  }

  /** The weights were written outside a recorded pass (an upload): every pack is stale. */
  invalidate(): void {
    this.version++;
  }

  /**
   * Records every stale pack into the pass. A trainer calls it right after the optimizer step in
   * the step's pass (the update made every pack stale), so that later runs find them fresh.
   */
  encodeStale(pass: GPUComputePassEncoder): void {
    for (const p of this.live) {
      if (p.packedAt === this.version) continue;
      p.dispatch.encode(pass);
      p.packedAt = this.version;
      this.recorded++;
    }
  }

  /** A shared pack of the operand `src` (a range of this buffer) laid out as `layout`. */
  async acquire(src: BufferRange, layout: PackLayout): Promise<WeightPackHandle> {
    if (this.destroyed) throw new Error(`weight packs '${this.label}' were destroyed`);
    if (src.buffer !== this.buffer) {
      throw new Error(`weight packs '${this.label}': the operand is in another buffer`);
    }
    const key = `${src.offset}+${layout.offset ?? 0}:${layout.rows}x${layout.cols}:${layout.rowStride},${layout.colStride}`;
    let made = this.packs.get(key);
    if (!made) {
      made = this.create(key, src, layout);
      this.packs.set(key, made);
      made.catch(() => this.packs.delete(key));
    }
    const shared = await made;
    // Freed while this call waited (its last user released it): make a new one.
    if (!this.live.has(shared)) return this.acquire(src, layout);
    shared.refs++;
    let released = false;
    return {
      view: shared.view,
      dispatch: shared.dispatch.conditional(() => {
        if (shared.packedAt === this.version) return false;
        shared.packedAt = this.version;
        this.recorded++;
        return true;
      }),
      release: () => {
        if (released) return;
        released = true;
        if (--shared.refs === 0) this.free(key, shared);
      },
    };
  }

  private async create(key: string, src: BufferRange, layout: PackLayout): Promise<SharedPack> {
    const name = `${this.label}.pack[${key}]`;
    const texture = textureFor(this.rt, name, layout);
    try {
      const dispatch = await this.rt.prepare(matmulPack, packOptions(texture, src, layout, name));
      const shared: SharedPack = {
        texture,
        view: texture.createView(),
        dispatch,
        packedAt: -1,
        refs: 0,
      };
      this.live.add(shared);
      return shared;
    } catch (error) {
      texture.destroy();
      throw error;
    }
  }

  private free(key: string, shared: SharedPack): void {
    this.live.delete(shared);
    this.packs.delete(key);
    shared.dispatch.destroy();
    shared.texture.destroy();
  }

  /** Frees every pack and unregisters the buffer. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.live) {
      p.dispatch.destroy();
      p.texture.destroy();
    }
    this.live.clear();
    this.packs.clear();
    registry.delete(this.buffer);
  }
}
