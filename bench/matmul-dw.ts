// Weight-gradient (TN: Aᵀ·B) matmuls on one adapter, from the 2-D experiments' tiny layers to the
// IWAE model's k = 50 batch (K = 5000 rows, beyond one texture: the texture kernel sums chunks of
// K): milliseconds per run of the texture kernel (A and B packed into textures per run: three
// dispatches per chunk) beside the register-blocked kernels (one dispatch), timed by the runtime's
// own selector (wall clock, one warm-up, median of 5). Where llvmpipe's shipped default for TN
// switches from the register-blocked kernels to the texture one comes from this (TEX_MIN_FLOPS
// in src/kernels/matmul-defaults.ts).
//   npx tsx bench/matmul-dw.ts [--adapter llvmpipe]
// Prints one line per shape class: class, the fastest variant, and every variant's ms.
import type { AdapterChoice } from '../src/gpu/device.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { matmulSelections, selectMatmulVariant } from '../src/kernels/matmul-select.js';
import { option } from './portable.js';

// M × N × K of dW = Xᵀ·dY: the 2-D experiments' layers at batch 32, the MNIST VAE's at 128, the
// IWAE model's at batch 100 with k = 1 and k = 50 samples.
const SHAPES = [
  [2, 128, 32],
  [128, 128, 32],
  [128, 8, 32],
  [36, 32, 32],
  [400, 20, 128],
  [200, 50, 100],
  [200, 200, 100],
  [784, 200, 100],
  [784, 400, 128],
  [400, 784, 128],
  [784, 200, 5000],
  [200, 200, 5000],
  [200, 784, 5000],
  [200, 50, 5000],
] as const;

const rt = await createRuntime({
  adapter: option('--adapter', 'llvmpipe') as AdapterChoice,
  tuning: { persist: false, background: false },
});
console.log(`adapter: ${rt.info.name}`);
for (const [M, N, K] of SHAPES) {
  await selectMatmulVariant(
    rt,
    'TN',
    { M, N, K },
    { candidates: ['tex', 'rb4x16', 'rb4', 'rb'], repeats: 5 },
  );
}
for (const [shapeClass, s] of await matmulSelections(rt)) {
  const ms = Object.entries(s.timings)
    .map(([v, t]) => `${v} ${t === null || t === Infinity ? '—' : t.toFixed(3)}`)
    .join(', ');
  console.log(`${shapeClass}: ${s.variant} (${ms})`);
}
rt.destroy();
