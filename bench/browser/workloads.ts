// What the browser benchmark measures and how: the shapes shared by both implementations and the
// timing protocol. Both sides implement `Workloads`; main.ts checks their results agree, then times
// them with `timeIt` (warm-up, then the median of several repeats, each repeat ending with the
// work finished on the GPU).
import { convVaePreset, convVqPreset, type VaeConfig } from '../../src/vae/config.js';
export {
  ADAM,
  GRID,
  LR,
  MNIST_VAE,
  randomArray,
  randomNormalArray,
  timeIt,
  type Timed,
  type TimeOptions,
  type Timing,
} from './protocol.js';

export type Layout = 'NN' | 'TN' | 'NT';

export interface MatmulCase {
  what: string;
  layout: Layout;
  /** C is M×N, the inner dimension K. NN = A·B, TN = Aᵀ·B (A stored K×M), NT = A·Bᵀ (B stored N×K). */
  M: number;
  N: number;
  K: number;
}

export const MATMUL_CASES: MatmulCase[] = [
  { what: 'fwd 784→400', layout: 'NN', M: 128, N: 400, K: 784 },
  { what: 'fwd 400→784', layout: 'NN', M: 128, N: 784, K: 400 },
  { what: 'fwd 400→20', layout: 'NN', M: 128, N: 20, K: 400 },
  { what: 'dW 784×400', layout: 'TN', M: 784, N: 400, K: 128 },
  { what: 'dX 128×784', layout: 'NT', M: 128, N: 784, K: 400 },
  { what: 'dW 400×784', layout: 'TN', M: 400, N: 784, K: 128 },
  { what: 'dX 128×400', layout: 'NT', M: 128, N: 400, K: 784 },
  { what: 'dW 400×20', layout: 'TN', M: 400, N: 20, K: 128 },
  { what: 'dH 128×400', layout: 'NT', M: 128, N: 400, K: 20 },
  { what: '1024³', layout: 'NN', M: 1024, N: 1024, K: 1024 },
];

/** Elements of the elementwise (ReLU) and reduction (sum) workloads: 16 MiB of f32. */
export const STREAM_ELEMENTS = 1 << 22;
export const TRAIN_BATCHES = [32, 64, 128, 512];
/**
 * The conv VAE (convVaePreset: 28×28, conv 1→32→64 k4 s2 p1, dense 256, latent 20, deconv back,
 * ReLU, Bernoulli), ours only: TensorFlow.js has no equal implementation in this bench.
 */
export const CONV_VAE: VaeConfig = convVaePreset(20);
export const CONV_TRAIN_BATCHES = [32, 128];
/**
 * The conv VQ-VAE (convVqPreset: the conv VAE's encoder convs, a 1×1 conv head to a 7×7 grid of
 * 16-vectors, each the nearest of 64 codes, EMA updates with restarts, deconv back), ours only, at
 * CONV_TRAIN_BATCHES; its rows give its rate over the conv VAE step's (a ratio, no claim on time).
 */
export const CONV_VQ_VAE: VaeConfig = convVqPreset(64, 16);
/** The conv step is slow on SwiftShader (up to ~1–2 s at batch 128): few repeats. */
export const CONV_REPEATS = 3;
export const DECODE_BATCHES = [1, 256, 1024];
/** Where bench/run.ts puts the MNIST VAE's checkpoint (initialWeights(MNIST_VAE, 0)). */
export const CHECKPOINT_URL = 'mnist-vae.safetensors';

/** Largest |a − b| / (atol + rtol·|b|); ≤ 1 means they agree. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol = 1e-4) {
  if (a.length < b.length) return { ok: false, worst: Infinity, at: -1 };
  let worst = 0;
  let at = -1;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    const r = d === 0 ? 0 : d / (atol + rtol * Math.abs(b[i]!));
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  return { ok: worst <= 1, worst, at };
}

/** Sigmoid of decoder logits into RGBA tiles of a GRID×GRID canvas image (the display step). */
export function logitsToImage(logits: Float32Array, image: ImageData, grid: number, side: number) {
  const px = image.data;
  const width = grid * side;
  for (let t = 0; t < grid * grid; t++) {
    const ox = (t % grid) * side;
    const oy = Math.floor(t / grid) * side;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const v = 255 / (1 + Math.exp(-logits[t * side * side + y * side + x]!));
        const o = 4 * ((oy + y) * width + ox + x);
        px[o] = px[o + 1] = px[o + 2] = v;
        px[o + 3] = 255;
      }
    }
  }
}

/** Latents of a traversal grid: dims 0 and 1 swept over [−3, 3], the rest 0. */
export function traversalLatents(grid: number, Z: number): Float32Array {
  const z = new Float32Array(grid * grid * Z);
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      const row = (i * grid + j) * Z;
      z[row] = -3 + (6 * j) / (grid - 1);
      z[row + 1] = -3 + (6 * i) / (grid - 1);
    }
  }
  return z;
}
