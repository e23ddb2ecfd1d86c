// Devices for tests: every kernel test runs on both CPU adapters (llvmpipe through Dawn's OpenGL
// backend in compatibility mode, and SwiftShader through Vulkan), plus a real GPU when asked for
// with WEBGPU_VAE_TEST_ADAPTERS=gpu,llvmpipe,swiftshader.
import { afterAll } from 'vitest';
import { createRuntime, type GpuRuntime } from '../../src/gpu/runtime.js';
import type { AdapterChoice } from '../../src/gpu/device.js';
import type { BufferRange } from '../../src/gpu/buffers.js';
import { readFloats } from '../../src/gpu/buffers.js';

export const TEST_ADAPTERS: AdapterChoice[] = (
  process.env.WEBGPU_VAE_TEST_ADAPTERS ?? 'llvmpipe,swiftshader'
)
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s.length > 0) as AdapterChoice[];

const runtimes = new Map<AdapterChoice, Promise<GpuRuntime>>();

/** One runtime per adapter per test file, destroyed after the file's tests. */
export function runtimeFor(adapter: AdapterChoice): Promise<GpuRuntime> {
  let rt = runtimes.get(adapter);
  if (!rt) {
    rt = createRuntime({
      adapter,
      onError: (error) => {
        throw error;
      },
    });
    runtimes.set(adapter, rt);
  }
  return rt;
}

afterAll(async () => {
  for (const rt of runtimes.values()) (await rt).destroy();
  runtimes.clear();
});

/** A float32 NaN with a recognisable payload: anything the kernel failed to write stays NaN. */
export const POISON = new Float32Array(new Uint32Array([0x7fc0dead]).buffer)[0]!;

/** Fills a range with POISON (queued write). */
export function poison(rt: GpuRuntime, range: BufferRange): void {
  const data = new Float32Array(range.size / 4).fill(POISON);
  rt.device.queue.writeBuffer(range.buffer, range.offset, data);
}

/** A poisoned output buffer of n floats. */
export function output(rt: GpuRuntime, label: string, n: number): BufferRange {
  const range = rt.buffers.storage(label, n * 4);
  poison(rt, range);
  return range;
}

export function upload(
  rt: GpuRuntime,
  label: string,
  data: Float32Array | Uint32Array,
): BufferRange {
  return rt.buffers.upload(label, data);
}

export async function read(rt: GpuRuntime, range: BufferRange): Promise<Float32Array> {
  return readFloats(rt.device, range);
}
