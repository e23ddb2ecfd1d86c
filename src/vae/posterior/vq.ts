// The vector-quantized posterior (VQ-VAE, van den Oord et al. 2017): the head encoder.ze emits
// latentSize/D vectors of D values per example (with `grid`: a 1×1 conv head on the encoder's last
// conv output, one vector per spatial position, NCHW -> rows of D by the layout op and back);
// each is replaced by its nearest codebook vector e_k, composed from small ops (argmin_rows is
// the one new kernel of the assignment):
//   distances  ‖z‖² − 2·z·eᵀ + ‖e‖²   (a matmul, row sums of squares, broadcast adds)
//   k          argmin over the codes (argmin_rows)
//   z_q        one_hot(k)·E            (a matmul: the codebook's gradient is onehotᵀ·dz_q)
//   z          z_e + sg[z_q − z_e]     (straight-through: the decoder sees z_q, the encoder gets dz)
// Per example (summed over its vectors and their values): codebook ‖sg[z_e] − z_q‖² and
// commitment β‖z_e − sg[z_q]‖², loss terms of the objective; no KL (under a uniform prior over the
// codes it is the constant (latentSize/D)·log K). With update 'ema' the codebook is not a
// parameter: a training step moves it toward the batch's mean assigned vectors (vq_ema, decay γ,
// Laplace smoothing ε) and the codebook loss is only reported; with `restart` the codes whose EMA
// count fell below a threshold then move onto random encoder outputs of the batch (vq_restart).
import { matmulOp } from '../../graph/ops/dense.js';
import { channelsFirst, channelsLast } from '../../graph/ops/layout.js';
import { add, scale, subtract } from '../../graph/ops/elementwise.js';
import {
  argminRows,
  codeUsageOp,
  reduceCols,
  stopGradient,
  vqEmaOp,
  vqRestartOp,
} from '../../graph/ops/quantize.js';
import { gatherRowsOp, oneHot } from '../../graph/ops/select.js';
import { reduceRows, total, view } from '../../graph/ops/util.js';
import type { Graph, Tensor } from '../../graph/graph.js';
import { checkFields, checkNumber, checkObject, checkSize, fail } from '../fields.js';
import { convLayer, linearLayer } from '../modules.js';
import type { ConvSpec, LinearSpec, ParameterSpec } from '../layers.js';
import type { BuildContext, ModelShape, PosteriorGraph, PosteriorKind } from '../sections.js';

/**
 * A vector-quantized posterior (VQ-VAE): the head encoder.ze (latentSize outputs) read as
 * latentSize/dim vectors of `dim` values, each replaced by its nearest of `codes` codebook
 * vectors posterior.codebook (codes, dim). encode() returns `codes` (n, latentSize/dim), the code
 * indices as integer-valued floats, and `ze`; decode() takes code indices. With `grid`, the
 * vectors are the positions of a conv grid (see `grid`, and convVqPreset).
 *
 * @example `{ kind: 'vq', codes: 512, dim: 64, beta: 0.25, update: 'ema', decay: 0.99 }`
 * @example `{ kind: 'vq', codes: 64, dim: 16, grid: true }` on a 7×7 conv grid (latentSize 784)
 */
export interface VqPosteriorConfig {
  /** The posterior's kind. */
  kind: 'vq';
  /** K codebook vectors, an integer in 1..65536 (required). */
  codes: number;
  /** D values per codebook vector, dividing latentSize (required). */
  dim: number;
  /** Weight β of the commitment loss β‖z_e − sg[e]‖², >= 0 (default 0.25). */
  beta: number;
  /**
   * 'loss' (default): the codebook is a parameter trained by the codebook loss ‖sg[z_e] − e‖²;
   * 'ema': it is a non-parameter tensor moved by exponential moving averages each training step.
   * The paper's first recipe, 'loss', can leave most codes unused and the decoder at the mean
   * image (a small dense model did so in the PyTorch twin too: bench/RESULTS.md); the CLI and
   * convVqPreset use 'ema'.
   */
  update: 'loss' | 'ema';
  /** γ of the EMA update, in [0, 1) (default 0.99; read with 'ema' only). */
  decay: number;
  /** ε of the EMA update's Laplace smoothing, > 0 (default 1e-5; read with 'ema' only). */
  epsilon: number;
  /**
   * Dead-code restart (update 'ema' only; absent: none): after each training step's EMA update,
   * every code whose EMA count N_k is below `threshold` (in (0, 1); N_k is the decayed number of
   * this batch's vectors the code gets) is moved onto a random one of the batch's encoder outputs,
   * drawn on the GPU, and its EMA state restarts at count 1 and sum = that vector.
   */
  restart?: { threshold: number };
  /**
   * Quantize a conv grid (absent: false): a 1×1 Conv2d head encoder.ze maps the last encoder conv
   * layer's output (C, h, w) to (dim, h, w), the vector at each of the h·w positions is quantized
   * on its own, and the decoder's deconv layers start from the quantized (dim, h, w) grid. Needs
   * encoder.conv without encoder.hidden, latentSize = dim·h·w, and decoder.deconv without
   * decoder.hidden (decoder.reshape defaults to [dim, h, w]). Codes are (n, h·w), row-major.
   */
  grid?: boolean;
}

/** Most codebook vectors (indices are exact in f32 far beyond; the distance matrix is N×K). */
export const MAX_CODES = 65536;

/**
 * The bound on latentSize with `grid` (it is the whole grid, dim·h·w: 64·7·7 = 3136); the default
 * bound MAX_LATENT_SIZE is for dense codes.
 */
export const MAX_GRID_LATENT_SIZE = 65536;

/** The 1×1 conv head encoder.ze of a grid on the last conv output (C, h, w), no activation. */
function gridHead(c: VqPosteriorConfig, grid: readonly [number, number, number]): ConvSpec {
  const [C, h, w] = grid;
  return {
    name: 'encoder.ze',
    transposed: false,
    inChannels: C,
    outChannels: c.dim,
    height: h,
    width: w,
    outHeight: h,
    outWidth: w,
    kernel: 1,
    stride: 1,
    padding: 0,
    outputPadding: 0,
    activated: false,
  };
}

const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;

/** Latent vectors per example. */
export function vectorsPerExample(c: VqPosteriorConfig, model: ModelShape): number {
  return model.latentSize / c.dim;
}

/** z (N, D) -> code indices (N): argmin of ‖z‖² − 2·z·eᵀ + ‖e‖², and the distances (N, K). */
export function nearestCodes(
  g: Graph,
  z: Tensor,
  codebook: Tensor,
): { idx: Tensor; distances: Tensor } {
  const [N, K] = [z.rows, codebook.rows];
  const dots = g.add(
    matmulOp,
    'vq.dots',
    { a: z, b: codebook },
    { c: [N, K] },
    { layout: 'NT', M: N, N: K, K: z.cols },
  ).out.c;
  const zNorm = view(g, reduceRows(g, 'vq.z_sq', z, 'sumsq'), [N, 1], 'vq.z_sq.col');
  const eNorm = view(g, reduceRows(g, 'vq.e_sq', codebook, 'sumsq'), [1, K], 'vq.e_sq.row');
  const distances = add(
    g,
    'vq.distances',
    add(g, 'vq.distances.e', scale(g, 'vq.dots2', dots, -2), eNorm),
    zNorm,
  );
  return { idx: argminRows(g, 'vq.assign', distances).idx, distances };
}

/** Per example (B): the sum of squares of d (B·n, D) over each example's n vectors. */
function perExample(g: Graph, name: string, d: Tensor, B: number): Tensor {
  return reduceRows(g, name, view(g, d, [B, d.size / B], `${name}.rows`));
}

function resolveUpdate(path: string, raw: unknown): 'loss' | 'ema' {
  const update = raw ?? 'loss';
  if (update !== 'loss' && update !== 'ema') {
    fail(`${path}.update must be 'loss' or 'ema', got ${JSON.stringify(update)}`);
  }
  return update;
}

function resolveRestart(
  path: string,
  raw: unknown,
  update: 'loss' | 'ema',
): { threshold: number } | undefined {
  if (raw === undefined) return undefined;
  const r = checkObject(path, raw, '{ threshold }');
  checkFields(r, path, ['threshold']);
  if (update !== 'ema') {
    fail(`${path} needs update 'ema' (it reads the codes' EMA counts), got update '${update}'`);
  }
  const threshold = checkNumber(`${path}.threshold`, r.threshold, 0);
  if (!(threshold > 0 && threshold < 1)) {
    fail(
      `${path}.threshold must be in (0, 1) (a restarted code starts at count 1), got ${threshold}`,
    );
  }
  return { threshold };
}

export const vqPosterior: PosteriorKind<VqPosteriorConfig> = {
  kind: 'vq',
  fields: ['codes', 'dim', 'beta', 'update', 'decay', 'epsilon', 'restart', 'grid'],
  density: false,
  // Any grid value but false: a wrong one is then named by resolve, not by the latentSize bound.
  maxLatentSize: (raw) =>
    raw.grid === undefined || raw.grid === false ? undefined : MAX_GRID_LATENT_SIZE,
  resolve(raw, path, model) {
    const codes = checkSize(`${path}.codes`, raw.codes, MAX_CODES);
    const dim = checkSize(`${path}.dim`, raw.dim, model.latentSize);
    if (model.latentSize % dim !== 0) {
      fail(
        `${path}.dim ${dim} must divide latentSize ${model.latentSize} (each example's ` +
          `latentSize values are read as latentSize/dim vectors)`,
      );
    }
    const update = resolveUpdate(path, raw.update);
    const decay = checkNumber(`${path}.decay`, raw.decay ?? 0.99, 0);
    if (decay >= 1) fail(`${path}.decay must be in [0, 1), got ${decay}`);
    const epsilon = checkNumber(`${path}.epsilon`, raw.epsilon ?? 1e-5, 0);
    if (epsilon === 0) fail(`${path}.epsilon must be > 0, got 0`);
    const restart = resolveRestart(`${path}.restart`, raw.restart, update);
    const grid = raw.grid ?? false;
    if (typeof grid !== 'boolean') {
      fail(`${path}.grid must be true or false, got ${JSON.stringify(grid)}`);
    }
    return {
      kind: 'vq',
      codes,
      dim,
      beta: checkNumber(`${path}.beta`, raw.beta ?? 0.25, 0),
      update,
      decay,
      epsilon,
      ...(restart ? { restart } : {}),
      ...(grid ? { grid: true } : {}),
    };
  },
  heads(c, model, inSize): LinearSpec[] {
    return c.grid ? [] : [{ name: 'encoder.ze', inSize, outSize: model.latentSize }];
  },
  convHeads: (c, grid) => (c.grid ? [gridHead(c, grid)] : []),
  checkLayers(c, path, l) {
    if (!c.grid) return;
    const at = `${path}.grid`;
    if (!l.grid) {
      fail(`${at} quantizes the last encoder conv layer's output: it needs encoder.conv layers`);
    }
    if (l.encoder.hidden.length > 0) {
      fail(
        `${at}: the encoder.ze head reads the conv grid, so encoder.hidden must be [], got ` +
          list(l.encoder.hidden),
      );
    }
    if (l.widths.encoderFeatures > 0) {
      fail(
        `${at}: the condition or masking section adds ${l.widths.encoderFeatures} features at ` +
          "the encoder's first dense layer, and a grid encoder has none (give them as channels)",
      );
    }
    const [, h, w] = l.grid;
    const size = c.dim * h * w;
    if (l.latentSize !== size) {
      fail(
        `${at}: latentSize must be dim·h·w = ${c.dim}·${h}·${w} = ${size} (the last encoder conv ` +
          `layer's ${h}×${w} grid of ${c.dim}-vectors), got ${l.latentSize}`,
      );
    }
    if (!l.decoder.deconv) {
      fail(`${at}: the decoder starts from the quantized grid: it needs decoder.deconv layers`);
    }
    if (l.decoder.hidden.length > 0) {
      fail(
        `${at}: decoder.deconv reads the quantized grid, so decoder.hidden must be [], got ` +
          list(l.decoder.hidden),
      );
    }
    if (l.widths.decoderFeatures > 0) {
      fail(
        `${at}: the condition adds ${l.widths.decoderFeatures} features at the decoder's first ` +
          'dense layer, and a grid decoder has none',
      );
    }
    const want: [number, number, number] = [c.dim, h, w];
    if (!l.decoder.reshape) l.decoder.reshape = want;
    else if (l.decoder.reshape.some((v, i) => v !== want[i])) {
      fail(
        `decoder.reshape ${list(l.decoder.reshape)} must be the quantized grid ${list(want)} ` +
          `(${at}: dim, h, w)`,
      );
    }
  },
  params(c): ParameterSpec[] {
    const ema = c.update === 'ema';
    // fanIn K² gives U(±1/K), the usual VQ-VAE codebook init.
    const codebook: ParameterSpec = {
      name: 'posterior.codebook',
      shape: [c.codes, c.dim],
      fanIn: c.codes * c.codes,
      ...(ema ? { buffer: true } : {}),
    };
    if (!ema) return [codebook];
    // EMA state starting as if each code had been picked once at its initial vector, so a code no
    // batch picks stays where it is.
    return [
      codebook,
      { name: 'posterior.ema.count', shape: [c.codes], fanIn: 1, buffer: true, init: { fill: 1 } },
      {
        name: 'posterior.ema.sum',
        shape: [c.codes, c.dim],
        fanIn: 1,
        buffer: true,
        init: { copyOf: 'posterior.codebook' },
      },
    ];
  },
  codeWidth: (c, model) => vectorsPerExample(c, model),
  decoderInput(ctx, c, code) {
    // Code indices (R, n) -> their vectors (R, n·D) (grid: NCHW (R, D, h, w), n = h·w).
    const R = code.rows;
    const idx = view(ctx.g, code, [code.size], 'vq.codes.flat');
    const codebook = ctx.param('posterior.codebook');
    const zq = ctx.g.add(
      gatherRowsOp,
      'vq.lookup',
      { table: codebook, idx },
      { y: [idx.size, c.dim] },
      {},
    ).out.y;
    return c.grid
      ? channelsFirst(ctx.g, 'vq.zq.nchw', zq, code.cols)
      : view(ctx.g, zq, [R, code.cols * c.dim], 'vq.zq.rows');
  },
  build(ctx, c, h, o) {
    return buildVq(ctx, c, h, o.samples);
  },
};

function buildVq(
  ctx: BuildContext,
  c: VqPosteriorConfig,
  h: Tensor,
  samples: number,
): PosteriorGraph {
  if (samples !== 1) {
    throw new Error(
      `graph: the 'vq' posterior is deterministic: it takes 1 sample, not ${samples}`,
    );
  }
  const g = ctx.g;
  const B = h.rows;
  const n = vectorsPerExample(c, ctx.config);
  const N = B * n;
  let ze: Tensor;
  let flat: Tensor;
  if (c.grid) {
    // h: the last encoder conv layer's output (B, C, h, w); ze NCHW (B, D·n), flat (B·n, D).
    if (h.shape.length !== 4) {
      throw new Error(`graph: the vq grid reads a conv output (B, C, h, w), got ${h.toString()}`);
    }
    const head = gridHead(c, [h.shape[1]!, h.shape[2]!, h.shape[3]!]);
    ze = convLayer(ctx, head, h, 'identity', [B, n * c.dim]);
    flat = channelsLast(g, 'vq.ze', ze, c.dim, n);
  } else {
    const [head] = vqPosterior.heads(c, ctx.config, h.cols) as [LinearSpec];
    ze = linearLayer(ctx, head, h, 'identity');
    flat = view(g, ze, [N, c.dim], 'vq.ze');
  }
  const codebook = ctx.param('posterior.codebook');
  const { idx } = nearestCodes(g, flat, codebook);
  const hot = oneHot(g, 'vq.onehot', idx, c.codes);
  const zq = g.add(
    matmulOp,
    'vq.zq',
    { a: hot, b: codebook },
    { c: [N, c.dim] },
    { layout: 'NN', M: N, N: c.dim, K: c.codes },
  ).out.c;
  const straight = add(
    g,
    'vq.z',
    flat,
    stopGradient(g, 'vq.sg_delta', subtract(g, 'vq.delta', zq, flat)),
  );
  const z = c.grid
    ? channelsFirst(g, 'vq.z.nchw', straight, n)
    : view(g, straight, [B, n * c.dim], 'vq.z.rows');
  const codebookLoss = perExample(
    g,
    'vq.codebook_loss',
    reduceRows(
      g,
      'vq.codebook_sq',
      subtract(g, 'vq.codebook_diff', stopGradient(g, 'vq.sg_ze', flat), zq),
      'sumsq',
    ),
    B,
  );
  const commitment = perExample(
    g,
    'vq.commitment',
    reduceRows(
      g,
      'vq.commitment_sq',
      subtract(g, 'vq.commitment_diff', flat, stopGradient(g, 'vq.sg_zq', zq)),
      'sumsq',
    ),
    B,
  );
  const counts = reduceCols(g, 'vq.counts', hot);
  const usage = g.add(
    codeUsageOp,
    'vq.usage',
    { counts },
    { perplexity: [1], used: [1] },
    { scale: B },
  ).out;
  if (c.update === 'ema' && ctx.training) {
    // After every read of the codebook in this step; the backward pass never reads it.
    const sums = g.add(
      matmulOp,
      'vq.batch_sum',
      { a: hot, b: stopGradient(g, 'vq.sg_ze_ema', flat) },
      { c: [c.codes, c.dim] },
      { layout: 'TN', M: c.codes, N: c.dim, K: N },
    ).out.c;
    g.add(
      vqEmaOp,
      'vq.ema',
      { batchCount: counts, batchSum: sums },
      {
        codebook,
        count: ctx.param('posterior.ema.count'),
        sum: ctx.param('posterior.ema.sum'),
      },
      { decay: c.decay, eps: c.epsilon },
    );
    if (c.restart) {
      // After the EMA update: dead codes restart on this batch's encoder outputs.
      g.add(
        vqRestartOp,
        'vq.restart',
        { z: flat },
        {
          codebook,
          count: ctx.param('posterior.ema.count'),
          sum: ctx.param('posterior.ema.sum'),
        },
        { threshold: c.restart.threshold, seed: ctx.seed, stream: ctx.stream() },
      );
    }
  }
  const codes = view(g, idx, [B, n], 'vq.codes');
  return {
    z,
    samples: 1,
    // Reconstructions decode the codes: the decoder graph's input is code indices (decoderInput).
    mean: codes,
    outputs: { codes, ze },
    logq: () => {
      throw new Error("graph: the 'vq' posterior has no density log q(z|x) (use objective 'elbo')");
    },
    analyticKl: () => undefined,
    hasKl: false,
    // With EMA updates the codebook loss trains nothing: it is only reported.
    losses: [
      ...(c.update === 'loss' ? [{ name: 'codebook', weight: 1, value: codebookLoss }] : []),
      { name: 'commitment', weight: c.beta, value: commitment },
    ],
    metrics: [
      ...(c.update === 'ema'
        ? [{ name: 'codebook', value: total(g, codebookLoss, 'codebook') }]
        : []),
      { name: 'perplexity', value: usage.perplexity },
      { name: 'codes_used', value: usage.used },
    ],
  };
}
