// Float64 CPU references of conv2d and conv_transpose2d (NCHW, PyTorch weight layouts): the forward
// pre-activation, and the gradients of Σ y·dy w.r.t. the input, the weight and the bias, by the
// plain loops of the definition (each term visited once, in the direction of the scatter).
import { conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv.js';

export interface ConvReference {
  /** Pre-activation z = conv + bias: (B, Cout, outH, outW). */
  z: Float64Array;
  /** With dy: gradient of the input (B, Cin, H, W). */
  dx?: Float64Array;
  /** With dy: gradient of the weight (layout of the weight). */
  dw?: Float64Array;
  /** With dy: gradient of the bias (Cout). */
  db?: Float64Array;
  outH: number;
  outW: number;
}

/**
 * conv2d (transposed: false; weight (Cout, Cin, kh, kw)) or conv_transpose2d (true; weight
 * (Cin, Cout, kh, kw)). Both link an input pixel (iy, ix) of the conv2d's big side with an output
 * pixel: big = small·stride − padding + k.
 */
export function convReference(
  shape: Conv2dShape,
  transposed: boolean,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
  dy?: ArrayLike<number>,
): ConvReference {
  const { batch: B, inChannels: Ci, outChannels: Co, height: H, width: W } = shape;
  const { kernelH: kh, kernelW: kw, stride: s, padding: p } = shape;
  const { height: OH, width: OW } = conv2dOutputSize(shape, transposed);
  const z = new Float64Array(B * Co * OH * OW);
  const dx = dy ? new Float64Array(B * Ci * H * W) : undefined;
  const dw = dy ? new Float64Array(Ci * Co * kh * kw) : undefined;
  const db = dy ? new Float64Array(Co) : undefined;
  // Index of the weight element linking input channel ci and output channel co at tap (ky, kx).
  const wIndex = (ci: number, co: number, ky: number, kx: number) =>
    transposed ? ((ci * Co + co) * kh + ky) * kw + kx : ((co * Ci + ci) * kh + ky) * kw + kx;
  for (let b = 0; b < B; b++) {
    for (let ci = 0; ci < Ci; ci++) {
      for (let co = 0; co < Co; co++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const wi = wIndex(ci, co, ky, kx);
            const wv = w[wi]!;
            // Enumerate the small side's pixels; the big side's pixel follows.
            const smallH = transposed ? H : OH;
            const smallW = transposed ? W : OW;
            for (let sy = 0; sy < smallH; sy++) {
              const by = sy * s - p + ky;
              if (by < 0 || by >= (transposed ? OH : H)) continue;
              for (let sx = 0; sx < smallW; sx++) {
                const bx = sx * s - p + kx;
                if (bx < 0 || bx >= (transposed ? OW : W)) continue;
                // Input pixel (iy, ix) and output pixel (oy, ox).
                const [iy, ix, oy, ox] = transposed ? [sy, sx, by, bx] : [by, bx, sy, sx];
                const xi = ((b * Ci + ci) * H + iy) * W + ix;
                const yi = ((b * Co + co) * OH + oy) * OW + ox;
                z[yi]! += wv * x[xi]!;
                if (dy) {
                  dx![xi]! += wv * dy[yi]!;
                  dw![wi]! += x[xi]! * dy[yi]!;
                }
              }
            }
          }
        }
      }
    }
  }
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let i = 0; i < OH * OW; i++) {
        const yi = (b * Co + co) * OH * OW + i;
        if (bias) z[yi]! += bias[co]!;
        if (dy) db![co]! += dy[yi]!;
      }
    }
  }
  return { z, dx, dw, db, outH: OH, outW: OW };
}
