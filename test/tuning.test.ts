// The matmul selector off the critical path: shipped defaults, choices persisted per adapter (a
// cache file in Node), used by a second run and ignored for another adapter or other kernels, a
// corrupt cache as a warning, and background measuring that never holds up a prepare.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createRuntime, type GpuRuntime } from '../src/gpu/runtime.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import {
  defaultTuningStore,
  fileTuningStore,
  nodeCacheDir,
  parseTuningFile,
  tuningCacheDisabledByEnv,
  type TuningOptions,
} from '../src/gpu/tuning-store.js';
import {
  matmulKernelsVersion,
  matmulSupported,
  matmulVariantOf,
  prepareMatmul,
} from '../src/kernels/matmul.js';
import { adapterClass, defaultMatmulVariant } from '../src/kernels/matmul-defaults.js';
import {
  matmulMeasurementCount,
  matmulSelections,
  matmulShapeClass,
  matmulTuningIdle,
  resolveMatmulVariant,
  selectMatmulVariant,
} from '../src/kernels/matmul-select.js';
import { TEST_ADAPTERS, output } from './helpers/gpu.js';

const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-tuning-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runtimes: GpuRuntime[] = [];
afterEach(() => {
  for (const rt of runtimes.splice(0)) rt.destroy();
  vi.restoreAllMocks();
});

/** A fresh runtime ("a new run") persisting into `file`. */
async function run(adapter: AdapterChoice, file: string, extra: TuningOptions = {}) {
  const rt = await createRuntime({
    adapter,
    tuning: { persist: true, background: false, store: fileTuningStore(file), ...extra },
  });
  runtimes.push(rt);
  return rt;
}

const SHAPE = { M: 64, N: 48, K: 40 };

describe('tuning store', () => {
  it('finds the cache directory and the off switch in the environment', async () => {
    const keys = ['XDG_CACHE_HOME', 'WEBGPU_VAE_TUNING_CACHE'] as const;
    const saved = keys.map((k) => [k, process.env[k]] as const);
    try {
      process.env.XDG_CACHE_HOME = '/some/cache';
      expect(await nodeCacheDir()).toBe('/some/cache');
      delete process.env.XDG_CACHE_HOME;
      expect(await nodeCacheDir()).toMatch(/\.cache$/);
      process.env.WEBGPU_VAE_TUNING_CACHE = '0';
      expect(tuningCacheDisabledByEnv()).toBe(true);
      process.env.WEBGPU_VAE_TUNING_CACHE = '1';
      expect(tuningCacheDisabledByEnv()).toBe(false);
      process.env.XDG_CACHE_HOME = dir;
      const store = await defaultTuningStore();
      expect(store?.where).toBe(join(dir, 'webgpu-vae', 'tuning.json'));
    } finally {
      // Key by key: replacing process.env itself would cut it off from the real environment.
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('keeps records per adapter and kernel version, and merges saves', async () => {
    const file = join(dir, 'store.json');
    const store = fileTuningStore(file);
    await store.save('A', 'v1', { k1: { variant: 'rb', timings: { rb: 1.5 } } });
    await store.save('A', 'v1', { k2: { variant: 'tex' } });
    await store.save('B', 'v1', { k1: { variant: 'naive' } });
    expect(await store.load('A', 'v1')).toEqual({
      k1: { variant: 'rb', timings: { rb: 1.5 } },
      k2: { variant: 'tex' },
    });
    expect(await store.load('B', 'v1')).toEqual({ k1: { variant: 'naive' } });
    expect(await store.load('A', 'v2')).toEqual({});
    expect(await store.load('C', 'v1')).toEqual({});
    // A new kernel version replaces the adapter's records.
    await store.save('A', 'v2', { k3: { variant: 'rb4' } });
    expect(await store.load('A', 'v2')).toEqual({ k3: { variant: 'rb4' } });
    expect(() => parseTuningFile('{"format":"other"}')).toThrow(/not a webgpu-vae.tuning file/);
  });

  it('a corrupt cache file is a warning, never a failure, and is rewritten', async () => {
    const file = join(dir, 'corrupt.json');
    const store = fileTuningStore(file);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (const junk of ['{"format": "webgpu-vae.tu', '[1,2,3]', '\u0000\u0001binary']) {
      writeFileSync(file, junk);
      expect(await store.load('A', 'v1')).toEqual({});
    }
    expect(warn).toHaveBeenCalledTimes(3);
    expect(String(warn.mock.calls[0]![0])).toMatch(/corrupt\.json is corrupt \(not JSON/);
    await store.save('A', 'v1', { k: { variant: 'rb' } });
    expect(parseTuningFile(readFileSync(file, 'utf8')).adapters.A!.records).toEqual({
      k: { variant: 'rb' },
    });
    // Malformed records inside a valid file are skipped one by one.
    writeFileSync(
      file,
      JSON.stringify({
        format: 'webgpu-vae.tuning',
        adapters: { A: { version: 'v1', records: { good: { variant: 'rb' }, bad: { x: 1 } } } },
      }),
    );
    expect(await store.load('A', 'v1')).toEqual({ good: { variant: 'rb' } });
  });
});

describe('shipped defaults', () => {
  it('give every adapter class an eligible variant for every layout and shape', () => {
    for (const kind of ['llvmpipe', 'swiftshader', 'cpu-other', 'gpu', 'browser'] as const) {
      for (const layout of ['NN', 'TN', 'NT'] as const) {
        for (const shape of [SHAPE, { M: 3, N: 5, K: 7 }, { M: 5000, N: 5000, K: 9 }]) {
          for (const packedB of [false, true]) {
            const v = defaultMatmulVariant(adapterClass(kind), layout, shape, packedB);
            expect(v).not.toBe('naive');
          }
        }
      }
    }
    expect(defaultMatmulVariant('gpu', 'NN', SHAPE)).toBe('tiled');
  });

  it('send only large weight gradients through textures on llvmpipe', () => {
    // The MNIST VAE's 784×400×128 dW keeps the texture kernel; small ones skip its two packs.
    expect(defaultMatmulVariant('llvmpipe', 'TN', { M: 784, N: 400, K: 128 })).toBe('tex');
    expect(defaultMatmulVariant('llvmpipe', 'TN', { M: 200, N: 200, K: 100 })).toBe('tex');
    expect(defaultMatmulVariant('llvmpipe', 'TN', { M: 400, N: 20, K: 128 })).toBe('rb4x16');
    expect(defaultMatmulVariant('llvmpipe', 'TN', { M: 128, N: 128, K: 32 })).toBe('rb4x16');
    expect(defaultMatmulVariant('llvmpipe', 'TN', { M: 2, N: 128, K: 32 })).toBe('rb');
  });

  it('send a large forward that the vec4 kernels cannot take through textures on llvmpipe', () => {
    // [x, one-hot y] of a label-conditioned first layer: K = 794 is not a multiple of 4.
    expect(defaultMatmulVariant('llvmpipe', 'NT', { M: 1100, N: 500, K: 794 }, true)).toBe('tex');
    expect(defaultMatmulVariant('llvmpipe', 'NT', { M: 128, N: 400, K: 794 })).toBe('tex');
    // K a multiple of 4: the register-blocked vec4 kernel as before; small: no texture packs.
    expect(defaultMatmulVariant('llvmpipe', 'NT', { M: 128, N: 400, K: 784 })).toBe('rb4x16');
    expect(defaultMatmulVariant('llvmpipe', 'NT', { M: 32, N: 128, K: 2 })).toBe('rb');
  });
});

// The mechanism is the same on every adapter: on the first (SwiftShader compiles every candidate
// variant for each measurement, which is slow and says nothing more here).
describe.each(TEST_ADAPTERS.slice(0, 1))('persisted matmul choices on %s', (adapter) => {
  it('are used by a second run and ignored when the adapter or the kernels change', async () => {
    const file = join(dir, `choices-${adapter}.json`);
    const first = await run(adapter, file);
    const key = matmulShapeClass('NN', SHAPE);
    // Nothing measured or persisted yet: the shipped default, no measurement on this path.
    const before = await resolveMatmulVariant(first, 'NN', SHAPE);
    expect(before.source).toBe('default');
    expect(matmulMeasurementCount(first)).toBe(0);
    const measured = await selectMatmulVariant(first, 'NN', SHAPE, { candidates: ['naive', 'rb'] });
    await matmulTuningIdle(first);
    expect(matmulMeasurementCount(first)).toBe(1);
    const saved = parseTuningFile(readFileSync(file, 'utf8'));
    const [adapterKey, entry] = Object.entries(saved.adapters)[0]!;
    expect(adapterKey).toContain(first.info.name);
    expect(entry.records[key]!.variant).toBe(measured);

    // A second run reads the choice and measures nothing.
    const second = await run(adapter, file);
    const again = await resolveMatmulVariant(second, 'NN', { M: 60, N: 64, K: 36 });
    expect(again).toEqual({ variant: measured, source: 'persisted' });
    expect(matmulMeasurementCount(second)).toBe(0);
    // ... and prepareMatmul uses it: make the persisted choice one no default would pick.
    entry.records[key] = { variant: 'naive' };
    writeFileSync(file, JSON.stringify(saved));
    const third = await run(adapter, file);
    const bufs = {
      a: output(third, 'a', SHAPE.M * SHAPE.K),
      b: output(third, 'b', SHAPE.K * SHAPE.N),
      c: output(third, 'c', SHAPE.M * SHAPE.N),
    };
    const d = await prepareMatmul(third, { layout: 'NN', ...SHAPE, ...bufs });
    expect(matmulVariantOf(d)).toBe('naive');
    d.destroy();

    // A persisted variant replaces the default only when it is clearly (10 %) faster.
    const usual = defaultMatmulVariant(adapterClass(third.info.kind), 'NN', SHAPE, false, (v) =>
      matmulSupported(third, v),
    );
    for (const [time, expected] of [
      [0.95, usual],
      [0.5, 'naive'],
    ] as const) {
      entry.records[key] = { variant: 'naive', timings: { naive: time, [usual]: 1 } };
      writeFileSync(file, JSON.stringify(saved));
      const r = await run(adapter, file);
      expect((await resolveMatmulVariant(r, 'NN', SHAPE)).variant).toBe(expected);
    }
    expect(usual).not.toBe('naive');

    // Another adapter's records are not this adapter's.
    const moved = { ...saved, adapters: { 'some other adapter': entry } };
    writeFileSync(file, JSON.stringify(moved));
    const other = await run(adapter, file);
    expect((await resolveMatmulVariant(other, 'NN', SHAPE)).source).toBe('default');
    // Nor are records made for other kernels.
    writeFileSync(
      file,
      JSON.stringify({ ...saved, adapters: { [adapterKey]: { ...entry, version: 'old' } } }),
    );
    const changed = await run(adapter, file);
    expect((await resolveMatmulVariant(changed, 'NN', SHAPE)).source).toBe('default');
    expect((await matmulSelections(changed)).size).toBe(0);
    // Nor records of these kernels from before the records' revision 2 (the kernels' hash alone):
    // some were timed by the wall clock in the background, with training steps in the timings.
    expect(entry.version).toBe(`${matmulKernelsVersion()}.2`);
    writeFileSync(
      file,
      JSON.stringify({
        ...saved,
        adapters: { [adapterKey]: { ...entry, version: matmulKernelsVersion() } },
      }),
    );
    const stale = await run(adapter, file);
    expect((await resolveMatmulVariant(stale, 'NN', SHAPE)).source).toBe('default');
  });

  it('with persistence off, neither reads nor writes the cache', async () => {
    const file = join(dir, `off-${adapter}.json`);
    writeFileSync(file, 'unchanged');
    const rt = await run(adapter, file, { persist: false });
    await selectMatmulVariant(rt, 'NN', SHAPE, { candidates: ['naive', 'rb'] });
    await matmulTuningIdle(rt);
    expect(readFileSync(file, 'utf8')).toBe('unchanged');
  });
});

// Both adapters: llvmpipe has no timestamp queries, SwiftShader has.
describe.each(TEST_ADAPTERS)('background matmul measuring on %s', (adapter) => {
  it('measures in the background without holding up a prepare, then persists; never without GPU timestamps', async () => {
    const file = join(dir, `background-${adapter}.json`);
    const rt = await run(adapter, file, {
      background: true,
      backgroundDelayMs: 50,
      backgroundShare: 1,
    });
    const timed = rt.info.features.has('timestamp-query');
    const bufs = {
      a: output(rt, 'a', SHAPE.M * SHAPE.K),
      b: output(rt, 'b', SHAPE.K * SHAPE.N),
      c: output(rt, 'c', SHAPE.M * SHAPE.N),
    };
    const d = await prepareMatmul(rt, { layout: 'NN', ...SHAPE, ...bufs });
    // Prepared with the default, before any measurement.
    expect(matmulMeasurementCount(rt)).toBe(0);
    expect(matmulVariantOf(d)).toBe(
      defaultMatmulVariant(adapterClass(rt.info.kind), 'NN', SHAPE, false, (v) =>
        matmulSupported(rt, v),
      ),
    );
    d.destroy();
    await matmulTuningIdle(rt);
    if (!timed) {
      // By the wall clock it would time whatever shares the queue: the defaults stay.
      expect(matmulMeasurementCount(rt)).toBe(0);
      expect((await resolveMatmulVariant(rt, 'NN', SHAPE)).source).toBe('default');
      expect(existsSync(file)).toBe(false);
      return;
    }
    expect(matmulMeasurementCount(rt)).toBe(1);
    const selection = (await matmulSelections(rt)).get(matmulShapeClass('NN', SHAPE))!;
    expect(selection.source).toBe('measured');
    expect(Object.keys(selection.timings).length).toBeGreaterThan(1);
    const saved = parseTuningFile(readFileSync(file, 'utf8'));
    expect(Object.values(saved.adapters)[0]!.records[matmulShapeClass('NN', SHAPE)]!.variant).toBe(
      selection.variant,
    );
  });
});
