// Resuming a training run where it stopped. A checkpoint records the run that wrote it (metadata
// 'training': its step, the data size, batch, seed and binarization); a resumed run checks that it
// repeats that run, because epoch e's batch order is a function of exactly those (see
// data/batches.ts), and starts at the recorded step, so its loss curve is the uninterrupted one.
// Also here: the command line that resumes a run, printed when training stops early.
import { isAbsolute, relative } from 'node:path';
import { checkSchedule, type LrSchedule } from '../optim/schedule.js';
import { MODEL_FLAGS, PROGRAM, trainCommand, type Binarize } from './args.js';
import { withoutFlags } from './flags.js';

/** The checkpoint metadata key of the run record. */
export const RUN_METADATA_KEY = 'training';

/** What a run's position depends on, besides its step. */
export interface RunShape {
  /** Epochs of the whole run (--epochs). */
  epochs: number;
  stepsPerEpoch: number;
  batch: number;
  /** Training examples. */
  examples: number;
  seed: number;
  binarize: Binarize;
}

/** A run at a step: what the checkpoint records. */
export interface RunRecord extends RunShape {
  /** Steps taken. */
  step: number;
}

/** The checkpoint metadata recording `record`. */
export function runMetadata(record: RunRecord): Record<string, string> {
  return { [RUN_METADATA_KEY]: JSON.stringify(record) };
}

const INTEGER_FIELDS = ['step', 'epochs', 'stepsPerEpoch', 'batch', 'examples', 'seed'] as const;
const BINARIZE: readonly Binarize[] = ['none', 'static', 'dynamic'];

/** The run record of a checkpoint's metadata (undefined when it has none); errors name `source`. */
export function readRunRecord(
  metadata: Readonly<Record<string, string>>,
  source: string,
): RunRecord | undefined {
  const text = metadata[RUN_METADATA_KEY];
  if (text === undefined) return undefined;
  const bad = (problem: string) =>
    new Error(`${source}: metadata '${RUN_METADATA_KEY}' ${problem}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('is not a JSON object');
  }
  const r = value as Record<string, unknown>;
  for (const k of INTEGER_FIELDS) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw bad(`field '${k}' must be an integer >= 0, got ${JSON.stringify(v)}`);
    }
  }
  if (!BINARIZE.includes(r.binarize as Binarize)) {
    throw bad(
      `field 'binarize' must be one of ${BINARIZE.join(', ')}, got ${JSON.stringify(r.binarize)}`,
    );
  }
  return r as unknown as RunRecord;
}

/** How each recorded setting is given on the command line (for messages). */
const SETTING: Record<'batch' | 'examples' | 'seed' | 'binarize', string> = {
  batch: '--batch',
  examples: 'training examples (the data)',
  seed: '--seed',
  binarize: '--binarize',
};

/**
 * The step a resumed run starts at: the checkpoint's optimizer step, after checking that this run
 * repeats the recorded one. `note` says what was assumed when the checkpoint has no record (or no
 * optimizer state).
 */
export function resumeStart(
  saved: RunRecord | undefined,
  /** The checkpoint's optimizer step; undefined when it has no optimizer state. */
  optimizerStep: number | undefined,
  now: RunShape,
  source: string,
): { startStep: number; note?: string } {
  if (optimizerStep === undefined) {
    // Weights only (e.g. exported from PyTorch): a new run from them.
    return {
      startStep: 0,
      note: `${source} has no optimizer state: training starts at step 0 with fresh Adam moments`,
    };
  }
  let note: string | undefined;
  if (saved) {
    if (saved.step !== optimizerStep) {
      throw new Error(
        `${source}: its run record is at step ${saved.step}, its optimizer state at step ${optimizerStep}`,
      );
    }
    const differ = (Object.keys(SETTING) as (keyof typeof SETTING)[]).filter(
      (k) => saved[k] !== now[k],
    );
    if (differ.length > 0) {
      const what = differ.map((k) => `${SETTING[k]} ${saved[k]} (this run: ${now[k]})`);
      throw new Error(
        `${source} was written by a run with ${what.join(', ')}; a resumed run repeats its ` +
          'batch order, so give the same --batch, --seed, --binarize and data',
      );
    }
  } else {
    note =
      `${source} has no record of the run that wrote it: continuing at step ${optimizerStep} ` +
      'as if this command line had written it';
  }
  const total = now.epochs * now.stepsPerEpoch;
  if (optimizerStep >= total) {
    throw new Error(
      `${source} is at step ${optimizerStep}, and --epochs ${now.epochs} ends at step ${total} ` +
        `(${now.stepsPerEpoch} steps an epoch): nothing is left to train; --epochs counts the ` +
        'whole run, give more to train on',
    );
  }
  return note === undefined ? { startStep: optimizerStep } : { startStep: optimizerStep, note };
}

/** The optimizer settings a resumed run keeps unless its command line names others. */
export interface SavedOptimizerSettings {
  lr?: number;
  schedule?: LrSchedule;
}

/**
 * Adam's learning rate and schedule from a checkpoint's optimizer state ('hyper', as
 * Trainer.optimizerState and the twin write it); absent ones are left out, so a checkpoint without
 * them resumes with the defaults. Errors name `source` and the field.
 */
export function savedOptimizerSettings(hyper: unknown, source: string): SavedOptimizerSettings {
  if (typeof hyper !== 'object' || hyper === null) return {};
  const { lr, schedule } = hyper as { lr?: unknown; schedule?: unknown };
  const settings: SavedOptimizerSettings = {};
  if (lr !== undefined && lr !== null) {
    if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) {
      throw new Error(
        `${source}: optimizer 'hyper.lr' must be a number > 0, got ${JSON.stringify(lr)}`,
      );
    }
    settings.lr = lr;
  }
  if (schedule !== undefined && schedule !== null) {
    if (typeof schedule !== 'object' || Array.isArray(schedule)) {
      throw new Error(
        `${source}: optimizer 'hyper.schedule' is not an object: ${JSON.stringify(schedule)}`,
      );
    }
    try {
      settings.schedule = checkSchedule(schedule as LrSchedule);
    } catch (e) {
      throw new Error(`${source}: optimizer 'hyper.schedule': ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  return settings;
}

/** Epoch (1-based) and batch within it (1-based) of step `step` (1-based). */
export function positionOf(step: number, stepsPerEpoch: number): { epoch: number; batch: number } {
  const epoch = Math.max(1, Math.ceil(step / stepsPerEpoch));
  return { epoch, batch: step - (epoch - 1) * stepsPerEpoch };
}

/** How this process was started, as the words before the command's arguments. */
export interface Invocation {
  env: NodeJS.ProcessEnv;
  /** The script node ran (process.argv[1]). */
  script: string | undefined;
  execArgv: readonly string[];
  cwd: string;
}

function currentInvocation(): Invocation {
  return {
    env: process.env,
    script: process.argv[1],
    execArgv: process.execArgv,
    cwd: process.cwd(),
  };
}

/** The words that start the CLI the way it was started (npm script, installed bin, or node). */
function programWords(how: Invocation): { words: string[]; takesCommand: boolean } {
  const event = how.env.npm_lifecycle_event;
  // `npm run train -- ARGS`: the script names the command itself.
  if (event && /\bcli\.[cm]?[tj]s train\s*$/.test(how.env.npm_lifecycle_script ?? '')) {
    return { words: ['npm', 'run', event, '--'], takesCommand: false };
  }
  const script = how.script;
  if (!script || /[\\/]node_modules[\\/]webgpu-vae[\\/]/.test(script)) {
    return { words: ['npx', PROGRAM], takesCommand: true };
  }
  const rel = relative(how.cwd, script);
  const path = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script;
  return { words: ['node', ...how.execArgv, path], takesCommand: true };
}

/** A word as a POSIX shell reads it back. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command line that resumes a `train` run from `checkpoint`: the same arguments (`argv`,
 * starting with 'train') without the model flags, --config and --resume, plus --resume checkpoint.
 */
export function resumeCommandLine(
  argv: readonly string[],
  checkpoint: string,
  how: Invocation = currentInvocation(),
): string {
  const args = withoutFlags(trainCommand, argv.slice(1), [...MODEL_FLAGS, 'config', 'resume']);
  const { words, takesCommand } = programWords(how);
  return [...words, ...(takesCommand ? ['train'] : []), ...args, '--resume', checkpoint]
    .map(shellWord)
    .join(' ');
}
