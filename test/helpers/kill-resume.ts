// Kill -9 and resume: a small CLI training run that writes its checkpoint every few steps is killed
// (SIGKILL to the process the user started) at random moments; after each kill the last checkpoint
// must load, and the next run resumes from it; a last run resumes to the end. Used by
// test/cli-interrupt.test.ts (a few kills) and scripts/kill-resume.ts (twenty).
import { join } from 'node:path';
import type { Checkpoint } from '../../src/checkpoint/checkpoint.js';
import { readCheckpointFile } from '../../src/checkpoint/file.js';
import {
  childPids,
  mtimeOf,
  running,
  startCli,
  tempFiles,
  waitFor,
  writeSmallIdx,
  type CliExitInfo,
} from './cli-run.js';
import { makeRng } from './reference.js';

/** Steps an epoch of the small run. */
export const SMALL_RUN_STEPS_PER_EPOCH = 20;

/**
 * The small run of these checks: writes its data into `root`/data (600 train and 90 test images
 * of 28×28, in batches of 30) and returns its train arguments (dynamic binarization, a checkpoint
 * every 2 steps) and, apart, its model flags (a resumed run must leave them out).
 */
export function smallRun(
  root: string,
  epochs: number,
  adapter: string,
): { trainArgs: string[]; modelArgs: string[] } {
  const data = join(root, 'data');
  writeSmallIdx(data, { train: 600, test: 90, side: 28, seed: 1 });
  const trainArgs = ['--data', data, '--epochs', String(epochs), '--batch', '30', '--lr', '3e-3'];
  trainArgs.push('--binarize', 'dynamic', '--seed', '5', '--save-every', '2');
  trainArgs.push('--adapter', adapter, '--quiet');
  return { trainArgs, modelArgs: ['--hidden', '24', '--latent', '3'] };
}

/** The largest difference of two checkpoints' tensors (weights and moments), relative to 1 + |a|. */
export function checkpointDifference(a: Checkpoint, b: Checkpoint): number {
  const groups = (c: Checkpoint) => [c.params, ...Object.values(c.optimizer?.moments ?? {})];
  const [ga, gb] = [groups(a), groups(b)];
  if (ga.length !== gb.length) return Infinity;
  let worst = 0;
  ga.forEach((tensors, g) => {
    for (const [name, t] of tensors) {
      const u = gb[g]!.get(name)?.data;
      if (!u || u.length !== t.data.length) {
        worst = Infinity;
        continue;
      }
      t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - u[i]!) / (1 + Math.abs(v)))));
    }
  });
  return worst;
}

export interface KillResumeOptions {
  /** train arguments besides --out and --resume (data, --save-every, --epochs ...). */
  trainArgs: readonly string[];
  /** The model flags, given to the first run only (a resumed run takes the checkpoint's model). */
  modelArgs: readonly string[];
  /** The run's folder (--out). */
  out: string;
  kills: number;
  /** Longest wait (ms) after a checkpoint write is seen before the kill. */
  maxDelayMs: number;
  seed: number;
  log?: (line: string) => void;
}

export interface KillRecord {
  /** The step the killed run resumed from (undefined: it started fresh). */
  resumedFrom: number | undefined;
  /** Milliseconds between the first checkpoint write seen and the kill. */
  delayMs: number;
  /** The checkpoint's step after the kill. */
  step: number;
  /** Temporary files the kill left behind (the next run removes them). */
  tempFiles: number;
}

export interface KillResumeReport {
  kills: KillRecord[];
  /** The final run's starting step. */
  finalResumedFrom: number | undefined;
  /** The final checkpoint's step. */
  finalStep: number;
  /** Temporary files left after the final run. */
  tempFilesLeft: string[];
  final: CliExitInfo;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function resumedFrom(stdout: string): number | undefined {
  const m = /resumed from .* \(step (\d+)\)/.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

export async function killAndResume(o: KillResumeOptions): Promise<KillResumeReport> {
  const rng = makeRng(o.seed);
  const ckpt = join(o.out, 'model.safetensors');
  const args = () => [
    'train',
    ...o.trainArgs,
    '--out',
    o.out,
    ...(mtimeOf(ckpt) >= 0 ? ['--resume', ckpt] : o.modelArgs),
  ];
  const kills: KillRecord[] = [];
  for (let round = 1; round <= o.kills; round++) {
    const before = mtimeOf(ckpt);
    const cli = startCli(args());
    await waitFor(`a checkpoint write (kill ${round})`, () => mtimeOf(ckpt) !== before || cli.done);
    const delayMs = Math.round(rng() * o.maxDelayMs);
    await sleep(delayMs);
    const children = childPids(cli.pid);
    if (cli.done) {
      const info = await cli.exited;
      throw new Error(
        `kill ${round}: the run ended before the kill (status ${info.code}); give it more epochs\n${info.stderr}`,
      );
    }
    process.kill(cli.pid, 'SIGKILL');
    await cli.exited;
    // The command runs in a child of the killed process, which follows its parent.
    await waitFor('the killed run to end', () => !children.some(running), 30_000);
    // The last checkpoint always loads (readCheckpointFile validates every byte range).
    const saved = await readCheckpointFile(ckpt);
    const record: KillRecord = {
      resumedFrom: resumedFrom(cli.stdout),
      delayMs,
      step: saved.optimizer?.step ?? -1,
      tempFiles: tempFiles(o.out).length,
    };
    kills.push(record);
    o.log?.(
      `kill ${round}: after ${delayMs} ms; resumed from ${record.resumedFrom ?? '-'}, ` +
        `checkpoint at step ${record.step}, ${record.tempFiles} temporary files left`,
    );
  }
  const final = await startCli(args()).exited;
  const saved = await readCheckpointFile(ckpt);
  const report: KillResumeReport = {
    kills,
    finalResumedFrom: resumedFrom(final.stdout),
    finalStep: saved.optimizer?.step ?? -1,
    tempFilesLeft: tempFiles(o.out),
    final,
  };
  o.log?.(
    `final run: status ${final.code}, resumed from ${report.finalResumedFrom ?? '-'}, ` +
      `ended at step ${report.finalStep}, ${report.tempFilesLeft.length} temporary files left`,
  );
  return report;
}
