import { afterEach, describe, expect, it } from 'vitest';
import type { BufferRange } from '../src/gpu/buffers.js';
import type { GpuRuntime } from '../src/gpu/runtime.js';
import { defaultAlpha, type Activation } from '../src/kernels/activation-codes.js';
import {
  MATMUL_LAYOUTS,
  MATMUL_VARIANTS,
  matmulEligible,
  matmulKernel,
  matmulSupported,
  matmulVariantOf,
  prepareMatmul,
  texChunks,
  type MatmulLayout,
  type MatmulVariant,
} from '../src/kernels/matmul.js';
import { activation64 } from '../src/reference/activations.js';
import { matmulForward64 } from '../src/reference/dense.js';
import {
  MATMUL_ENV,
  clearMatmulSelections,
  matmulSelections,
  matmulShapeClass,
  selectMatmulVariant,
} from '../src/kernels/matmul-select.js';
import { adapterClass, defaultMatmulVariant } from '../src/kernels/matmul-defaults.js';
import { WeightPacks } from '../src/kernels/matmul-pack.js';
import { prepareAdam } from '../src/kernels/adam.js';
import { TEST_ADAPTERS, output, read, runtimeFor, upload } from './helpers/gpu.js';
import { freshSeed, makeRng, mismatches, randomUniform } from './helpers/reference.js';

interface Case {
  variant: MatmulVariant;
  /** Extra override constants (sgtex's PLAIN path). */
  constants?: Record<string, number>;
  layout: MatmulLayout;
  M: number;
  N: number;
  K: number;
  bias?: boolean;
  act?: Activation;
  alpha?: number;
  pre?: boolean;
  accumulate?: boolean;
}

/** z = op(A)·op(B) + bias in float64 (src/reference/dense.ts). */
function reference(
  c: Case,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array | undefined,
): Float64Array {
  const z = matmulForward64(a, b, c.M, c.N, c.K, c.layout);
  return bias ? z.map((v, i) => v + bias[i % c.N]!) : z;
}

/** f32 dot products of length K with |terms| <= 1: error grows at most ~K·2⁻²⁴; allow some slack. */
function tolerance(K: number): { atol: number; rtol: number } {
  return { atol: 5e-7 * (K + 2), rtol: 2e-5 };
}

const buffersOf = (rt: GpuRuntime, ranges: BufferRange[]) => {
  for (const r of ranges) rt.buffers.destroy(r.buffer);
};

/** Runs one case on fresh random inputs (outputs poisoned) and returns a mismatch report or null. */
async function runCase(rt: GpuRuntime, seed: number, c: Case): Promise<string | null> {
  const rng = makeRng(seed);
  const { M, N, K } = c;
  const a = randomUniform(rng, M * K);
  const b = randomUniform(rng, K * N);
  const bias = c.bias ? randomUniform(rng, N) : undefined;
  const c0 = c.accumulate ? randomUniform(rng, M * N) : undefined;
  const aBuf = upload(rt, 'a', a);
  const bBuf = upload(rt, 'b', b);
  const biasBuf = bias ? upload(rt, 'bias', bias) : undefined;
  const cBuf = c0 ? upload(rt, 'c', c0) : output(rt, 'c', M * N);
  const preBuf = c.pre ? output(rt, 'pre', M * N) : undefined;
  try {
    const d = await prepareMatmul(rt, {
      layout: c.layout,
      M,
      N,
      K,
      a: aBuf,
      b: bBuf,
      c: cBuf,
      bias: biasBuf,
      pre: preBuf,
      act: c.act,
      alpha: c.alpha,
      accumulate: c.accumulate,
      variant: c.variant,
      ...(c.constants ? { constants: c.constants } : {}),
    });
    expect(matmulVariantOf(d)).toBe(c.variant);
    await rt.submitChecked([d]);
    const z = reference(c, a, b, bias);
    const act = c.act ?? 'identity';
    const alpha = c.alpha ?? defaultAlpha(act);
    const y = z.map((v, i) => activation64(act, v, alpha) + (c0 ? c0[i]! : 0));
    const name = `${c.variant} ${c.layout} ${M}×${N}×${K} ${JSON.stringify({ ...c, variant: undefined, layout: undefined, M: undefined, N: undefined, K: undefined })} seed ${seed}`;
    const tol = tolerance(K);
    const problems = [mismatches(await read(rt, cBuf), y, tol, `c of ${name}`)];
    if (preBuf) problems.push(mismatches(await read(rt, preBuf), z, tol, `pre of ${name}`));
    d.destroy();
    return problems.filter((p) => p !== null).join('\n') || null;
  } finally {
    buffersOf(rt, [aBuf, bBuf, cBuf, ...(biasBuf ? [biasBuf] : []), ...(preBuf ? [preBuf] : [])]);
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [33, 17, 65],
  [130, 101, 67],
  [36, 20, 44], // multiples of 4 (vec4 variants)
  [68, 52, 28], // multiples of 4, not of any tile
  [4, 4, 4],
  [132, 76, 8],
  [12, 8, 7], // odd K: the tail of the unrolled TN loop
  [8, 4, 1],
];

const EPILOGUES: Omit<Case, 'variant' | 'layout' | 'M' | 'N' | 'K'>[] = [
  { bias: true },
  { bias: true, act: 'relu', pre: true },
  { accumulate: true },
  { bias: true, act: 'leaky_relu', alpha: 0.2, pre: true, accumulate: true },
  { act: 'elu', alpha: 0.7 },
  { bias: true, act: 'tanh' },
  { act: 'sigmoid', pre: true },
  { bias: true, act: 'softplus' },
  { bias: true, act: 'gelu', pre: true },
];

// The epilogue code (matmul_common.wgsl) is shared by every variant: all activations run on the
// cheap-to-compile naive kernel; the others get the combinations of bias, pre and accumulate (each
// override combination is a pipeline, and the big register-blocked ones take long to compile).
const EPILOGUES_OF: Record<MatmulVariant, number[]> = {
  naive: EPILOGUES.map((_, i) => i),
  rb: [1, 2, 3],
  rb4: [1, 2, 3],
  rb4x16: [3],
  tiled: [1, 3],
  tex: [1, 2, 3],
  sgtex: [1, 3],
};

// sgtex reads A as (M, K) rows: it has no TN form (checked in the eligibility test).
const VARIANT_LAYOUTS = MATMUL_VARIANTS.flatMap((variant) =>
  MATMUL_LAYOUTS.filter((layout) => variant !== 'sgtex' || layout !== 'TN').map(
    (layout) => [variant, layout] as [MatmulVariant, MatmulLayout],
  ),
);

describe.each(TEST_ADAPTERS)('matmul on %s', (adapter) => {
  const savedEnv = process.env[MATMUL_ENV];
  afterEach(() => {
    if (savedEnv === undefined) delete process.env[MATMUL_ENV];
    else process.env[MATMUL_ENV] = savedEnv;
  });

  it.each(VARIANT_LAYOUTS)('%s %s: awkward shapes and every epilogue', async (variant, layout) => {
    const rt = await runtimeFor(adapter);
    if (!matmulSupported(rt, variant)) {
      // A device without the feature the variant needs: a clear error, never a wrong result.
      const bufs = [output(rt, 'a', 64), output(rt, 'b', 64), output(rt, 'c', 64)];
      await expect(
        prepareMatmul(rt, {
          layout,
          M: 4,
          N: 4,
          K: 4,
          a: bufs[0]!,
          b: bufs[1]!,
          c: bufs[2]!,
          variant,
        }),
      ).rejects.toThrow(/needs the 'subgroups' feature/);
      buffersOf(rt, bufs);
      return;
    }
    const problems: string[] = [];
    let ran = 0;
    for (const [M, N, K] of SHAPES) {
      if (!matmulEligible(variant, layout, { M, N, K })) continue;
      const p = await runCase(rt, freshSeed(), { variant, layout, M, N, K });
      ran++;
      if (p) problems.push(p);
    }
    // Epilogues on one shape that is not a multiple of any tile (vec4-eligible for every layout).
    for (const i of EPILOGUES_OF[variant]) {
      const [M, N, K] = i % 2 === 0 ? [36, 20, 44] : [68, 52, 28];
      const p = await runCase(rt, freshSeed(), { variant, layout, M, N, K, ...EPILOGUES[i]! });
      ran++;
      if (p) problems.push(p);
    }
    expect(problems.join('\n\n')).toBe('');
    expect(ran).toBeGreaterThanOrEqual(EPILOGUES_OF[variant].length + 4);
  });

  it('sgtex: the plain path (other GPUs) gives the same results', async () => {
    const rt = await runtimeFor(adapter);
    const problems: string[] = [];
    if (!matmulSupported(rt, 'sgtex')) {
      // No subgroups (llvmpipe in compatibility mode): sgtex is never prepared here.
      expect(rt.info.features.has('subgroups')).toBe(false);
      return;
    }
    for (const layout of ['NN', 'NT'] as const) {
      for (const [M, N, K] of [
        [33, 17, 64],
        [36, 20, 44],
      ] as const) {
        const c: Case = { variant: 'sgtex', layout, M, N, K, bias: true, act: 'relu', pre: true };
        const p = await runCase(rt, freshSeed(), { ...c, constants: { PLAIN: 1 } });
        if (p) problems.push(p);
      }
    }
    expect(problems.join('\n\n')).toBe('');
  });

  it('is eligible exactly where vec4 strides allow', () => {
    expect(matmulEligible('rb4', 'NN', { M: 7, N: 8, K: 12 })).toBe(true);
    expect(matmulEligible('rb4', 'NN', { M: 8, N: 6, K: 12 })).toBe(false);
    expect(matmulEligible('rb4', 'TN', { M: 6, N: 8, K: 7 })).toBe(false);
    expect(matmulEligible('rb4x16', 'NT', { M: 7, N: 7, K: 8 })).toBe(true);
    expect(matmulEligible('rb', 'NT', { M: 7, N: 7, K: 7 })).toBe(true);
    expect(matmulEligible('tex', 'TN', { M: 7, N: 7, K: 7 })).toBe(true);
    expect(matmulEligible('tex', 'NN', { M: 5000, N: 8, K: 8 })).toBe(false);
    // A long K: TN (weight gradients) is split into chunks; the other layouts are not.
    expect(matmulEligible('tex', 'TN', { M: 8, N: 8, K: 9000 })).toBe(true);
    expect(matmulEligible('tex', 'NN', { M: 8, N: 8, K: 9000 })).toBe(false);
    expect(matmulEligible('tex', 'NT', { M: 8, N: 8, K: 9000 })).toBe(false);
    expect(matmulEligible('sgtex', 'NT', { M: 5000, N: 7, K: 8 })).toBe(true);
    expect(matmulEligible('sgtex', 'NN', { M: 5, N: 7, K: 6 })).toBe(false);
    expect(matmulEligible('sgtex', 'TN', { M: 8, N: 8, K: 8 })).toBe(false);
  });

  it('tex TN with K beyond one texture: chunks summed match float64 (bias, accumulate)', async () => {
    const rt = await runtimeFor(adapter);
    const problems: string[] = [];
    for (const c of [
      { M: 7, N: 13, K: 4101, bias: true },
      { M: 36, N: 20, K: 9000, accumulate: true },
    ]) {
      const p = await runCase(rt, freshSeed(), { variant: 'tex', layout: 'TN', ...c });
      if (p) problems.push(p);
    }
    expect(problems.join('\n\n')).toBe('');
    const bufs = [output(rt, 'a', 8 * 4101), output(rt, 'b', 8 * 4101), output(rt, 'c', 64)];
    const [a, b, c] = bufs as [BufferRange, BufferRange, BufferRange];
    const long = { layout: 'TN', M: 8, N: 8, K: 4101, a, b, c, variant: 'tex' } as const;
    await expect(prepareMatmul(rt, { ...long, act: 'relu' })).rejects.toThrow(
      /splits K into 2 chunks, which needs a linear epilogue/,
    );
    buffersOf(rt, bufs);
  });

  // More than 65535 workgroups: the grid is folded into two dimensions (see dispatch1d); every
  // variant shares the unfolding code (matmul_tile in matmul_common.wgsl).
  it.each([
    ['naive', 'NN', 4 * 65535 + 5, 1, 3],
    ['rb4', 'NT', 32 * 65535 + 1, 1, 4],
  ] as [MatmulVariant, MatmulLayout, number, number, number][])(
    '%s %s with more than 65535 workgroups (M=%i)',
    async (variant, layout, M, N, K) => {
      const rt = await runtimeFor(adapter);
      const [x, y] = matmulKernel(variant, layout).dispatch({ M, N, K, hasBias: 0, storePre: 0 });
      expect(x * y).toBeGreaterThan(65535);
      const p = await runCase(rt, freshSeed(), { variant, layout, M, N, K, bias: true });
      expect(p).toBe(null);
    },
  );

  it('pins a variant by option and by WEBGPU_VAE_MATMUL', async () => {
    const rt = await runtimeFor(adapter);
    const shape = { M: 12, N: 8, K: 4 };
    const bufs = {
      a: output(rt, 'a', 48),
      b: output(rt, 'b', 32),
      c: output(rt, 'c', 96),
    };
    process.env[MATMUL_ENV] = 'naive';
    const fromEnv = await prepareMatmul(rt, { layout: 'NN', ...shape, ...bufs });
    expect(matmulVariantOf(fromEnv)).toBe('naive');
    const fromOption = await prepareMatmul(rt, {
      layout: 'NN',
      ...shape,
      ...bufs,
      variant: 'rb4x16',
    });
    expect(matmulVariantOf(fromOption)).toBe('rb4x16');
    // An explicit variant that cannot run this shape is an error.
    await expect(
      prepareMatmul(rt, { layout: 'NN', M: 3, N: 3, K: 3, ...bufs, variant: 'rb4' }),
    ).rejects.toThrow(/not eligible/);
    // The environment pins only where eligible; elsewhere the selector decides.
    process.env[MATMUL_ENV] = 'rb4';
    const fallback = await prepareMatmul(rt, { layout: 'NN', M: 3, N: 3, K: 3, ...bufs });
    expect(matmulVariantOf(fallback)).not.toBe('rb4');
    process.env[MATMUL_ENV] = 'fastest';
    await expect(prepareMatmul(rt, { layout: 'NN', ...shape, ...bufs })).rejects.toThrow(
      /unknown variant/,
    );
    for (const d of [fromEnv, fromOption, fallback]) d.destroy();
    buffersOf(rt, Object.values(bufs));
  });

  it('selects by measurement once per shape class and caches the choice', async () => {
    const rt = await runtimeFor(adapter);
    delete process.env[MATMUL_ENV];
    clearMatmulSelections(rt);
    const shape64 = { M: 64, N: 48, K: 40 };
    const first = await selectMatmulVariant(rt, 'NN', shape64);
    let all = await matmulSelections(rt);
    expect(all.size).toBe(1);
    const [key, selection] = [...all][0]!;
    expect(key).toBe(matmulShapeClass('NN', { M: 64, N: 48, K: 40 }));
    expect(selection.variant).toBe(first);
    // Every eligible variant was timed (or dropped as far slower after one run).
    for (const v of MATMUL_VARIANTS) expect(selection.timings[v]).toBeGreaterThan(0);
    // A shape of the same class reuses the choice without measuring again.
    const second = await selectMatmulVariant(rt, 'NN', { M: 60, N: 64, K: 36 });
    expect(second).toBe(first);
    all = await matmulSelections(rt);
    expect(all.size).toBe(1);
    expect([...all.values()][0]).toBe(selection);
    // prepareMatmul without a pin uses the selection when it is clearly (10 %) faster than the
    // shipped default; else the default (one pipeline fewer to compile at start-up).
    const fallback = defaultMatmulVariant(adapterClass(rt.info.kind), 'NN', shape64, false, (v) =>
      matmulSupported(rt, v),
    );
    const clearlyFaster = selection.timings[first]! <= 0.9 * selection.timings[fallback]!;
    const bufs = {
      a: output(rt, 'a', 64 * 40),
      b: output(rt, 'b', 40 * 48),
      c: output(rt, 'c', 64 * 48),
    };
    const d = await prepareMatmul(rt, { layout: 'NN', M: 64, N: 48, K: 40, ...bufs });
    expect(matmulVariantOf(d)).toBe(clearlyFaster ? first : fallback);
    d.destroy();
    buffersOf(rt, Object.values(bufs));
    // Another class (not vec4-eligible) is measured separately and never picks a vec4 variant.
    const odd = await selectMatmulVariant(rt, 'NN', { M: 33, N: 17, K: 65 });
    expect(['naive', 'rb', 'tiled', 'tex']).toContain(odd);
    expect((await matmulSelections(rt)).size).toBe(2);
  });
  it('tex with a weight as B packs it once per change: uploads and Adam steps, not runs', async () => {
    const rt = await runtimeFor(adapter);
    const rng = makeRng(freshSeed());
    // A weight W (N, K) at an offset inside a "parameter" buffer, read as B in layout NT.
    const M = 37;
    const N = 29;
    const K = 43;
    const offset = 256;
    const w0 = randomUniform(rng, N * K);
    const params = rt.buffers.storage('params', offset + 4 * N * K);
    const packs = new WeightPacks(rt, params.buffer, 'params');
    const wRange = { buffer: params.buffer, offset, size: 4 * N * K };
    const x = randomUniform(rng, M * K);
    const xBuf = upload(rt, 'x', x);
    const cBuf = output(rt, 'c', M * N);
    const check = async (w: Float32Array, what: string) => {
      const want = reference({ variant: 'tex', layout: 'NT', M, N, K }, x, w, undefined);
      expect(mismatches(await read(rt, cBuf), want, tolerance(K), what)).toBe(null);
    };
    try {
      rt.device.queue.writeBuffer(params.buffer, offset, Float32Array.from(w0));
      packs.invalidate();
      const d = await prepareMatmul(rt, {
        layout: 'NT',
        M,
        N,
        K,
        a: xBuf,
        b: wRange,
        c: cBuf,
        variant: 'tex',
      });
      const d2 = await prepareMatmul(rt, {
        layout: 'NT',
        M,
        N,
        K,
        a: xBuf,
        b: wRange,
        c: cBuf,
        variant: 'tex',
        label: 'second user',
      });
      expect(packs.size).toBe(1); // one shared texture for both matmuls
      for (let run = 0; run < 3; run++) await rt.submitChecked([d, d2]);
      expect(packs.recorded).toBe(1);
      await check(w0, 'after three runs of two matmuls');
      // An upload: stale until the next run, which packs once.
      const w1 = randomUniform(rng, N * K);
      rt.device.queue.writeBuffer(params.buffer, offset, Float32Array.from(w1));
      packs.invalidate();
      await rt.submitChecked([d]);
      await rt.submitChecked([d2]);
      expect(packs.recorded).toBe(2);
      await check(w1, 'after an upload');
      // An Adam step over the buffer (params -= lr·sign-ish): the packs are recorded right after it
      // by encodeStale, and the next run records nothing.
      const n = (offset + 4 * N * K) / 4;
      const grads = upload(rt, 'grads', randomUniform(rng, n));
      const m = output(rt, 'm', n);
      const v = output(rt, 'v', n);
      for (const r of [m, v]) rt.device.queue.writeBuffer(r.buffer, 0, new Float32Array(n));
      const adam = await prepareAdam(rt, { params, grads, m, v, n, lr: 0.1 });
      adam.setStep(1);
      const encoder = rt.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      adam.encode(pass);
      packs.encodeStale(pass);
      pass.end();
      rt.device.queue.submit([encoder.finish()]);
      expect(packs.recorded).toBe(3);
      await rt.submitChecked([d]);
      expect(packs.recorded).toBe(3);
      const w2 = (await read(rt, params)).slice(offset / 4);
      expect(Array.from(w2.subarray(0, 4))).not.toEqual(Array.from(w1.subarray(0, 4)));
      await check(w2, 'after an Adam step');
      // Without encodeStale, the next use packs (still once).
      adam.setStep(2);
      await rt.submitChecked([adam]);
      await rt.submitChecked([d, d2]);
      expect(packs.recorded).toBe(4);
      await check((await read(rt, params)).slice(offset / 4), 'after a second Adam step');
      d.destroy();
      expect(packs.size).toBe(1);
      d2.destroy();
      expect(packs.size).toBe(0); // released by its last user
      adam.destroy();
      for (const r of [grads, m, v]) rt.buffers.destroy(r.buffer);
    } finally {
      packs.destroy();
      for (const r of [params, xBuf, cBuf]) rt.buffers.destroy(r.buffer);
    }
  });
});

describe('texChunks', () => {
  it('splits K into near-equal chunks of a multiple of 4, each within one texture', () => {
    expect(texChunks(4096)).toEqual([{ start: 0, size: 4096 }]);
    for (const K of [4097, 5000, 8193, 12345]) {
      const chunks = texChunks(K);
      expect(chunks.length).toBe(Math.ceil((4 * Math.ceil(K / 4)) / 4096));
      let next = 0;
      for (const [i, c] of chunks.entries()) {
        expect(c.start).toBe(next);
        expect(4 * Math.ceil(c.size / 4)).toBeLessThanOrEqual(4096);
        if (i < chunks.length - 1) expect(c.size % 4).toBe(0);
        next += c.size;
      }
      expect(next).toBe(K);
    }
  });
});
