// The `train-prior` command's flags (the VQ-VAE's second stage; the runner is train-prior.ts).
// Kept apart from args.ts, which lists it in COMMANDS: this file imports only the flag parser, so
// args.ts can import it without a cycle.
import { ADAPTER_CHOICES, type AdapterChoice } from '../gpu/device.js';
import type { Activation } from '../kernels/activation-codes.js';
import { ACTIVATIONS } from '../kernels/activation-codes.js';
import { MAX_MADE_LAYERS } from '../vae/prior/made.js';
import { defineCommand } from './flags.js';

export interface TrainPriorOptions {
  checkpoint: string;
  /** Where the checkpoint with the trained prior goes (default: the --checkpoint file, replaced). */
  out: string;
  epochs: number;
  batch: number;
  lr: number;
  /** The MADE's hidden widths for a new prior (undefined: the checkpoint's prior, or [128]). */
  hidden: number[] | undefined;
  activation: Activation | undefined;
  /** Train on the first N training examples' codes only (undefined: all). */
  limit: number | undefined;
  dataset: 'digits' | 'mnist' | 'fashion-mnist' | undefined;
  data: string | undefined;
  seed: number;
  adapter: AdapterChoice;
  quiet: boolean;
  json: boolean;
  verbose: boolean;
}

const MAX_WIDTH = 1 << 14;

export const trainPriorCommand = defineCommand({
  name: 'train-prior',
  summary:
    "train a vq checkpoint's learned prior over its codes (a MADE) and store it in the checkpoint",
  notes: [
    "The VQ-VAE's second stage: the training set is encoded to code indices by the checkpoint's\n" +
      'vq model on the GPU, a MADE over each example\'s codes (prior { kind: "made" }) is trained on\n' +
      "them, and the checkpoint is written again (atomically) with the prior's tensors (prior.*) and\n" +
      'its config section. The held-out NLL is reported in bits per code. `sample` then draws codes\n' +
      'from the prior and decodes them. A checkpoint that already has a prior continues training it,\n' +
      'unless --hidden or --activation asks for a new one.',
  ],
  examples: [
    'webgpu-vae train-prior --checkpoint out/model.safetensors',
    'webgpu-vae train-prior --checkpoint out/model.safetensors --epochs 20 --hidden 512,512 --lr 3e-4',
    'webgpu-vae train-prior --checkpoint out/model.safetensors --out out/with-prior.safetensors',
  ],
  flags: {
    checkpoint: {
      kind: 'string',
      meta: 'FILE',
      required: true,
      help: 'a checkpoint of a vq model (.safetensors) written by train (required)',
    },
    out: {
      kind: 'string',
      meta: 'FILE',
      help: 'the checkpoint to write',
      defaultText: 'the --checkpoint file, replaced atomically',
    },
    epochs: { kind: 'int', min: 1, default: 10, help: 'epochs over the codes of the training set' },
    batch: { kind: 'int', min: 1, max: 65536, default: 128, help: 'code sequences per step' },
    lr: { kind: 'number', min: 0, minExclusive: true, default: 1e-3, help: 'Adam learning rate' },
    hidden: {
      kind: 'string',
      meta: 'LIST',
      help: `the MADE's hidden widths, comma-separated (1 to ${MAX_MADE_LAYERS} layers), for a new prior`,
      defaultText: "the checkpoint's prior, or 128",
    },
    activation: {
      kind: 'choice',
      values: Object.keys(ACTIVATIONS) as Activation[],
      help: "activation of the MADE's hidden layers, for a new prior",
      defaultText: "the checkpoint's prior, or relu",
    },
    limit: {
      kind: 'int',
      min: 1,
      help: 'train on the codes of the first N training examples only',
    },
    dataset: {
      kind: 'choice',
      values: ['digits', 'mnist', 'fashion-mnist'],
      help: 'dataset by name',
      defaultText: 'digits, or what --data holds',
    },
    data: {
      kind: 'string',
      meta: 'DIR',
      help: 'folder with MNIST-format IDX files (.gz or not), or a folder of dataset folders',
    },
    seed: { kind: 'int', min: 0, max: 0xffffffff, default: 0, help: 'random seed' },
    adapter: {
      kind: 'choice',
      values: ADAPTER_CHOICES,
      default: 'auto',
      help: 'WebGPU adapter (auto: a real GPU, else llvmpipe, else SwiftShader)',
    },
    quiet: { kind: 'switch', help: 'no progress bar' },
    json: {
      kind: 'switch',
      help: 'machine-readable output: JSON lines on stdout (human lines go to stderr)',
    },
    verbose: {
      kind: 'switch',
      help: "also show the native WebGPU driver's messages (also WEBGPU_VAE_VERBOSE=1)",
    },
    help: { kind: 'switch', help: 'show this help (also -h)' },
  },
  build(v, { error }): TrainPriorOptions {
    let hidden: number[] | undefined;
    if (v.hidden !== undefined) {
      const parts = v.hidden.split(',').map((p) => p.trim());
      if (
        parts.length < 1 ||
        parts.length > MAX_MADE_LAYERS ||
        parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > MAX_WIDTH)
      ) {
        throw error(
          `--hidden must be 1 to ${MAX_MADE_LAYERS} comma-separated integers in 1..${MAX_WIDTH} (e.g. 256,256), got '${v.hidden}'`,
        );
      }
      hidden = parts.map(Number);
    }
    if (v.dataset === 'digits' && v.data !== undefined) {
      throw error('--data cannot be combined with --dataset digits (the digits are embedded)');
    }
    return {
      checkpoint: v.checkpoint,
      out: v.out ?? v.checkpoint,
      epochs: v.epochs,
      batch: v.batch,
      lr: v.lr,
      hidden,
      activation: v.activation,
      limit: v.limit,
      dataset: v.dataset,
      data: v.data,
      seed: v.seed,
      adapter: v.adapter,
      quiet: v.quiet,
      json: v.json,
      verbose: v.verbose,
    };
  },
});
