import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fillForward } from '../src/kernels/fill.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { hasGpuDeviceFile, nodeCandidates } from '../src/gpu/device.js';
import { defineKernel, dispatch1d } from '../src/gpu/kernel.js';
import { reflectWgsl } from '../src/gpu/reflect.js';
import { REPO_ROOT } from './helpers/cli-run.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';

const run = promisify(execFile);

const AXPY_WGSL = /* wgsl */ `
struct Params { n: u32, alpha: f32, offset: vec2<f32> }
override WG_X: u32 = 64;
@group(0) @binding(0) var<storage, read_write> y: array<f32>;   // y: (n)
@group(0) @binding(1) var<storage, read> x: array<f32>;         // x: (n)
@group(0) @binding(2) var<uniform> params: Params;
@compute @workgroup_size(WG_X)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i < params.n) { y[i] = params.alpha * x[i] + params.offset.x - params.offset.y; }
}
`;

const axpy = defineKernel<'n'>({
  name: 'test_axpy',
  file: 'test/axpy.wgsl',
  code: AXPY_WGSL,
  entryPoint: 'axpy',
  workgroupSize: [64],
  dispatch: ({ n }) => dispatch1d(Math.ceil(n / 64)),
  elements: ({ n }) => ({ x: n, y: n }),
});

describe('reflection', () => {
  it('derives bindings, access modes and uniform offsets from WGSL', () => {
    const reflected = reflectWgsl(AXPY_WGSL, 'axpy.wgsl');
    const entry = reflected.entryPoints.get('axpy')!;
    expect(entry.bindings.map((b) => [b.name, b.binding, b.kind])).toEqual([
      ['y', 0, 'storage'],
      ['x', 1, 'read-only-storage'],
      ['params', 2, 'uniform'],
    ]);
    const params = entry.bindings[2]!;
    expect(params.uniformSize).toBe(16);
    expect(params.uniformFields.map((f) => [f.name, f.offset, f.type, f.components])).toEqual([
      ['n', 0, 'u32', 1],
      ['alpha', 4, 'f32', 1],
      ['offset', 8, 'f32', 2],
    ]);
    expect(reflected.overrides).toEqual(['WG_X']);
  });

  it('dispatch1d never exceeds 65535 workgroups in a dimension and covers the count', () => {
    for (const count of [1, 65535, 65536, 200_000, 65535 * 65535]) {
      const [x, y, z] = dispatch1d(count);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(z).toBe(1);
      expect(x * y).toBeGreaterThanOrEqual(count);
    }
  });
});

describe('device selection', () => {
  it('says what to install when the requested adapter cannot be had', async () => {
    // This machine has no GPU driver, so asking for a real GPU only must fail with the hint.
    if (process.env.WEBGPU_VAE_TEST_ADAPTERS?.includes('gpu')) return;
    await expect(createRuntime({ adapter: 'gpu' })).rejects.toThrow(
      /No WebGPU adapter for choice 'gpu'.*apt-get install/s,
    );
  });

  it('rejects an unknown WEBGPU_VAE_ADAPTER value', async () => {
    const saved = process.env.WEBGPU_VAE_ADAPTER;
    process.env.WEBGPU_VAE_ADAPTER = 'quantum';
    try {
      await expect(createRuntime()).rejects.toThrow(
        /WEBGPU_VAE_ADAPTER="quantum" is not one of auto, gpu, llvmpipe, swiftshader/,
      );
    } finally {
      if (saved === undefined) delete process.env.WEBGPU_VAE_ADAPTER;
      else process.env.WEBGPU_VAE_ADAPTER = saved;
    }
  });

  it("skips the Vulkan probe on 'auto' only when Linux shows no GPU device file", () => {
    expect(hasGpuDeviceFile(['null', 'tty0', 'shm', 'dri/card0'])).toBe(false);
    for (const gpu of ['dri/renderD128', 'nvidia0', 'nvidiactl', 'kfd', 'dxg']) {
      expect(hasGpuDeviceFile(['null', gpu]), gpu).toBe(true);
    }
    expect(hasGpuDeviceFile(['nvidia-modeset-x', 'renderD128'])).toBe(false); // not in /dev/dri
    const kinds = (c: Parameters<typeof nodeCandidates>[0], gpu: boolean) =>
      nodeCandidates(c, gpu).map((x) => x.kind);
    expect(kinds('auto', true)).toEqual(['gpu', 'llvmpipe', 'swiftshader']);
    expect(kinds('auto', false)).toEqual(['llvmpipe', 'swiftshader']);
    expect(kinds('gpu', false)).toEqual(['gpu']); // an explicit choice is always tried
  });

  it('runs llvmpipe with cpuThreads workers, fixed for the process, with the same numbers', async () => {
    if (!TEST_ADAPTERS.includes('llvmpipe')) return;
    const inChild = async (...requests: string[]) => {
      const env = { ...process.env };
      delete env.LP_NUM_THREADS;
      const { stdout } = await run(
        process.execPath,
        ['--import', 'tsx', 'test/fixtures/llvmpipe-threads.ts', ...requests],
        { cwd: REPO_ROOT, env, maxBuffer: 16 << 20 },
      );
      return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
        threads: number;
        errors: (string | null)[];
        weights: number[];
      };
    };
    const inline = await inChild('0', '0', '-', '3', '-1', '1.5');
    expect(inline.threads).toBe(0);
    expect(inline.errors.slice(0, 2)).toEqual([null, null]); // the same count, or none asked
    expect(inline.errors[2]).toMatch(
      /cpuThreads: 3 asked, but this process's llvmpipe already runs with LP_NUM_THREADS=0/,
    );
    expect(inline.errors[3]).toMatch(/cpuThreads must be an integer in \[0, 1024\], got -1/);
    expect(inline.errors[4]).toMatch(/cpuThreads must be an integer in \[0, 1024\], got 1.5/);
    const three = await inChild('3', '-', '0');
    expect(three.threads).toBe(3);
    expect(three.errors[0]).toBeNull();
    expect(three.errors[1]).toMatch(/already runs with LP_NUM_THREADS=3/);
    // Threads split the workgroups, never a workgroup's arithmetic: the same weights to the bit.
    expect(three.weights.length).toBeGreaterThan(1000);
    expect(three.weights).toEqual(inline.weights);
    const defaults = await inChild('-', '2');
    expect(defaults.errors[0]).toMatch(/already runs with Mesa's default threads/);
  });

  it("picks the fastest CPU adapter (llvmpipe) on 'auto' when there is no GPU", async () => {
    if (process.env.WEBGPU_VAE_TEST_ADAPTERS?.includes('gpu')) return;
    const rt = await createRuntime();
    try {
      expect(rt.info.kind).toBe('llvmpipe');
    } finally {
      rt.destroy();
    }
  });
});

describe.each(TEST_ADAPTERS)('runtime on %s', (adapter) => {
  it('names the adapter it got', async () => {
    const rt = await runtimeFor(adapter);
    expect(rt.info.kind).toBe(adapter);
    expect(rt.info.name).toMatch(adapter === 'llvmpipe' ? /llvmpipe/ : /SwiftShader/i);
    expect(rt.info.compatibility).toBe(adapter === 'llvmpipe');
  });

  it('fills an awkward-sized buffer and leaves the rest alone', async () => {
    const rt = await runtimeFor(adapter);
    const n = 1237;
    const out = output(rt, 'out', n + 3);
    const d = await rt.prepare(fillForward, {
      bindings: { out },
      shape: { n },
      uniforms: { value: 2.5 },
    });
    await rt.submitChecked([d]);
    const got = await read(rt, out);
    expect(got.slice(0, n).every((v) => v === 2.5)).toBe(true);
    expect(Number.isNaN(got[n]!)).toBe(true);
  });

  it('packs uniforms by reflected offsets (scalar and vector fields)', async () => {
    const rt = await runtimeFor(adapter);
    const n = 97;
    const xs = Float32Array.from({ length: n }, (_, i) => i - 40.5);
    const x = upload(rt, 'x', xs);
    const y = output(rt, 'y', n);
    const d = await rt.prepare(axpy, {
      bindings: { x, y },
      shape: { n },
      uniforms: { alpha: -1.5, offset: [3, 0.25] },
    });
    await rt.submitChecked([d]);
    const got = await read(rt, y);
    xs.forEach((v, i) => expect(got[i]).toBeCloseTo(-1.5 * v + 2.75, 5));
    // Changing a uniform after preparation takes effect on the next submit.
    d.setUniforms({ alpha: 2 });
    await rt.submitChecked([d]);
    const again = await read(rt, y);
    xs.forEach((v, i) => expect(again[i]).toBeCloseTo(2 * v + 2.75, 5));
  });

  it('covers more than 65535 workgroups of elements', async () => {
    const rt = await runtimeFor(adapter);
    const n = 65535 * 64 + 1000; // needs 65551 workgroups of 64
    const x = upload(
      rt,
      'x-big',
      Float32Array.from({ length: n }, (_, i) => i % 1000),
    );
    const y = output(rt, 'y-big', n);
    const d = await rt.prepare(axpy, {
      bindings: { x, y },
      shape: { n },
      uniforms: { alpha: 1, offset: [0, 0] },
    });
    expect(d.workgroups[0]).toBeLessThanOrEqual(65535);
    expect(d.workgroups[1]).toBeGreaterThan(1);
    await rt.submitChecked([d]);
    const got = await read(rt, y);
    let wrong = 0;
    for (let i = 0; i < n; i++) if (got[i] !== i % 1000) wrong++;
    expect(wrong).toBe(0);
  });

  it('rejects binding mismatches with a clear error before the GPU sees them', async () => {
    const rt = await runtimeFor(adapter);
    const x = upload(rt, 'x', new Float32Array(10).fill(1));
    const y = output(rt, 'y', 10);
    const small = output(rt, 'small', 5);
    const shape = { n: 10 };
    const uniforms = { alpha: 1, offset: [0, 0] };
    await expect(rt.prepare(axpy, { bindings: { y }, shape, uniforms })).rejects.toThrow(
      /kernel 'test_axpy': binding mismatch: missing x/,
    );
    await expect(rt.prepare(axpy, { bindings: { x, y, z: y }, shape, uniforms })).rejects.toThrow(
      /binding mismatch: unknown z/,
    );
    await expect(rt.prepare(axpy, { bindings: { x, y: small }, shape, uniforms })).rejects.toThrow(
      /binding 'y' holds 5 elements, the shape needs 10/,
    );
    await expect(rt.prepare(axpy, { bindings: { x: y, y }, shape, uniforms })).rejects.toThrow(
      /bindings 'y' and 'x' overlap and one is written/,
    );
    // Disjoint ranges of one buffer, one written and one read: invalid in WebGPU all the same.
    const both = rt.buffers.storage('both', 4096);
    await expect(
      rt.prepare(axpy, {
        bindings: { x: { ...both, offset: 0, size: 40 }, y: { ...both, offset: 256, size: 40 } },
        shape,
        uniforms,
      }),
    ).rejects.toThrow(/bind the same buffer .* as read-write and read-only/);
    await expect(
      rt.prepare(axpy, {
        bindings: { x, y },
        shape,
        uniforms: { alpha: 1, offset: [0, 0], beta: 2 },
      }),
    ).rejects.toThrow(/uniform 'params' has no field 'beta'/);
    await expect(
      rt.prepare(axpy, { bindings: { x, y }, shape, uniforms: { alpha: 1 } }),
    ).rejects.toThrow(/uniform field 'params.offset' was not given/);
    await expect(
      rt.prepare(axpy, { bindings: { x, y }, shape: { n: -3 }, uniforms }),
    ).rejects.toThrow(/\(u32\) got -3/);
    // By name, the kernel's sizes are unknown to the compiler: a missing one is named when prepared.
    await expect(
      rt.prepare('test_axpy', { bindings: { x, y }, shape: { m: 10 }, uniforms }),
    ).rejects.toThrow(/kernel 'test_axpy': shape size 'n' is missing \(given: m\)/);
    await expect(
      rt.prepare('test_axpy', { bindings: { x, y }, shape: { n: NaN }, uniforms }),
    ).rejects.toThrow(/kernel 'test_axpy': shape size 'n' is not a finite number \(NaN\)/);
    const mapped = rt.device.createBuffer({
      size: 40,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    await expect(rt.prepare(axpy, { bindings: { x: mapped, y }, shape, uniforms })).rejects.toThrow(
      /lacks STORAGE usage/,
    );
    mapped.destroy();
  });

  it('names the file, line and kernel of a WGSL error', async () => {
    const rt = await runtimeFor(adapter);
    const broken = defineKernel({
      name: `test_broken_${adapter}`,
      file: 'test/broken.wgsl',
      code: 'override WG_X: u32 = 1;\n@compute @workgroup_size(WG_X)\nfn main() {\n  let a: f32 = undefined_thing;\n}\n',
      entryPoint: 'main',
      workgroupSize: [1],
      dispatch: () => [1, 1, 1],
    });
    await expect(rt.prepare(broken, { bindings: {} })).rejects.toThrow(
      /WGSL error in test\/broken\.wgsl \(kernel 'test_broken_\w+'\):\s*\ntest\/broken\.wgsl:4:\d+: .*undefined_thing/,
    );
    const wrongEntry = defineKernel({
      ...axpy,
      name: `test_wrong_entry_${adapter}`,
      entryPoint: 'nope',
    });
    await expect(rt.prepare(wrongEntry, { bindings: {}, shape: { n: 1 } })).rejects.toThrow(
      /kernel 'test_wrong_entry_\w+': test\/axpy\.wgsl has no compute entry point 'nope' \(it has: axpy\)/,
    );
  });

  it('creates pipelines concurrently, each error naming its own kernel', async () => {
    const rt = await createRuntime({ adapter });
    try {
      const broken = (i: number) =>
        defineKernel({
          name: `test_concurrent_broken${i}_${adapter}`,
          file: `test/concurrent${i}.wgsl`,
          code: `override WG_X: u32 = 1;\n@compute @workgroup_size(WG_X)\nfn main() {\n  let a: f32 = missing${i};\n}\n`,
          entryPoint: 'main',
          workgroupSize: [1],
          dispatch: () => [1, 1, 1],
        });
      // Good pipelines (distinct constants: distinct pipelines) interleaved with broken modules.
      const jobs = [
        ...[64, 96, 128, 256].map((wg) => rt.pipeline(axpy, { WG_X: wg })),
        rt.pipeline(broken(1)),
        rt.pipeline(fillForward, { WG_X: 128 }),
        rt.pipeline(broken(2)),
      ];
      const settled = await Promise.allSettled(jobs);
      const status = settled.map((r) => r.status);
      expect(status).toEqual([
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'fulfilled',
        'rejected',
        'fulfilled',
        'rejected',
      ]);
      const reason = (i: number) => String((settled[i] as PromiseRejectedResult).reason);
      expect(reason(4)).toMatch(
        /test\/concurrent1\.wgsl \(kernel 'test_concurrent_broken1_\w+'\)[\s\S]*missing1/,
      );
      expect(reason(6)).toMatch(
        /test\/concurrent2\.wgsl \(kernel 'test_concurrent_broken2_\w+'\)[\s\S]*missing2/,
      );
      // The good ones work.
      const n = 100;
      const y = output(rt, 'y', n);
      const x = upload(
        rt,
        'x',
        Float32Array.from({ length: n }, (_, i) => i),
      );
      const d = await rt.prepare(axpy, {
        bindings: { x, y },
        shape: { n },
        uniforms: { alpha: 2, offset: [1, 0] },
        constants: { WG_X: 128 },
      });
      await rt.submitChecked([d]);
      expect(Array.from(await read(rt, y))).toEqual(Array.from({ length: n }, (_, i) => 2 * i + 1));
    } finally {
      rt.destroy();
    }
  });

  it('caches pipelines by kernel and override constants, and evicts the oldest', async () => {
    const rt = await createRuntime({ adapter, maxCachedPipelines: 2 });
    try {
      const a = await rt.pipeline(fillForward);
      expect(await rt.pipeline(fillForward)).toBe(a);
      const b = await rt.pipeline(fillForward, { WG_X: 64 });
      expect(b).not.toBe(a);
      await rt.pipeline(fillForward, { WG_X: 32 });
      expect(rt.cachedPipelineCount).toBe(2);
      // The first was least recently used and got evicted: asking again creates a new one.
      expect(await rt.pipeline(fillForward)).not.toBe(a);
    } finally {
      rt.destroy();
    }
    await expect(createRuntime({ adapter, maxCachedPipelines: 0 })).rejects.toThrow(
      /maxCachedPipelines must be an integer >= 1, got 0/,
    );
  });

  it('frees every buffer it made across create/destroy cycles', async () => {
    const rt = await runtimeFor(adapter);
    const before = rt.buffers.stats;
    for (let cycle = 0; cycle < 3; cycle++) {
      const parts = rt.buffers.arena('arena', { a: 10, b: 3, c: 1000 });
      // Sub-ranges are aligned to minStorageBufferOffsetAlignment and rounded to 4 bytes.
      expect(parts.b!.offset % rt.device.limits.minStorageBufferOffsetAlignment).toBe(0);
      expect(parts.c!.offset % rt.device.limits.minStorageBufferOffsetAlignment).toBe(0);
      expect(parts.b!.size).toBe(4);
      const out = output(rt, 'cycle', 17);
      const d = await rt.prepare(fillForward, {
        bindings: { out },
        shape: { n: 17 },
        uniforms: { value: 1 },
      });
      await rt.submitChecked([d]);
      d.destroy();
      rt.buffers.destroy(out.buffer);
      rt.buffers.destroy(parts.a!.buffer);
    }
    expect(rt.buffers.stats.liveBuffers).toBe(before.liveBuffers);
    expect(rt.buffers.stats.liveBytes).toBe(before.liveBytes);
  });

  it('reports uncaptured errors with the labels of the kernels involved', async () => {
    const errors: Error[] = [];
    const rt = await createRuntime({ adapter, onError: (e) => errors.push(e) });
    try {
      const out = rt.buffers.storage('doomed', 64);
      const d = await rt.prepare(fillForward, {
        bindings: { out },
        shape: { n: 16 },
        uniforms: { value: 1 },
      });
      rt.buffers.destroy(out.buffer);
      rt.submit([d], 'after-destroy');
      await rt.finish();
      for (let i = 0; i < 50 && errors.length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]!.message).toMatch(/recent kernels: fill_forward/);
      expect(errors[0]!.message).toMatch(/doomed/);
    } finally {
      rt.destroy();
    }
  });

  it('prints each WGSL module once when asked to', async () => {
    const printed: string[] = [];
    const saved = console.log;
    console.log = (...args: unknown[]) => void printed.push(args.join(' '));
    const rt = await createRuntime({ adapter, printWgsl: true });
    try {
      await rt.pipeline(fillForward);
      await rt.pipeline(fillForward, { WG_X: 32 });
    } finally {
      console.log = saved;
      rt.destroy();
    }
    expect(printed.length).toBe(1);
    expect(printed[0]).toMatch(
      /---- fill\.wgsl \(first used by fill_forward\) ----[\s\S]*fn fill_forward/,
    );
  });

  it('times kernels with timestamp queries where the adapter has them', async () => {
    const rt = await runtimeFor(adapter);
    if (!rt.timer) {
      // llvmpipe in compatibility mode exposes no timestamp-query; say so rather than pass silently.
      expect(rt.info.features.has('timestamp-query')).toBe(false);
      return;
    }
    const out = output(rt, 'timed', 100_000);
    const d = await rt.prepare(fillForward, {
      bindings: { out },
      shape: { n: 100_000 },
      uniforms: { value: 3 },
    });
    const [t] = await rt.timer.time([d]);
    expect(t!.label).toBe('fill_forward');
    expect(t!.ms).toBeGreaterThan(0);
    expect(t!.ms).toBeLessThan(10_000);
  });
});
