// A plain float64 CPU reference of the VAE in config.ts: forward, backward and an Adam step, composed
// from the per-op float64 functions of src/reference/ (the math of the WGSL kernels). It is
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
import type { Activation } from '../kernels/activation-codes.js';
import type { ElboObjectiveConfig } from './objective/elbo.js';
import type { Conv2dShape } from '../kernels/conv.js';
import {
  activation64,
  activationBackward64,
  activationDerivative64,
} from '../reference/activations.js';
import { adamStep64 } from '../reference/adam.js';
import {
  conv2dBackward64,
  conv2dForward64,
  convTranspose2dBackward64,
  convTranspose2dForward64,
} from '../reference/conv.js';
import {
  linearBackward64 as denseLinearBackward64,
  linearForward64 as denseLinearForward64,
} from '../reference/dense.js';
import {
  klBackward64,
  klForward64,
  klObjectiveBackward64,
  klObjectiveForward64,
} from '../reference/kl.js';
import { likelihoodBackward64, likelihoodForward64 } from '../reference/likelihood.js';
import { reparamBackward64, reparamForward64 } from '../reference/reparam.js';
import {
  parameterSpecs,
  vaeLayers,
  type ConvSpec,
  type LinearSpec,
  type ResolvedVaeConfig,
} from './config.js';

export type ParamMap = Map<string, Float64Array>;

// The per-op float64 functions live in src/reference/ (one file per kernel family); this file
// composes them into the model of config.ts. Two of them stay exported here under their old names.

/** act(x) for one value (src/reference/activations.ts). */
export const activationForward64: (act: Activation, x: number, alpha?: number) => number =
  activation64;
export { activationDerivative64 };

// ---------------------------------------------------------------------------------------------
// Layers of the model, by their specs.

function param(params: ReadonlyMap<string, Float64Array>, name: string): Float64Array {
  const p = params.get(name);
  if (p === undefined) throw new Error(`reference: parameter ${name} is missing`);
  return p;
}

/** Adds `src` into `dst` elementwise (gradients of a tensor used twice, parameter gradients). */
function addInto(dst: Float64Array, src: ArrayLike<number>): void {
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!;
}

/** y = x·Wᵀ + b in float64: x (B, in), W (out, in) -> y (B, out). */
export function linearForward64(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  l: LinearSpec,
  B: number,
): Float64Array {
  return denseLinearForward64(x, w, b, B, l.inSize, l.outSize);
}

/** Backward of a linear layer: adds into its weight and bias gradients, returns dx (B, in). */
function linearBackward(
  params: ReadonlyMap<string, Float64Array>,
  grads: ParamMap,
  l: LinearSpec,
  dy: Float64Array,
  x: Float64Array,
  B: number,
): Float64Array {
  const w = param(params, `${l.name}.weight`);
  const b = param(params, `${l.name}.bias`);
  const g = denseLinearBackward64(dy, x, w, b, B, l.inSize, l.outSize);
  addInto(param(grads, `${l.name}.weight`), g.dw);
  addInto(param(grads, `${l.name}.bias`), g.db!);
  return g.dx;
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
    h = pre.map((v) => activation64(act, v));
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
    d = linearBackward(params, grads, layer, activationBackward64(d, pre, act), input, B);
  }
  return d;
}

/** The kernels' conv geometry of a conv layer spec, for a batch of B. */
function convShape(spec: ConvSpec, B: number): Conv2dShape {
  return {
    batch: B,
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    height: spec.height,
    width: spec.width,
    kernelH: spec.kernel,
    kernelW: spec.kernel,
    stride: spec.stride,
    padding: spec.padding,
    outputPadding: spec.outputPadding,
  };
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
    const forward = layer.transposed ? convTranspose2dForward64 : conv2dForward64;
    const pre = forward(
      h,
      param(params, `${layer.name}.weight`),
      param(params, `${layer.name}.bias`),
      convShape(layer, B),
    );
    caches.push({ layer, input: h, pre });
    h = layer.activated ? pre.map((v) => activation64(act, v)) : pre;
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
    const dpre = layer.activated ? activationBackward64(d, pre, act) : d;
    const backward = layer.transposed ? convTranspose2dBackward64 : conv2dBackward64;
    const g = backward(
      dpre,
      input,
      param(params, `${layer.name}.weight`),
      param(params, `${layer.name}.bias`),
      convShape(layer, B),
    );
    addInto(param(grads, `${layer.name}.weight`), g.dw);
    addInto(param(grads, `${layer.name}.bias`), g.db!);
    d = g.dx;
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// The model.

export interface ReferenceOptions {
  /** B: examples in x (B, D) and eps (B, Z). */
  batch: number;
  /**
   * C of the capacity objective: required when elbo(config).capacity is set (e.g.
   * capacityAt(elbo(config).capacity, step)), not allowed otherwise.
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
      'reference: options.capacity (C) must be given exactly when elbo(config).capacity is set',
    );
  }
  for (const spec of parameterSpecs(config)) {
    const n = spec.shape.reduce((a, s) => a * s, 1);
    const p = param(params, spec.name);
    if (p.length !== n) throw new Error(`reference: ${spec.name} has ${p.length} values, not ${n}`);
  }
}

/**
 * The KL part of the objective (see the top of this file): the kernels' fused objective with
 * scale r (plain) or, with a capacity, scale 1/B applied to the batch mean and weighted r * B.
 */
function klObjectiveOf(config: ResolvedVaeConfig, B: number, capacity: number | undefined) {
  const r = elbo(config).reduction === 'sum' ? 1 : 1 / B;
  return capacity === undefined
    ? { weight: 1, objective: { beta: elbo(config).beta, scale: r } }
    : { weight: r * B, objective: { beta: elbo(config).beta, scale: 1 / B, capacity } };
}

function klLoss(
  config: ResolvedVaeConfig,
  B: number,
  capacity: number | undefined,
  kl: Float64Array,
): number {
  const { weight, objective } = klObjectiveOf(config, B, capacity);
  return weight * klObjectiveForward64(kl, objective);
}

/** d objective / d kl_b (B). */
function klLossBackward(
  config: ResolvedVaeConfig,
  B: number,
  capacity: number | undefined,
  kl: Float64Array,
): Float64Array {
  const { weight, objective } = klObjectiveOf(config, B, capacity);
  return klObjectiveBackward64(weight, kl, objective);
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
  const Z = config.latentSize;
  const z = reparamForward64(mu, logvar, eps, B, Z); // z: (B, Z)
  const kl = klForward64(mu, logvar, B, Z); // kl: (B)

  const dec = mlpForward(params, L.decoderHidden, config.decoder.activation, z, B);
  // Deconv layers read the last dense output as (B, C, h, w) (decoder.reshape).
  const decConv = convChainForward(params, L.decoderDeconv, config.decoder.activation, dec.out, B);
  const output = L.out ? lin(dec.out, L.out) : decConv.out; // output: (B, D)
  const logSigma = L.logSigma ? lin(dec.out, L.logSigma) : undefined; // logSigma: (B, D)
  const nll = likelihoodForward64(output, x, logSigma, B, config.inputSize, config.likelihood);

  const reconSum = nll.reduce((a, v) => a + v, 0);
  const klSum = kl.reduce((a, v) => a + v, 0);
  const r = elbo(config).reduction === 'sum' ? 1 : 1 / B;
  const objective = r * reconSum + klLoss(config, B, options.capacity, kl);
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
  const Z = config.latentSize;
  const back = (dy: Float64Array, input: Float64Array, l: LinearSpec) =>
    linearBackward(params, grads, l, dy, input, B);

  // Decoder: likelihood -> output heads -> hidden layers -> dz: (B, Z). dL/dnll_b = r.
  const dnll = new Float64Array(B).fill(r);
  const lk = likelihoodBackward64(
    dnll,
    fwd.output,
    x,
    fwd.logSigma,
    B,
    config.inputSize,
    config.likelihood,
  );
  const dDecTop = L.out
    ? back(lk.doutput, fwd.cache.decoderTop, L.out)
    : convChainBackward(
        params,
        fwd.cache.decoderDeconv,
        config.decoder.activation,
        lk.doutput,
        B,
        grads,
      );
  if (L.logSigma) addInto(dDecTop, back(lk.dlogSigma!, fwd.cache.decoderTop, L.logSigma));
  const dz = mlpBackward(params, fwd.cache.decoder, config.decoder.activation, dDecTop, B, grads);

  // Reparameterization and KL -> dmu, dlogvar: (B, Z). dL/dkl_b = r * beta (plain) or
  // r * beta * sign(mean_b kl_b - C) (capacity; sign(0) = 0 as in kl.wgsl and torch.abs).
  const rep = reparamBackward64(dz, fwd.mu, fwd.logvar, eps, B, Z);
  const klGrad = klBackward64(
    klLossBackward(config, B, capacity, fwd.kl),
    fwd.mu,
    fwd.logvar,
    B,
    Z,
  );
  addInto(rep.dmu, klGrad.dmu);
  addInto(rep.dlogvar, klGrad.dlogvar);

  // Encoder: heads -> hidden layers.
  const dEncTop = back(rep.dmu, fwd.cache.encoderTop, L.heads[0]!);
  addInto(dEncTop, back(rep.dlogvar, fwd.cache.encoderTop, L.heads[1]!));
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
  for (const [name, p] of params) {
    adamStep64(p, param(m, name), param(v, name), param(grads, name), t, hyper);
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
