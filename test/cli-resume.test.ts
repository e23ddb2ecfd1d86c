// The pieces of resuming a CLI run, without a GPU: the run record a checkpoint keeps and the
// checks a resumed run makes against it, the command line printed to resume, and the cleanup of
// temporary files left by a killed writer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleTempFiles, tempPathFor } from '../src/checkpoint/file.js';
import { trainCommand } from '../src/cli/args.js';
import { withoutFlags } from '../src/cli/flags.js';
import {
  positionOf,
  readRunRecord,
  resumeCommandLine,
  resumeStart,
  runMetadata,
  savedOptimizerSettings,
  shellWord,
  type RunShape,
} from '../src/cli/resume.js';

const shape: RunShape = {
  epochs: 5,
  stepsPerEpoch: 40,
  batch: 200,
  examples: 8000,
  seed: 3,
  binarize: 'dynamic',
};

describe('the run record of a checkpoint', () => {
  it('round-trips through the metadata and rejects a damaged one by name', () => {
    const metadata = runMetadata({ ...shape, step: 57 });
    expect(readRunRecord(metadata, 'ckpt')).toEqual({ ...shape, step: 57 });
    expect(readRunRecord({}, 'ckpt')).toBeUndefined();
    expect(() => readRunRecord({ training: '{' }, 'a.safetensors')).toThrow(
      /a\.safetensors: metadata 'training' is not valid JSON/,
    );
    expect(() => readRunRecord({ training: '[]' }, 'x')).toThrow(/is not a JSON object/);
    const bad = JSON.stringify({ ...shape, step: 57, batch: 1.5 });
    expect(() => readRunRecord({ training: bad }, 'x')).toThrow(
      /field 'batch' must be an integer >= 0, got 1\.5/,
    );
    const binarize = JSON.stringify({ ...shape, step: 1, binarize: 'some' });
    expect(() => readRunRecord({ training: binarize }, 'x')).toThrow(/field 'binarize'/);
  });

  it('starts a resumed run at the recorded step, or names what differs', () => {
    const saved = { ...shape, step: 57 };
    expect(resumeStart(saved, 57, shape, 'ck')).toEqual({ startStep: 57 });
    // More epochs than the run had: it goes on.
    expect(resumeStart(saved, 57, { ...shape, epochs: 9 }, 'ck')).toEqual({ startStep: 57 });
    expect(() => resumeStart(saved, 57, { ...shape, batch: 100, seed: 4 }, 'ck')).toThrow(
      /ck was written by a run with --batch 200 \(this run: 100\), --seed 3 \(this run: 4\); .*same --batch/,
    );
    expect(() => resumeStart(saved, 57, { ...shape, examples: 60000 }, 'ck')).toThrow(
      /training examples \(the data\) 8000 \(this run: 60000\)/,
    );
    expect(() => resumeStart(saved, 58, shape, 'ck')).toThrow(
      /its run record is at step 57, its optimizer state at step 58/,
    );
    expect(() => resumeStart({ ...saved, step: 200 }, 200, shape, 'ck')).toThrow(
      /ck is at step 200, and --epochs 5 ends at step 200 \(40 steps an epoch\): nothing is left/,
    );
    // No record (an older checkpoint, or one the library wrote): assumed to be this run's.
    const assumed = resumeStart(undefined, 57, shape, 'ck');
    expect(assumed.startStep).toBe(57);
    expect(assumed.note).toMatch(/ck has no record of the run that wrote it/);
    // Weights only: a new run from them.
    const fresh = resumeStart(undefined, undefined, shape, 'w');
    expect(fresh.startStep).toBe(0);
    expect(fresh.note).toMatch(/w has no optimizer state: training starts at step 0/);
  });

  it("reads the checkpoint's learning rate and schedule, and names a damaged one", () => {
    const schedule = { kind: 'step', stepSize: 3, gamma: 0.5 };
    expect(savedOptimizerSettings({ lr: 0.02, beta1: 0.9, schedule }, 'ck')).toEqual({
      lr: 0.02,
      schedule,
    });
    // Older checkpoints (no schedule), the twin's without one, none at all: the defaults.
    expect(savedOptimizerSettings({ lr: 0.02 }, 'ck')).toEqual({ lr: 0.02 });
    expect(savedOptimizerSettings(null, 'ck')).toEqual({});
    expect(savedOptimizerSettings(undefined, 'ck')).toEqual({});
    expect(() => savedOptimizerSettings({ lr: -1 }, 'a.safetensors')).toThrow(
      /a\.safetensors: optimizer 'hyper\.lr' must be a number > 0, got -1/,
    );
    expect(() => savedOptimizerSettings({ lr: 1, schedule: 'cosine' }, 'ck')).toThrow(
      /ck: optimizer 'hyper\.schedule' is not an object/,
    );
    expect(() => savedOptimizerSettings({ schedule: { kind: 'linear' } }, 'ck')).toThrow(
      /ck: optimizer 'hyper\.schedule': lr schedule: unknown kind "linear"/,
    );
  });

  it('names epochs and batches of steps', () => {
    expect(positionOf(1, 40)).toEqual({ epoch: 1, batch: 1 });
    expect(positionOf(40, 40)).toEqual({ epoch: 1, batch: 40 });
    expect(positionOf(41, 40)).toEqual({ epoch: 2, batch: 1 });
  });
});

describe('the command line that resumes', () => {
  const argv = [
    'train',
    '--hidden',
    '64',
    '--epochs',
    '3',
    '--latent=4',
    '--out',
    'my run',
    '--resume',
    'old.safetensors',
    '--quiet',
  ];

  it('drops the model flags and --resume with their values, however they were written', () => {
    expect(withoutFlags(trainCommand, argv.slice(1), ['hidden', 'latent', 'resume'])).toEqual([
      '--epochs',
      '3',
      '--out',
      'my run',
      '--quiet',
    ]);
  });

  it('starts the way this run was started', () => {
    const how = {
      env: {},
      script: '/repo/src/cli.ts',
      execArgv: ['--import', 'tsx'],
      cwd: '/repo',
    };
    expect(resumeCommandLine(argv, 'my run/model.safetensors', how)).toBe(
      "node --import tsx src/cli.ts train --epochs 3 --out 'my run' --quiet --resume 'my run/model.safetensors'",
    );
    const npm = {
      ...how,
      env: {
        npm_lifecycle_event: 'train',
        npm_lifecycle_script: 'node scripts/embed-wgsl.mjs && tsx src/cli.ts train',
      },
    };
    expect(resumeCommandLine(argv, 'o/m.safetensors', npm)).toBe(
      "npm run train -- --epochs 3 --out 'my run' --quiet --resume o/m.safetensors",
    );
    const installed = { ...how, script: '/app/node_modules/webgpu-vae/dist/cli.js', execArgv: [] };
    expect(resumeCommandLine(['train'], 'm.safetensors', installed)).toBe(
      'npx webgpu-vae train --resume m.safetensors',
    );
    // Another npm script is not this CLI's.
    const other = { ...how, env: { npm_lifecycle_event: 'test', npm_lifecycle_script: 'vitest' } };
    expect(resumeCommandLine(['train'], 'm', other)).toBe(
      'node --import tsx src/cli.ts train --resume m',
    );
  });

  it('quotes words as a POSIX shell reads them back', () => {
    for (const word of ['plain', "it's", 'a b', '', '$HOME', 'x;y', '--hidden=']) {
      const echoed = spawnSync('/bin/sh', ['-c', `printf %s ${shellWord(word)}`], {
        encoding: 'utf8',
      });
      expect(echoed.stdout).toBe(word);
    }
  });
});

describe('temporary files of killed writers', () => {
  it('removes those whose writer is gone, and keeps a live writer’s and other files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-stale-'));
    const path = join(dir, 'model.safetensors');
    // A pid that ran and ended.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const live = tempPathFor(path); // this process
    const stale = live.replace(`-${process.pid}-`, `-${dead}-`);
    for (const f of [path, live, stale, join(dir, '.other.safetensors.tmp-1-ab'), join(dir, 'x')]) {
      writeFileSync(f, '');
    }
    expect(await removeStaleTempFiles(path)).toEqual([stale]);
    expect(readdirSync(dir).sort()).toEqual(
      ['.other.safetensors.tmp-1-ab', live.slice(dir.length + 1), 'model.safetensors', 'x'].sort(),
    );
    expect(await removeStaleTempFiles(join(dir, 'missing', 'model.safetensors'))).toEqual([]);
  });
});
