import { describe, expect, it } from 'vitest';
import type { BufferRange } from '../src/gpu/buffers.js';
import type { KernelDef, Shape } from '../src/gpu/kernel.js';
import type { GpuRuntime, Work } from '../src/gpu/runtime.js';
import { defaultAlpha, type Activation } from '../src/kernels/activation-codes.js';
import {
  CONV_ENV,
  CONV_VARIANTS,
  conv2dDirectKernel,
  convPathShape,
  type ConvPath,
  conv2dOutputSize,
  convOutputLength,
  prepareConv2dBackwardInput,
  prepareConv2dBackwardWeight,
  prepareConv2dForward,
  prepareConvBiasBackward,
  prepareConvTranspose2dBackwardInput,
  prepareConvTranspose2dBackwardWeight,
  prepareConvTranspose2dForward,
  type Conv2dShape,
  type ConvVariant,
} from '../src/kernels/conv.js';
import { activation64 } from '../src/reference/activations.js';
import {
  conv2dBackward64,
  conv2dForward64,
  convTranspose2dBackward64,
  convTranspose2dForward64,
} from '../src/reference/conv.js';
import { conv2dShape } from './helpers/conv-shape.js';
import {
  convIgemmKernel,
  convIgemmNarrowKernel,
  convIgemmWeightKernel,
  convPackIm2colKernel,
  convPackNhwc4Kernel,
} from '../src/kernels/conv-igemm.js';
import { prepareConvPath } from '../src/kernels/conv-measure.js';
import {
  CONV_DEFAULTS,
  convAdapterClass,
  convShapeClass,
  convVariantEligible,
  resolveConvVariant,
  type ConvPathShape,
} from '../src/kernels/conv-select.js';
import { TEST_ADAPTERS, output, poison, read, runtimeFor, upload } from './helpers/gpu.js';
import {
  finiteDifference,
  freshSeed,
  makeRng,
  mismatches,
  randomUniform,
} from './helpers/reference.js';

/** Sums of `terms` products of values in [-1, 1]. */
const tolerance = (terms: number) => ({ atol: 5e-7 * (terms + 2), rtol: 2e-5 });

const S = conv2dShape;

// Odd sizes, channels 1/3/5/17 (not multiples of the 8-channel block), batch 1 and 3, strides 1-3,
// padding 0-2, kernels 3×3, 4×4, 5×5 and non-square.
const CONV_SHAPES: Conv2dShape[] = [
  S(1, 1, 5, 7, 9, 3, 3, 1, 1),
  S(3, 3, 8, 13, 11, 4, 4, 2, 1),
  S(1, 5, 3, 9, 7, 5, 5, 2, 2),
  S(3, 2, 9, 8, 10, 3, 5, 1, 0),
  S(1, 3, 1, 11, 13, 4, 4, 2, 0),
  S(3, 4, 17, 7, 8, 3, 3, 3, 1),
];

const TRANSPOSED_SHAPES: Conv2dShape[] = [
  S(1, 5, 3, 7, 9, 3, 3, 1, 1),
  S(3, 3, 1, 7, 9, 4, 4, 2, 1, 0),
  S(1, 8, 5, 5, 7, 5, 5, 2, 2, 1),
  S(3, 2, 9, 4, 5, 3, 4, 2, 0, 1),
  S(1, 3, 17, 3, 4, 3, 3, 3, 1, 2),
  S(3, 1, 32, 7, 7, 4, 4, 2, 1),
];

// Extra shapes for the narrow variants, so that every output channel count 1-4 is run.
const NARROW_CONV_SHAPES: Conv2dShape[] = [
  S(3, 6, 2, 9, 8, 3, 3, 2, 1),
  S(1, 7, 4, 13, 11, 3, 4, 1, 2),
];
const NARROW_TRANSPOSED_SHAPES: Conv2dShape[] = [
  S(3, 6, 2, 5, 6, 4, 4, 2, 1, 1),
  S(1, 5, 4, 4, 3, 5, 5, 3, 2, 2),
];

const WEIGHT_VARIANTS: readonly ConvVariant[] = [
  'direct',
  'igemm',
  'igemm-tex',
  'igemm-sg',
  'im2col',
];

/** Whether this adapter lacks what a variant needs (igemm-sg: subgroups; llvmpipe has none). */
const unavailable = (rt: GpuRuntime, variant: ConvVariant) =>
  variant === 'igemm-sg' && !rt.info.features.has('subgroups');

/** Pinning a variant the adapter cannot run is a named error. */
async function expectUnavailable(rt: GpuRuntime, path: ConvPath, variant: ConvVariant) {
  const shape = S(2, 8, 16, 6, 6, 3, 3, 1, 1);
  await withBuffers(rt, async (b) => {
    const big = out(b, 'big', 4096);
    const bufs = { x: big, weight: big, y: big, dy: big, dx: big, dw: big };
    await expect(prepareConvPath(rt, path, shape, bufs, { variant })).rejects.toThrow(
      new RegExp(`${path}: variant '${variant}' is not eligible`),
    );
  });
}

/** The kernels' view of a path on this device, for eligibility. */
function pathOf(
  rt: GpuRuntime,
  shape: Conv2dShape,
  transposed: boolean,
  grad: 'forward' | 'input' | 'weight',
): ConvPathShape {
  const kind = transposed ? 'conv_transpose2d' : 'conv2d';
  return convPathShape(
    rt,
    grad === 'forward' ? `${kind}_forward` : `${kind}_backward_${grad}`,
    shape,
  );
}

interface Epilogue {
  bias?: boolean;
  act?: Activation;
  alpha?: number;
  pre?: boolean;
  accumulate?: boolean;
}

const EPILOGUES: Epilogue[] = [
  { bias: true },
  { bias: true, act: 'relu', pre: true },
  { accumulate: true },
  { bias: true, act: 'leaky_relu', alpha: 0.2, pre: true, accumulate: true },
  { bias: true, act: 'tanh' },
  { act: 'sigmoid', pre: true },
];

// The packed variants alternate two epilogues that between them switch every part on and off:
// each epilogue is another pipeline, and these kernels take seconds to compile on SwiftShader.
const PACKED_EPILOGUES: Epilogue[] = [
  { bias: true, act: 'leaky_relu', alpha: 0.2, pre: true, accumulate: true },
  { act: 'sigmoid' },
];

interface Bufs {
  rt: GpuRuntime;
  list: BufferRange[];
}

function up(b: Bufs, label: string, data: Float32Array): BufferRange {
  const r = upload(b.rt, label, data);
  b.list.push(r);
  return r;
}

function out(b: Bufs, label: string, n: number): BufferRange {
  const r = output(b.rt, label, n);
  b.list.push(r);
  return r;
}

async function withBuffers<T>(rt: GpuRuntime, body: (b: Bufs) => Promise<T>): Promise<T> {
  const b: Bufs = { rt, list: [] };
  try {
    return await body(b);
  } finally {
    for (const r of b.list) rt.buffers.destroy(r.buffer);
  }
}

async function run(rt: GpuRuntime, d: Work): Promise<void> {
  await rt.submitChecked([d]);
  d.destroy();
}

const describeShape = (shape: Conv2dShape, transposed: boolean, extra: object, seed: number) =>
  `${transposed ? 'conv_transpose2d' : 'conv2d'} ${JSON.stringify(shape)} ${JSON.stringify(extra)} seed ${seed}`;

/** Forward with an epilogue against the float64 reference; y and pre poisoned (or y random). */
async function forwardCase(
  rt: GpuRuntime,
  transposed: boolean,
  shape: Conv2dShape,
  e: Epilogue,
  seed: number,
  variant: ConvVariant,
): Promise<string | null> {
  const rng = makeRng(seed);
  const { batch, inChannels: ci, outChannels: co, height, width, kernelH, kernelW } = shape;
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const x = randomUniform(rng, batch * ci * height * width);
  const w = randomUniform(rng, ci * co * kernelH * kernelW);
  const bias = e.bias ? randomUniform(rng, co) : undefined;
  const ny = batch * co * oh * ow;
  const y0 = e.accumulate ? randomUniform(rng, ny) : undefined;
  return withBuffers(rt, async (b) => {
    const yBuf = y0 ? up(b, 'y', y0) : out(b, 'y', ny);
    const preBuf = e.pre ? out(b, 'pre', ny) : undefined;
    const opts = {
      ...shape,
      x: up(b, 'x', x),
      weight: up(b, 'w', w),
      y: yBuf,
      bias: bias ? up(b, 'bias', bias) : undefined,
      pre: preBuf,
      act: e.act,
      alpha: e.alpha,
      accumulate: e.accumulate,
      variant,
    };
    await run(
      rt,
      transposed
        ? await prepareConvTranspose2dForward(rt, opts)
        : await prepareConv2dForward(rt, opts),
    );
    const z = (transposed ? convTranspose2dForward64 : conv2dForward64)(x, w, bias, shape);
    const act = e.act ?? 'identity';
    const alpha = e.alpha ?? defaultAlpha(act);
    const y = z.map((v, i) => activation64(act, v, alpha) + (y0 ? y0[i]! : 0));
    const name = describeShape(shape, transposed, { ...e, variant }, seed);
    const tol = tolerance(ci * kernelH * kernelW + 1);
    const problems = [mismatches(await read(rt, yBuf), y, tol, `y of ${name}`)];
    if (preBuf) problems.push(mismatches(await read(rt, preBuf), z, tol, `pre of ${name}`));
    return problems.filter((p) => p !== null).join('\n') || null;
  });
}

type Grad = 'input' | 'weight' | 'bias';

/** A backward kernel against the float64 reference gradients of Σ z·dy. */
async function backwardCase(
  rt: GpuRuntime,
  transposed: boolean,
  grad: Grad,
  shape: Conv2dShape,
  accumulate: boolean,
  seed: number,
  variant: ConvVariant,
  splits?: number,
): Promise<string | null> {
  const rng = makeRng(seed);
  const { batch, inChannels: ci, outChannels: co, height, width, kernelH, kernelW } = shape;
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const x = randomUniform(rng, batch * ci * height * width);
  const w = randomUniform(rng, ci * co * kernelH * kernelW);
  const dy = randomUniform(rng, batch * co * oh * ow);
  // Any bias: its gradient does not depend on its value.
  const backward64 = transposed ? convTranspose2dBackward64 : conv2dBackward64;
  const ref = backward64(dy, x, w, new Float64Array(co), shape);
  const expected = grad === 'input' ? ref.dx : grad === 'weight' ? ref.dw : ref.db!;
  const before = accumulate ? randomUniform(rng, expected.length) : undefined;
  return withBuffers(rt, async (b) => {
    const target = before ? up(b, 'grad', before) : out(b, 'grad', expected.length);
    const xBuf = up(b, 'x', x);
    const wBuf = up(b, 'w', w);
    const dyBuf = up(b, 'dy', dy);
    let d: Work;
    if (grad === 'input') {
      const o = { ...shape, dy: dyBuf, weight: wBuf, dx: target, accumulate, variant };
      d = transposed
        ? await prepareConvTranspose2dBackwardInput(rt, o)
        : await prepareConv2dBackwardInput(rt, o);
    } else if (grad === 'weight') {
      const o = { ...shape, x: xBuf, dy: dyBuf, dw: target, accumulate, splits, variant };
      d = transposed
        ? await prepareConvTranspose2dBackwardWeight(rt, o)
        : await prepareConv2dBackwardWeight(rt, o);
    } else {
      d = await prepareConvBiasBackward(rt, {
        batch,
        channels: co,
        height: oh,
        width: ow,
        dy: dyBuf,
        db: target,
        accumulate,
      });
    }
    await run(rt, d);
    const want = before ? expected.map((v, i) => v + before[i]!) : expected;
    const terms =
      grad === 'input' ? co * kernelH * kernelW : batch * (transposed ? height * width : oh * ow);
    const name = `d${grad} of ${describeShape(shape, transposed, { accumulate, splits, variant }, seed)}`;
    return mismatches(await read(rt, target), want, tolerance(terms + 1), name);
  });
}

/**
 * Finite-difference check of the input and weight gradients of L = Σ conv(x, W)·g (float64
 * forward), on a sample of elements, against the GPU backward kernels given dy = g: every
 * eligible variant of each.
 */
async function finiteDifferenceCase(
  rt: GpuRuntime,
  transposed: boolean,
  shape: Conv2dShape,
  seed: number,
): Promise<string | null> {
  const rng = makeRng(seed);
  const { batch, inChannels: ci, outChannels: co, height, width, kernelH, kernelW } = shape;
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const x = randomUniform(rng, batch * ci * height * width);
  const w = randomUniform(rng, ci * co * kernelH * kernelW);
  const g = randomUniform(rng, batch * co * oh * ow);
  const x64 = Float64Array.from(x);
  const w64 = Float64Array.from(w);
  const loss = (xv: Float64Array, wv: Float64Array) =>
    (transposed ? convTranspose2dForward64 : conv2dForward64)(xv, wv, undefined, shape).reduce(
      (s, v, i) => s + v * g[i]!,
      0,
    );
  const pick = (n: number) => Array.from({ length: 24 }, () => Math.floor(rng() * n));
  const xi = pick(x.length);
  const wi = pick(w.length);
  const fdx = finiteDifference((v) => loss(v, w64), x64, 1e-3, xi);
  const fdw = finiteDifference((v) => loss(x64, v), w64, 1e-3, wi);
  const tol = { atol: 1e-4, rtol: 1e-4 };
  const problems: string[] = [];
  await withBuffers(rt, async (b) => {
    const xBuf = up(b, 'x', x);
    const wBuf = up(b, 'w', w);
    const gBuf = up(b, 'g', g);
    const kind = transposed ? 'conv_transpose2d' : 'conv2d';
    const grads = [
      ['input', out(b, 'dx', x.length), xi, fdx],
      ['weight', out(b, 'dw', w.length), wi, fdw],
    ] as const;
    for (const variant of CONV_VARIANTS) {
      const name = describeShape(shape, transposed, { variant }, seed);
      for (const [grad, target, sample, expected] of grads) {
        if (!convVariantEligible(variant, pathOf(rt, shape, transposed, grad))) continue;
        poison(rt, target);
        const bufs = { x: xBuf, weight: wBuf, dy: gBuf, dx: target, dw: target, y: target };
        await run(
          rt,
          await prepareConvPath(rt, `${kind}_backward_${grad}`, shape, bufs, { variant }),
        );
        const got = await read(rt, target);
        const p = mismatches(
          sample.map((i) => got[i]!),
          sample.map((i) => expected[i]!),
          tol,
          `finite-difference d${grad === 'input' ? 'x' : 'W'} of ${name}`,
        );
        if (p) problems.push(p);
      }
    }
  });
  return problems.join('\n') || null;
}

describe('conv2dOutputSize', () => {
  it('follows PyTorch', () => {
    expect(conv2dOutputSize(S(1, 1, 1, 28, 28, 4, 4, 2, 1))).toEqual({ height: 14, width: 14 });
    expect(conv2dOutputSize(S(1, 1, 1, 14, 14, 4, 4, 2, 1))).toEqual({ height: 7, width: 7 });
    expect(conv2dOutputSize(S(1, 1, 1, 7, 7, 4, 4, 2, 1), true)).toEqual({ height: 14, width: 14 });
    expect(conv2dOutputSize(S(1, 1, 1, 7, 9, 3, 5, 2, 1, 1), true)).toEqual({
      height: 14,
      width: 20,
    });
    expect(convOutputLength(13, 4, 2, 1)).toBe(6);
    expect(convOutputLength(11, 5, 3, 0)).toBe(3);
  });
});

describe.each(TEST_ADAPTERS)('conv on %s', (adapter) => {
  for (const transposed of [false, true]) {
    const what = transposed ? 'conv_transpose2d' : 'conv2d';
    const shapes = transposed ? TRANSPOSED_SHAPES : CONV_SHAPES;
    const narrowShapes = transposed ? NARROW_TRANSPOSED_SHAPES : NARROW_CONV_SHAPES;

    for (const variant of CONV_VARIANTS) {
      const all = variant.endsWith('-narrow') ? [...shapes, ...narrowShapes] : shapes;
      // im2col packs windows of a direct-mode path: conv2d forward, conv_transpose2d dx.
      const im2col = variant.startsWith('im2col');
      for (const grad of ['forward', 'input'] as const) {
        if (im2col && transposed === (grad === 'forward')) continue;
        const title =
          grad === 'forward'
            ? `${what} forward [${variant}]: awkward shapes, bias/activation epilogue, pre, accumulate`
            : `${what} backward input [${variant}] (assign and accumulate)`;
        it(title, async () => {
          const rt = await runtimeFor(adapter);
          if (unavailable(rt, variant)) {
            await expectUnavailable(
              rt,
              grad === 'forward' ? `${what}_forward` : `${what}_backward_input`,
              variant,
            );
            return;
          }
          const eligible = all.filter((s) =>
            convVariantEligible(variant, pathOf(rt, s, transposed, grad)),
          );
          expect(eligible.length).toBeGreaterThan(0);
          const epilogues = variant === 'direct' ? EPILOGUES : PACKED_EPILOGUES;
          const problems: string[] = [];
          for (const [i, shape] of eligible.entries()) {
            const p =
              grad === 'forward'
                ? await forwardCase(
                    rt,
                    transposed,
                    shape,
                    epilogues[i % epilogues.length]!,
                    freshSeed(),
                    variant,
                  )
                : await backwardCase(
                    rt,
                    transposed,
                    'input',
                    shape,
                    i % 2 === 1,
                    freshSeed(),
                    variant,
                  );
            if (p) problems.push(p);
          }
          expect(problems.join('\n\n')).toBe('');
        });
      }
    }

    for (const variant of WEIGHT_VARIANTS) {
      it(`${what} backward weight [${variant}] (assign and accumulate, split sums)`, async () => {
        const rt = await runtimeFor(adapter);
        if (unavailable(rt, variant)) {
          await expectUnavailable(rt, `${what}_backward_weight`, variant);
          return;
        }
        const problems: string[] = [];
        for (const [i, shape] of shapes.entries()) {
          const p = await backwardCase(
            rt,
            transposed,
            'weight',
            shape,
            i % 2 === 1,
            freshSeed(),
            variant,
          );
          if (p) problems.push(p);
        }
        // Without a split, and with a forced one (partial sums reduced).
        for (const splits of [1, 3]) {
          const p = await backwardCase(
            rt,
            transposed,
            'weight',
            shapes[1]!,
            splits === 3,
            freshSeed(),
            variant,
            splits,
          );
          if (p) problems.push(p);
        }
        expect(problems.join('\n\n')).toBe('');
      });
    }

    it(`${what} backward bias (assign and accumulate)`, async () => {
      const rt = await runtimeFor(adapter);
      const problems: string[] = [];
      for (const [i, shape] of shapes.entries()) {
        const p = await backwardCase(
          rt,
          transposed,
          'bias',
          shape,
          i % 2 === 1,
          freshSeed(),
          'direct',
        );
        if (p) problems.push(p);
      }
      expect(problems.join('\n\n')).toBe('');
    });

    it(`${what} backward kernels of every variant agree with finite differences`, async () => {
      const rt = await runtimeFor(adapter);
      const shape = transposed ? S(2, 3, 5, 5, 6, 4, 3, 2, 1, 1) : S(2, 3, 5, 9, 7, 3, 4, 2, 1);
      expect(await finiteDifferenceCase(rt, transposed, shape, freshSeed())).toBe(null);
    });
  }

  it('keeps dispatches within 65535 workgroups per dimension', () => {
    // Whole shapes, as prepare gives them, though a dispatch reads only some of the sizes.
    const window = { kh: 4, kw: 4, stride: 2, pad: 1 };
    const big = { batch: 4096, dst_c: 64, dst_h: 64, dst_w: 64 };
    const unbound = { hasBias: 0, storePre: 0 };
    const src = { src_c: 64, src_h: 128, src_w: 128 };
    const [x, y] = conv2dDirectKernel.dispatch({
      ...big,
      ...src,
      ...window,
      ...unbound,
      cb: 8,
      pb: 8,
    });
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * 64).toBeGreaterThanOrEqual(((4096 * 64 * 64) / 8) * 8);
    // The packed variants: 16 pixels × 8 channels, 8 pixels, a weight tap block, one vec4 of a pack.
    const within = <K extends string>(
      kernel: KernelDef<K>,
      shape: Shape<NoInfer<K>>,
      needed: number,
    ) => {
      const [gx, gy, gz] = kernel.dispatch(shape);
      expect(Math.max(gx, gy, gz), kernel.name).toBeLessThanOrEqual(65535);
      expect(gx * gy * gz * kernel.workgroupSize[0], kernel.name).toBeGreaterThanOrEqual(needed);
    };
    const gemm = { ...big, ...window, ...unbound, src_h: 128, src_w: 128, src_c4: 16 };
    const folds = { src_shift: 0, w_shift: 0 };
    within(convIgemmKernel, { ...gemm, ...folds, transposed: 0 }, ((4096 * 64 * 64) / 16) * 8);
    within(convIgemmKernel, { ...gemm, ...folds, transposed: 1 }, ((4096 * 64 * 64) / 16) * 8);
    within(
      convIgemmNarrowKernel,
      { ...gemm, ...folds, dst_c: 1, transposed: 1 },
      (4096 * 64 * 64) / 8,
    );
    within(
      convIgemmWeightKernel,
      {
        ...window,
        batch: 4096,
        splits: 4096,
        split_rows: 1,
        big_c: 64,
        big_c4: 16,
        big_h: 64,
        big_w: 64,
        small_c: 64,
        small_c4: 16,
        small_h: 32,
        small_w: 32,
        small_shift: 0,
        big_shift: 0,
      },
      4096 * 8 * 16 * 4,
    );
    within(
      convPackNhwc4Kernel,
      { batch: 4096, c: 64, h: 64, w: 64, c4: 16, shift: 0 },
      4096 * 64 * 64 * 16,
    );
    within(
      convPackIm2colKernel,
      { batch: 4096, c: 64, h: 128, w: 128, oh: 64, ow: 64, ...window, k4: 16 },
      4096 * 64 * 64 * 16,
    );
  });

  it('runs a packed conv whose dispatch folds into two dimensions', async () => {
    // The pack of a 16 × 1 × 512 × 512 source writes 16·512·512 + 1 vec4s (one per pixel and the
    // zero pixel): 65537 workgroups of 64, folded into a 2-D grid.
    const rt = await runtimeFor(adapter);
    const shape = S(16, 1, 1, 512, 512, 1, 1, 1, 0);
    expect(
      convPackNhwc4Kernel.dispatch({ batch: 16, c: 1, h: 512, w: 512, c4: 1, shift: 0 })[1],
    ).toBe(2);
    const p = await forwardCase(rt, false, shape, { bias: true }, freshSeed(), 'igemm-narrow');
    expect(p).toBe(null);
  });

  it('rejects bad arguments with the kernel and the problem named', async () => {
    const rt = await runtimeFor(adapter);
    await withBuffers(rt, async (b) => {
      const good = S(2, 3, 4, 9, 9, 3, 3, 2, 1);
      const big = out(b, 'big', 4096);
      const bufs = { x: big, weight: big, y: out(b, 'y', 4096) };
      const fwd = (o: Partial<Conv2dShape> & Record<string, unknown>) =>
        prepareConv2dForward(rt, { ...good, ...bufs, ...o });
      await expect(fwd({ batch: 0 })).rejects.toThrow(/conv2d_forward: batch must be a positive/);
      await expect(fwd({ height: 2.5 })).rejects.toThrow(/conv2d_forward: height must be/);
      await expect(fwd({ kernelW: 0 })).rejects.toThrow(/conv2d_forward: kernelW must be/);
      await expect(fwd({ stride: 0 })).rejects.toThrow(/conv2d_forward: stride must be/);
      await expect(fwd({ padding: 3 })).rejects.toThrow(
        /conv2d_forward: padding 3 must be smaller/,
      );
      await expect(fwd({ padding: -1 })).rejects.toThrow(/conv2d_forward: padding must be/);
      await expect(fwd({ height: 2, padding: 0 })).rejects.toThrow(/conv2d_forward: output size/);
      await expect(fwd({ outputPadding: 1 })).rejects.toThrow(
        /outputPadding applies to transposed/,
      );
      await expect(fwd({ x: out(b, 'small', 100) })).rejects.toThrow(
        /conv2d_forward: x holds 100 floats, its shape \(2, 3, 9, 9\) needs 486/,
      );
      await expect(fwd({ bias: out(b, 'b3', 3) })).rejects.toThrow(/conv2d_forward: bias holds 3/);
      await expect(fwd({ act: 'swish' as Activation })).rejects.toThrow(
        /conv2d_forward: unknown activation/,
      );
      await expect(fwd({ act: 'elu', alpha: NaN })).rejects.toThrow(/conv2d_forward: alpha/);
      const tr = (o: Partial<Conv2dShape> & Record<string, unknown>) =>
        prepareConvTranspose2dForward(rt, { ...good, ...bufs, ...o });
      await expect(tr({ outputPadding: 2 })).rejects.toThrow(
        /conv_transpose2d_forward: outputPadding 2 must be smaller than the stride 2/,
      );
      await expect(tr({ y: out(b, 'y9', 9) })).rejects.toThrow(
        /conv_transpose2d_forward: y holds 9/,
      );
      const bw = { ...good, x: big, dy: big, dw: out(b, 'dw', 10) };
      await expect(prepareConv2dBackwardWeight(rt, bw)).rejects.toThrow(
        /conv2d_backward_weight: dw holds 10 floats, its shape \(4, 3, 3, 3\) needs 108/,
      );
      await expect(
        prepareConvTranspose2dBackwardWeight(rt, { ...bw, dw: big, splits: 0 }),
      ).rejects.toThrow(/conv_transpose2d_backward_weight: splits must be/);
      await expect(
        prepareConv2dBackwardInput(rt, { ...good, dy: big, weight: big, dx: out(b, 'dx', 5) }),
      ).rejects.toThrow(/conv2d_backward_input: dx holds 5/);
      await expect(
        prepareConvTranspose2dBackwardInput(rt, {
          ...good,
          dy: big,
          weight: big,
          dx: big,
          kernelH: -3,
        }),
      ).rejects.toThrow(/conv_transpose2d_backward_input: kernelH must be/);
      await expect(
        prepareConvBiasBackward(rt, {
          batch: 2,
          channels: 0,
          height: 3,
          width: 3,
          dy: big,
          db: big,
        }),
      ).rejects.toThrow(/conv_bias_backward: channels must be/);
      await expect(
        prepareConvBiasBackward(rt, {
          batch: 2,
          channels: 4,
          height: 3,
          width: 3,
          dy: big,
          db: out(b, 'db', 2),
        }),
      ).rejects.toThrow(/conv_bias_backward: db holds 2/);
      // Variants: unknown, not eligible for the path, and an unknown pin in the environment.
      await expect(fwd({ variant: 'fast' as ConvVariant })).rejects.toThrow(
        /conv2d_forward: unknown variant 'fast' from the variant option/,
      );
      await expect(fwd({ outChannels: 5, variant: 'igemm-narrow' })).rejects.toThrow(
        /conv2d_forward: variant 'igemm-narrow' is not eligible for a direct-mode data path \(3 → 5 channels\)/,
      );
      await expect(tr({ variant: 'im2col-narrow' })).rejects.toThrow(
        /conv_transpose2d_forward: variant 'im2col-narrow' is not eligible for a transposed-mode data path \(3 → 4 channels\)/,
      );
      await expect(tr({ variant: 'im2col' })).rejects.toThrow(
        /conv_transpose2d_forward: variant 'im2col' is not eligible for a transposed-mode data path/,
      );
      await expect(
        prepareConv2dBackwardWeight(rt, { ...bw, dw: big, variant: 'igemm-narrow' }),
      ).rejects.toThrow(
        /conv2d_backward_weight: variant 'igemm-narrow' is not eligible for a weight gradient/,
      );
      const saved = process.env[CONV_ENV];
      process.env[CONV_ENV] = 'bogus';
      try {
        await expect(fwd({})).rejects.toThrow(
          /conv2d_forward: unknown variant 'bogus' from WEBGPU_VAE_CONV/,
        );
      } finally {
        if (saved === undefined) delete process.env[CONV_ENV];
        else process.env[CONV_ENV] = saved;
      }
    });
  });

  it('selects the table default per shape class, or the pinned variant where eligible', async () => {
    const rt = await runtimeFor(adapter);
    const cls = convAdapterClass(rt.info.kind);
    const paths: [ConvPathShape, string][] = [
      [{ kind: 'data', transposed: false, srcC: 32, dstC: 64, texturesFit: true }, 'direct'],
      [{ kind: 'data', transposed: true, srcC: 64, dstC: 32, texturesFit: true }, 'transposed'],
      [{ kind: 'data', transposed: true, srcC: 32, dstC: 1 }, 'narrow'],
      [{ kind: 'data', transposed: false, srcC: 1, dstC: 32 }, 'few-src'],
      [{ kind: 'data', transposed: false, srcC: 1, dstC: 3 }, 'narrow-few-src'],
      [{ kind: 'weight', bigC: 1, smallC: 32 }, 'weight-few-big'],
      [{ kind: 'weight', bigC: 32, smallC: 64, texturesFit: true }, 'weight'],
    ];
    const saved = process.env[CONV_ENV];
    try {
      delete process.env[CONV_ENV];
      for (const [path, shapeClass] of paths) {
        expect(convShapeClass(path)).toBe(shapeClass);
        expect(resolveConvVariant(rt, 'k', path)).toBe(
          CONV_DEFAULTS[cls][convShapeClass(path)].find((v) => convVariantEligible(v, path)),
        );
        expect(resolveConvVariant(rt, 'k', path, 'direct')).toBe('direct');
      }
      // Where igemm-tex's textures do not fit, the next in the table.
      // With subgroups, SwiftShader's table prefers igemm-sg; llvmpipe's does not list it.
      const withSubgroups = { ...paths[0]![0], subgroups: true };
      expect(resolveConvVariant(rt, 'k', withSubgroups)).toBe(
        cls === 'swiftshader' ? 'igemm-sg' : 'igemm-tex',
      );
      const noFit = { ...paths[0]![0], texturesFit: false };
      expect(resolveConvVariant(rt, 'k', noFit)).toBe('igemm');
      expect(() => resolveConvVariant(rt, 'k', noFit, 'igemm-tex')).toThrow(
        /k: variant 'igemm-tex' is not eligible/,
      );
      // A pin applies where eligible; elsewhere the table decides.
      process.env[CONV_ENV] = 'im2col';
      expect(resolveConvVariant(rt, 'k', paths[0]![0])).toBe('im2col');
      expect(resolveConvVariant(rt, 'k', paths[1]![0])).toBe(
        CONV_DEFAULTS[cls].transposed.find((v) => convVariantEligible(v, paths[1]![0])),
      );
    } finally {
      if (saved === undefined) delete process.env[CONV_ENV];
      else process.env[CONV_ENV] = saved;
    }
  });
});
