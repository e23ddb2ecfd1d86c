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

/** One Conv2d (encoder) or ConvTranspose2d (decoder) layer: square kernel, NCHW. */
export interface ConvLayerConfig {
  /** Output channels. */
  channels: number;
  /** Kernel size (square). */
  kernel: number;
  /** Stride in y and x (default 1). */
  stride?: number;
  /** Zero padding on every side (default 0; smaller than the kernel). */
  padding?: number;
  /** ConvTranspose2d only: extra rows/columns at the bottom/right of the output (default 0). */
  outputPadding?: number;
}

/**
 * The encoder: optional Conv2d layers on the image (inputShape), each followed by the activation,
 * flattened (C·H·W, NCHW order) into the dense hidden layers, then the mu and logvar heads.
 */
export interface EncoderConfig extends MlpConfig {
  /** Conv2d layers, input side first (module names encoder.conv.0, encoder.conv.1, …). */
  conv?: ConvLayerConfig[];
}

/**
 * The decoder: dense hidden layers on z, each followed by the activation; with `deconv`, the last
 * dense layer's output is viewed as `reshape` (C, h, w) and goes through ConvTranspose2d layers
 * (the activation after each but the last, whose output is the logits or means) instead of the
 * decoder.out linear layer.
 */
export interface DecoderConfig extends MlpConfig {
  /** ConvTranspose2d layers (module names decoder.deconv.0, …); the last gives inputShape. */
  deconv?: ConvLayerConfig[];
  /**
   * (C, h, w) of the first deconv layer's input: C·h·w must be the last hidden width (or the
   * latent size with no hidden layers). Default: h, w inverted from inputShape through the deconv
   * layers, C = that width / (h·w).
   */
  reshape?: [number, number, number];
}

/** A conv layer with every default filled in. */
export interface ResolvedConvLayer {
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  outputPadding: number;
}

/** Encoder with defaults filled in; `conv` only when it has conv layers. */
export interface ResolvedEncoderConfig {
  hidden: number[];
  activation: Activation;
  conv?: ResolvedConvLayer[];
}

/** Decoder with defaults filled in; `deconv` and `reshape` only when it has deconv layers. */
export interface ResolvedDecoderConfig {
  hidden: number[];
  activation: Activation;
  deconv?: ResolvedConvLayer[];
  reshape?: [number, number, number];
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
  /**
   * (C, H, W) of an example, C·H·W = inputSize, NCHW. Needed by conv layers; default with conv
   * layers: [1, s, s] when inputSize = s² (784 → [1, 28, 28]).
   */
  inputShape?: [number, number, number];
  /** Z: latent dimensions, 1..256. */
  latentSize: number;
  encoder: EncoderConfig;
  decoder: DecoderConfig;
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
  /** Present when given or when the model has conv layers. */
  inputShape?: [number, number, number];
  latentSize: number;
  encoder: ResolvedEncoderConfig;
  decoder: ResolvedDecoderConfig;
  likelihood: Likelihood;
  beta: number;
  capacity: CapacityConfig | undefined;
  reduction: 'sum' | 'mean';
}

export const MAX_LATENT_SIZE = 256;

export interface ParameterSpec {
  /** PyTorch-style name, e.g. 'encoder.0.weight'. */
  name: string;
  /**
   * (out, in) for linear weights, (out) for biases; (Cout, Cin, kh, kw) for Conv2d weights and
   * (Cin, Cout, kh, kw) for ConvTranspose2d weights, as PyTorch.
   */
  shape: number[];
  /**
   * Fan-in of the layer, for PyTorch's default init bound 1/sqrt(fanIn): in for linear layers,
   * weight.size(1)·kh·kw for conv layers (Cin·kh·kw for Conv2d, Cout·kh·kw for ConvTranspose2d).
   */
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
  const resolved: ResolvedVaeConfig = {
    inputSize: checkSize('inputSize', config.inputSize),
    latentSize: checkSize('latentSize', config.latentSize, MAX_LATENT_SIZE),
    encoder: resolveMlp('encoder', config.encoder),
    decoder: resolveMlp('decoder', config.decoder),
    likelihood: resolveLikelihood(config.likelihood),
    beta,
    capacity,
    reduction,
  };
  resolveConv(config, resolved);
  return resolved;
}

// ---- conv layers ----

function resolveConvLayers(
  name: string,
  layers: unknown,
  transposed: boolean,
): ResolvedConvLayer[] | undefined {
  if (layers === undefined || layers === null) return undefined;
  if (!Array.isArray(layers)) {
    fail(`${name} must be an array of { channels, kernel, stride, padding } layers`);
  }
  if (layers.length === 0) return undefined;
  return layers.map((raw, i) => {
    const at = `${name}[${i}]`;
    if (typeof raw !== 'object' || raw === null) {
      fail(`${at} must be an object { channels, kernel, stride, padding }`);
    }
    const l = raw as Partial<ConvLayerConfig>;
    const known = ['channels', 'kernel', 'stride', 'padding', 'outputPadding'];
    for (const key of Object.keys(l)) {
      if (!known.includes(key)) fail(`${at}.${key} is unknown (known: ${known.join(', ')})`);
    }
    const channels = checkSize(`${at}.channels`, l.channels, 1 << 16);
    const kernel = checkSize(`${at}.kernel`, l.kernel, 64);
    const stride = checkSize(`${at}.stride`, l.stride ?? 1, 64);
    const padding = l.padding ?? 0;
    if (!Number.isInteger(padding) || padding < 0 || padding >= kernel) {
      fail(
        `${at}.padding must be an integer in [0, kernel - 1 = ${kernel - 1}], got ${JSON.stringify(padding)}`,
      );
    }
    const outputPadding = l.outputPadding ?? 0;
    if (!transposed && outputPadding !== 0) {
      fail(`${at}.outputPadding applies to decoder.deconv layers only`);
    }
    if (!Number.isInteger(outputPadding) || outputPadding < 0 || outputPadding >= stride) {
      fail(
        `${at}.outputPadding must be an integer in [0, stride - 1 = ${stride - 1}], got ${JSON.stringify(outputPadding)}`,
      );
    }
    return { channels, kernel, stride, padding, outputPadding };
  });
}

/** Output length of a conv (floor, as PyTorch) or transposed conv along one axis. */
function convLength(size: number, l: ResolvedConvLayer, transposed: boolean): number {
  return transposed
    ? (size - 1) * l.stride - 2 * l.padding + l.kernel + l.outputPadding
    : Math.floor((size + 2 * l.padding - l.kernel) / l.stride) + 1;
}

function checkShape3(name: string, value: unknown): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3) {
    fail(`${name} must be [channels, height, width], got ${JSON.stringify(value)}`);
  }
  return [
    checkSize(`${name}[0]`, value[0]),
    checkSize(`${name}[1]`, value[1]),
    checkSize(`${name}[2]`, value[2]),
  ];
}

/** Fills in and checks inputShape, encoder.conv, decoder.deconv and decoder.reshape. */
function resolveConv(config: VaeConfig, resolved: ResolvedVaeConfig): void {
  const enc = config.encoder as unknown as Record<string, unknown>;
  const dec = config.decoder as unknown as Record<string, unknown>;
  const misplaced: [string, unknown, string][] = [
    ['encoder.deconv', enc.deconv, 'encoder.conv'],
    ['encoder.reshape', enc.reshape, 'decoder.reshape'],
    ['decoder.conv', dec.conv, 'decoder.deconv'],
  ];
  for (const [name, value, instead] of misplaced) {
    if (value !== undefined) fail(`${name} is not a field (did you mean ${instead}?)`);
  }
  const conv = resolveConvLayers('encoder.conv', config.encoder.conv, false);
  const deconv = resolveConvLayers('decoder.deconv', config.decoder.deconv, true);
  const D = resolved.inputSize;
  if (config.inputShape !== undefined && config.inputShape !== null) {
    const shape = checkShape3('inputShape', config.inputShape);
    if (shape[0] * shape[1] * shape[2] !== D) {
      fail(
        `inputShape [${shape.join(', ')}] holds ${shape[0] * shape[1] * shape[2]} values, inputSize is ${D}`,
      );
    }
    resolved.inputShape = shape;
  } else if (conv || deconv) {
    const side = Math.round(Math.sqrt(D));
    if (side * side !== D) {
      fail(`inputShape [C, H, W] is needed with conv layers (inputSize ${D} is not a square)`);
    }
    resolved.inputShape = [1, side, side];
  }
  if (config.decoder.reshape !== undefined && config.decoder.reshape !== null && !deconv) {
    fail('decoder.reshape applies only with decoder.deconv layers');
  }
  if (conv) {
    let [c, h, w] = resolved.inputShape!;
    conv.forEach((l, i) => {
      const oh = convLength(h, l, false);
      const ow = convLength(w, l, false);
      if (oh < 1 || ow < 1) {
        fail(
          `encoder.conv[${i}]: a ${c}×${h}×${w} input gives an empty output (${oh}×${ow}) with ` +
            `kernel ${l.kernel}, stride ${l.stride}, padding ${l.padding}`,
        );
      }
      [c, h, w] = [l.channels, oh, ow];
    });
    // Conv2d layers carry no outputPadding.
    resolved.encoder.conv = conv.map(({ channels, kernel, stride, padding }) => ({
      channels,
      kernel,
      stride,
      padding,
      outputPadding: 0,
    }));
  }
  if (deconv) {
    if (resolved.likelihood.kind === 'gaussian-learned') {
      fail(
        "likelihood 'gaussian-learned' needs decoder.out: it cannot be used with decoder.deconv",
      );
    }
    const [C, H, W] = resolved.inputShape!;
    const top = resolved.decoder.hidden.at(-1) ?? resolved.latentSize;
    const topName =
      resolved.decoder.hidden.length > 0
        ? `decoder.hidden[${resolved.decoder.hidden.length - 1}]`
        : 'latentSize';
    let reshape: [number, number, number];
    if (config.decoder.reshape !== undefined && config.decoder.reshape !== null) {
      reshape = checkShape3('decoder.reshape', config.decoder.reshape);
      const n = reshape[0] * reshape[1] * reshape[2];
      if (n !== top) {
        fail(
          `decoder.reshape [${reshape.join(', ')}] holds ${n} values, the last dense layer ` +
            `(${topName}) gives ${top}`,
        );
      }
    } else {
      // Invert the deconv layers from the image size: (out - k + 2p - op) / s + 1.
      let [h, w] = [H, W];
      for (let i = deconv.length - 1; i >= 0; i--) {
        const l = deconv[i]!;
        const invert = (size: number, axis: string) => {
          const n = size - l.kernel + 2 * l.padding - l.outputPadding;
          if (n < 0 || n % l.stride !== 0) {
            fail(
              `decoder.deconv[${i}]: no input ${axis} gives an output ${axis} of ${size} with ` +
                `kernel ${l.kernel}, stride ${l.stride}, padding ${l.padding}, outputPadding ` +
                `${l.outputPadding} (set decoder.reshape, or change the layer)`,
            );
          }
          return n / l.stride + 1;
        };
        [h, w] = [invert(h, 'height'), invert(w, 'width')];
      }
      if (top % (h * w) !== 0) {
        fail(
          `decoder: the last dense layer (${topName}) gives ${top} values, not a whole number of ` +
            `${h}×${w} channels for decoder.deconv[0]; make it C·${h * w} or set decoder.reshape`,
        );
      }
      reshape = [top / (h * w), h, w];
    }
    let [c, h, w] = reshape;
    deconv.forEach((l, i) => {
      const oh = convLength(h, l, true);
      const ow = convLength(w, l, true);
      if (oh < 1 || ow < 1) {
        fail(`decoder.deconv[${i}]: a ${c}×${h}×${w} input gives an empty output (${oh}×${ow})`);
      }
      [c, h, w] = [l.channels, oh, ow];
    });
    if (c !== C || h !== H || w !== W) {
      fail(
        `decoder.deconv: the last layer gives ${c}×${h}×${w} per example, inputShape is ` +
          `${C}×${H}×${W} (inputSize ${D})`,
      );
    }
    resolved.decoder.deconv = deconv;
    resolved.decoder.reshape = reshape;
  }
}

/** One linear layer of the model: y = x·Wᵀ + b with W (out, in). */
export interface LinearSpec {
  /** Module path, e.g. 'encoder.0' or 'encoder.mu'. */
  name: string;
  inSize: number;
  outSize: number;
}

/** One Conv2d or ConvTranspose2d layer of the model, with its input and output sizes. */
export interface ConvSpec {
  /** Module path, e.g. 'encoder.conv.0' or 'decoder.deconv.1'. */
  name: string;
  transposed: boolean;
  inChannels: number;
  outChannels: number;
  /** The layer input's height and width. */
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  kernel: number;
  stride: number;
  padding: number;
  outputPadding: number;
  /** Followed by the encoder's/decoder's activation (all but the decoder's last deconv). */
  activated: boolean;
}

/** Every layer of the model in module order (see parameterSpecs). */
export interface VaeLayers {
  encoderConv: ConvSpec[];
  encoderHidden: LinearSpec[];
  mu: LinearSpec;
  logvar: LinearSpec;
  decoderHidden: LinearSpec[];
  /** (C, h, w) the last dense output is viewed as, with deconv layers. */
  decoderReshape: [number, number, number] | undefined;
  decoderDeconv: ConvSpec[];
  /** decoder.out: the output layer of MLP decoders; undefined with deconv layers. */
  out: LinearSpec | undefined;
  logSigma: LinearSpec | undefined;
}

function convChain(
  prefix: string,
  layers: readonly ResolvedConvLayer[],
  input: readonly [number, number, number],
  transposed: boolean,
): ConvSpec[] {
  let [c, h, w] = input;
  return layers.map((l, i) => {
    const spec: ConvSpec = {
      name: `${prefix}.${i}`,
      transposed,
      inChannels: c,
      outChannels: l.channels,
      height: h,
      width: w,
      outHeight: convLength(h, l, transposed),
      outWidth: convLength(w, l, transposed),
      kernel: l.kernel,
      stride: l.stride,
      padding: l.padding,
      outputPadding: transposed ? l.outputPadding : 0,
      activated: !transposed || i < layers.length - 1,
    };
    [c, h, w] = [spec.outChannels, spec.outHeight, spec.outWidth];
    return spec;
  });
}

/**
 * The model's layers in module order:
 *   encoder.conv.0 … (Conv2d, activation; flattened), encoder.0 … encoder.{n-1} (hidden,
 *   activation), encoder.mu, encoder.logvar (heads), decoder.0 … decoder.{m-1} (hidden,
 *   activation), then either decoder.deconv.0 … (ConvTranspose2d on the last hidden output viewed
 *   as decoder.reshape; activation after all but the last) or decoder.out (logits or means),
 *   decoder.logsigma (log σx(z), gaussian-learned only).
 */
export function vaeLayers(config: ResolvedVaeConfig): VaeLayers {
  const chain = (prefix: string, input: number, widths: number[]): LinearSpec[] =>
    widths.map((w, i) => ({
      name: `${prefix}.${i}`,
      inSize: i === 0 ? input : widths[i - 1]!,
      outSize: w,
    }));
  const encoderConv = config.encoder.conv
    ? convChain('encoder.conv', config.encoder.conv, config.inputShape!, false)
    : [];
  const lastConv = encoderConv.at(-1);
  const encIn = lastConv
    ? lastConv.outChannels * lastConv.outHeight * lastConv.outWidth
    : config.inputSize;
  const encoderHidden = chain('encoder', encIn, config.encoder.hidden);
  const encOut = config.encoder.hidden.at(-1) ?? encIn;
  const decoderHidden = chain('decoder', config.latentSize, config.decoder.hidden);
  const decOut = config.decoder.hidden.at(-1) ?? config.latentSize;
  const reshape = config.decoder.deconv ? config.decoder.reshape : undefined;
  const decoderDeconv =
    config.decoder.deconv && reshape
      ? convChain('decoder.deconv', config.decoder.deconv, reshape, true)
      : [];
  const dense = decoderDeconv.length === 0;
  return {
    encoderConv,
    encoderHidden,
    mu: { name: 'encoder.mu', inSize: encOut, outSize: config.latentSize },
    logvar: { name: 'encoder.logvar', inSize: encOut, outSize: config.latentSize },
    decoderHidden,
    decoderReshape: dense ? undefined : reshape,
    decoderDeconv,
    out: dense ? { name: 'decoder.out', inSize: decOut, outSize: config.inputSize } : undefined,
    logSigma:
      dense && config.likelihood.kind === 'gaussian-learned'
        ? { name: 'decoder.logsigma', inSize: decOut, outSize: config.inputSize }
        : undefined,
  };
}

/**
 * The model's linear layers in module order:
 *   encoder.0 … encoder.{n-1} (hidden, activation), encoder.mu, encoder.logvar (heads),
 *   decoder.0 … decoder.{m-1} (hidden, activation), decoder.out (logits or means),
 *   decoder.logsigma (log σx(z), gaussian-learned only).
 * With encoder conv layers, encoder.0 takes their flattened output. A decoder with deconv layers
 * has no decoder.out: use vaeLayers() for it.
 */
export function linearLayers(config: ResolvedVaeConfig): {
  encoderHidden: LinearSpec[];
  mu: LinearSpec;
  logvar: LinearSpec;
  decoderHidden: LinearSpec[];
  out: LinearSpec;
  logSigma: LinearSpec | undefined;
} {
  const l = vaeLayers(config);
  if (!l.out) {
    throw new Error(
      'vae config: a decoder with deconv layers has no decoder.out linear layer (use vaeLayers)',
    );
  }
  return {
    encoderHidden: l.encoderHidden,
    mu: l.mu,
    logvar: l.logvar,
    decoderHidden: l.decoderHidden,
    out: l.out,
    logSigma: l.logSigma,
  };
}

/** The parameters of a conv layer as PyTorch names and shapes them (weight then bias). */
function convParams(c: ConvSpec): ParameterSpec[] {
  const k = c.kernel;
  // PyTorch's fan_in is weight.size(1)·kh·kw: Cin for Conv2d, Cout for ConvTranspose2d.
  const fanIn = (c.transposed ? c.outChannels : c.inChannels) * k * k;
  const shape = c.transposed
    ? [c.inChannels, c.outChannels, k, k]
    : [c.outChannels, c.inChannels, k, k];
  return [
    { name: `${c.name}.weight`, shape, fanIn },
    { name: `${c.name}.bias`, shape: [c.outChannels], fanIn },
  ];
}

/** Every parameter in module order (weight then bias per layer): the flat buffer's layout. */
export function parameterSpecs(config: ResolvedVaeConfig): ParameterSpec[] {
  const l = vaeLayers(config);
  const linearParams = (layer: LinearSpec): ParameterSpec[] => [
    { name: `${layer.name}.weight`, shape: [layer.outSize, layer.inSize], fanIn: layer.inSize },
    { name: `${layer.name}.bias`, shape: [layer.outSize], fanIn: layer.inSize },
  ];
  return [
    ...l.encoderConv.flatMap(convParams),
    ...[...l.encoderHidden, l.mu, l.logvar, ...l.decoderHidden].flatMap(linearParams),
    ...l.decoderDeconv.flatMap(convParams),
    ...[...(l.out ? [l.out] : []), ...(l.logSigma ? [l.logSigma] : [])].flatMap(linearParams),
  ];
}

/**
 * A conv VAE for 28×28 single-channel images (Bernoulli, relu): encoder Conv2d 1→32 (k4 s2 p1,
 * 28→14), Conv2d 32→64 (14→7), flatten, dense 256, mu/logvar; decoder dense 256, dense 64·7·7,
 * reshape (64, 7, 7), ConvTranspose2d 64→32 (7→14), ConvTranspose2d 32→1 (14→28) logits.
 */
export function convVaePreset(latentSize = 20): VaeConfig {
  const down = { kernel: 4, stride: 2, padding: 1 };
  return {
    inputSize: 784,
    inputShape: [1, 28, 28],
    latentSize,
    encoder: {
      conv: [
        { channels: 32, ...down },
        { channels: 64, ...down },
      ],
      hidden: [256],
      activation: 'relu',
    },
    decoder: {
      hidden: [256, 64 * 7 * 7],
      reshape: [64, 7, 7],
      deconv: [
        { channels: 32, ...down },
        { channels: 1, ...down },
      ],
      activation: 'relu',
    },
    likelihood: { kind: 'bernoulli' },
  };
}

/** The capacity C at a (0-based) step: linear from 0 to max over `steps` steps. */
export function capacityAt(capacity: CapacityConfig, step: number): number {
  if (capacity.steps === 0) return capacity.max;
  return capacity.max * Math.min(1, step / capacity.steps);
}
