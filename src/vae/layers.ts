// The encoder and decoder sections of the model description (dense layers, optional Conv2d /
// ConvTranspose2d layers, activation) with their shape checks, and the parameter list the whole
// model implies: PyTorch-style names and weight shapes in module order, so checkpoints load into
// the twin `torch.nn.Module` with `load_state_dict`.
import type { Activation } from '../kernels/activation-codes.js';
import type { Likelihood } from '../kernels/likelihood.js';
import { checkActivation, checkFields, checkObject, checkSize, fail } from './fields.js';
import type { ConditionWidths } from './sections.js';

/** Dense layers: the part the encoder and decoder sections share. */
export interface MlpConfig {
  /** Hidden layer widths, input side first; [] gives a single linear map. */
  hidden: readonly number[];
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
 * flattened (C·H·W, NCHW order) into the dense hidden layers, then the posterior's heads.
 */
export interface EncoderConfig extends MlpConfig {
  /** Conv2d layers, input side first (module names encoder.conv.0, encoder.conv.1, …). */
  conv?: readonly ConvLayerConfig[];
}

/**
 * The decoder: dense hidden layers on z, each followed by the activation; with `deconv`, the last
 * dense layer's output is viewed as `reshape` (C, h, w) and goes through ConvTranspose2d layers
 * (the activation after each but the last, whose output is the logits or means) instead of the
 * decoder.out linear layer.
 */
export interface DecoderConfig extends MlpConfig {
  /** ConvTranspose2d layers (module names decoder.deconv.0, …); the last gives inputShape. */
  deconv?: readonly ConvLayerConfig[];
  /**
   * (C, h, w) of the first deconv layer's input: C·h·w must be the last hidden width (or the
   * latent size with no hidden layers). Default: h, w inverted from inputShape through the deconv
   * layers, C = that width / (h·w).
   */
  reshape?: readonly [number, number, number];
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

export const LIKELIHOOD_KINDS = ['bernoulli', 'gaussian', 'gaussian-learned'] as const;

/** What the layer geometry depends on besides the encoder and decoder sections. */
export interface LayerContext {
  inputSize: number;
  inputShape: [number, number, number] | undefined;
  latentSize: number;
  likelihood: Likelihood;
  widths: ConditionWidths;
}

function resolveMlp(
  path: string,
  raw: Record<string, unknown>,
): { hidden: number[]; activation: Activation } {
  if (!Array.isArray(raw.hidden)) fail(`${path}.hidden must be an array of layer widths`);
  const hidden = raw.hidden.map((h, i) => checkSize(`${path}.hidden[${i}]`, h));
  return { hidden, activation: checkActivation(`${path}.activation`, raw.activation, 'relu') };
}

export function resolveLikelihood(raw: unknown): Likelihood {
  if (raw === undefined || raw === null) return { kind: 'bernoulli' };
  const l = checkObject(
    'likelihood',
    raw,
    "{ kind: 'bernoulli' | 'gaussian' | 'gaussian-learned' }",
  );
  switch (l.kind) {
    case 'bernoulli':
      checkFields(l, 'likelihood', ['kind']);
      return { kind: 'bernoulli' };
    case 'gaussian':
      checkFields(l, 'likelihood', ['kind', 'sigma']);
      if (typeof l.sigma !== 'number' || !(l.sigma > 0) || !Number.isFinite(l.sigma)) {
        fail(`likelihood.sigma must be a finite number > 0, got ${JSON.stringify(l.sigma)}`);
      }
      return { kind: 'gaussian', sigma: l.sigma };
    case 'gaussian-learned':
      checkFields(l, 'likelihood', ['kind']);
      return { kind: 'gaussian-learned' };
    default:
      return fail(
        `likelihood.kind must be 'bernoulli', 'gaussian' or 'gaussian-learned', got ${JSON.stringify(l.kind)}`,
      );
  }
}

export function resolveConvLayers(
  path: string,
  layers: unknown,
  transposed: boolean,
): ResolvedConvLayer[] | undefined {
  if (layers === undefined || layers === null) return undefined;
  if (!Array.isArray(layers)) {
    fail(`${path} must be an array of { channels, kernel, stride, padding } layers`);
  }
  if (layers.length === 0) return undefined;
  return layers.map((raw, i) => {
    const at = `${path}[${i}]`;
    const l = checkObject(at, raw, '{ channels, kernel, stride, padding }');
    checkFields(l, at, ['channels', 'kernel', 'stride', 'padding', 'outputPadding']);
    const channels = checkSize(`${at}.channels`, l.channels, 1 << 16);
    const kernel = checkSize(`${at}.kernel`, l.kernel, 64);
    const stride = checkSize(`${at}.stride`, l.stride ?? 1, 64);
    const padding = l.padding ?? 0;
    if (
      typeof padding !== 'number' ||
      !Number.isInteger(padding) ||
      padding < 0 ||
      padding >= kernel
    ) {
      fail(
        `${at}.padding must be an integer in [0, kernel - 1 = ${kernel - 1}], got ${JSON.stringify(padding)}`,
      );
    }
    const outputPadding = l.outputPadding ?? 0;
    if (!transposed && outputPadding !== 0) {
      fail(`${at}.outputPadding applies to decoder.deconv layers only`);
    }
    if (
      typeof outputPadding !== 'number' ||
      !Number.isInteger(outputPadding) ||
      outputPadding < 0 ||
      outputPadding >= stride
    ) {
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

export function checkShape3(path: string, value: unknown): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3) {
    fail(`${path} must be [channels, height, width], got ${JSON.stringify(value)}`);
  }
  return [
    checkSize(`${path}[0]`, value[0]),
    checkSize(`${path}[1]`, value[1]),
    checkSize(`${path}[2]`, value[2]),
  ];
}

/** The encoder section: dense layers, activation and optional conv layers (their fields only). */
export function resolveEncoder(raw: unknown): ResolvedEncoderConfig {
  const e = checkObject('encoder', raw, '{ hidden, activation, conv }');
  checkFields(e, 'encoder', ['hidden', 'activation', 'conv'], {
    deconv: 'decoder.deconv (did you mean encoder.conv?)',
    reshape: 'decoder.reshape',
  });
  const resolved: ResolvedEncoderConfig = resolveMlp('encoder', e);
  const conv = resolveConvLayers('encoder.conv', e.conv, false);
  // Conv2d layers carry no outputPadding.
  if (conv) resolved.conv = conv.map((l) => ({ ...l, outputPadding: 0 }));
  return resolved;
}

/** The decoder section (its fields only; reshape is checked against the geometry later). */
export function resolveDecoder(raw: unknown): ResolvedDecoderConfig {
  const d = checkObject('decoder', raw, '{ hidden, activation, deconv, reshape }');
  checkFields(d, 'decoder', ['hidden', 'activation', 'deconv', 'reshape'], {
    conv: 'encoder.conv (did you mean decoder.deconv?)',
  });
  const resolved: ResolvedDecoderConfig = resolveMlp('decoder', d);
  const deconv = resolveConvLayers('decoder.deconv', d.deconv, true);
  if (d.reshape !== undefined && d.reshape !== null) {
    if (!deconv) fail('decoder.reshape applies only with decoder.deconv layers');
    resolved.reshape = checkShape3('decoder.reshape', d.reshape);
  }
  if (deconv) resolved.deconv = deconv;
  return resolved;
}

/**
 * Checks the conv geometry of resolved encoder/decoder sections against the input shape, fills in
 * inputShape (default [1, s, s] for inputSize s² with conv layers) and decoder.reshape, and
 * returns the input shape. `afterEncoder` gets the last encoder conv layer's output (C, h, w)
 * (undefined without conv layers) before the decoder is checked.
 */
export function resolveGeometry(
  encoder: ResolvedEncoderConfig,
  decoder: ResolvedDecoderConfig,
  rawInputShape: unknown,
  ctx: Omit<LayerContext, 'inputShape'>,
  afterEncoder?: (grid: [number, number, number] | undefined) => void,
): [number, number, number] | undefined {
  const D = ctx.inputSize;
  let inputShape: [number, number, number] | undefined;
  if (rawInputShape !== undefined && rawInputShape !== null) {
    const shape = checkShape3('inputShape', rawInputShape);
    if (shape[0] * shape[1] * shape[2] !== D) {
      fail(
        `inputShape [${shape.join(', ')}] holds ${shape[0] * shape[1] * shape[2]} values, inputSize is ${D}`,
      );
    }
    inputShape = shape;
  } else if (encoder.conv || decoder.deconv) {
    const side = Math.round(Math.sqrt(D));
    if (side * side !== D) {
      fail(`inputShape [C, H, W] is needed with conv layers (inputSize ${D} is not a square)`);
    }
    inputShape = [1, side, side];
  }
  let grid: [number, number, number] | undefined;
  if (encoder.conv) {
    let [c, h, w] = inputShape!;
    c += ctx.widths.encoderChannels;
    encoder.conv.forEach((l, i) => {
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
    grid = [c, h, w];
  }
  afterEncoder?.(grid);
  if (decoder.deconv) resolveDeconv(decoder, decoder.deconv, inputShape!, ctx);
  return inputShape;
}

function resolveDeconv(
  decoder: ResolvedDecoderConfig,
  deconv: ResolvedConvLayer[],
  inputShape: [number, number, number],
  ctx: Omit<LayerContext, 'inputShape'>,
): void {
  if (ctx.likelihood.kind === 'gaussian-learned') {
    fail("likelihood 'gaussian-learned' needs decoder.out: it cannot be used with decoder.deconv");
  }
  if (decoder.hidden.length === 0 && ctx.widths.decoderFeatures > 0) {
    fail(
      'decoder: a condition enters the decoder at its first dense layer, so a decoder with ' +
        'deconv layers needs at least one decoder.hidden layer',
    );
  }
  const [C, H, W] = inputShape;
  const top = decoder.hidden.at(-1) ?? ctx.latentSize;
  const topName =
    decoder.hidden.length > 0 ? `decoder.hidden[${decoder.hidden.length - 1}]` : 'latentSize';
  let reshape: [number, number, number];
  if (decoder.reshape) {
    reshape = decoder.reshape;
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
        `${C}×${H}×${W} (inputSize ${ctx.inputSize})`,
    );
  }
  decoder.reshape = reshape;
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

export function convChain(
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

export function linearChain(
  prefix: string,
  input: number,
  widths: readonly number[],
): LinearSpec[] {
  return widths.map((w, i) => ({
    name: `${prefix}.${i}`,
    inSize: i === 0 ? input : widths[i - 1]!,
    outSize: w,
  }));
}

/**
 * One parameter tensor of a model: its PyTorch-style name and shape, in module order (weight then
 * bias per layer). The list of a model ({@link VaeModel.specs}) is its flat buffer's layout and the
 * names a checkpoint or state_dict must have.
 */
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
  /**
   * A non-parameter tensor stored with the weights (PyTorch's buffers, e.g. EMA statistics): in
   * the checkpoint and the flat buffer, never given gradients or optimizer updates.
   */
  buffer?: boolean;
  /**
   * Initial values other than U(±1/√fanIn): every value `fill`, or a copy of an earlier tensor of
   * the same shape (EMA state starting at the codebook).
   */
  init?: { fill: number } | { copyOf: string };
}

export function linearParams(layer: LinearSpec): ParameterSpec[] {
  return [
    { name: `${layer.name}.weight`, shape: [layer.outSize, layer.inSize], fanIn: layer.inSize },
    { name: `${layer.name}.bias`, shape: [layer.outSize], fanIn: layer.inSize },
  ];
}

/** The parameters of a conv layer as PyTorch names and shapes them (weight then bias). */
export function convParams(c: ConvSpec): ParameterSpec[] {
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
