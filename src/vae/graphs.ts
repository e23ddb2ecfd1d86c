// The VAE's graphs, built from its config with the graph ops: training (forward + backward),
// evaluation (forward only), the K-sample importance weights of the IWAE bound, and the
// encoder/decoder halves for inference.
import { Graph, type Tensor } from '../graph/graph.js';
import type {
  KlAttrs,
  LikelihoodAttrs,
  LinearAttrs,
  RepeatAttrs,
  ReparamAttrs,
} from '../graph/ops.js';
import { OPS } from '../graph/ops.js';
// Registers the conv2d, conv_transpose2d and reshape op types (and their backward ops).
import type { ConvAttrs } from '../graph/ops-conv.js';
import '../graph/ops-conv.js';
import type { Activation } from '../kernels/activation-codes.js';
import {
  parameterSpecs,
  vaeLayers,
  type ConvSpec,
  type LinearSpec,
  type ResolvedVaeConfig,
} from './config.js';

/** Name of the shared metrics accumulator: [Σ nll, Σ kl, KL objective] summed over steps. */
export const METRICS_STATE = 'metrics';
export const METRICS_SIZE = 3;

function linear(
  g: Graph,
  params: Map<string, Tensor>,
  spec: LinearSpec,
  x: Tensor,
  act: Activation,
  training: boolean,
): Tensor {
  const w = params.get(`${spec.name}.weight`)!;
  const b = params.get(`${spec.name}.bias`)!;
  const R = x.shape[0]!;
  const outputs = [{ name: spec.name, shape: [R, spec.outSize] }];
  if (training && act !== 'identity')
    outputs.push({ name: `${spec.name}.pre`, shape: [R, spec.outSize] });
  return g.op<LinearAttrs>('linear', spec.name, [x, w, b], outputs, { act }).outputs[0]!;
}

/**
 * A Conv2d or ConvTranspose2d layer: x holds (R, Cin, H, W) in NCHW order under any shape (R =
 * shape[0]); the output is (R, Cout, outH, outW), or `outShape` (the same values: a view).
 */
function conv(
  g: Graph,
  params: Map<string, Tensor>,
  spec: ConvSpec,
  x: Tensor,
  act: Activation,
  training: boolean,
  outShape?: readonly number[],
): Tensor {
  const w = params.get(`${spec.name}.weight`)!;
  const b = params.get(`${spec.name}.bias`)!;
  const R = x.shape[0]!;
  const shape = outShape ?? [R, spec.outChannels, spec.outHeight, spec.outWidth];
  const outputs = [{ name: spec.name, shape }];
  if (training && act !== 'identity') outputs.push({ name: `${spec.name}.pre`, shape });
  const attrs: ConvAttrs = {
    inChannels: spec.inChannels,
    outChannels: spec.outChannels,
    height: spec.height,
    width: spec.width,
    kernelH: spec.kernel,
    kernelW: spec.kernel,
    stride: spec.stride,
    padding: spec.padding,
    act,
  };
  if (spec.transposed) attrs.outputPadding = spec.outputPadding;
  const type = spec.transposed ? 'conv_transpose2d' : 'conv2d';
  return g.op<ConvAttrs>(type, spec.name, [x, w, b], outputs, attrs).outputs[0]!;
}

/** The model's parameters as graph tensors, in module order (trainable for training graphs). */
export function declareParams(
  g: Graph,
  config: ResolvedVaeConfig,
  trainable: boolean,
): Map<string, Tensor> {
  const params = new Map<string, Tensor>();
  for (const spec of parameterSpecs(config)) {
    params.set(spec.name, g.param(spec.name, spec.shape, trainable));
  }
  return params;
}

/**
 * x (R, D) -> mu, logvar (R, Z). Conv layers read x as (R, C, H, W) (inputShape) and the first
 * dense layer reads their output flattened: both are views of the same row-major values.
 */
export function encoderGraph(
  g: Graph,
  config: ResolvedVaeConfig,
  params: Map<string, Tensor>,
  x: Tensor,
  training: boolean,
): { mu: Tensor; logvar: Tensor } {
  const l = vaeLayers(config);
  let h = x;
  for (const spec of l.encoderConv)
    h = conv(g, params, spec, h, config.encoder.activation, training);
  for (const spec of l.encoderHidden)
    h = linear(g, params, spec, h, config.encoder.activation, training);
  return {
    mu: linear(g, params, l.mu, h, 'identity', training),
    logvar: linear(g, params, l.logvar, h, 'identity', training),
  };
}

/**
 * z (R, Z) -> output (R, D) (logits or means) [, logSigma (R, D)]. With deconv layers, the last
 * dense output is read as (R, C, h, w) (decoder.reshape) and the last deconv layer writes the
 * output as (R, D): views of the same row-major values.
 */
export function decoderGraph(
  g: Graph,
  config: ResolvedVaeConfig,
  params: Map<string, Tensor>,
  z: Tensor,
  training: boolean,
): { output: Tensor; logSigma: Tensor | undefined } {
  const l = vaeLayers(config);
  let h = z;
  for (const spec of l.decoderHidden)
    h = linear(g, params, spec, h, config.decoder.activation, training);
  if (!l.out) {
    const R = z.shape[0]!;
    l.decoderDeconv.forEach((spec, i) => {
      const last = i === l.decoderDeconv.length - 1;
      const act = spec.activated ? config.decoder.activation : 'identity';
      h = conv(g, params, spec, h, act, training, last ? [R, config.inputSize] : undefined);
    });
    return { output: h, logSigma: undefined };
  }
  return {
    output: linear(g, params, l.out, h, 'identity', training),
    logSigma: l.logSigma ? linear(g, params, l.logSigma, h, 'identity', training) : undefined,
  };
}

export interface VaeGraph {
  graph: Graph;
  /** The batch (B, D), written by the CPU each step. */
  x: Tensor;
  /** Given noise (B·K, Z) when built with givenNoise. */
  eps: Tensor | undefined;
  mu: Tensor;
  logvar: Tensor;
  z: Tensor;
  output: Tensor;
  logSigma: Tensor | undefined;
  /** Per-row NLL (B·K) and per-example KL (B). */
  nll: Tensor;
  kl: Tensor;
  /** [Σ_b KL_b, weighted KL objective]. */
  klTotal: Tensor;
  /** Σ nll (1). */
  reconSum: Tensor;
  /** The shared accumulator (METRICS_SIZE). */
  metrics: Tensor;
  /** Gradients of the parameters (training graphs). */
  paramGrads: Tensor[];
}

export interface VaeGraphOptions {
  batch: number;
  /** Build the backward pass too. */
  training: boolean;
  /** PRNG seed of the reparameterization noise. */
  seed: number;
  /** Read eps from an input tensor instead of drawing it (golden tests). */
  givenNoise?: boolean;
}

/** KL objective attributes for a batch (see reference.ts for the exact objective). */
export function klObjective(config: ResolvedVaeConfig, batch: number): KlAttrs['objective'] {
  const r = config.reduction === 'mean' ? 1 / batch : 1;
  if (config.capacity === undefined) return { beta: config.beta, scale: r };
  // r·B·β·|mean KL − C|: the kernel computes beta·|scale·Σ KL − C| with scale = 1/B.
  return { beta: r * batch * config.beta, scale: 1 / batch, capacity: 0 };
}

/**
 * The single-sample ELBO graph: encoder, reparameterize, decoder, likelihood and KL, with the
 * batch metrics summed into the shared accumulator; with `training`, the backward pass too.
 */
export function buildVaeGraph(config: ResolvedVaeConfig, o: VaeGraphOptions): VaeGraph {
  const g = new Graph(OPS);
  const B = o.batch;
  const Z = config.latentSize;
  const params = declareParams(g, config, o.training);
  const x = g.input('x', [B, config.inputSize]);
  const eps = o.givenNoise ? g.input('eps', [B, Z]) : undefined;
  const { mu, logvar } = encoderGraph(g, config, params, x, o.training);
  const reparamOutputs = [{ name: 'z', shape: [B, Z] }];
  if (!eps) reparamOutputs.push({ name: 'eps', shape: [B, Z] });
  const reparam = g.op<ReparamAttrs>(
    'reparam',
    'reparam',
    eps ? [mu, logvar, eps] : [mu, logvar],
    reparamOutputs,
    { samples: 1, seed: o.seed, givenNoise: eps !== undefined },
  );
  const z = reparam.outputs[0]!;
  const { output, logSigma } = decoderGraph(g, config, params, z, o.training);
  const nll = g.op<LikelihoodAttrs>(
    'likelihood',
    'likelihood',
    logSigma ? [output, x, logSigma] : [output, x],
    [{ name: 'nll', shape: [B] }],
    { likelihood: config.likelihood, scale: config.reduction === 'mean' ? 1 / B : 1 },
  ).outputs[0]!;
  const klOp = g.op<KlAttrs>(
    'kl',
    'kl',
    [mu, logvar],
    [
      { name: 'kl', shape: [B] },
      { name: 'kl_total', shape: [2] },
    ],
    { objective: klObjective(config, B) },
  );
  const [kl, klTotal] = klOp.outputs as [Tensor, Tensor];
  const reconSum = g.op('sum', 'recon_sum', [nll], [{ name: 'recon_sum', shape: [1] }], {})
    .outputs[0]!;
  const metrics = g.state(METRICS_STATE, [METRICS_SIZE]);
  g.op('add_into', 'metrics.recon', [reconSum], [metrics], { offset: 0 });
  g.op('add_into', 'metrics.kl', [klTotal], [metrics], { offset: 1 });
  for (const t of [mu, logvar, z, output, nll, kl, klTotal, reconSum]) t.keep = true;
  if (logSigma) logSigma.keep = true;
  const paramGrads = o.training ? g.backward() : [];
  return {
    graph: g,
    x,
    eps,
    mu,
    logvar,
    z,
    output,
    logSigma,
    nll,
    kl,
    klTotal,
    reconSum,
    metrics,
    paramGrads,
  };
}

export interface IwaeGraph {
  graph: Graph;
  x: Tensor;
  /** log w (B, K). */
  logWeights: Tensor;
  /** logsumexp_k log w (B). */
  logSumExp: Tensor;
}

/**
 * The importance weights of K samples per example: log w_k = log p(x|z_k) + log p(z_k) −
 * log q(z_k|x), and their logsumexp; log p(x) ≈ logsumexp − log K (chunks combine on the CPU).
 */
export function buildIwaeGraph(
  config: ResolvedVaeConfig,
  o: { batch: number; samples: number; seed: number },
): IwaeGraph {
  const g = new Graph(OPS);
  const B = o.batch;
  const K = o.samples;
  const Z = config.latentSize;
  const params = declareParams(g, config, false);
  const x = g.input('x', [B, config.inputSize]);
  const { mu, logvar } = encoderGraph(g, config, params, x, false);
  const [z, eps] = g.op<ReparamAttrs>(
    'reparam',
    'reparam',
    [mu, logvar],
    [
      { name: 'z', shape: [B * K, Z] },
      { name: 'eps', shape: [B * K, Z] },
    ],
    { samples: K, seed: o.seed, givenNoise: false },
  ).outputs as [Tensor, Tensor];
  const { output, logSigma } = decoderGraph(g, config, params, z, false);
  const target = g.op<RepeatAttrs>(
    'repeat_rows',
    'x.repeat',
    [x],
    [{ name: 'x_rep', shape: [B * K, config.inputSize] }],
    {
      copies: K,
    },
  ).outputs[0]!;
  const nll = g.op<LikelihoodAttrs>(
    'likelihood',
    'likelihood',
    logSigma ? [output, target, logSigma] : [output, target],
    [{ name: 'nll', shape: [B * K] }],
    { likelihood: config.likelihood, scale: 1 },
  ).outputs[0]!;
  const logWeights = g.op(
    'iwae_log_weight',
    'iwae.log_weight',
    [nll, z, eps, logvar],
    [{ name: 'log_w', shape: [B, K] }],
    {},
  ).outputs[0]!;
  const logSumExp = g.op(
    'logsumexp_rows',
    'iwae.lse',
    [logWeights],
    [{ name: 'lse', shape: [B] }],
    {},
  ).outputs[0]!;
  logWeights.keep = true;
  logSumExp.keep = true;
  return { graph: g, x, logWeights, logSumExp };
}
