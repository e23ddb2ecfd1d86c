// A plain float64 CPU reference of the VAE in config.ts: forward, backward and an Adam step, with
// the math of the WGSL kernels (activation_fns, reparam, kl, likelihood, adam) in float64. It is
// what the GPU graph is tested against, and is itself tested against a PyTorch twin
// (scripts/golden/vae_twin.py, test/fixtures/vae-golden.json). No Node imports: browser-safe.
//
// Objective, with r = 1 for reduction 'sum' and r = 1/B for 'mean':
//   plain:    L = r * sum_b nll_b + r * beta * sum_b kl_b
//   capacity: L = r * sum_b nll_b + r * B * beta * |mean_b kl_b - C|
// Clamps (as in the kernels):
//   logvar: exp is taken at c = clamp(logvar, -30, 20) in the reparameterization and the KL,
//     straight-through: d/dlogvar uses exp(c) but is not zeroed outside the range.
//     KL_b = 0.5 * sum_j (mu^2 + expm1(c) - c + (c - logvar)).
//   log sigma (gaussian-learned): c = clamp(log_sigma, -6, 6); the gradient is the exact one of the
//     clamped loss (0 strictly outside the range, as torch.clamp).
import { defaultAlpha, type Activation } from '../kernels/activation-codes.js';
import { LOGSIGMA_CLAMP } from '../kernels/likelihood.js';
import { LOGVAR_CLAMP } from '../kernels/reparam.js';
import type { ElboObjectiveConfig } from './objective/elbo.js';
import {
  parameterSpecs,
  vaeLayers,
  type ConvSpec,
  type LinearSpec,
  type ResolvedVaeConfig,
} from './config.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

export type ParamMap = Map<string, Float64Array>;

// ---------------------------------------------------------------------------------------------
// Activations (float64, exact erf for gelu like PyTorch's default).

/** erfc(z) in float64: series for |z| < 2.5, continued fraction beyond (|rel. error| < 1e-12). */
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 2.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 300; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
const normalPdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
const sigmoid = (x: number): number =>
  x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
/** log(1 + exp(x)) without overflow. */
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

export function activationForward64(act: Activation, x: number, alpha = defaultAlpha(act)): number {
  switch (act) {
    case 'identity':
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'leaky_relu':
      return x > 0 ? x : alpha * x;
    case 'elu':
      return x > 0 ? x : alpha * Math.expm1(x);
    case 'tanh':
      return Math.tanh(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'softplus':
      return softplus(x);
    case 'gelu':
      return x * normalCdf(x);
  }
}

/** d activation / dx at the pre-activation x (at a kink, the kernel's choice: the left side). */
export function activationDerivative64(
  act: Activation,
  x: number,
  alpha = defaultAlpha(act),
): number {
  switch (act) {
    case 'identity':
      return 1;
    case 'relu':
      return x > 0 ? 1 : 0;
    case 'leaky_relu':
      return x > 0 ? 1 : alpha;
    case 'elu':
      return x > 0 ? 1 : alpha * Math.exp(x);
    case 'tanh': {
      const t = Math.tanh(x);
      return 1 - t * t;
    }
    case 'sigmoid': {
      const s = sigmoid(x);
      return s * (1 - s);
    }
    case 'softplus':
      return sigmoid(x);
    case 'gelu':
      return normalCdf(x) + x * normalPdf(x);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-op forward / backward helpers. All tensors row-major.

function param(params: ReadonlyMap<string, Float64Array>, name: string): Float64Array {
  const p = params.get(name);
  if (p === undefined) throw new Error(`reference: parameter ${name} is missing`);
  return p;
}

/** y = x W^T + b. x: (B, in), W: (out, in), b: (out) -> y: (B, out). */
/** y = x·Wᵀ + b in float64: x (B, in), W (out, in) -> y (B, out). */
export function linearForward64(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  l: LinearSpec,
  B: number,
) {
  const y = new Float64Array(B * l.outSize);
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < l.outSize; o++) {
      let acc = b[o]!;
      for (let i = 0; i < l.inSize; i++) acc += x[n * l.inSize + i]! * w[o * l.inSize + i]!;
      y[n * l.outSize + o] = acc;
    }
  }
  return y;
}

/**
 * Backward of y = x W^T + b. dy: (B, out), x: (B, in). Adds into dW (out, in), db (out) and,
 * when given, dx (B, in).
 */
function linearBackward(
  dy: Float64Array,
  x: Float64Array,
  w: Float64Array,
  l: LinearSpec,
  B: number,
  dw: Float64Array,
  db: Float64Array,
  dx?: Float64Array,
): void {
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < l.outSize; o++) {
      const g = dy[n * l.outSize + o]!;
      db[o] = db[o]! + g;
      for (let i = 0; i < l.inSize; i++) {
        dw[o * l.inSize + i] = dw[o * l.inSize + i]! + g * x[n * l.inSize + i]!;
        if (dx) dx[n * l.inSize + i] = dx[n * l.inSize + i]! + g * w[o * l.inSize + i]!;
      }
    }
  }
}

/** Hidden layer: pre = x W^T + b, h = act(pre); pre and h: (B, out). */
export interface HiddenCache {
  layer: LinearSpec;
  input: Float64Array;
  pre: Float64Array;
}

function mlpForward(
  params: ReadonlyMap<string, Float64Array>,
  layers: LinearSpec[],
  act: Activation,
  input: Float64Array,
  B: number,
): { out: Float64Array; caches: HiddenCache[] } {
  let h = input;
  const caches: HiddenCache[] = [];
  for (const layer of layers) {
    const pre = linearForward64(
      h,
      param(params, `${layer.name}.weight`),
      param(params, `${layer.name}.bias`),
      layer,
      B,
    );
    caches.push({ layer, input: h, pre });
    h = pre.map((v) => activationForward64(act, v));
  }
  return { out: h, caches };
}

/** Backward through the hidden layers: dh (B, last width) -> d input (B, first in), into grads. */
function mlpBackward(
  params: ReadonlyMap<string, Float64Array>,
  caches: HiddenCache[],
  act: Activation,
  dh: Float64Array,
  B: number,
  grads: ParamMap,
): Float64Array {
  let d = dh;
  for (let k = caches.length - 1; k >= 0; k--) {
    const { layer, input, pre } = caches[k]!;
    const dpre = d.map((g, i) => g * activationDerivative64(act, pre[i]!));
    const dx = new Float64Array(B * layer.inSize);
    linearBackward(
      dpre,
      input,
      param(params, `${layer.name}.weight`),
      layer,
      B,
      param(grads, `${layer.name}.weight`),
      param(grads, `${layer.name}.bias`),
      dx,
    );
    d = dx;
  }
  return d;
}

/**
 * Visits every term of a Conv2d or ConvTranspose2d layer (NCHW; weight (Cout, Cin, kh, kw) or
 * (Cin, Cout, kh, kw)): visit(xi, wi, yi) for each input element x[xi] that weight w[wi] adds
 * into output element y[yi]. Conv2d's input pixel is big = small·stride − padding + k of its output
 * pixel; ConvTranspose2d the other way round (its output is the big side).
 */
function convTerms(
  spec: ConvSpec,
  B: number,
  visit: (xi: number, wi: number, yi: number) => void,
): void {
  const { inChannels: Ci, outChannels: Co, height: H, width: W } = spec;
  const { outHeight: OH, outWidth: OW, kernel: k, stride: s, padding: p, transposed } = spec;
  const [smallH, smallW, bigH, bigW] = transposed ? [H, W, OH, OW] : [OH, OW, H, W];
  for (let b = 0; b < B; b++) {
    for (let ci = 0; ci < Ci; ci++) {
      for (let co = 0; co < Co; co++) {
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const wi = transposed
              ? ((ci * Co + co) * k + ky) * k + kx
              : ((co * Ci + ci) * k + ky) * k + kx;
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

/** pre = conv(x, W) + b: x (B, Cin, H, W) -> pre (B, Cout, outH, outW). */
function convForward64(
  spec: ConvSpec,
  x: Float64Array,
  w: Float64Array,
  bias: Float64Array,
  B: number,
): Float64Array {
  const plane = spec.outHeight * spec.outWidth;
  const z = new Float64Array(B * spec.outChannels * plane);
  for (let i = 0; i < z.length; i++) z[i] = bias[Math.floor(i / plane) % spec.outChannels]!;
  convTerms(spec, B, (xi, wi, yi) => {
    z[yi] = z[yi]! + w[wi]! * x[xi]!;
  });
  return z;
}

/** Backward of a conv layer: adds into dW, db and, when given, dx. */
function convBackward64(
  spec: ConvSpec,
  dy: Float64Array,
  x: Float64Array,
  w: Float64Array,
  B: number,
  dw: Float64Array,
  db: Float64Array,
  dx?: Float64Array,
): void {
  convTerms(spec, B, (xi, wi, yi) => {
    const g = dy[yi]!;
    dw[wi] = dw[wi]! + g * x[xi]!;
    if (dx) dx[xi] = dx[xi]! + g * w[wi]!;
  });
  const plane = spec.outHeight * spec.outWidth;
  for (let i = 0; i < dy.length; i++) {
    const c = Math.floor(i / plane) % spec.outChannels;
    db[c] = db[c]! + dy[i]!;
  }
}

/** A conv layer's input and pre-activation, for the backward pass. */
export interface ConvCache {
  layer: ConvSpec;
  input: Float64Array;
  pre: Float64Array;
}

/** Conv layers (activation where spec.activated): input -> output, flat NCHW arrays. */
function convChainForward(
  params: ReadonlyMap<string, Float64Array>,
  layers: ConvSpec[],
  act: Activation,
  input: Float64Array,
  B: number,
): { out: Float64Array; caches: ConvCache[] } {
  let h = input;
  const caches: ConvCache[] = [];
  for (const layer of layers) {
    const pre = convForward64(
      layer,
      h,
      param(params, `${layer.name}.weight`),
      param(params, `${layer.name}.bias`),
      B,
    );
    caches.push({ layer, input: h, pre });
    h = layer.activated ? pre.map((v) => activationForward64(act, v)) : pre;
  }
  return { out: h, caches };
}

/** Backward through conv layers: d output -> d input, parameter gradients into grads. */
function convChainBackward(
  params: ReadonlyMap<string, Float64Array>,
  caches: ConvCache[],
  act: Activation,
  dout: Float64Array,
  B: number,
  grads: ParamMap,
): Float64Array {
  let d = dout;
  for (let k = caches.length - 1; k >= 0; k--) {
    const { layer, input, pre } = caches[k]!;
    const dpre = layer.activated ? d.map((g, i) => g * activationDerivative64(act, pre[i]!)) : d;
    const dx = new Float64Array(input.length);
    convBackward64(
      layer,
      dpre,
      input,
      param(params, `${layer.name}.weight`),
      B,
      param(grads, `${layer.name}.weight`),
      param(grads, `${layer.name}.bias`),
      dx,
    );
    d = dx;
  }
  return d;
}

const clampLogvar = (lv: number): number =>
  Math.min(Math.max(lv, LOGVAR_CLAMP.min), LOGVAR_CLAMP.max);

/** z = mu + exp(0.5 * clamp(logvar)) * eps. mu, logvar, eps -> z: (B, Z). */
function reparamForward(mu: Float64Array, logvar: Float64Array, eps: Float64Array): Float64Array {
  return mu.map((m, i) => m + Math.exp(0.5 * clampLogvar(logvar[i]!)) * eps[i]!);
}

/** Adds dmu += dz, dlogvar += 0.5 * dz * eps * exp(0.5 * clamp(logvar)) (straight-through). */
function reparamBackward(
  dz: Float64Array,
  eps: Float64Array,
  logvar: Float64Array,
  dmu: Float64Array,
  dlogvar: Float64Array,
): void {
  for (let i = 0; i < dz.length; i++) {
    dmu[i] = dmu[i]! + dz[i]!;
    dlogvar[i] = dlogvar[i]! + 0.5 * dz[i]! * eps[i]! * Math.exp(0.5 * clampLogvar(logvar[i]!));
  }
}

/** KL_b = 0.5 * sum_j (mu^2 + expm1(c) - c + (c - logvar)), c = clamp(logvar). -> kl: (B). */
function klForward(mu: Float64Array, logvar: Float64Array, B: number, Z: number): Float64Array {
  const kl = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let j = 0; j < Z; j++) {
      const m = mu[b * Z + j]!;
      const lv = logvar[b * Z + j]!;
      const c = clampLogvar(lv);
      acc += 0.5 * (m * m + (Math.expm1(c) - c) + (c - lv));
    }
    kl[b] = acc;
  }
  return kl;
}

/** With w = dL/dKL_b (the same for every b): dmu += w * mu, dlogvar += w * 0.5 * expm1(c). */
function klBackward(
  w: number,
  mu: Float64Array,
  logvar: Float64Array,
  dmu: Float64Array,
  dlogvar: Float64Array,
): void {
  for (let i = 0; i < mu.length; i++) {
    dmu[i] = dmu[i]! + w * mu[i]!;
    dlogvar[i] = dlogvar[i]! + w * 0.5 * Math.expm1(clampLogvar(logvar[i]!));
  }
}

const clampLogSigma = (ls: number): number =>
  Math.min(Math.max(ls, LOGSIGMA_CLAMP.min), LOGSIGMA_CLAMP.max);

/** Per-example NLL. output, logSigma, x: (B, D) -> nll: (B). */
function likelihoodForward(
  config: ResolvedVaeConfig,
  output: Float64Array,
  logSigma: Float64Array | undefined,
  x: Float64Array,
  B: number,
): Float64Array {
  const D = config.inputSize;
  const lk = config.likelihood;
  const nll = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let d = 0; d < D; d++) {
      const e = b * D + d;
      const o = output[e]!;
      const t = x[e]!;
      switch (lk.kind) {
        case 'bernoulli': // softplus(l) - x l
          acc += softplus(o) - t * o;
          break;
        case 'gaussian': {
          const r = t - o;
          acc += (0.5 * r * r) / (lk.sigma * lk.sigma) + Math.log(lk.sigma) + HALF_LOG_2PI;
          break;
        }
        case 'gaussian-learned': {
          const c = clampLogSigma(logSigma![e]!);
          const r = t - o;
          acc += 0.5 * r * r * Math.exp(-2 * c) + c + HALF_LOG_2PI;
          break;
        }
      }
    }
    nll[b] = acc;
  }
  return nll;
}

/** Gradient of scale * sum_b nll_b w.r.t. output (and logSigma): (B, D) each. */
function likelihoodBackward(
  config: ResolvedVaeConfig,
  output: Float64Array,
  logSigma: Float64Array | undefined,
  x: Float64Array,
  scale: number,
): { doutput: Float64Array; dlogSigma: Float64Array | undefined } {
  const lk = config.likelihood;
  const doutput = new Float64Array(output.length);
  const dlogSigma = logSigma ? new Float64Array(output.length) : undefined;
  for (let e = 0; e < output.length; e++) {
    const o = output[e]!;
    const t = x[e]!;
    switch (lk.kind) {
      case 'bernoulli':
        doutput[e] = scale * (sigmoid(o) - t);
        break;
      case 'gaussian':
        doutput[e] = (scale * (o - t)) / (lk.sigma * lk.sigma);
        break;
      case 'gaussian-learned': {
        const ls = logSigma![e]!;
        const invVar = Math.exp(-2 * clampLogSigma(ls));
        const r = t - o;
        doutput[e] = scale * -r * invVar;
        const inside = ls >= LOGSIGMA_CLAMP.min && ls <= LOGSIGMA_CLAMP.max;
        dlogSigma![e] = inside ? scale * (1 - r * r * invVar) : 0;
        break;
      }
    }
  }
  return { doutput, dlogSigma };
}

// ---------------------------------------------------------------------------------------------
// The model.

export interface ReferenceOptions {
  /** B: examples in x (B, D) and eps (B, Z). */
  batch: number;
  /**
   * C of the capacity objective: required when config.capacity is set (e.g.
   * capacityAt(config.capacity, step)), not allowed otherwise.
   */
  capacity?: number;
}

export interface ReferenceForwardResult {
  /** L (see the top of this file). */
  objective: number;
  /** sum_b nll_b. */
  reconSum: number;
  /** sum_b kl_b. */
  klSum: number;
  /** nll, kl: (B). */
  nll: Float64Array;
  kl: Float64Array;
  /** mu, logvar, z: (B, Z). */
  mu: Float64Array;
  logvar: Float64Array;
  z: Float64Array;
  /** output: (B, D), logits (bernoulli) or means (gaussian). */
  output: Float64Array;
  /** logSigma: (B, D), unclamped decoder.logsigma output (gaussian-learned only). */
  logSigma: Float64Array | undefined;
  /** Caches for referenceBackward. */
  cache: {
    batch: number;
    capacity: number | undefined;
    x: Float64Array;
    eps: Float64Array;
    /** Encoder conv layers (none for MLP encoders). */
    encoderConv: ConvCache[];
    encoder: HiddenCache[];
    /** Last encoder hidden (or x): (B, encoder width). */
    encoderTop: Float64Array;
    decoder: HiddenCache[];
    /** Last decoder hidden (or z): (B, decoder width). */
    decoderTop: Float64Array;
    /** Decoder deconv layers (none for MLP decoders). */
    decoderDeconv: ConvCache[];
  };
}

/** The ELBO objective section (the only objective this hand-written reference covers). */
function elbo(config: ResolvedVaeConfig): ElboObjectiveConfig {
  if (config.objective.kind !== 'elbo') {
    throw new Error(`reference: objective '${config.objective.kind}' is not covered (elbo only)`);
  }
  return config.objective;
}

function checkInputs(
  config: ResolvedVaeConfig,
  params: ReadonlyMap<string, Float64Array>,
  x: Float64Array,
  eps: Float64Array,
  options: ReferenceOptions,
): void {
  const B = options.batch;
  if (!Number.isInteger(B) || B < 1) throw new Error(`reference: bad batch ${B}`);
  if (x.length !== B * config.inputSize) {
    throw new Error(`reference: x has ${x.length} values, expected B*D = ${B * config.inputSize}`);
  }
  if (eps.length !== B * config.latentSize) {
    throw new Error(
      `reference: eps has ${eps.length} values, expected B*Z = ${B * config.latentSize}`,
    );
  }
  if ((elbo(config).capacity === undefined) !== (options.capacity === undefined)) {
    throw new Error(
      'reference: options.capacity (C) must be given exactly when config.capacity is set',
    );
  }
  for (const spec of parameterSpecs(config)) {
    const n = spec.shape.reduce((a, s) => a * s, 1);
    const p = param(params, spec.name);
    if (p.length !== n) throw new Error(`reference: ${spec.name} has ${p.length} values, not ${n}`);
  }
}

/** The forward pass and the objective, in float64. x: (B, D), eps: (B, Z). */
export function referenceForward(
  config: ResolvedVaeConfig,
  params: ReadonlyMap<string, Float64Array>,
  x: Float64Array,
  eps: Float64Array,
  options: ReferenceOptions,
): ReferenceForwardResult {
  checkInputs(config, params, x, eps, options);
  const B = options.batch;
  const L = vaeLayers(config);
  const lin = (h: Float64Array, l: LinearSpec) =>
    linearForward64(h, param(params, `${l.name}.weight`), param(params, `${l.name}.bias`), l, B);

  // Conv layers read x as (B, C, H, W); their output, flattened, feeds the dense layers.
  const encConv = convChainForward(params, L.encoderConv, config.encoder.activation, x, B);
  const enc = mlpForward(params, L.encoderHidden, config.encoder.activation, encConv.out, B);
  const mu = lin(enc.out, L.heads[0]!); // mu: (B, Z)
  const logvar = lin(enc.out, L.heads[1]!); // logvar: (B, Z)
  const z = reparamForward(mu, logvar, eps); // z: (B, Z)
  const kl = klForward(mu, logvar, B, config.latentSize); // kl: (B)

  const dec = mlpForward(params, L.decoderHidden, config.decoder.activation, z, B);
  // Deconv layers read the last dense output as (B, C, h, w) (decoder.reshape).
  const decConv = convChainForward(params, L.decoderDeconv, config.decoder.activation, dec.out, B);
  const output = L.out ? lin(dec.out, L.out) : decConv.out; // output: (B, D)
  const logSigma = L.logSigma ? lin(dec.out, L.logSigma) : undefined; // logSigma: (B, D)
  const nll = likelihoodForward(config, output, logSigma, x, B); // nll: (B)

  const reconSum = nll.reduce((a, v) => a + v, 0);
  const klSum = kl.reduce((a, v) => a + v, 0);
  const r = elbo(config).reduction === 'sum' ? 1 : 1 / B;
  const objective =
    options.capacity === undefined
      ? r * reconSum + r * elbo(config).beta * klSum
      : r * reconSum + r * B * elbo(config).beta * Math.abs(klSum / B - options.capacity);
  return {
    objective,
    reconSum,
    klSum,
    nll,
    kl,
    mu,
    logvar,
    z,
    output,
    logSigma,
    cache: {
      batch: B,
      capacity: options.capacity,
      x,
      eps,
      encoderConv: encConv.caches,
      encoder: enc.caches,
      encoderTop: enc.out,
      decoder: dec.caches,
      decoderTop: dec.out,
      decoderDeconv: decConv.caches,
    },
  };
}

/** Zeros shaped like every parameter, in parameterSpecs order. */
export function zeroParamMap(config: ResolvedVaeConfig): ParamMap {
  return new Map(
    parameterSpecs(config).map((s) => [
      s.name,
      new Float64Array(s.shape.reduce((a, n) => a * n, 1)),
    ]),
  );
}

/** d objective / d parameter for every parameter (parameterSpecs order), from a forward result. */
export function referenceBackward(
  config: ResolvedVaeConfig,
  params: ReadonlyMap<string, Float64Array>,
  fwd: ReferenceForwardResult,
): ParamMap {
  const { batch: B, capacity, x, eps } = fwd.cache;
  const L = vaeLayers(config);
  const grads = zeroParamMap(config);
  const r = elbo(config).reduction === 'sum' ? 1 : 1 / B;
  const back = (dy: Float64Array, input: Float64Array, l: LinearSpec, dx: Float64Array) =>
    linearBackward(
      dy,
      input,
      param(params, `${l.name}.weight`),
      l,
      B,
      param(grads, `${l.name}.weight`),
      param(grads, `${l.name}.bias`),
      dx,
    );

  // Decoder: likelihood -> output heads -> hidden layers -> dz: (B, Z).
  const { doutput, dlogSigma } = likelihoodBackward(config, fwd.output, fwd.logSigma, x, r);
  let dDecTop: Float64Array = new Float64Array(fwd.cache.decoderTop.length);
  if (L.out) back(doutput, fwd.cache.decoderTop, L.out, dDecTop);
  else {
    const act = config.decoder.activation;
    dDecTop = convChainBackward(params, fwd.cache.decoderDeconv, act, doutput, B, grads);
  }
  if (L.logSigma) back(dlogSigma!, fwd.cache.decoderTop, L.logSigma, dDecTop);
  const dz = mlpBackward(params, fwd.cache.decoder, config.decoder.activation, dDecTop, B, grads);

  // Reparameterization and KL -> dmu, dlogvar: (B, Z). dL/dkl_b = r * beta (plain) or
  // r * beta * sign(mean_b kl_b - C) (capacity; sign(0) = 0 as in kl.wgsl and torch.abs).
  const dmu = new Float64Array(fwd.mu.length);
  const dlogvar = new Float64Array(fwd.logvar.length);
  reparamBackward(dz, eps, fwd.logvar, dmu, dlogvar);
  const w =
    capacity === undefined
      ? r * elbo(config).beta
      : r * elbo(config).beta * Math.sign(fwd.klSum / B - capacity);
  klBackward(w, fwd.mu, fwd.logvar, dmu, dlogvar);

  // Encoder: heads -> hidden layers.
  const dEncTop = new Float64Array(fwd.cache.encoderTop.length);
  back(dmu, fwd.cache.encoderTop, L.heads[0]!, dEncTop);
  back(dlogvar, fwd.cache.encoderTop, L.heads[1]!, dEncTop);
  const dConvTop = mlpBackward(
    params,
    fwd.cache.encoder,
    config.encoder.activation,
    dEncTop,
    B,
    grads,
  );
  const act = config.encoder.activation;
  if (fwd.cache.encoderConv.length > 0) {
    convChainBackward(params, fwd.cache.encoderConv, act, dConvTop, B, grads);
  }
  return grads;
}

/** Forward and backward in one call. */
export function referenceLossAndGrads(
  config: ResolvedVaeConfig,
  params: ReadonlyMap<string, Float64Array>,
  x: Float64Array,
  eps: Float64Array,
  options: ReferenceOptions,
): ReferenceForwardResult & { grads: ParamMap } {
  const fwd = referenceForward(config, params, x, eps, options);
  return { ...fwd, grads: referenceBackward(config, params, fwd) };
}

// ---------------------------------------------------------------------------------------------
// Adam.

export interface ReferenceAdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * One torch.optim.Adam step (weight_decay 0, amsgrad off), in place on params, m and v. t is the
 * 1-based step number (1 on the first call):
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
export function referenceAdamStep(
  params: ParamMap,
  grads: ReadonlyMap<string, Float64Array>,
  m: ParamMap,
  v: ParamMap,
  t: number,
  hyper: ReferenceAdamHyper,
): void {
  const bc1 = 1 - hyper.beta1 ** t;
  const bc2Sqrt = Math.sqrt(1 - hyper.beta2 ** t);
  const stepSize = hyper.lr / bc1;
  for (const [name, p] of params) {
    const g = param(grads, name);
    const mi = param(m, name);
    const vi = param(v, name);
    for (let i = 0; i < p.length; i++) {
      mi[i] = mi[i]! * hyper.beta1 + (1 - hyper.beta1) * g[i]!;
      vi[i] = vi[i]! * hyper.beta2 + (1 - hyper.beta2) * (g[i]! * g[i]!);
      p[i] = p[i]! - stepSize * (mi[i]! / (Math.sqrt(vi[i]!) / bc2Sqrt + hyper.eps));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison.

export interface CompareTolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance (of |expected|). */
  rtol: number;
}

/**
 * Compares two parameter maps (e.g. GPU gradients with the reference) element by element:
 * |got - want| <= atol + rtol * |want|; NaN never matches. Returns readable lines for the first
 * `limit` problems (missing or extra names, length mismatches, values), [] when all agree.
 */
export function compareParamMaps(
  actual: ReadonlyMap<string, ArrayLike<number>>,
  expected: ReadonlyMap<string, ArrayLike<number>>,
  tol: CompareTolerance,
  limit = 10,
): string[] {
  const lines: string[] = [];
  const add = (line: string) => {
    if (lines.length < limit) lines.push(line);
  };
  let bad = 0;
  for (const name of actual.keys()) {
    if (!expected.has(name)) {
      bad++;
      add(`${name}: unexpected parameter`);
    }
  }
  for (const [name, want] of expected) {
    const got = actual.get(name);
    if (got === undefined) {
      bad++;
      add(`${name}: missing`);
      continue;
    }
    if (got.length !== want.length) {
      bad++;
      add(`${name}: got ${got.length} values, want ${want.length}`);
      continue;
    }
    for (let i = 0; i < want.length; i++) {
      const a = got[i]!;
      const e = want[i]!;
      const diff = Math.abs(a - e);
      if (a === e || diff <= tol.atol + tol.rtol * Math.abs(e)) continue;
      bad++;
      add(`${name}[${i}]: got ${a}, want ${e} (diff ${diff.toExponential(2)})`);
    }
  }
  if (bad > lines.length) lines.push(`... ${bad - lines.length} more`);
  return lines;
}
