// Conv benchmark: GFLOP/s of every conv kernel variant at the conv VAE's layer shapes (batch 128),
// each result first checked against the float64 CPU reference, beside the matmul kernels at the
// GEMM of the same FLOPs (same run). FLOPs are the nominal 2·B·Cin·Cout·kh·kw per small-side
// pixel (padding taps included); the bias gradient counts one per element of dy. The variants of
// a pass and the matmul variants at the same FLOPs are timed in the same interleaved rounds
// (timeInterleaved), so that load from other work on the machine affects them alike; `default`
// is the variant the table in conv-select.ts picks, `default / matmul` its GFLOP/s over the best
// matmul's.
// Usage: npx tsx bench/conv.ts [llvmpipe|swiftshader|gpu|auto]
import { readFloats, type BufferRange } from '../src/gpu/buffers.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import type { Program } from '../src/gpu/program.js';
import { createRuntime, type GpuRuntime, type Work } from '../src/gpu/runtime.js';
import {
  conv2dOutputSize,
  convPathShape,
  prepareConvBiasBackward,
  type Conv2dShape,
  type ConvPath,
} from '../src/kernels/conv.js';
import {
  convPathFlops,
  convPathVariants,
  prepareConvPath,
  timeInterleaved,
  type ConvPathBuffers,
} from '../src/kernels/conv-measure.js';
import { resolveConvVariant, type ConvVariant } from '../src/kernels/conv-select.js';
import {
  eligibleMatmulVariants,
  prepareMatmul,
  type MatmulLayout,
  type MatmulShape,
  type MatmulVariant,
} from '../src/kernels/matmul.js';
import {
  conv2dBackward64,
  conv2dForward64,
  convTranspose2dBackward64,
  convTranspose2dForward64,
} from '../src/reference/conv.js';
import { makeRng, mismatches } from '../test/helpers/reference.js';

interface Layer {
  what: string;
  transposed: boolean;
  shape: Conv2dShape;
}

const B = 128;
const k4s2p1 = { kernelH: 4, kernelW: 4, stride: 2, padding: 1 };
const LAYERS: Layer[] = [
  {
    what: 'enc1 conv 1→32 28→14',
    transposed: false,
    shape: { batch: B, inChannels: 1, outChannels: 32, height: 28, width: 28, ...k4s2p1 },
  },
  {
    what: 'enc2 conv 32→64 14→7',
    transposed: false,
    shape: { batch: B, inChannels: 32, outChannels: 64, height: 14, width: 14, ...k4s2p1 },
  },
  {
    what: 'dec1 convT 64→32 7→14',
    transposed: true,
    shape: { batch: B, inChannels: 64, outChannels: 32, height: 7, width: 7, ...k4s2p1 },
  },
  {
    what: 'dec2 convT 32→1 14→28',
    transposed: true,
    shape: { batch: B, inChannels: 32, outChannels: 1, height: 14, width: 14, ...k4s2p1 },
  },
];

const PASSES = ['forward', 'backward_input', 'backward_weight'] as const;

function random(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

/**
 * The matmul of the same FLOPs: forward and input gradients as NN (pixels of the written tensor ×
 * its channels, inner dimension the taps that reach a pixel), weight gradients as TN (small
 * channels × big channels·taps, inner dimension the small pixels).
 */
function equivalentGemm(
  rt: GpuRuntime,
  path: ConvPath,
  shape: Conv2dShape,
): [MatmulLayout, MatmulShape] {
  const p = convPathShape(rt, path, shape);
  const transposed = path.startsWith('conv_transpose2d');
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const { batch, kernelH, kernelW, stride } = shape;
  const taps = kernelH * kernelW;
  if (p.kind === 'weight') {
    const small = transposed ? shape.height * shape.width : oh * ow;
    return ['TN', { M: p.smallC, N: p.bigC * taps, K: batch * small }];
  }
  const [dstH, dstW] = path.endsWith('forward') ? [oh, ow] : [shape.height, shape.width];
  const k = p.transposed ? (p.srcC * taps) / (stride * stride) : p.srcC * taps;
  return ['NN', { M: batch * dstH * dstW, N: p.dstC, K: k }];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds per run, median of batches (see timeRuns in conv-measure.ts for the sleep). */
async function timeWork(rt: GpuRuntime, d: Work, samples = 5): Promise<number> {
  let t0 = performance.now();
  rt.submit([d], 'warm-up');
  await rt.finish();
  let estimate = performance.now() - t0;
  const batch = Math.max(1, Math.min(32, Math.round(60 / Math.max(estimate, 0.01))));
  const list = Array.from({ length: batch }, () => d);
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    t0 = performance.now();
    rt.submit(list, 'bench');
    const left = 0.85 * estimate * batch - (performance.now() - t0);
    if (left > 1) await sleep(left);
    await rt.finish();
    const t = (performance.now() - t0) / batch;
    estimate = Math.min(estimate, t);
    times.push(t);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

const MATMUL_CANDIDATES: readonly MatmulVariant[] = ['tex', 'rb4x16', 'rb4', 'rb'];

/** The register-blocked matmul variants at a shape, prepared on scratch buffers. */
async function matmulPrograms(
  rt: GpuRuntime,
  layout: MatmulLayout,
  s: MatmulShape,
): Promise<{ programs: Map<string, Program>; destroy: () => void }> {
  const a = rt.buffers.storage('mm-a', 4 * s.M * s.K);
  const b = rt.buffers.storage('mm-b', 4 * s.K * s.N);
  const c = rt.buffers.storage('mm-c', 4 * s.M * s.N);
  const programs = new Map<string, Program>();
  for (const variant of eligibleMatmulVariants(layout, s)) {
    if (!MATMUL_CANDIDATES.includes(variant)) continue;
    programs.set(`matmul ${variant}`, await prepareMatmul(rt, { layout, ...s, a, b, c, variant }));
  }
  return {
    programs,
    destroy: () => {
      for (const p of programs.values()) p.destroy();
      for (const r of [a, b, c]) rt.buffers.destroy(r.buffer);
    },
  };
}

/** Best GFLOP/s of the matmul variants at a shape. */
async function matmulGflops(rt: GpuRuntime, layout: MatmulLayout, s: MatmulShape): Promise<number> {
  const mm = await matmulPrograms(rt, layout, s);
  const ms = await timeInterleaved(rt, mm.programs);
  mm.destroy();
  return (2 * s.M * s.N * s.K) / (Math.min(...ms.values()) * 1e6);
}

const fmt = (g: number) => (g >= 1 ? g.toFixed(1) : g.toFixed(2));

async function main(): Promise<void> {
  const adapter = (process.argv[2] ?? 'llvmpipe') as AdapterChoice;
  const rt = await createRuntime({ adapter });
  console.log(`adapter: ${rt.info.name} (${rt.info.kind}), ${new Date().toISOString()}`);
  const mlp = await matmulGflops(rt, 'NN', { M: 128, N: 400, K: 784 });
  console.log(`matmul NN 128×400×784 (the MLP VAE's layer), best variant: ${fmt(mlp)} GFLOP/s`);
  console.log(
    [
      'layer',
      'pass',
      'GFLOP/s per variant (ms)',
      'default',
      'matmul at the same FLOPs',
      'default / matmul',
    ].join(' | '),
  );
  for (const { what, transposed, shape } of LAYERS) {
    const { batch, inChannels: ci, outChannels: co, height, width, kernelH, kernelW } = shape;
    const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
    const r = makeRng(4321 + ci + co);
    const x = random(batch * ci * height * width, r);
    const w = random(ci * co * kernelH * kernelW, r).map((v) => v / Math.sqrt(ci * 4));
    const bias = random(co, r);
    const dy = random(batch * co * oh * ow, r);
    const relu = (transposed ? convTranspose2dForward64 : conv2dForward64)(x, w, bias, shape, {
      act: 'relu',
    });
    const ref = (transposed ? convTranspose2dBackward64 : conv2dBackward64)(dy, x, w, bias, shape);
    const bufs: ConvPathBuffers = {
      x: rt.buffers.upload('x', x),
      weight: rt.buffers.upload('w', w),
      bias: rt.buffers.upload('bias', bias),
      dy: rt.buffers.upload('dy', dy),
      y: rt.buffers.storage('y', 4 * dy.length),
      dx: rt.buffers.storage('dx', 4 * x.length),
      dw: rt.buffers.storage('dw', 4 * w.length),
    };
    const kind = transposed ? 'conv_transpose2d' : 'conv2d';
    for (const pass of PASSES) {
      const path = `${kind}_${pass}` as ConvPath;
      const [target, expected, terms]: [BufferRange, Float64Array, number] =
        pass === 'forward'
          ? [bufs.y, relu, ci * kernelH * kernelW]
          : pass === 'backward_input'
            ? [bufs.dx, ref.dx, co * kernelH * kernelW]
            : [bufs.dw, ref.dw, batch * (transposed ? height * width : oh * ow)];
      const ok: ConvVariant[] = [];
      const cells: string[] = [];
      for (const variant of convPathVariants(rt, path, shape)) {
        const p: Program = await prepareConvPath(rt, path, shape, bufs, { variant, act: 'relu' });
        await rt.submitChecked([p]);
        const problem = mismatches(
          await readFloats(rt.device, target),
          expected,
          { atol: 1e-6 * (terms + 2), rtol: 1e-4 },
          `${what} ${pass} [${variant}]`,
          3,
        );
        p.destroy();
        if (problem) {
          console.error(problem);
          cells.push(`${variant} WRONG`);
        } else {
          ok.push(variant);
        }
      }
      // The conv variants and the matmuls at the same FLOPs, timed in the same rounds.
      const flops = convPathFlops(path, shape);
      const [layout, gemm] = equivalentGemm(rt, path, shape);
      const mm = await matmulPrograms(rt, layout, gemm);
      const items = new Map<string, Program>(mm.programs);
      for (const v of ok)
        items.set(v, await prepareConvPath(rt, path, shape, bufs, { variant: v }));
      const ms = await timeInterleaved(rt, items);
      for (const v of ok) {
        cells.push(`${v} ${fmt(flops / (ms.get(v)! * 1e6))} (${ms.get(v)!.toFixed(2)})`);
        items.get(v)!.destroy();
      }
      mm.destroy();
      let mmBest = Infinity;
      let mmVariant = '';
      for (const [k, t] of ms) {
        if (k.startsWith('matmul ') && t < mmBest) [mmBest, mmVariant] = [t, k.slice(7)];
      }
      const mmG = (2 * gemm.M * gemm.N * gemm.K) / (mmBest * 1e6);
      const def = resolveConvVariant(rt, path, convPathShape(rt, path, shape));
      const defG = ms.has(def) ? flops / (ms.get(def)! * 1e6) : NaN;
      console.log(
        [
          what,
          pass,
          cells.join(', '),
          def,
          `${fmt(mmG)} (${layout} ${gemm.M}×${gemm.N}×${gemm.K}, ${mmVariant})`,
          `${((100 * defG) / mmG).toFixed(0)} %`,
        ].join(' | '),
      );
    }
    const db = rt.buffers.storage('db', 4 * co);
    const p = await prepareConvBiasBackward(rt, {
      batch,
      channels: co,
      height: oh,
      width: ow,
      dy: bufs.dy,
      db,
    });
    await rt.submitChecked([p]);
    const problem = mismatches(
      await readFloats(rt.device, db),
      ref.db!,
      { atol: 1e-6 * (batch * oh * ow + 2), rtol: 1e-4 },
      `${what} bias`,
      3,
    );
    const ms = problem ? NaN : await timeWork(rt, p);
    console.log(
      `${what} | bias | ${problem ? 'WRONG' : `${fmt(dy.length / (ms * 1e6))} (${ms.toFixed(2)})`}`,
    );
    p.destroy();
    rt.buffers.destroy(db.buffer);
    for (const range of Object.values(bufs)) rt.buffers.destroy(range.buffer);
  }
  const mlpAfter = await matmulGflops(rt, 'NN', { M: 128, N: 400, K: 784 });
  console.log(`matmul NN 128×400×784 again at the end: ${fmt(mlpAfter)} GFLOP/s`);
  rt.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
