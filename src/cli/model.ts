// The model the CLI trains: a preset shaped by the model flags, or a JSON model description.
import { readFile } from 'node:fs/promises';
import { parseJsonStrict } from '../checkpoint/json-strict.js';
import {
  convVaePreset,
  convVqPreset,
  MODEL_VERSION,
  resolveVaeConfig,
  type M2ClassifierConfig,
  type VaeConfig,
} from '../vae/config.js';
import type { VaeModel } from '../vae/model.js';
import type { MaskingChoice, TrainOptions } from './args.js';

export type ModelChoice = Pick<
  TrainOptions,
  | 'config'
  | 'preset'
  | 'latent'
  | 'hidden'
  | 'activation'
  | 'likelihood'
  | 'beta'
  | 'capacity'
  | 'posterior'
  | 'objective'
  | 'condition'
  | 'prior'
  | 'masking'
>;

/** --config FILE: a VaeConfig as JSON; syntax errors name the file and position. */
export async function readModelConfig(path: string): Promise<VaeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`--config ${path}: cannot read (${(e as Error).message})`, { cause: e });
  }
  try {
    // Checked here, before data and GPU are set up; resolveVaeConfig names the field that is wrong.
    const config = parseJsonStrict(text) as unknown as VaeConfig;
    resolveVaeConfig(config);
    return config;
  } catch (e) {
    throw new Error(`--config ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** The model description from --config, or from --preset and the model flags. */
export async function modelConfig(o: ModelChoice, inputSize: number): Promise<VaeConfig> {
  if (o.config !== undefined) return readModelConfig(o.config);
  const sections: Pick<
    VaeConfig,
    'likelihood' | 'posterior' | 'objective' | 'condition' | 'prior' | 'masking'
  > = {
    likelihood: o.likelihood,
    posterior: posteriorSection(o.posterior, o.latent),
    objective:
      o.objective.kind === 'iwae'
        ? { kind: 'iwae', samples: o.objective.samples, reduction: 'sum' }
        : o.objective.kind === 'm2'
          ? { kind: 'm2', classifier: m2Classifier(o) }
          : {
              kind: 'elbo',
              beta: o.beta,
              reduction: 'sum',
              ...(o.capacity ? { capacity: o.capacity } : {}),
            },
    // x_obs's missing pixels take the library's default fill (−1, which no pixel takes).
    condition: o.condition,
    ...(o.prior.kind === 'conditional'
      ? { prior: { kind: 'conditional', hidden: o.prior.hidden, activation: o.activation } }
      : {}),
    ...(o.masking.kind === 'none' ? {} : { masking: maskingSection(o.masking, inputSize) }),
  };
  if (o.preset === 'conv' && o.posterior.kind === 'vq' && o.posterior.grid) {
    return { ...convVqPreset(o.posterior.codes, o.posterior.dim), ...sections };
  }
  if (o.preset === 'conv') return { ...convVaePreset(o.latent), ...sections };
  return {
    version: MODEL_VERSION,
    inputSize,
    latentSize: o.latent,
    encoder: { hidden: o.hidden, activation: o.activation },
    decoder: { hidden: [...o.hidden].reverse(), activation: o.activation },
    ...sections,
  };
}

function posteriorSection(p: ModelChoice['posterior'], latent: number): VaeConfig['posterior'] {
  if (p.kind === 'hierarchical') {
    // The IWAE paper's shape: z1 twice the code, two layers as wide as the code between.
    return { kind: 'hierarchical', lower: Math.min(2 * latent, 256), hidden: [latent, latent] };
  }
  if (p.kind === 'vq') {
    return {
      kind: 'vq',
      codes: p.codes,
      dim: p.dim,
      beta: p.beta,
      update: p.update,
      ...(p.restart !== undefined ? { restart: { threshold: p.restart } } : {}),
      ...(p.grid ? { grid: true } : {}),
    };
  }
  return p;
}

/**
 * M2's classifier from the flags: the MLP's --hidden and --activation, or with --preset conv the
 * preset encoder's conv trunk and dense layer.
 */
function m2Classifier(o: ModelChoice): M2ClassifierConfig {
  if (o.preset !== 'conv') return { hidden: o.hidden, activation: o.activation };
  const { conv, hidden } = convVaePreset().encoder;
  return { ...(conv ? { conv } : {}), hidden: [...hidden], activation: 'relu' };
}

/** The masking section of --mask: blocks a quarter to half the image's side (7..14 at 28). */
function maskingSection(
  m: Exclude<MaskingChoice, { kind: 'none' }>,
  inputSize: number,
): NonNullable<VaeConfig['masking']> {
  const common = { fill: 0, channels: m.channels, loss: m.loss };
  if (m.kind === 'pixels') return { kind: 'pixels', p: m.p, ...common };
  if (m.kind === 'quadrant') return { kind: 'quadrant', ...common };
  const side = Math.round(Math.sqrt(inputSize));
  const minSize = Math.max(1, Math.round(side / 4));
  return { kind: 'block', minSize, maxSize: Math.max(minSize, Math.round(side / 2)), ...common };
}

/** The quadrants each completion task observes, in words. */
const OBSERVED_WORDS = {
  1: 'the bottom-left quadrant',
  2: 'the left half',
  3: 'all but the bottom-right quadrant',
} as const;

/** "7x7" for a vq grid: the decoder's input grid, (dim, h, w). */
function gridSide(c: VaeModel['config']): string {
  const [, h, w] = c.decoder.reshape ?? [0, 0, 0];
  return `${h}x${w}`;
}

/** One line: layers, likelihood, condition, prior, parameter count. */
export function describeModel(model: VaeModel): string {
  const c = model.config;
  const conv = c.encoder.conv ? `conv ${c.encoder.conv.map((l) => l.channels).join('-')}, ` : '';
  const layers = [c.inputSize, ...c.encoder.hidden, c.latentSize].join('-');
  const o = c.objective;
  const objective =
    o.kind === 'iwae'
      ? `IWAE k=${o.samples}`
      : o.kind === 'm2'
        ? `semi-supervised M2 (classifier ${[c.inputSize, ...o.classifier.hidden].join('-')})`
        : c.posterior.kind === 'vq'
          ? 'reconstruction + codebook losses'
          : `ELBO β=${o.beta}`;
  const condition =
    c.condition.kind === 'label'
      ? `, conditioned on ${c.condition.classes} classes`
      : c.condition.kind === 'quadrants'
        ? `, completing images from ${OBSERVED_WORDS[c.condition.observed]} ` +
          `(${c.condition.observed} of 4 quadrants; the decoder reads z and the observed pixels)`
        : '';
  const prior =
    c.prior.kind === 'conditional'
      ? `, prior network ${c.prior.hidden.length ? c.prior.hidden.join('-') : 'heads only'} on ` +
        `${c.condition.kind === 'label' ? 'the label' : 'the observed pixels'}`
      : '';
  const p = c.posterior;
  const posterior =
    p.kind === 'diagonal'
      ? ''
      : p.kind === 'vq'
        ? `, vq posterior (${p.grid ? `${gridSide(c)} grid of ` : ''}` +
          `${c.latentSize / p.dim} codes of ${p.codes} per example, ` +
          `${p.update === 'ema' ? 'EMA codebook' : 'codebook loss'}, commitment β=${p.beta})`
        : `, ${p.kind} posterior`;
  const masking = c.masking ? `, trained with ${c.masking.kind} masks` : '';
  return `${conv}${layers} ${c.likelihood.kind}${posterior}, ${objective}${condition}${prior}${masking}, ${model.flatSize} floats of parameters`;
}
