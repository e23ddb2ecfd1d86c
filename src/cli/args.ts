// The argv parser of `webgpu-vae train | eval | sample | help` (no dependencies). Flags take
// `--flag value` or `--flag=value`; every mistake throws an Error naming the flag and the problem.
import { ACTIVATIONS, type Activation } from '../kernels/activation-codes.js';
import type { Likelihood } from '../kernels/likelihood.js';
import type { CapacityConfig } from '../vae/config.js';
import { MAX_LATENT_SIZE } from '../vae/config.js';
import type { AdapterChoice } from '../gpu/device.js';

export type CliCommand = 'train' | 'eval' | 'sample' | 'help';
export type Binarize = 'none' | 'static' | 'dynamic';

/** Learning-rate schedule; `stepSize` counts epochs (lr *= gamma every stepSize epochs). */
export type LrSchedule =
  { kind: 'constant' } | { kind: 'step'; stepSize: number; gamma: number } | { kind: 'cosine' };

export interface TrainOptions {
  epochs: number;
  batch: number;
  lr: number;
  latent: number;
  /** Hidden widths of encoder and decoder (the decoder mirrors them); [] for none. */
  hidden: number[];
  activation: Activation;
  likelihood: Likelihood;
  beta: number;
  capacity: CapacityConfig | undefined;
  schedule: LrSchedule;
  /** Folder with the MNIST IDX files; undefined: the embedded digits. */
  data: string | undefined;
  binarize: Binarize;
  seed: number | undefined;
  out: string;
  adapter: AdapterChoice;
  resume: string | undefined;
  quiet: boolean;
}

export interface EvalOptions {
  checkpoint: string;
  data: string | undefined;
  /** Importance samples per example for log p(x). */
  k: number;
  batch: number;
  adapter: AdapterChoice;
  seed: number | undefined;
  /** Evaluate only the first `limit` test examples (undefined: all). */
  limit: number | undefined;
}

export interface SampleOptions {
  checkpoint: string;
  count: number;
  out: string;
  seed: number | undefined;
  adapter: AdapterChoice;
  /** Scales the prior's standard deviation: z ~ N(0, temperature^2 I). */
  temperature: number;
}

export interface HelpOptions {
  /** The command whose --help was asked for, if any. */
  topic: Exclude<CliCommand, 'help'> | undefined;
}

export type CliArgs =
  | { command: 'train'; options: TrainOptions }
  | { command: 'eval'; options: EvalOptions }
  | { command: 'sample'; options: SampleOptions }
  | { command: 'help'; options: HelpOptions };

export const TRAIN_DEFAULTS = {
  epochs: 10,
  batch: 128,
  lr: 1e-3,
  latent: 20,
  hidden: [400],
  activation: 'relu',
  likelihood: 'bernoulli',
  sigma: 1,
  beta: 1,
  schedule: 'constant',
  gamma: 0.1,
  binarize: 'none',
  out: 'out',
  adapter: 'auto',
} as const;

export const EVAL_DEFAULTS = { k: 100, batch: 128, adapter: 'auto' } as const;
export const SAMPLE_DEFAULTS = { count: 64, out: 'out', adapter: 'auto', temperature: 1 } as const;

export const MAX_K = 5000;
const MAX_BATCH = 65536;
const MAX_WIDTH = 65536;
const MAX_COUNT = 65536;

const COMMANDS = ['train', 'eval', 'sample', 'help'] as const;
const LIKELIHOODS = ['bernoulli', 'gaussian', 'gaussian-learned'] as const;
const SCHEDULES = ['constant', 'step', 'cosine'] as const;
const BINARIZE = ['none', 'static', 'dynamic'] as const;
const ADAPTERS = ['auto', 'gpu', 'llvmpipe', 'swiftshader'] as const;

/** Flags per command; `true` marks a switch (takes no value). */
const FLAGS: Record<Exclude<CliCommand, 'help'>, Record<string, boolean>> = {
  train: {
    epochs: false,
    batch: false,
    lr: false,
    latent: false,
    hidden: false,
    activation: false,
    likelihood: false,
    sigma: false,
    beta: false,
    'capacity-max': false,
    'capacity-steps': false,
    schedule: false,
    'step-size': false,
    gamma: false,
    data: false,
    binarize: false,
    seed: false,
    out: false,
    adapter: false,
    resume: false,
    quiet: true,
    help: true,
  },
  eval: {
    checkpoint: false,
    data: false,
    k: false,
    batch: false,
    adapter: false,
    seed: false,
    limit: false,
    help: true,
  },
  sample: {
    checkpoint: false,
    count: false,
    out: false,
    seed: false,
    adapter: false,
    temperature: false,
    help: true,
  },
};

const USAGE = `Usage: webgpu-vae <command> [options]

Commands:
  train     train a VAE on MNIST (IDX files or the embedded digits)
  eval      evaluate a checkpoint on the test set (ELBO and importance-sampled log p(x))
  sample    decode samples from the prior into a PNG grid
  help      show this text (also --help, -h; 'webgpu-vae <command> --help')

train options:
  --epochs N              epochs (default ${TRAIN_DEFAULTS.epochs})
  --batch N               batch size (default ${TRAIN_DEFAULTS.batch})
  --lr X                  Adam learning rate (default ${TRAIN_DEFAULTS.lr})
  --latent N              latent dimensions, 1..${MAX_LATENT_SIZE} (default ${TRAIN_DEFAULTS.latent})
  --hidden LIST           hidden widths, comma-separated, e.g. 512,256; '' or none for no hidden
                          layer (default ${TRAIN_DEFAULTS.hidden.join(',')})
  --activation NAME       ${Object.keys(ACTIVATIONS).join(' | ')} (default ${TRAIN_DEFAULTS.activation})
  --likelihood NAME       ${LIKELIHOODS.join(' | ')} (default ${TRAIN_DEFAULTS.likelihood})
  --sigma X               fixed sigma of the gaussian likelihood (default ${TRAIN_DEFAULTS.sigma})
  --beta X                weight of the KL term (default ${TRAIN_DEFAULTS.beta})
  --capacity-max X        capacity objective beta*|KL - C|: C_max in nats ...
  --capacity-steps N      ... reached after N steps (give both or neither)
  --schedule NAME         ${SCHEDULES.join(' | ')} learning rate (default ${TRAIN_DEFAULTS.schedule})
  --step-size N           step schedule: multiply lr by gamma every N epochs (required for step)
  --gamma X               step schedule factor, 0 < gamma <= 1 (default ${TRAIN_DEFAULTS.gamma})
  --data DIR              folder with MNIST IDX files (default: the embedded digits)
  --binarize MODE         ${BINARIZE.join(' | ')} (default ${TRAIN_DEFAULTS.binarize})
  --seed N                random seed (default: random)
  --out DIR               output folder (default ${TRAIN_DEFAULTS.out})
  --adapter NAME          ${ADAPTERS.join(' | ')} (default ${TRAIN_DEFAULTS.adapter})
  --resume FILE           continue from a checkpoint
  --quiet                 no progress output

eval options:
  --checkpoint FILE       checkpoint to evaluate (required)
  --data DIR              folder with MNIST IDX files (default: the embedded digits)
  --k N                   importance samples for log p(x), 1..${MAX_K} (default ${EVAL_DEFAULTS.k})
  --batch N               batch size (default ${EVAL_DEFAULTS.batch})
  --limit N               evaluate only the first N test examples
  --seed N                random seed (default: random)
  --adapter NAME          ${ADAPTERS.join(' | ')} (default ${EVAL_DEFAULTS.adapter})

sample options:
  --checkpoint FILE       checkpoint to sample from (required)
  --count N               number of samples (default ${SAMPLE_DEFAULTS.count})
  --temperature X         scale of the prior's standard deviation (default ${SAMPLE_DEFAULTS.temperature})
  --out DIR               output folder (default ${SAMPLE_DEFAULTS.out})
  --seed N                random seed (default: random)
  --adapter NAME          ${ADAPTERS.join(' | ')} (default ${SAMPLE_DEFAULTS.adapter})
`;

/** The full help text. */
export function usage(): string {
  return USAGE;
}

// ---- helpers ----

/** Levenshtein distance (small strings only). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a plausible typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? 1 : editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** Typed access to the raw flag values of one command. */
class FlagReader {
  constructor(
    private readonly command: string,
    private readonly values: Map<string, string | true>,
  ) {}

  has(flag: string): boolean {
    return this.values.has(flag);
  }

  /** The value as given (possibly ''), undefined when absent. */
  raw(flag: string): string | undefined {
    const v = this.values.get(flag);
    return v === true ? undefined : v;
  }

  string(flag: string): string | undefined {
    const v = this.values.get(flag);
    if (v === undefined || v === true) return undefined;
    if (v === '') throw new Error(`${this.command}: --${flag} needs a non-empty value`);
    return v;
  }

  required(flag: string, meta: string): string {
    const v = this.string(flag);
    if (v === undefined) throw new Error(`${this.command}: --${flag} ${meta} is required`);
    return v;
  }

  number(
    flag: string,
    opts: { min?: number; max?: number; minExclusive?: boolean; int?: boolean },
  ) {
    const raw = this.string(flag);
    if (raw === undefined) return undefined;
    const kind = opts.int ? 'an integer' : 'a number';
    if (!FLOAT_RE.test(raw)) {
      throw new Error(`${this.command}: --${flag} must be ${kind}, got '${raw}'`);
    }
    const v = Number(raw);
    if (!Number.isFinite(v)) {
      throw new Error(`${this.command}: --${flag} must be a finite number, got '${raw}'`);
    }
    if (opts.int && !Number.isSafeInteger(v)) {
      throw new Error(`${this.command}: --${flag} must be an integer, got '${raw}'`);
    }
    const { min, max, minExclusive } = opts;
    const tooLow = min !== undefined && (minExclusive ? v <= min : v < min);
    const tooHigh = max !== undefined && v > max;
    if (tooLow || tooHigh) {
      const lo = min === undefined ? '' : minExclusive ? `> ${min}` : `>= ${min}`;
      const hi = max === undefined ? '' : `<= ${max}`;
      const range = lo && hi ? `${lo} and ${hi}` : lo || hi;
      throw new Error(`${this.command}: --${flag} must be ${range}, got ${raw}`);
    }
    return v;
  }

  int(flag: string, min: number, max?: number): number | undefined {
    return this.number(flag, { min, max, int: true });
  }

  choice<T extends string>(flag: string, allowed: readonly T[]): T | undefined {
    const v = this.string(flag);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) {
      const hint = closest(v, allowed);
      throw new Error(
        `${this.command}: --${flag} must be one of ${allowed.join(', ')}; got '${v}'` +
          (hint ? ` (did you mean '${hint}'?)` : ''),
      );
    }
    return v as T;
  }

  seed(): number | undefined {
    return this.int('seed', 0, 0xffffffff);
  }

  adapter(): AdapterChoice {
    return this.choice('adapter', ADAPTERS) ?? 'auto';
  }
}

/** Splits argv (after the command) into flag → value, checking names and value presence. */
function readFlags(
  command: Exclude<CliCommand, 'help'>,
  args: string[],
): Map<string, string | true> {
  const known = FLAGS[command];
  const values = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h') {
      values.set('help', true);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new Error(
        `${command}: unexpected argument '${arg}' (options are --name value; see --help)`,
      );
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const isSwitch = known[name];
    if (isSwitch === undefined) {
      const names = Object.keys(known);
      const hint = closest(name, names);
      const owners = (Object.keys(FLAGS) as (keyof typeof FLAGS)[]).filter(
        (c) => FLAGS[c][name] !== undefined,
      );
      let message = `${command}: unknown flag --${name}`;
      if (owners.length > 0) message += ` (it is an option of ${owners.join(', ')})`;
      if (hint) message += `; did you mean --${hint}?`;
      else message += `; known flags: ${names.map((n) => `--${n}`).join(', ')}`;
      throw new Error(message);
    }
    if (values.has(name)) throw new Error(`${command}: --${name} is given more than once`);
    if (isSwitch) {
      if (eq >= 0) throw new Error(`${command}: --${name} is a switch and takes no value`);
      values.set(name, true);
      continue;
    }
    if (eq >= 0) {
      values.set(name, arg.slice(eq + 1));
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) {
      throw new Error(`${command}: --${name} is missing its value`);
    }
    values.set(name, next);
    i++;
  }
  return values;
}

function parseHidden(raw: string | undefined): number[] {
  if (raw === undefined) return [...TRAIN_DEFAULTS.hidden];
  const text = raw.trim();
  if (text === '' || text === 'none') return [];
  return text.split(',').map((part) => {
    const p = part.trim();
    const v = Number(p);
    if (!/^\d+$/.test(p) || v < 1 || v > MAX_WIDTH) {
      throw new Error(
        `train: --hidden must be a comma-separated list of integers in 1..${MAX_WIDTH} ` +
          `(e.g. 512,256), got '${raw}'`,
      );
    }
    return v;
  });
}

function parseTrain(f: FlagReader): TrainOptions {
  // --hidden may legitimately be '' (no hidden layer), so it bypasses the non-empty check.
  const hidden = parseHidden(f.raw('hidden'));

  const likelihoodKind = f.choice('likelihood', LIKELIHOODS) ?? TRAIN_DEFAULTS.likelihood;
  let likelihood: Likelihood;
  if (likelihoodKind === 'gaussian') {
    const sigma = f.number('sigma', { min: 0, minExclusive: true }) ?? TRAIN_DEFAULTS.sigma;
    likelihood = { kind: 'gaussian', sigma };
  } else {
    if (f.has('sigma')) {
      throw new Error(
        `train: --sigma applies only to --likelihood gaussian (got --likelihood ${likelihoodKind})`,
      );
    }
    likelihood = { kind: likelihoodKind };
  }

  const capMax = f.number('capacity-max', { min: 0 });
  const capSteps = f.int('capacity-steps', 0);
  if ((capMax === undefined) !== (capSteps === undefined)) {
    throw new Error(
      capMax === undefined
        ? 'train: --capacity-steps needs --capacity-max too (give both or neither)'
        : 'train: --capacity-max needs --capacity-steps too (give both or neither)',
    );
  }
  const capacity =
    capMax !== undefined && capSteps !== undefined ? { max: capMax, steps: capSteps } : undefined;

  const scheduleKind = f.choice('schedule', SCHEDULES) ?? TRAIN_DEFAULTS.schedule;
  let schedule: LrSchedule;
  if (scheduleKind === 'step') {
    const stepSize = f.int('step-size', 1);
    if (stepSize === undefined) {
      throw new Error('train: --schedule step needs --step-size N (epochs between lr decays)');
    }
    const gamma = f.number('gamma', { min: 0, minExclusive: true, max: 1 }) ?? TRAIN_DEFAULTS.gamma;
    schedule = { kind: 'step', stepSize, gamma };
  } else {
    for (const flag of ['step-size', 'gamma']) {
      if (f.has(flag)) {
        throw new Error(
          `train: --${flag} applies only to --schedule step (got --schedule ${scheduleKind})`,
        );
      }
    }
    schedule = { kind: scheduleKind };
  }

  return {
    epochs: f.int('epochs', 1) ?? TRAIN_DEFAULTS.epochs,
    batch: f.int('batch', 1, MAX_BATCH) ?? TRAIN_DEFAULTS.batch,
    lr: f.number('lr', { min: 0, minExclusive: true }) ?? TRAIN_DEFAULTS.lr,
    latent: f.int('latent', 1, MAX_LATENT_SIZE) ?? TRAIN_DEFAULTS.latent,
    hidden,
    activation:
      f.choice('activation', Object.keys(ACTIVATIONS) as Activation[]) ?? TRAIN_DEFAULTS.activation,
    likelihood,
    beta: f.number('beta', { min: 0 }) ?? TRAIN_DEFAULTS.beta,
    capacity,
    schedule,
    data: f.string('data'),
    binarize: f.choice('binarize', BINARIZE) ?? TRAIN_DEFAULTS.binarize,
    seed: f.seed(),
    out: f.string('out') ?? TRAIN_DEFAULTS.out,
    adapter: f.adapter(),
    resume: f.string('resume'),
    quiet: f.has('quiet'),
  };
}

function parseEval(f: FlagReader): EvalOptions {
  return {
    checkpoint: f.required('checkpoint', 'FILE'),
    data: f.string('data'),
    k: f.int('k', 1, MAX_K) ?? EVAL_DEFAULTS.k,
    batch: f.int('batch', 1, MAX_BATCH) ?? EVAL_DEFAULTS.batch,
    adapter: f.adapter(),
    seed: f.seed(),
    limit: f.int('limit', 1),
  };
}

function parseSample(f: FlagReader): SampleOptions {
  return {
    checkpoint: f.required('checkpoint', 'FILE'),
    count: f.int('count', 1, MAX_COUNT) ?? SAMPLE_DEFAULTS.count,
    out: f.string('out') ?? SAMPLE_DEFAULTS.out,
    seed: f.seed(),
    adapter: f.adapter(),
    temperature: f.number('temperature', { min: 0 }) ?? SAMPLE_DEFAULTS.temperature,
  };
}

/**
 * Parses the CLI arguments after the program name (process.argv.slice(2)). `help`, `--help`,
 * `-h` and an empty argv give the help command; `<command> --help` gives help on that command.
 */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    if (first === 'help' && rest.length > 0) {
      const topic = rest[0]!;
      if (topic === 'train' || topic === 'eval' || topic === 'sample') {
        return { command: 'help', options: { topic } };
      }
    }
    return { command: 'help', options: { topic: undefined } };
  }
  if (first !== 'train' && first !== 'eval' && first !== 'sample') {
    const hint = closest(first, COMMANDS);
    throw new Error(
      `unknown command '${first}'` +
        (hint ? `; did you mean '${hint}'?` : `; commands: ${COMMANDS.join(', ')}`),
    );
  }
  const values = readFlags(first, [...rest]);
  if (values.has('help')) return { command: 'help', options: { topic: first } };
  const reader = new FlagReader(first, values);
  switch (first) {
    case 'train':
      return { command: 'train', options: parseTrain(reader) };
    case 'eval':
      return { command: 'eval', options: parseEval(reader) };
    case 'sample':
      return { command: 'sample', options: parseSample(reader) };
  }
}
