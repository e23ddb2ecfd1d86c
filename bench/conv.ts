// Conv benchmark: GFLOP/s of every conv kernel at the conv VAE's layer shapes (batch 128), each
// result first checked against the float64 CPU reference. FLOPs are the nominal 2·B·Cin·Cout·kh·kw
// per small-side pixel (padding taps included); the bias gradient counts one per element of dy.
// Usage: npx tsx bench/conv.ts [llvmpipe|swiftshader|gpu|auto]
import { readFloats, type BufferRange } from '../src/gpu/buffers.js';
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime, type GpuRuntime, type Work } from '../src/gpu/runtime.js';
import {
  conv2dOutputSize,
  prepareConv2dBackwardInput,
  prepareConv2dBackwardWeight,
  prepareConv2dForward,
  prepareConvBiasBackward,
  prepareConvTranspose2dBackwardInput,
  prepareConvTranspose2dBackwardWeight,
  prepareConvTranspose2dForward,
  type Conv2dShape,
} from '../src/kernels/conv.js';
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

function random(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * r() - 1;
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Milliseconds per dispatch, median of batches (see bench/matmul.ts for the sleep). */
async function timeDispatch(rt: GpuRuntime, d: Work, samples: number): Promise<number> {
  let t0 = performance.now();
  rt.submit([d], 'warm-up');
  await rt.finish();
  let estimate = performance.now() - t0;
  const batch = Math.max(1, Math.min(64, Math.round(100 / Math.max(estimate, 0.01))));
  const list = Array.from({ length: batch }, () => d);
  const times: number[] = [];
  for (let s = 0; s < samples + 1; s++) {
    t0 = performance.now();
    rt.submit(list, 'bench');
    const left = 0.85 * estimate * batch - (performance.now() - t0);
    if (left > 1) await sleep(left);
    await rt.finish();
    const t = (performance.now() - t0) / batch;
    estimate = Math.min(estimate, t);
    if (s > 0) times.push(t);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)]!;
}

async function main(): Promise<void> {
  const adapter = (process.argv[2] ?? 'llvmpipe') as AdapterChoice;
  const rt = await createRuntime({ adapter });
  console.log(`adapter: ${rt.info.name} (${rt.info.kind})`);
  console.log(['layer', 'forward', 'backward input', 'backward weight', 'bias'].join('\t'));
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
    const smallPixels = transposed ? height * width : oh * ow;
    const flops = 2 * batch * ci * co * kernelH * kernelW * smallPixels;
    const bufs: Record<string, BufferRange> = {
      x: rt.buffers.upload('x', x),
      weight: rt.buffers.upload('w', w),
      bias: rt.buffers.upload('bias', bias),
      dy: rt.buffers.upload('dy', dy),
      y: rt.buffers.storage('y', 4 * dy.length),
      dx: rt.buffers.storage('dx', 4 * x.length),
      dw: rt.buffers.storage('dw', 4 * w.length),
      db: rt.buffers.storage('db', 4 * co),
    };
    const runs: [string, Promise<Work>, BufferRange, Float64Array, number, number][] = [
      [
        'forward',
        (transposed ? prepareConvTranspose2dForward : prepareConv2dForward)(rt, {
          ...shape,
          x: bufs.x!,
          weight: bufs.weight!,
          y: bufs.y!,
          bias: bufs.bias!,
          act: 'relu',
        }),
        bufs.y!,
        relu,
        flops,
        ci * kernelH * kernelW,
      ],
      [
        'backward input',
        (transposed ? prepareConvTranspose2dBackwardInput : prepareConv2dBackwardInput)(rt, {
          ...shape,
          dy: bufs.dy!,
          weight: bufs.weight!,
          dx: bufs.dx!,
        }),
        bufs.dx!,
        ref.dx,
        flops,
        co * kernelH * kernelW,
      ],
      [
        'backward weight',
        (transposed ? prepareConvTranspose2dBackwardWeight : prepareConv2dBackwardWeight)(rt, {
          ...shape,
          x: bufs.x!,
          dy: bufs.dy!,
          dw: bufs.dw!,
        }),
        bufs.dw!,
        ref.dw,
        flops,
        batch * smallPixels,
      ],
      [
        'bias',
        prepareConvBiasBackward(rt, {
          batch,
          channels: co,
          height: oh,
          width: ow,
          dy: bufs.dy!,
          db: bufs.db!,
        }),
        bufs.db!,
        ref.db!,
        dy.length,
        batch * oh * ow,
      ],
    ];
    const row = [what];
    for (const [name, prepared, target, expected, count, terms] of runs) {
      const d = await prepared;
      await rt.submitChecked([d]);
      const problem = mismatches(
        await readFloats(rt.device, target),
        expected,
        { atol: 1e-6 * (terms + 2), rtol: 1e-4 },
        `${what} ${name}`,
        3,
      );
      if (problem) {
        console.error(problem);
        row.push('WRONG');
      } else {
        const ms = await timeDispatch(rt, d, 5);
        row.push(
          `${((count / (ms * 1e6)) | 0) === 0 ? (count / (ms * 1e6)).toFixed(2) : (count / (ms * 1e6)).toFixed(1)} (${ms.toFixed(2)} ms)`,
        );
      }
      d.destroy();
    }
    console.log(row.join('\t'));
    for (const range of Object.values(bufs)) rt.buffers.destroy(range.buffer);
  }
  rt.destroy();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
