// Timing the conv variants of one path and shape on this adapter: what bench/conv.ts reports and
// what the default table in conv-select.ts was filled from. Nothing here runs unless called.
import type { BufferRange } from '../gpu/buffers.js';
import type { Program } from '../gpu/program.js';
import type { GpuRuntime, Work } from '../gpu/runtime.js';
import {
  conv2dOutputSize,
  convPathShape,
  prepareConv2dBackwardInput,
  prepareConv2dBackwardWeight,
  prepareConv2dForward,
  prepareConvTranspose2dBackwardInput,
  prepareConvTranspose2dBackwardWeight,
  prepareConvTranspose2dForward,
  type Conv2dShape,
  type ConvPath,
} from './conv.js';
import { convVariantEligible, CONV_VARIANTS, type ConvVariant } from './conv-select.js';

/** The buffers of a path: x, weight, bias and the output y (forward); dy, weight, dx; x, dy, dw. */
export interface ConvPathBuffers {
  x: BufferRange;
  weight: BufferRange;
  bias?: BufferRange;
  y: BufferRange;
  dy: BufferRange;
  dx: BufferRange;
  dw: BufferRange;
}

const isTransposed = (path: ConvPath) => path.startsWith('conv_transpose2d');

/** Variants that can run a path at a shape on this device. */
export function convPathVariants(
  rt: GpuRuntime,
  path: ConvPath,
  shape: Conv2dShape,
): ConvVariant[] {
  const p = convPathShape(rt, path, shape);
  return CONV_VARIANTS.filter((v) => convVariantEligible(v, p));
}

/** Prepares one path by name (forward with `act` and the bias when given). */
export function prepareConvPath(
  rt: GpuRuntime,
  path: ConvPath,
  shape: Conv2dShape,
  b: ConvPathBuffers,
  options: { variant?: ConvVariant; act?: 'identity' | 'relu'; label?: string } = {},
): Promise<Program> {
  const common = { ...shape, variant: options.variant, label: options.label };
  switch (path) {
    case 'conv2d_forward':
    case 'conv_transpose2d_forward': {
      const o = { ...common, x: b.x, weight: b.weight, y: b.y, bias: b.bias, act: options.act };
      return path === 'conv2d_forward'
        ? prepareConv2dForward(rt, o)
        : prepareConvTranspose2dForward(rt, o);
    }
    case 'conv2d_backward_input':
      return prepareConv2dBackwardInput(rt, { ...common, dy: b.dy, weight: b.weight, dx: b.dx });
    case 'conv_transpose2d_backward_input':
      return prepareConvTranspose2dBackwardInput(rt, {
        ...common,
        dy: b.dy,
        weight: b.weight,
        dx: b.dx,
      });
    case 'conv2d_backward_weight':
      return prepareConv2dBackwardWeight(rt, { ...common, x: b.x, dy: b.dy, dw: b.dw });
    case 'conv_transpose2d_backward_weight':
      return prepareConvTranspose2dBackwardWeight(rt, { ...common, x: b.x, dy: b.dy, dw: b.dw });
  }
}

/** FLOPs of a path as the benchmarks count them: 2·B·Cin·Cout·kh·kw per small-side pixel. */
export function convPathFlops(path: ConvPath, shape: Conv2dShape): number {
  const transposed = isTransposed(path);
  const { height: oh, width: ow } = conv2dOutputSize(shape, transposed);
  const small = transposed ? shape.height * shape.width : oh * ow;
  const { batch, inChannels, outChannels, kernelH, kernelW } = shape;
  return 2 * batch * inChannels * outChannels * kernelH * kernelW * small;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Milliseconds per run of `count` runs in one submit. A pending promise busy-polls the JS thread
 * in Dawn for Node and slows the CPU adapters' workers, so with an estimate it first sleeps for
 * most of the expected time (as matmul.ts's selector does).
 */
async function timeRuns(rt: GpuRuntime, p: Work, count: number, estimate: number) {
  const t0 = performance.now();
  rt.submit(
    Array.from({ length: count }, () => p),
    'conv-measure',
  );
  const left = 0.85 * estimate * count - (performance.now() - t0);
  if (left > 2) await sleep(left);
  await rt.finish();
  return (performance.now() - t0) / count;
}

export interface InterleavedTiming {
  /** Timed rounds after a warm-up (default 5); each round runs every item once, in turn. */
  rounds?: number;
  /** Target milliseconds per timed sample (default 60): short runs are repeated in one submit. */
  sampleMs?: number;
}

/**
 * Median milliseconds per run of each item, timed in interleaved rounds so that a change in the
 * machine's load affects all of them alike.
 */
export async function timeInterleaved<K extends string>(
  rt: GpuRuntime,
  items: ReadonlyMap<K, Work>,
  options: InterleavedTiming = {},
): Promise<Map<K, number>> {
  const estimate = new Map<K, number>();
  for (const [k, w] of items) {
    await timeRuns(rt, w, 1, 0); // warm-up (a first run may include lazy compilation)
    estimate.set(k, await timeRuns(rt, w, 1, 0));
  }
  const samples = new Map<K, number[]>([...items.keys()].map((k) => [k, []]));
  const sampleMs = options.sampleMs ?? 60;
  for (let round = 0; round < (options.rounds ?? 5); round++) {
    for (const [k, w] of items) {
      const e = estimate.get(k)!;
      const count = Math.max(1, Math.min(32, Math.round(sampleMs / Math.max(e, 0.01))));
      const t = await timeRuns(rt, w, count, e);
      estimate.set(k, Math.min(e, t));
      samples.get(k)!.push(t);
    }
  }
  const ms = new Map<K, number>();
  for (const [k, list] of samples) {
    const sorted = [...list].sort((a, b) => a - b);
    ms.set(k, sorted[Math.floor(sorted.length / 2)]!);
  }
  return ms;
}
