// GPU buffer allocation: sizes rounded to 4 bytes, sub-ranges aligned to the device's storage
// offset alignment, and every buffer tracked so that destroy() frees all of it.

/** A byte range of a GPU buffer, as bound to a kernel. */
export interface BufferRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** What a BufferAllocator holds now and held at most. */
export interface AllocatorStats {
  /** Buffers created and not yet destroyed. */
  liveBuffers: number;
  /** Bytes of those buffers. */
  liveBytes: number;
  /** The most bytes live at once. */
  peakBytes: number;
}

/**
 * Creates, labels and counts GPU buffers (so tests can check that nothing leaks), and knows the
 * device's offset alignments for sub-allocating ranges.
 */
export class BufferAllocator {
  private readonly live = new Map<GPUBuffer, number>();
  private liveBytes = 0;
  private peakBytes = 0;
  readonly storageAlignment: number;
  readonly uniformAlignment: number;

  constructor(
    readonly device: GPUDevice,
    readonly label = 'webgpu-vae',
  ) {
    this.storageAlignment = device.limits.minStorageBufferOffsetAlignment;
    this.uniformAlignment = device.limits.minUniformBufferOffsetAlignment;
  }

  /** Creates a tracked buffer of at least `bytes` (rounded up to 4, never 0). */
  create(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    if (!Number.isFinite(bytes) || bytes < 0) {
      throw new Error(`buffer '${label}': invalid size ${bytes} bytes`);
    }
    const size = Math.max(4, roundUp(bytes, 4));
    if (size > this.device.limits.maxBufferSize) {
      throw new Error(
        `buffer '${label}': ${size} bytes exceeds this device's maxBufferSize (${this.device.limits.maxBufferSize})`,
      );
    }
    const buffer = this.device.createBuffer({ label: `${this.label}:${label}`, size, usage });
    this.live.set(buffer, size);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return buffer;
  }

  /** A whole storage buffer as a range (STORAGE | COPY_SRC | COPY_DST). */
  storage(label: string, bytes: number, extraUsage: GPUBufferUsageFlags = 0): BufferRange {
    const buffer = this.create(
      label,
      bytes,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    );
    return { buffer, offset: 0, size: buffer.size };
  }

  /** A storage buffer filled with `data`. */
  upload(label: string, data: Float32Array | Uint32Array | Int32Array): BufferRange {
    const range = this.storage(label, data.byteLength);
    this.device.queue.writeBuffer(range.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return { ...range, size: roundUp(data.byteLength, 4) };
  }

  /**
   * Lays out several sub-ranges in one buffer, each aligned to minStorageBufferOffsetAlignment.
   * Returns the ranges by name; sizes are rounded to 4 bytes.
   */
  arena(
    label: string,
    sizes: Record<string, number>,
    usage?: GPUBufferUsageFlags,
  ): Record<string, BufferRange> {
    const offsets: [string, number, number][] = [];
    let cursor = 0;
    for (const [name, bytes] of Object.entries(sizes)) {
      const size = Math.max(4, roundUp(bytes, 4));
      cursor = roundUp(cursor, this.storageAlignment);
      offsets.push([name, cursor, size]);
      cursor += size;
    }
    const buffer = this.create(
      label,
      cursor,
      usage ?? GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    );
    const ranges: Record<string, BufferRange> = {};
    for (const [name, offset, size] of offsets) ranges[name] = { buffer, offset, size };
    return ranges;
  }

  /** Destroys one buffer this allocator made. */
  destroy(buffer: GPUBuffer): void {
    const size = this.live.get(buffer);
    if (size === undefined)
      throw new Error(`buffer '${buffer.label}' was not made by this allocator`);
    this.live.delete(buffer);
    this.liveBytes -= size;
    buffer.destroy();
  }

  /** Destroys every buffer still alive. */
  destroyAll(): void {
    for (const buffer of this.live.keys()) buffer.destroy();
    this.live.clear();
    this.liveBytes = 0;
  }

  get stats(): AllocatorStats {
    return { liveBuffers: this.live.size, liveBytes: this.liveBytes, peakBytes: this.peakBytes };
  }

  /** Live buffers and their bytes by label (to find what a leak is made of). */
  liveLabels(): Map<string, { buffers: number; bytes: number }> {
    const byLabel = new Map<string, { buffers: number; bytes: number }>();
    for (const [b, size] of this.live) {
      const entry = byLabel.get(b.label) ?? { buffers: 0, bytes: 0 };
      entry.buffers++;
      entry.bytes += size;
      byLabel.set(b.label, entry);
    }
    return byLabel;
  }
}

/** Copies a range back to the CPU. Awaits the GPU: for tests, tools and seldom readbacks only. */
export async function readRange(device: GPUDevice, range: BufferRange): Promise<ArrayBuffer> {
  const size = roundUp(range.size, 4);
  const staging = device.createBuffer({
    label: `readback of ${range.buffer.label}`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(range.buffer, range.offset, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

/** Copies a range back to the CPU as float32 values (waits for the GPU). */
export async function readFloats(device: GPUDevice, range: BufferRange): Promise<Float32Array> {
  return new Float32Array(await readRange(device, range));
}
