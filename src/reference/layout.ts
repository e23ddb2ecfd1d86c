// Float64 reference of the image layouts (src/kernels/layout.ts): NCHW rows (B, C·P) to rows of
// per-pixel channels (B·P, C) and back; each is the other's vector-Jacobian product.
import { expectLength, expectSizes } from './shape.js';

/** y[b·P + p, c] = x[b, c·P + p] ('nhwc'), or y[b, c·P + p] = x[b·P + p, c] ('nchw'). */
export function layout64(
  x: ArrayLike<number>,
  to: 'nhwc' | 'nchw',
  B: number,
  C: number,
  P: number,
): Float64Array {
  expectSizes('layout64', { B, C, P });
  expectLength('layout64', 'x', x, B * C * P, 'B*C*P');
  const y = new Float64Array(B * C * P);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < P; p++) {
        const nchw = (b * C + c) * P + p;
        const nhwc = (b * P + p) * C + c;
        if (to === 'nhwc') y[nhwc] = x[nchw]!;
        else y[nchw] = x[nhwc]!;
      }
    }
  }
  return y;
}
