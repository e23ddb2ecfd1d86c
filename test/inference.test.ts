// The inference API (src/vae/inference.ts), the latent code kernels (shaders/latent.wgsl) and the
// GPU-direct display (src/display, shaders/display.wgsl) against float64 CPU references, on every
// test adapter.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFloats } from '../src/gpu/buffers.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { colorize, imageGrid, type Colormap } from '../src/image/grid.js';
import {
  inverseNormalCdf,
  latentCodeUniforms,
  referenceLatentCodes,
  type LatentCodeSpec,
} from '../src/kernels/latent.js';
import { LOGSIGMA_CLAMP } from '../src/kernels/likelihood.js';
import { prngNormal } from '../src/kernels/reparam.js';
import type { ResolvedVaeConfig, VaeConfig } from '../src/vae/config.js';
import { buildDecoderGraph, buildEncoderGraph } from '../src/vae/build.js';
import { VaeInference } from '../src/vae/inference.js';
import { readCheckpointSource } from '../src/checkpoint/source.js';
import { VaeModel } from '../src/vae/model.js';
import { runGraph64 } from '../src/reference/graph.js';
import { inverseNormalCdf64, sigmoid64 } from '../src/reference/math.js';
import {
  FpsCounter,
  GridDisplay,
  blitTarget,
  LatentView,
  gridLayout,
  packedLut,
  readTexture,
  textureTarget,
  tileAt,
} from '../src/display/index.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { serveStatic } from './helpers/browser.js';
import { makeRng } from './helpers/reference.js';

const D = 16; // 4 × 4 images
const Z = 3;

function config(likelihood: VaeConfig['likelihood'] = { kind: 'bernoulli' }): VaeConfig {
  return {
    inputSize: D,
    latentSize: Z,
    encoder: { hidden: [10], activation: 'tanh' },
    decoder: { hidden: [9], activation: 'relu' },
    likelihood,
  };
}

function randomInputs(n: number, seed: number): Float32Array {
  const r = makeRng(seed);
  return Float32Array.from({ length: n * D }, () => r());
}

function randomCodes(n: number, seed: number, scale = 1.5): Float32Array {
  const r = makeRng(seed);
  return Float32Array.from({ length: n * Z }, () => (2 * r() - 1) * scale);
}

async function params64(model: VaeModel): Promise<Map<string, Float64Array>> {
  const w = await model.readWeights();
  return new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** The decoder graph in float64 (src/reference/graph.ts) and the image transform of the likelihood. */
function decode64(
  cfg: ResolvedVaeConfig,
  p: Map<string, Float64Array>,
  z: ArrayLike<number>,
  B: number,
  alpha = 0,
): Float64Array {
  const dg = buildDecoderGraph(cfg, B);
  const r = runGraph64(dg.graph, { params: p, inputs: new Map([['z', z]]) });
  const out = r.value(dg.output);
  switch (cfg.likelihood.kind) {
    case 'bernoulli':
      return out.map(sigmoid64);
    case 'gaussian':
      return out;
    case 'gaussian-learned': {
      const ls = r.value(dg.logSigma!);
      return out.map((m, i) => {
        const c = Math.min(LOGSIGMA_CLAMP.max, Math.max(LOGSIGMA_CLAMP.min, ls[i]!));
        return m + alpha * Math.exp(c);
      });
    }
  }
}

/** The encoder graph in float64: mu, logvar (B, Z) of the first B rows of x. */
function encode64(
  cfg: ResolvedVaeConfig,
  p: Map<string, Float64Array>,
  x: Float32Array,
  B: number,
) {
  const eg = buildEncoderGraph(cfg, B);
  const r = runGraph64(eg.graph, { params: p, inputs: new Map([['x', x.subarray(0, B * D)]]) });
  return { mu: r.value(eg.outputs.mu!), logvar: r.value(eg.outputs.logvar!) };
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol = 2e-5,
  what = '',
) {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(actual[i]! - e) / Math.max(1, Math.abs(e));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  expect(worst, `${what}: worst error at ${at}: ${actual[at]} vs ${expected[at]}`).toBeLessThan(
    tol,
  );
}

describe('CPU parts', () => {
  it('inverseNormalCdf matches known quantiles and is antisymmetric', () => {
    expect(inverseNormalCdf(0.5)).toBeCloseTo(0, 12);
    expect(inverseNormalCdf(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(inverseNormalCdf(0.05)).toBeCloseTo(-1.6448536269514729, 8);
    expect(inverseNormalCdf(0.001)).toBeCloseTo(-3.090232306167813, 7);
    for (const p of [0.01, 0.2, 0.4])
      expect(inverseNormalCdf(1 - p)).toBeCloseTo(-inverseNormalCdf(p), 8);
    // Acklam's relative error bound (1.15e-9) against the float64 reference, tails included.
    let worst = 0;
    for (let k = 0; k <= 2000; k++) {
      const p = k < 1000 ? 1e-7 * 10 ** (k / 200) : 1e-7 + ((1 - 2e-7) * (k - 1000)) / 1000;
      const want = inverseNormalCdf64(Math.min(p, 1 - 1e-7));
      worst = Math.max(
        worst,
        Math.abs(inverseNormalCdf(p) - want) / Math.max(Math.abs(want), 1e-3),
      );
    }
    expect(worst).toBeLessThan(1.2e-9);
  });

  it('latent code specs are validated', () => {
    expect(() => latentCodeUniforms({ mode: 'traverse', dimA: 3 }, 4, 3)).toThrow(/dimA/);
    expect(() => latentCodeUniforms({ mode: 'manifold', dimA: 0, dimB: 0 }, 4, 3)).toThrow(
      /two different/,
    );
    expect(() => latentCodeUniforms({ mode: 'manifold', lo: 0, hi: 1 }, 4, 3)).toThrow(/\(0, 1\)/);
    expect(() => latentCodeUniforms({ mode: 'spiral' as never }, 4, 3)).toThrow(/mode/);
  });

  it('grid layout equals imageGrid placement and tileAt inverts it', () => {
    const n = 7;
    const images = Float32Array.from(
      { length: n * 12 },
      (_, i) => ((i % 12) + 1 + Math.floor(i / 12) * 13) / 255,
    );
    const grid = imageGrid(images, n, 3, 4, { columns: 3, padding: 2 });
    const layout = gridLayout(n, 3, 4, { columns: 3, padding: 2 });
    expect([layout.width, layout.height]).toEqual([grid.width, grid.height]);
    expect(layout.rowStride % 64).toBe(0);
    for (let y = 0; y < layout.height; y++) {
      for (let x = 0; x < layout.width; x++) {
        const t = tileAt(layout, x, y);
        const expected = t ? Math.round(images[t.image * 12 + t.row * 4 + t.col]! * 255) : 0;
        expect(grid.pixels[y * layout.width + x]).toBe(expected);
      }
    }
    expect(() => gridLayout(0, 3, 4)).toThrow(/n must be/);
  });

  it('packed LUTs hold the colour maps in RGBA or BGRA order', () => {
    const rgba = packedLut('viridis');
    const bgra = packedLut('viridis', 'bgra8unorm');
    const rgb = colorize(Uint8Array.from([0, 100, 255]), 'viridis');
    [0, 100, 255].forEach((v, i) => {
      expect(rgba[v]! & 0xff).toBe(rgb[3 * i]);
      expect((rgba[v]! >>> 8) & 0xff).toBe(rgb[3 * i + 1]);
      expect((rgba[v]! >>> 16) & 0xff).toBe(rgb[3 * i + 2]);
      expect(rgba[v]! >>> 24).toBe(255);
      expect(bgra[v]! & 0xff).toBe(rgb[3 * i + 2]);
    });
    expect(() => packedLut('jet' as Colormap)).toThrow(/unknown colormap/);
  });

  it('FpsCounter counts frames over its window', () => {
    const fps = new FpsCounter(1000);
    expect(fps.fps).toBe(0);
    for (let i = 0; i <= 30; i++) fps.tick(i * 20); // 50 fps
    expect(fps.fps).toBeCloseTo(50, 6);
    for (let i = 31; i <= 200; i++) fps.tick(i * 20);
    expect(fps.frames).toBeLessThanOrEqual(52);
  });
});

describe.each(TEST_ADAPTERS)('inference on %s', (adapter) => {
  let rt: GpuRuntime;
  let model: VaeModel;
  let inf: VaeInference;
  let p: Map<string, Float64Array>;
  let cfg: ResolvedVaeConfig;

  beforeAll(async () => {
    rt = await runtimeFor(adapter);
    model = VaeModel.create(rt, config(), { seed: 3 });
    // Larger weights so the outputs are not all near 0.5.
    const w = await model.readWeights();
    for (const v of w.values()) for (let i = 0; i < v.length; i++) v[i] = v[i]! * 3;
    model.writeWeights(w);
    inf = VaeInference.create(model, { batchSizes: [1, 4, 8], seed: 11 });
    p = await params64(model);
    cfg = model.config;
  });

  afterAll(() => {
    inf.destroy();
    model.destroy();
  });

  it('encode matches the reference for sizes in and out of the planned set (padding, chunks)', async () => {
    for (const n of [1, 3, 8, 19]) {
      const x = randomInputs(n, n);
      const { mu, logvar } = await inf.encode(x);
      const ref = encode64(cfg, p, x, n);
      expectClose(mu, ref.mu, 2e-5, `mu n=${n}`);
      expectClose(logvar, ref.logvar, 2e-5, `logvar n=${n}`);
    }
    expect(inf.plannedSize(3)).toBe(4);
    expect(inf.plannedSize(100)).toBe(8);
  });

  it('decode gives sigmoid probabilities for a Bernoulli decoder', async () => {
    for (const n of [2, 13]) {
      const z = randomCodes(n, 100 + n);
      const images = await inf.decode(z);
      expectClose(images, decode64(cfg, p, z, n), 2e-5, `decode n=${n}`);
      expect(images.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });

  it.each([
    ['gaussian', { kind: 'gaussian', sigma: 0.5 }, 0],
    ['gaussian-learned, alpha 0', { kind: 'gaussian-learned' }, 0],
    ['gaussian-learned, alpha 0.7', { kind: 'gaussian-learned' }, 0.7],
  ] as const)('decode gives means (+ alpha sigma) for %s', async (_name, likelihood, alpha) => {
    const m = VaeModel.create(rt, config(likelihood as VaeConfig['likelihood']), { seed: 5 });
    const i2 = VaeInference.create(m, { batchSizes: [4] });
    try {
      const z = randomCodes(6, 7);
      const images = await i2.decode(z, 6, { alpha });
      expectClose(images, decode64(m.config, await params64(m), z, 6, alpha), 2e-5, 'gaussian');
    } finally {
      i2.destroy();
      m.destroy();
    }
  });

  it('decode through a deconv decoder: the sigmoid in the last transposed conv', async () => {
    const m = VaeModel.create(
      rt,
      {
        inputSize: 63,
        inputShape: [1, 9, 7],
        latentSize: 3,
        encoder: { hidden: [6], activation: 'tanh' },
        decoder: {
          hidden: [7, 100], // reshaped to [5, 5, 4]
          deconv: [
            { channels: 3, kernel: 3, stride: 2, padding: 1 }, // 5×4 -> 9×7
            { channels: 1, kernel: 3, padding: 1 },
          ],
          activation: 'elu',
        },
      },
      { seed: 9 },
    );
    const i2 = VaeInference.create(m, { batchSizes: [4] });
    try {
      const z = randomCodes(5, 11);
      const images = await i2.decode(z, 5);
      expectClose(images, decode64(m.config, await params64(m), z, 5), 2e-5, 'deconv decode');
      expect(images.every((v) => v >= 0 && v <= 1)).toBe(true);
    } finally {
      i2.destroy();
      m.destroy();
    }
  });

  it.each([
    ['bernoulli', { kind: 'bernoulli' }, []],
    ['gaussian', { kind: 'gaussian', sigma: 0.5 }, []],
    ['gaussian-learned', { kind: 'gaussian-learned' }, ['decode_output_sigma']],
  ] as const)(
    'a %s decoder program: the image comes from the last layer, a pass of its own only to add σ',
    async (_name, likelihood, extra) => {
      const m = VaeModel.create(rt, config(likelihood as VaeConfig['likelihood']), { seed: 3 });
      const i2 = VaeInference.create(m, { batchSizes: [4] });
      const program = await i2.createDecoderProgram(3);
      try {
        const kernels = program.dispatches.map((d) => d.kernel.name);
        expect(kernels.filter((k) => k.startsWith('decode_output'))).toEqual(extra);
      } finally {
        program.destroy();
        i2.destroy();
        m.destroy();
      }
    },
  );

  it('sample draws z = T·N(0, I) from the Philox stream on the GPU and decodes it', async () => {
    const n = 10; // chunks of 8 and 2: sample counters 0 and 1
    const T = 0.8;
    const s = await inf.sample(n, { temperature: T, seed: 42 });
    const expected = new Float64Array(n * Z);
    for (let r = 0; r < n; r++) {
      const chunk = Math.floor(r / 8);
      for (let j = 0; j < Z; j++) {
        expected[r * Z + j] = T * prngNormal(42, 0, (r - 8 * chunk) * Z + j, chunk);
      }
    }
    expectClose(s.codes, expected, 1e-5, 'prior codes');
    expectClose(s.images, decode64(cfg, p, s.codes, n), 2e-5, 'prior images');
    const again = await inf.sample(n, { temperature: T, seed: 42 });
    expect(again.codes).toEqual(s.codes);
    const a = await inf.sample(3);
    const b = await inf.sample(3);
    expect(a.codes).not.toEqual(b.codes);
    const cold = await inf.sample(3, { temperature: 0 });
    expect(cold.codes.every((v) => v === 0)).toBe(true);
  });

  it('reconstruct decodes the posterior mean', async () => {
    const x = randomInputs(5, 9);
    const r = await inf.reconstruct(x);
    const ref = encode64(cfg, p, x, 5);
    expectClose(r.codes, ref.mu, 2e-5, 'codes');
    expectClose(r.images, decode64(cfg, p, ref.mu, 5), 3e-5, 'images');
  });

  it('interpolate (linear and spherical, from inputs or codes) matches the CPU formulas', async () => {
    const x = randomInputs(2, 21);
    const xa = x.slice(0, D);
    const xb = x.slice(D);
    const ref = encode64(cfg, p, x, 2);
    const muA = ref.mu.slice(0, Z);
    const muB = ref.mu.slice(Z);
    for (const method of ['linear', 'spherical'] as const) {
      const steps = 7;
      const out = await inf.interpolate(xa, xb, steps, { method });
      const codes = referenceLatentCodes(
        { mode: method === 'linear' ? 'lerp' : 'slerp' },
        steps,
        muA,
        muB,
      );
      expectClose(out.codes, codes, 5e-5, `${method} codes`);
      expectClose(out.images, decode64(cfg, p, out.codes, steps), 2e-5, `${method} images`);
      expectClose(out.codes.slice(0, Z), muA, 5e-5, 'first is a');
      expectClose(out.codes.slice((steps - 1) * Z), muB, 5e-5, 'last is b');
    }
    const za = Float32Array.from([1, 0, 0]);
    const zb = Float32Array.from([0, 2, 0]);
    const sl = await inf.interpolate(za, zb, 3, { method: 'spherical', space: 'latent' });
    // Halfway between orthogonal vectors of norms 1 and 2: sin(π/4)/sin(π/2) of each.
    expectClose(sl.codes.slice(Z, 2 * Z), [Math.SQRT1_2, Math.SQRT2, 0], 1e-5, 'slerp midpoint');
    // Parallel codes fall back to linear interpolation.
    const par = await inf.interpolate(za, Float32Array.from([2, 0, 0]), 3, {
      method: 'spherical',
      space: 'latent',
    });
    expectClose(par.codes.slice(Z, 2 * Z), [1.5, 0, 0], 1e-6, 'parallel');
  });

  it('traverse sweeps one or several dimensions around a code', async () => {
    const code = Float32Array.from([0.3, -0.2, 0.5]);
    const one = await inf.traverse(code, 1, { steps: 5, range: [-2, 2] });
    const ref1 = referenceLatentCodes(
      { mode: 'traverse', cols: 5, dimA: 1, lo: -2, hi: 2 },
      5,
      code,
    );
    expectClose(one.codes, ref1, 1e-6, 'traverse codes');
    expect(one.codes[1]).toBeCloseTo(-2.2, 5);
    expectClose(one.images, decode64(cfg, p, one.codes, 5), 2e-5, 'traverse images');
    const grid = await inf.traverse(code, 0, {
      steps: 2,
      dims: 3,
      range: [-1, 1],
      relative: false,
    });
    const ref2 = referenceLatentCodes(
      { mode: 'traverse', cols: 2, dimA: 0, lo: -1, hi: 1, relative: false },
      6,
      code,
    );
    expectClose(grid.codes, ref2, 1e-6, 'traverse grid');
  });

  it('manifold2d spaces codes by the inverse normal CDF (Kingma & Welling)', async () => {
    const size = 2; // 4 codes; sizes up to the largest planned (8) rows
    const out = await inf.manifold2d(size, { dims: [2, 0] });
    const ref = referenceLatentCodes(
      { mode: 'manifold', cols: size, dimA: 2, dimB: 0 },
      4,
      new Float32Array(Z),
    );
    expectClose(out.codes, ref, 2e-5, 'manifold codes');
    // Top-left: x = Φ⁻¹(0.05), y = Φ⁻¹(0.95).
    expect(out.codes[2]).toBeCloseTo(-1.6448536, 4);
    expect(out.codes[0]).toBeCloseTo(1.6448536, 4);
    expectClose(out.images, decode64(cfg, p, out.codes, 4), 2e-5, 'manifold images');
    await expect(inf.manifold2d(3)).rejects.toThrow(/exceeds the largest planned batch size 8/);
    const big = VaeInference.create(model, { batchSizes: [256] });
    try {
      const m = await big.manifold2d(16, { range: [0.1, 0.9] });
      const r = referenceLatentCodes(
        { mode: 'manifold', cols: 16, lo: 0.1, hi: 0.9 },
        256,
        new Float32Array(Z),
      );
      expectClose(m.codes, r, 2e-5, 'manifold 16×16');
    } finally {
      big.destroy();
    }
  });

  it('latentCodes covers every mode against the CPU formulas', async () => {
    const a = Float32Array.from([0.5, -1, 2]);
    const b = Float32Array.from([-0.25, 0.75, 1]);
    const specs: LatentCodeSpec[] = [
      { mode: 'lerp' },
      { mode: 'slerp' },
      { mode: 'traverse', cols: 4, dimA: 1, lo: -3, hi: 1 },
      { mode: 'manifold', cols: 4, dimA: 0, dimB: 2, lo: 0.02, hi: 0.98 },
    ];
    for (const spec of specs) {
      const got = await inf.latentCodes(spec, 8, a, b);
      expectClose(got, referenceLatentCodes(spec, 8, a, b), 5e-5, spec.mode);
    }
  });

  it('GPU buffers in and out: encodeGpu / decodeGpu without CPU round trips', async () => {
    const n = 3;
    const x = randomInputs(n, 33);
    const padded = new Float32Array(64 + n * D);
    padded.set(x, 64);
    const xbuf = rt.buffers.upload('test.x', padded);
    const xr = { buffer: xbuf.buffer, offset: 256, size: n * D * 4 };
    const enc = await inf.encodeGpu(xr, n);
    const ref = encode64(cfg, p, x, n);
    expect(enc.mu.size).toBe(n * Z * 4);
    expectClose((await readFloats(rt.device, enc.mu)).subarray(0, n * Z), ref.mu, 2e-5, 'gpu mu');
    const muOut = rt.buffers.storage('test.mu', n * Z * 4);
    const lvOut = rt.buffers.storage('test.lv', n * Z * 4);
    const copied = await inf.encodeGpu(xr, n, { mu: muOut, logvar: lvOut });
    expect(copied.mu.buffer).toBe(muOut.buffer);
    expectClose(
      (await readFloats(rt.device, lvOut)).subarray(0, n * Z),
      ref.logvar,
      2e-5,
      'gpu logvar',
    );
    // Decode straight from the mu buffer: the reconstruction, all on the GPU.
    const images = await inf.decodeGpu(muOut, n);
    expectClose(
      (await readFloats(rt.device, images)).subarray(0, n * D),
      decode64(cfg, p, ref.mu, n),
      3e-5,
      'gpu decode',
    );
    const imgOut = rt.buffers.storage('test.img', n * D * 4);
    const r2 = await inf.decodeGpu(muOut, n, { out: imgOut });
    expect(r2.buffer).toBe(imgOut.buffer);
    // Errors: too small, wrong usage, too many rows.
    await expect(inf.encodeGpu({ ...xr, size: 8 }, n)).rejects.toThrow(
      /holds 2 floats, 48 are needed/,
    );
    const noCopy = rt.device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
    await expect(inf.decodeGpu({ buffer: noCopy, offset: 0, size: 256 }, 2)).rejects.toThrow(
      /COPY_SRC/,
    );
    noCopy.destroy();
    await expect(inf.decodeGpu(muOut, 9)).rejects.toThrow(/largest planned batch size 8/);
    for (const b of [xbuf, muOut, lvOut, imgOut]) rt.buffers.destroy(b.buffer);
  });

  it('keeps the graph cache bounded (LRU), frees what it evicts, and names a bad bound', async () => {
    const live = () => rt.buffers.stats.liveBuffers;
    // A decode first: the runtime's shared matmul placeholders are made once, on first use.
    await inf.decode(randomCodes(1, 1), 1);
    const before = live();
    const small = VaeInference.create(model, { batchSizes: [1, 2, 4, 8], maxCachedGraphs: 3 });
    try {
      for (const n of [1, 2, 3, 5, 1, 2]) await small.decode(randomCodes(n, n), n);
      await small.encode(randomInputs(2, 1));
      expect(small.cachedGraphs.length).toBeLessThanOrEqual(3);
      expect(small.cachedGraphs.at(-1)).toBe('encode2');
      const z = randomCodes(4, 77);
      expectClose(await small.decode(z), decode64(cfg, p, z, 4), 2e-5, 'after eviction');
    } finally {
      small.destroy();
    }
    // Evicted and destroyed graphs are freed once made (a tick later).
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(live()).toBe(before);
    for (const bad of [0, 2.5, NaN]) {
      expect(() => VaeInference.create(model, { maxCachedGraphs: bad })).toThrow(
        /maxCachedGraphs must be an integer >= 1/,
      );
    }
  });

  it('rejects bad inputs with clear errors', async () => {
    await expect(inf.encode(new Float32Array(D + 1))).rejects.toThrow(/whole number/);
    await expect(
      inf.encode(Float32Array.from({ length: D }, (_, i) => (i === 5 ? NaN : 0))),
    ).rejects.toThrow(/x\[5\] is NaN/);
    await expect(inf.decode(new Float64Array(Z) as never)).rejects.toThrow(
      /must be a Float32Array/,
    );
    await expect(inf.decode(new Float32Array(Z), 2)).rejects.toThrow(/2 rows of 3 need 6/);
    await expect(inf.traverse(new Float32Array(Z), 3)).rejects.toThrow(/not all in \[0, 3\)/);
    await expect(inf.traverse(new Float32Array(2), 0)).rejects.toThrow(/Float32Array of 3 values/);
    await expect(
      inf.interpolate(new Float32Array(D), new Float32Array(D), 3, { method: 'cubic' as never }),
    ).rejects.toThrow(/'linear' or 'spherical'/);
    await expect(inf.interpolate(new Float32Array(Z), new Float32Array(D), 3)).rejects.toThrow(
      /a must be a Float32Array of 16 values/,
    );
    await expect(inf.sample(0)).rejects.toThrow(/n must be an integer >= 1/);
    await expect(inf.sample(2, { temperature: -1 })).rejects.toThrow(/temperature/);
    expect(() => VaeInference.create(model, { batchSizes: [0] })).toThrow(/batchSizes/);
  });

  it('loads checkpoints from bytes, a Blob/File and a URL (streamed), with named errors', async () => {
    const bytes = await model.toCheckpoint();
    const z = randomCodes(2, 5);
    const expected = await inf.decode(z);
    const fromBytes = await VaeInference.fromCheckpoint(rt, bytes);
    expect(await fromBytes.decode(z)).toEqual(expected);
    fromBytes.destroy();
    const file = new File([bytes as Uint8Array<ArrayBuffer>], 'model.safetensors');
    const fromFile = await VaeInference.fromCheckpoint(rt, file);
    expect(await fromFile.decode(z)).toEqual(expected);
    fromFile.destroy();
    const fromBlob = await VaeInference.fromCheckpoint(
      rt,
      new Blob([bytes as Uint8Array<ArrayBuffer>]),
    );
    expect(fromBlob.checkpoint?.config).toBeDefined();
    fromBlob.destroy();

    const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-ckpt-'));
    writeFileSync(join(dir, 'model.safetensors'), bytes);
    const { url, server } = await serveStatic(dir);
    try {
      const progress: number[] = [];
      const fromUrl = await VaeInference.fromCheckpoint(rt, `${url}/model.safetensors`, {
        onProgress: (loaded) => progress.push(loaded),
      });
      expect(await fromUrl.decode(z)).toEqual(expected);
      expect(progress.at(-1)).toBe(bytes.length);
      fromUrl.destroy();
      await expect(VaeInference.fromCheckpoint(rt, `${url}/missing.safetensors`)).rejects.toThrow(
        /missing\.safetensors: HTTP 404/,
      );
      await expect(
        VaeInference.fromCheckpoint(rt, new URL(`${url}/model.safetensors`), { maxBytes: 100 }),
      ).rejects.toThrow(/exceeds/);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const dataUrl = `data:application/octet-stream;base64,${Buffer.from(bytes).toString('base64')}`;
    const fromData = await VaeInference.fromCheckpoint(rt, dataUrl);
    expect(await fromData.decode(z)).toEqual(expected);
    fromData.destroy();

    const broken = bytes.slice(0, 40);
    await expect(
      VaeInference.fromCheckpoint(rt, new File([broken], 'broken.safetensors')),
    ).rejects.toThrow(/broken\.safetensors/);
    await expect(readCheckpointSource(42 as never)).rejects.toThrow(/must be a Uint8Array/);
  });

  it('GridDisplay tiles and colour-maps on the GPU exactly like imageGrid + colorize', async () => {
    const n = 5;
    const h = 3;
    const w = 4;
    const values = Float32Array.from({ length: n * h * w }, (_, i) => ((i * 37) % 101) / 100);
    values[7] = NaN;
    values[8] = 1.5;
    values[9] = -0.5;
    const src = rt.buffers.upload('test.images', values);
    for (const [colormap, format] of [
      ['gray', 'rgba8unorm'],
      ['magma', 'bgra8unorm'],
    ] as const) {
      const display = await GridDisplay.create(rt, {
        source: src,
        n,
        height: h,
        width: w,
        columns: 2,
        padding: 1,
        colormap,
        format,
      });
      const target = textureTarget(rt, display.layout, format);
      display.draw(target);
      const got = await readTexture(
        rt,
        target.gpuTexture,
        display.layout.width,
        display.layout.height,
      );
      const grid = imageGrid(values, n, h, w, { columns: 2, padding: 1 });
      const lut = packedLut(colormap, format);
      // The LUT index may differ by one from the CPU's rounding (f32 vs f64 products).
      let bad = 0;
      for (let i = 0; i < grid.pixels.length; i++) {
        const texel =
          (got[4 * i]! |
            (got[4 * i + 1]! << 8) |
            (got[4 * i + 2]! << 16) |
            (got[4 * i + 3]! << 24)) >>>
          0;
        const g = grid.pixels[i]!;
        const near = [g - 1, g, g + 1].filter((v) => v >= 0 && v < 256).map((v) => lut[v]);
        if (!near.includes(texel)) bad++;
      }
      const worst = bad;
      expect(worst, `${colormap}: texels off by more than one LUT step`).toBe(0);
      target.destroy();
      display.destroy();
    }
    // The render-pass blit (canvas path) gives the same texels in a bgra8unorm render target.
    const display = await GridDisplay.create(rt, {
      source: src,
      n,
      height: h,
      width: w,
      colormap: 'viridis',
    });
    const direct = textureTarget(rt, display.layout);
    display.draw(direct);
    const out = rt.device.createTexture({
      size: { width: display.layout.width, height: display.layout.height },
      format: 'bgra8unorm',
      usage: GPUTextureUsage.RENDER_ATTACHMENT | GPUTextureUsage.COPY_SRC,
    });
    const blit = blitTarget(rt, display.layout, () => out, 'bgra8unorm');
    display.draw(blit);
    const a = await readTexture(rt, direct.gpuTexture, display.layout.width, display.layout.height);
    const b = await readTexture(rt, out, display.layout.width, display.layout.height);
    for (let i = 0; i < a.length; i += 4) {
      expect([b[i + 2], b[i + 1], b[i], b[i + 3]]).toEqual([a[i], a[i + 1], a[i + 2], a[i + 3]]);
    }
    blit.destroy();
    out.destroy();
    direct.destroy();
    display.destroy();
    await expect(
      GridDisplay.create(rt, { source: src, n: 6, height: h, width: w }),
    ).rejects.toThrow(/holds 60 floats/);
    rt.buffers.destroy(src.buffer);
  });

  it('a LatentView frame (codes → decoder → tiles → texture) equals the CPU pipeline', async () => {
    const big = VaeInference.create(model, { batchSizes: [16] });
    const layout = gridLayout(8, 4, 4, { columns: 4 });
    const target = textureTarget(rt, layout);
    const view = await LatentView.create(big, target, {
      rows: 2,
      cols: 4,
      spec: { mode: 'traverse', dimA: 1, lo: -2, hi: 2 },
    });
    try {
      const base = Float32Array.from([0.1, 0.2, -0.3]);
      view.setBase(base);
      await view.frame();
      const codes = referenceLatentCodes(
        { mode: 'traverse', cols: 4, dimA: 1, lo: -2, hi: 2 },
        8,
        base,
      );
      const images = Float32Array.from(decode64(cfg, p, codes, 8));
      const check = async () => {
        const got = await readTexture(rt, target.gpuTexture, layout.width, layout.height);
        const grid = imageGrid(images, 8, 4, 4, { columns: 4 });
        let worst = 0;
        for (let i = 0; i < grid.pixels.length; i++)
          worst = Math.max(worst, Math.abs(got[4 * i]! - grid.pixels[i]!));
        expect(worst).toBeLessThanOrEqual(1);
      };
      await check();
      // A new base and range change the picture.
      const before = await readTexture(rt, target.gpuTexture, layout.width, layout.height);
      view.setBase(Float32Array.from([1, 1, 1]));
      view.setSpec({ lo: -1, hi: 3 });
      await view.frame();
      const after = await readTexture(rt, target.gpuTexture, layout.width, layout.height);
      expect(after).not.toEqual(before);
      const codes2 = referenceLatentCodes(
        { mode: 'traverse', cols: 4, dimA: 1, lo: -1, hi: 3 },
        8,
        Float32Array.from([1, 1, 1]),
      );
      images.set(decode64(cfg, p, codes2, 8));
      await check();
    } finally {
      view.destroy();
      target.destroy();
      big.destroy();
    }
  });
});
