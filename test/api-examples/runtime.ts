// Runtime: a device, a custom kernel declared as data, a prepared dispatch, a readback.
import {
  ADAPTER_CHOICES,
  BufferAllocator,
  createRuntime,
  defineKernel,
  describeAdapter,
  dispatch1d,
  fillForward,
  indexedDbTuningStore,
  PreparedDispatch,
  readFloats,
  readRange,
  requestGpu,
  TUNING_CACHE_ENV,
  type GpuRuntime,
  type GpuTimer,
  type KernelDef,
  type KernelTime,
  type TuningStore,
} from 'webgpu-vae';

/** y = a·x + y over n floats, as a user-defined kernel with inline WGSL. */
export const saxpy: KernelDef<'n'> = defineKernel({
  name: 'example.saxpy',
  file: 'example-saxpy.wgsl',
  code: `
override WG_X: u32 = 64;
struct Params { n: u32, a: f32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < params.n) { y[id.x] = params.a * x[id.x] + y[id.x]; }
}`,
  entryPoint: 'main',
  workgroupSize: [64],
  dispatch: ({ n }) => dispatch1d(Math.ceil(n / 64)),
  elements: ({ n }) => ({ x: n, y: n }),
});

export async function runtimeExample(): Promise<Float32Array> {
  const rt: GpuRuntime = await createRuntime({ adapter: 'auto' }); // a GPU if present, else llvmpipe
  console.log(rt.info.name, rt.info.kind);
  const n = 1000;
  const x = rt.buffers.storage('x', 4 * n);
  const y = rt.buffers.storage('y', 4 * n);
  const fillX = await rt.prepare(fillForward, {
    bindings: { out: x },
    shape: { n },
    uniforms: { value: 2 },
  });
  const fillY = await rt.prepare(fillForward, {
    bindings: { out: y },
    shape: { n },
    uniforms: { value: 1 },
  });
  const axpy = await rt.prepare(saxpy, { bindings: { x, y }, shape: { n }, uniforms: { a: 3 } });
  await rt.submitChecked([fillX, fillY, axpy]); // y = 3·2 + 1 = 7
  const result = await readFloats(rt.device, y);
  // Per-kernel GPU times where the adapter has timestamp queries.
  const timer: GpuTimer | undefined = rt.timer;
  const times: KernelTime[] = timer ? await timer.time([axpy]) : [];
  console.log(
    axpy instanceof PreparedDispatch,
    times.map((t) => `${t.label} ${t.ms} ms`),
  );
  rt.destroy();
  return result;
}

/** A bare device, without the runtime: which adapter, and raw bytes back from a buffer. */
export async function deviceExample(choice = 'llvmpipe'): Promise<ArrayBuffer> {
  // A choice from a settings menu, checked against the implementations one can ask for.
  const wanted = ADAPTER_CHOICES.find((c) => c === choice) ?? 'auto';
  const { device, adapter, kind } = await requestGpu({ adapter: wanted });
  console.log(describeAdapter(adapter.info), kind);
  const buffers = new BufferAllocator(device, 'example');
  const range = buffers.storage('bytes', 16);
  const bytes = await readRange(device, range);
  console.log(buffers.stats.liveBuffers);
  buffers.destroyAll();
  device.destroy();
  return bytes;
}

/**
 * Where the matmul variants measured on this adapter persist between runs (IndexedDB in a browser,
 * a JSON file under the user's cache directory in Node), or that they do not.
 */
export async function tuningExample(): Promise<GpuRuntime[]> {
  // Off for the whole process in Node (CI, benchmarks), like `WEBGPU_VAE_TUNING_CACHE=0 node app`.
  process.env[TUNING_CACHE_ENV] = '0';
  const uncached = await createRuntime();
  // Off for one runtime, anywhere (the option wins over the environment), and no measuring either.
  const fixed = await createRuntime({ tuning: { persist: false, background: false } });
  // In a browser or a worker: the app's own database (the default one is named 'webgpu-vae').
  const store: TuningStore = indexedDbTuningStore(indexedDB, 'my-app.tuning');
  console.log(store.where); // IndexedDB 'my-app.tuning'
  const browser = await createRuntime({ tuning: { store, backgroundDelayMs: 10_000 } });
  return [uncached, fixed, browser];
}
