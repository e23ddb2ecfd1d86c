// Float64 references of conv2d and conv_transpose2d (src/kernels/conv.ts): NCHW, PyTorch weight
// layouts (conv2d (Cout, Cin, kh, kw), conv_transpose2d (Cin, Cout, kh, kw)), optional bias and a
// fused activation, and the gradients of Σ dy·y w.r.t. the input, the weight and the bias. Plain
// loops of the definition: each (input, weight, output) term is visited once.
import { conv2dOutputSize, type Conv2dShape } from '../kernels/conv.js';
import { applyEpilogue64, epilogueBackward64, type Epilogue64 } from './activations.js';
import { expectLength, expectSizes } from './shape.js';

interface ConvDims {
  B: number;
  Ci: number;
  Co: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kh: number;
  kw: number;
}

function dims(op: string, shape: Conv2dShape, transposed: boolean): ConvDims {
  const { batch: B, inChannels: Ci, outChannels: Co, height: H, width: W } = shape;
  const { kernelH: kh, kernelW: kw, stride } = shape;
  expectSizes(op, {
    batch: B,
    inChannels: Ci,
    outChannels: Co,
    height: H,
    width: W,
    kernelH: kh,
    kernelW: kw,
    stride,
  });
  const outPad = shape.outputPadding ?? 0;
  if (!Number.isInteger(shape.padding) || shape.padding < 0) {
    throw new Error(`${op}: padding must be a non-negative integer, got ${shape.padding}`);
  }
  if (
    !Number.isInteger(outPad) ||
    outPad < 0 ||
    (outPad > 0 && (!transposed || outPad >= stride))
  ) {
    throw new Error(`${op}: outputPadding ${outPad} needs a transposed conv and must be < stride`);
  }
  const { height: OH, width: OW } = conv2dOutputSize(shape, transposed);
  if (OH < 1 || OW < 1) throw new Error(`${op}: the output would be ${OH}×${OW}`);
  return { B, Ci, Co, H, W, OH, OW, kh, kw };
}

/**
 * Calls visit(xi, wi, yi) for each input element x[xi] that weight w[wi] adds into output element
 * y[yi]. Conv2d's input (big side) pixel is small·stride − padding + k of its output pixel;
 * conv_transpose2d the other way round (its output is the big side).
 */
function convTerms(
  d: ConvDims,
  shape: Conv2dShape,
  transposed: boolean,
  visit: (xi: number, wi: number, yi: number) => void,
): void {
  const { B, Ci, Co, H, W, OH, OW, kh, kw } = d;
  const { stride: s, padding: p } = shape;
  const [smallH, smallW, bigH, bigW] = transposed ? [H, W, OH, OW] : [OH, OW, H, W];
  for (let b = 0; b < B; b++) {
    for (let ci = 0; ci < Ci; ci++) {
      for (let co = 0; co < Co; co++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const wi = transposed
              ? ((ci * Co + co) * kh + ky) * kw + kx
              : ((co * Ci + ci) * kh + ky) * kw + kx;
            for (let sy = 0; sy < smallH; sy++) {
              const by = sy * s - p + ky;
              if (by < 0 || by >= bigH) continue;
              for (let sx = 0; sx < smallW; sx++) {
                const bx = sx * s - p + kx;
                if (bx < 0 || bx >= bigW) continue;
                const [iy, ix, oy, ox] = transposed ? [sy, sx, by, bx] : [by, bx, sy, sx];
                visit(((b * Ci + ci) * H + iy) * W + ix, wi, ((b * Co + co) * OH + oy) * OW + ox);
              }
            }
          }
        }
      }
    }
  }
}

function checkInputs(
  op: string,
  d: ConvDims,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
): void {
  expectLength(op, 'x', x, d.B * d.Ci * d.H * d.W, 'batch*inChannels*height*width');
  expectLength(
    op,
    'weight',
    w,
    d.Ci * d.Co * d.kh * d.kw,
    'inChannels*outChannels*kernelH*kernelW',
  );
  if (bias) expectLength(op, 'bias', bias, d.Co, 'outChannels');
}

/** pre = conv(x, w) + bias: (B, Cout, outH, outW). */
function convPre(
  op: string,
  d: ConvDims,
  shape: Conv2dShape,
  transposed: boolean,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
): Float64Array {
  checkInputs(op, d, x, w, bias);
  const plane = d.OH * d.OW;
  const pre = new Float64Array(d.B * d.Co * plane);
  if (bias) for (let i = 0; i < pre.length; i++) pre[i] = bias[Math.floor(i / plane) % d.Co]!;
  convTerms(d, shape, transposed, (xi, wi, yi) => {
    pre[yi] = pre[yi]! + w[wi]! * x[xi]!;
  });
  return pre;
}

function forward(
  op: string,
  transposed: boolean,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64,
): Float64Array {
  const d = dims(op, shape, transposed);
  return applyEpilogue64(convPre(op, d, shape, transposed, x, w, bias), epilogue);
}

function backward(
  op: string,
  transposed: boolean,
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64,
): { dx: Float64Array; dw: Float64Array; db: Float64Array | undefined } {
  const d = dims(op, shape, transposed);
  checkInputs(op, d, x, w, bias);
  expectLength(op, 'dy', dy, d.B * d.Co * d.OH * d.OW, 'batch*outChannels*outH*outW');
  const dpre =
    (epilogue.act ?? 'identity') === 'identity'
      ? Float64Array.from(dy)
      : epilogueBackward64(dy, convPre(op, d, shape, transposed, x, w, bias), epilogue);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  convTerms(d, shape, transposed, (xi, wi, yi) => {
    const g = dpre[yi]!;
    dw[wi] = dw[wi]! + g * x[xi]!;
    dx[xi] = dx[xi]! + g * w[wi]!;
  });
  let db: Float64Array | undefined;
  if (bias) {
    db = new Float64Array(d.Co);
    const plane = d.OH * d.OW;
    for (let i = 0; i < dpre.length; i++) {
      const c = Math.floor(i / plane) % d.Co;
      db[c] = db[c]! + dpre[i]!;
    }
  }
  return { dx, dw, db };
}

/**
 * y = act(conv2d(x, w) + bias): x (B, Cin, H, W), w (Cout, Cin, kh, kw), bias (Cout) or undefined
 * -> y (B, Cout, outH, outW), outH = floor((H + 2 padding − kh) / stride) + 1.
 */
export function conv2dForward64(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64 = {},
): Float64Array {
  return forward('conv2dForward64', false, x, w, bias, shape, epilogue);
}

/** Gradients of Σ dy·y of conv2dForward64 w.r.t. x, w and bias (undefined without a bias). */
export function conv2dBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64 = {},
): { dx: Float64Array; dw: Float64Array; db: Float64Array | undefined } {
  return backward('conv2dBackward64', false, dy, x, w, bias, shape, epilogue);
}

/**
 * y = act(conv_transpose2d(x, w) + bias): x (B, Cin, H, W), w (Cin, Cout, kh, kw), bias (Cout) or
 * undefined -> y (B, Cout, outH, outW), outH = (H − 1) stride − 2 padding + kh + outputPadding.
 */
export function convTranspose2dForward64(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64 = {},
): Float64Array {
  return forward('convTranspose2dForward64', true, x, w, bias, shape, epilogue);
}

/** Gradients of Σ dy·y of convTranspose2dForward64 w.r.t. x, w and bias. */
export function convTranspose2dBackward64(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  shape: Conv2dShape,
  epilogue: Epilogue64 = {},
): { dx: Float64Array; dw: Float64Array; db: Float64Array | undefined } {
  return backward('convTranspose2dBackward64', true, dy, x, w, bias, shape, epilogue);
}
