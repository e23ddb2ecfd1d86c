// The plain, JSON-serializable description of a VAE, its validation, and the parameter list it
// implies (PyTorch-style names and (out, in) weight shapes, so checkpoints load into a twin
// `torch.nn.Module` with `load_state_dict`).
import { ACTIVATIONS, type Activation } from '../kernels/activation-codes.js';
import type { Likelihood } from '../kernels/likelihood.js';

export interface MlpConfig {
  /** Hidden layer widths, input side first; [] gives a single linear map. */
  hidden: number[];
  /** Activation after every hidden layer (default 'relu'). */
  activation?: Activation;
}

export interface CapacityConfig {
  /** C_max in nats. */
  max: number;
  /** Steps over which C grows linearly from 0 to C_max (0: C_max from the start). */
  steps: number;
}

export interface VaeConfig {
  /** D: values per example (784 for 28×28 images). */
  inputSize: number;
  /** Z: latent dimensions, 1..256. */
  latentSize: number;
  encoder: MlpConfig;
  decoder: MlpConfig;
  /** Decoder likelihood p(x|z) (default Bernoulli on logits). */
  likelihood?: Likelihood;
  /** Weight of the KL term (default 1; 0 is a plain autoencoder, > 1 a β-VAE). */
  beta?: number;
  /** Capacity objective β·|KL − C| with C ramped linearly (Burgess et al. 2018). */
  capacity?: CapacityConfig;
  /**
   * 'sum' (default, as pytorch/examples): the objective is the batch sum; 'mean': divided by the
   * batch size. Reported losses are always per example.
   */
  reduction?: 'sum' | 'mean';
}

/** A config with every default filled in. */
export interface ResolvedVaeConfig {
  inputSize: number;
  latentSize: number;
  encoder: Required<MlpConfig>;
  decoder: Required<MlpConfig>;
  likelihood: Likelihood;
  beta: number;
  capacity: CapacityConfig | undefined;
  reduction: 'sum' | 'mean';
}

export const MAX_LATENT_SIZE = 256;

export interface ParameterSpec {
  /** PyTorch-style name, e.g. 'encoder.0.weight'. */
  name: string;
  /** (out, in) for weights, (out) for biases. */
  shape: number[];
  /** Fan-in of the layer, for PyTorch's default init bound 1/sqrt(fanIn). */
  fanIn: number;
}

function fail(message: string): never {
  throw new Error(`vae config: ${message}`);
}

function checkSize(name: string, value: unknown, max = 1 << 20): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(`${name} must be an integer in [1, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

function resolveMlp(name: string, mlp: unknown): Required<MlpConfig> {
  if (typeof mlp !== 'object' || mlp === null)
    fail(`${name} must be an object { hidden, activation }`);
  const m = mlp as Partial<MlpConfig>;
  if (!Array.isArray(m.hidden)) fail(`${name}.hidden must be an array of layer widths`);
  const hidden = m.hidden.map((h, i) => checkSize(`${name}.hidden[${i}]`, h));
  const activation = m.activation ?? 'relu';
  if (!(activation in ACTIVATIONS)) {
    fail(
      `${name}.activation '${String(activation)}' is unknown (known: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return { hidden, activation };
}

function resolveLikelihood(lk: unknown): Likelihood {
  if (lk === undefined) return { kind: 'bernoulli' };
  const l = lk as Partial<{ kind: string; sigma: number }>;
  switch (l.kind) {
    case 'bernoulli':
      return { kind: 'bernoulli' };
    case 'gaussian':
      if (typeof l.sigma !== 'number' || !(l.sigma > 0) || !Number.isFinite(l.sigma)) {
        fail(`likelihood.sigma must be a finite number > 0, got ${JSON.stringify(l.sigma)}`);
      }
      return { kind: 'gaussian', sigma: l.sigma };
    case 'gaussian-learned':
      return { kind: 'gaussian-learned' };
    default:
      return fail(
        `likelihood.kind must be 'bernoulli', 'gaussian' or 'gaussian-learned', got ${JSON.stringify(l.kind)}`,
      );
  }
}

/** Validates a config (also one parsed from a checkpoint) and fills in the defaults. */
export function resolveVaeConfig(config: VaeConfig): ResolvedVaeConfig {
  if (typeof config !== 'object' || config === null) fail('expected an object');
  const beta = config.beta ?? 1;
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta < 0) {
    fail(`beta must be a finite number >= 0, got ${JSON.stringify(beta)}`);
  }
  let capacity: CapacityConfig | undefined;
  // null (from JSON) or undefined: no capacity objective.
  if (config.capacity !== undefined && config.capacity !== null) {
    const c = config.capacity;
    if (typeof c !== 'object')
      fail(`capacity must be an object { max, steps }, got ${JSON.stringify(c)}`);
    if (typeof c.max !== 'number' || !Number.isFinite(c.max) || c.max < 0) {
      fail(`capacity.max must be a finite number >= 0, got ${JSON.stringify(c.max)}`);
    }
    if (!Number.isInteger(c.steps) || c.steps < 0) {
      fail(`capacity.steps must be an integer >= 0, got ${JSON.stringify(c.steps)}`);
    }
    capacity = { max: c.max, steps: c.steps };
  }
  const reduction = config.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') {
    fail(`reduction must be 'sum' or 'mean', got ${JSON.stringify(reduction)}`);
  }
  return {
    inputSize: checkSize('inputSize', config.inputSize),
    latentSize: checkSize('latentSize', config.latentSize, MAX_LATENT_SIZE),
    encoder: resolveMlp('encoder', config.encoder),
    decoder: resolveMlp('decoder', config.decoder),
    likelihood: resolveLikelihood(config.likelihood),
    beta,
    capacity,
    reduction,
  };
}

/** One linear layer of the model: y = x·Wᵀ + b with W (out, in). */
export interface LinearSpec {
  /** Module path, e.g. 'encoder.0' or 'encoder.mu'. */
  name: string;
  inSize: number;
  outSize: number;
}

/**
 * The model's linear layers in module order:
 *   encoder.0 … encoder.{n-1} (hidden, activation), encoder.mu, encoder.logvar (heads),
 *   decoder.0 … decoder.{m-1} (hidden, activation), decoder.out (logits or means),
 *   decoder.logsigma (log σx(z), gaussian-learned only).
 */
export function linearLayers(config: ResolvedVaeConfig): {
  encoderHidden: LinearSpec[];
  mu: LinearSpec;
  logvar: LinearSpec;
  decoderHidden: LinearSpec[];
  out: LinearSpec;
  logSigma: LinearSpec | undefined;
} {
  const chain = (prefix: string, input: number, widths: number[]): LinearSpec[] =>
    widths.map((w, i) => ({
      name: `${prefix}.${i}`,
      inSize: i === 0 ? input : widths[i - 1]!,
      outSize: w,
    }));
  const encoderHidden = chain('encoder', config.inputSize, config.encoder.hidden);
  const encOut = config.encoder.hidden.at(-1) ?? config.inputSize;
  const decoderHidden = chain('decoder', config.latentSize, config.decoder.hidden);
  const decOut = config.decoder.hidden.at(-1) ?? config.latentSize;
  return {
    encoderHidden,
    mu: { name: 'encoder.mu', inSize: encOut, outSize: config.latentSize },
    logvar: { name: 'encoder.logvar', inSize: encOut, outSize: config.latentSize },
    decoderHidden,
    out: { name: 'decoder.out', inSize: decOut, outSize: config.inputSize },
    logSigma:
      config.likelihood.kind === 'gaussian-learned'
        ? { name: 'decoder.logsigma', inSize: decOut, outSize: config.inputSize }
        : undefined,
  };
}

/** Every parameter in module order (weight then bias per layer): the flat buffer's layout. */
export function parameterSpecs(config: ResolvedVaeConfig): ParameterSpec[] {
  const l = linearLayers(config);
  const layers = [
    ...l.encoderHidden,
    l.mu,
    l.logvar,
    ...l.decoderHidden,
    l.out,
    ...(l.logSigma ? [l.logSigma] : []),
  ];
  return layers.flatMap((layer) => [
    { name: `${layer.name}.weight`, shape: [layer.outSize, layer.inSize], fanIn: layer.inSize },
    { name: `${layer.name}.bias`, shape: [layer.outSize], fanIn: layer.inSize },
  ]);
}

/** The capacity C at a (0-based) step: linear from 0 to max over `steps` steps. */
export function capacityAt(capacity: CapacityConfig, step: number): number {
  if (capacity.steps === 0) return capacity.max;
  return capacity.max * Math.min(1, step / capacity.steps);
}
