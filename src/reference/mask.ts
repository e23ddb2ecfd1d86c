// Reference of the random inpainting masks (src/kernels/mask.ts, shaders/mask.wgsl): the same
// draws from the independent BigInt Philox of reparam.ts, so the test checks the WGSL generator,
// its counter layout and every pattern's geometry. Masks are exact (0/1), so float64 is moot.
import { PRNG_KEY_HI } from '../kernels/reparam.js';
import { checkMaskPattern, pixelThreshold, type MaskPattern } from '../kernels/mask.js';
import { philox4x32BigInt } from './reparam.js';
import { expectSizes } from './shape.js';

/** floor(w · n / 2^32): an integer uniform in [0, n) from a word. */
function below(w: number, n: number): number {
  return Math.floor((w * n) / 4294967296);
}

/** The missing pixels (H·W, 1 = missing) of row b. */
export function maskPlane64(
  pattern: MaskPattern,
  H: number,
  W: number,
  b: number,
  seed: number,
  step: number,
  stream: number,
): Uint8Array {
  const plane = new Uint8Array(H * W);
  const words = (index: number) => philox4x32BigInt([index, b, step, stream], [seed, PRNG_KEY_HI]);
  if (pattern.kind === 'pixels') {
    const threshold = pixelThreshold(pattern.p);
    for (let q = 0; 4 * q < H * W; q++) {
      const w = words(q);
      for (let c = 0; c < 4 && 4 * q + c < H * W; c++) {
        plane[4 * q + c] = w[c]! >>> 8 < threshold ? 1 : 0;
      }
    }
    return plane;
  }
  if (pattern.kind === 'quadrants') {
    for (let h = 0; h < H; h++) {
      for (let c = 0; c < W; c++) {
        const q = (h >= Math.floor(H / 2) ? 2 : 0) + (c >= Math.floor(W / 2) ? 1 : 0);
        plane[h * W + c] = (pattern.missing >> q) & 1;
      }
    }
    return plane;
  }
  const w = words(0);
  let top: number, left: number, bh: number, bw: number;
  if (pattern.kind === 'block') {
    const span = pattern.maxSize - pattern.minSize + 1;
    bh = pattern.minSize + below(w[0]!, span);
    bw = pattern.minSize + below(w[1]!, span);
    top = below(w[2]!, H - bh + 1);
    left = below(w[3]!, W - bw + 1);
  } else {
    const q = below(w[0]!, 4);
    const [h2, w2] = [Math.floor(H / 2), Math.floor(W / 2)];
    [top, bh] = q >= 2 ? [h2, H - h2] : [0, h2];
    [left, bw] = q % 2 === 1 ? [w2, W - w2] : [0, w2];
  }
  for (let h = top; h < top + bh; h++) plane.fill(1, h * W + left, h * W + left + bw);
  return plane;
}

/** The mask (B, C·H·W) random_mask draws for (seed, step, stream). */
export function randomMask64(
  pattern: MaskPattern,
  B: number,
  shape: readonly [number, number, number],
  seed: number,
  step: number,
  stream: number,
): Float64Array {
  const [C, H, W] = shape;
  expectSizes('randomMask64', { B, C, H, W });
  checkMaskPattern('randomMask64', pattern, H, W);
  const out = new Float64Array(B * C * H * W);
  for (let b = 0; b < B; b++) {
    const plane = maskPlane64(pattern, H, W, b, seed, step, stream);
    for (let c = 0; c < C; c++) out.set(plane, (b * C + c) * H * W);
  }
  return out;
}
