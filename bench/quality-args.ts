// The flags the MNIST quality benches share (iwae.ts, posteriors.ts, completion.ts): declared once
// for node:util's parseArgs, each script spreading them beside its own, and checked in one place
// so that a bad value names its flag instead of turning into NaN epochs.
import { mkdirSync } from 'node:fs';
import { ADAPTER_CHOICES, type AdapterChoice } from '../src/gpu/device.js';

/** The shared flags' defaults that differ between the benches. */
export interface QualityDefaults {
  epochs: number;
  batch: number;
  evalK: number;
  evalCount: number;
  out: string;
}

/** The shared flags, for `parseArgs({ options: { ...qualityFlags(defaults), ...own } })`. */
export function qualityFlags(d: QualityDefaults) {
  return {
    epochs: { type: 'string', default: String(d.epochs) },
    batch: { type: 'string', default: String(d.batch) },
    adapter: { type: 'string', default: 'auto' },
    'eval-k': { type: 'string', default: String(d.evalK) },
    'eval-count': { type: 'string', default: String(d.evalCount) },
    'train-count': { type: 'string', default: '' },
    'no-twin': { type: 'boolean', default: false },
    'no-ours': { type: 'boolean', default: false },
    data: { type: 'string', default: new URL('../../shared/data/mnist', import.meta.url).pathname },
    out: { type: 'string', default: d.out },
    seed: { type: 'string', default: '1' },
    openblas: { type: 'string', default: '' },
  } as const;
}

/** The values parseArgs returns for {@link qualityFlags}. */
export interface QualityValues {
  epochs: string;
  batch: string;
  adapter: string;
  'eval-k': string;
  'eval-count': string;
  'train-count': string;
  'no-twin': boolean;
  'no-ours': boolean;
  data: string;
  out: string;
  seed: string;
  openblas: string;
}

/** The shared flags, checked. */
export interface QualityOptions {
  epochs: number;
  batch: number;
  adapter: AdapterChoice;
  evalK: number;
  /** Test images scored (capped by the caller at the test set's size). */
  evalCount: number;
  /** Training examples for ours; undefined: all of them. */
  trainCount: number | undefined;
  ours: boolean;
  twin: boolean;
  data: string;
  /** The output folder, created. */
  out: string;
  seed: number;
  /** A folder holding OpenBLAS's libblas.so.3 for the twin, or ''. */
  openblas: string;
}

/** A positive integer flag, or an error naming it. */
export function positiveInt(flag: string, text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isInteger(v) || v < 1) {
    throw new Error(`--${flag} must be an integer >= 1, got '${text}'`);
  }
  return v;
}

function isAdapter(text: string): text is AdapterChoice {
  return (ADAPTER_CHOICES as readonly string[]).includes(text);
}

/** The flags of a training run (all but the NLL estimate's), checked; the output folder created. */
export type TrainingOptions = Omit<QualityOptions, 'evalK' | 'evalCount' | 'trainCount'>;

/** Checks the flags every bench here trains with and creates the output folder. */
export function trainingOptions(
  v: Omit<QualityValues, 'eval-k' | 'eval-count' | 'train-count'>,
): TrainingOptions {
  if (!isAdapter(v.adapter)) {
    throw new Error(`--adapter must be one of ${ADAPTER_CHOICES.join(', ')}, got '${v.adapter}'`);
  }
  const seed = Number(v.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`--seed must be an integer in 0..4294967295, got '${v.seed}'`);
  }
  mkdirSync(v.out, { recursive: true });
  return {
    epochs: positiveInt('epochs', v.epochs),
    batch: positiveInt('batch', v.batch),
    adapter: v.adapter,
    ours: !v['no-ours'],
    twin: !v['no-twin'],
    data: v.data,
    out: v.out,
    seed,
    openblas: v.openblas,
  };
}

/** Checks the shared flags (trainingOptions' and the NLL estimate's) and creates the output folder. */
export function qualityOptions(v: QualityValues): QualityOptions {
  return {
    ...trainingOptions(v),
    evalK: positiveInt('eval-k', v['eval-k']),
    evalCount: positiveInt('eval-count', v['eval-count']),
    trainCount: v['train-count'] ? positiveInt('train-count', v['train-count']) : undefined,
  };
}

/** What compareWithTwin takes from the shared flags: who runs, where, on what. */
export function sides(o: QualityOptions) {
  const { adapter, evalK, ours, twin, openblas, out } = o;
  return { adapter, evalK, ours, twin, openblas, out };
}
