// Stopping the CLI halfway: Ctrl-C (SIGINT) writes a checkpoint and prints the command that
// resumes; kill -9 at random moments leaves a checkpoint that loads and no temporary files once
// resumed; a device lost mid-training names what was running and the run resumes from its last
// periodic checkpoint. Every resumed run must end with the weights of the uninterrupted run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Checkpoint } from '../src/checkpoint/checkpoint.js';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { parseCliArgs } from '../src/cli/args.js';
import { runCommand } from '../src/cli/commands.js';
import { createRuntime } from '../src/gpu/runtime.js';
import { mtimeOf, startCli, tempFiles, waitFor } from './helpers/cli-run.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';
import {
  SMALL_RUN_STEPS_PER_EPOCH,
  checkpointDifference,
  killAndResume,
  smallRun,
} from './helpers/kill-resume.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const adapter = TEST_ADAPTERS[0]!;
const root = mkdtempSync(join(tmpdir(), 'webgpu-vae-interrupt-'));
// Enough steps that a kill a few hundred ms after a checkpoint write lands before the run ends, even
// when the machine is idle and steps are fast.
const EPOCHS = 12;
const { trainArgs, modelArgs } = smallRun(root, EPOCHS, adapter);
const TOTAL = EPOCHS * SMALL_RUN_STEPS_PER_EPOCH;

interface EpochRecord {
  type: string;
  epoch: number;
  train: { loss: number };
  test: { loss: number };
}

/** The epoch records of --json output. */
const epochRecords = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as EpochRecord)
    .filter((r) => r.type === 'epoch');

describe('interrupting the CLI', () => {
  let reference: Checkpoint;
  let referenceEpochs: EpochRecord[];
  const seed = freshSeed();
  const rng = makeRng(seed);

  beforeAll(async () => {
    // The uninterrupted run every interrupted one must end like.
    const out = join(root, 'reference');
    const args = ['train', ...trainArgs, ...modelArgs, '--out', out, '--json'];
    const run = await startCli(args).exited;
    expect(run.code, run.stderr).toBe(0);
    referenceEpochs = epochRecords(run.stdout);
    expect(referenceEpochs.map((r) => r.epoch)).toEqual(
      [...Array(EPOCHS).keys()].map((e) => e + 1),
    );
    reference = await readCheckpointFile(join(out, 'model.safetensors'));
    expect(reference.optimizer!.step).toBe(TOTAL);
  });

  it('Ctrl-C checkpoints the step it stopped after and prints the command that resumes', async () => {
    const out = join(root, 'sigint');
    const ckpt = join(out, 'model.safetensors');
    const cli = startCli(['train', ...trainArgs, ...modelArgs, '--out', out, '--json']);
    await waitFor('the first checkpoint', () => mtimeOf(ckpt) >= 0 || cli.done);
    await new Promise((r) => setTimeout(r, rng() * 300));
    process.kill(cli.pid, 'SIGINT');
    const stopped = await cli.exited;
    expect(stopped.code, `seed ${seed}\n${stopped.stderr}`).toBe(130);
    const m =
      /interrupted by SIGINT after step (\d+) \(epoch (\d+), batch (\d+) of 20\): wrote (\S+) in [\d.]+ s\nto resume: (.*)\n/.exec(
        stopped.stderr,
      );
    expect(m, stopped.stderr).not.toBeNull();
    const [, step, epoch, batch, written, command] = m!;
    expect(written).toBe(ckpt);
    expect(Number(step)).toBe((Number(epoch) - 1) * SMALL_RUN_STEPS_PER_EPOCH + Number(batch));
    expect(Number(step)).toBeLessThan(TOTAL);
    expect((await readCheckpointFile(ckpt)).optimizer!.step).toBe(Number(step));
    // --json: the last line says the same for scripts.
    const last = JSON.parse(stopped.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'interrupted', signal: 'SIGINT', step: Number(step) });
    expect(last.resume).toBe(command);
    // The same arguments without the model's (the checkpoint has it), plus --resume.
    const words = command!.split(' ');
    expect(words.slice(0, 4)).toEqual(['node', '--import', 'tsx', 'src/cli.ts']);
    expect(words.slice(4)).toEqual([
      'train',
      ...trainArgs,
      '--out',
      out,
      '--json',
      '--resume',
      ckpt,
    ]);
    const resumed = await startCli(words.slice(4)).exited;
    expect(resumed.code, resumed.stderr).toBe(0);
    const next = Number(step) + 1;
    const first = Math.ceil(next / 20);
    const at = `epoch ${first}, batch ${((next - 1) % 20) + 1} of 20`;
    expect(resumed.stderr).toContain(`(step ${step}); continuing at ${at}`);
    // The loss curve: each epoch's test loss (the same noise every evaluation) and the train loss
    // of every whole epoch are the uninterrupted run's.
    const epochs = epochRecords(resumed.stdout);
    expect(epochs.map((r) => r.epoch)).toEqual(
      referenceEpochs.slice(first - 1).map((r) => r.epoch),
    );
    for (const r of epochs) {
      const want = referenceEpochs[r.epoch - 1]!;
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * (1 + Math.abs(b));
      expect(close(r.test.loss, want.test.loss), `seed ${seed}, epoch ${r.epoch}`).toBe(true);
      if (r.epoch > first) {
        expect(close(r.train.loss, want.train.loss), `seed ${seed}, epoch ${r.epoch}`).toBe(true);
      }
    }
    const final = await readCheckpointFile(ckpt);
    expect(final.optimizer!.step).toBe(TOTAL);
    // Same batches, same noise, same order: the uninterrupted run's weights and moments.
    expect(checkpointDifference(final, reference), `seed ${seed}`).toBeLessThan(1e-5);
  });

  it('survives kill -9 at random moments: the checkpoint loads, --resume goes on, no temporary files', async () => {
    const out = join(root, 'killed');
    const report = await killAndResume({
      trainArgs,
      modelArgs,
      out,
      kills: 2,
      maxDelayMs: 200,
      seed,
    });
    let from = 0;
    for (const k of report.kills) {
      expect(k.resumedFrom ?? 0, `seed ${seed}`).toBe(from);
      expect(k.step).toBeGreaterThanOrEqual(from);
      from = k.step;
    }
    if (from === TOTAL) {
      // On a loaded machine the last kill can land after the last step's checkpoint, while the
      // run writes its samples: then the final resume has nothing to train and must say so.
      expect(report.final.code).toBe(1);
      expect(report.final.stderr).toMatch(
        /at step \d+, and --epochs \d+ ends at step \d+.*nothing is left to train/,
      );
    } else {
      expect(report.final.code, report.final.stderr).toBe(0);
      expect(report.finalResumedFrom).toBe(from);
    }
    expect(report.finalStep).toBe(TOTAL);
    expect(report.tempFilesLeft).toEqual([]);
    expect(
      checkpointDifference(await readCheckpointFile(join(out, 'model.safetensors')), reference),
      `seed ${seed}`,
    ).toBeLessThan(1e-5);
  });

  it('names what was running when the device is lost, and resumes from the last checkpoint', async () => {
    const out = join(root, 'lost');
    const ckpt = join(out, 'model.safetensors');
    const argv = ['train', ...trainArgs, ...modelArgs, '--out', out];
    const args = parseCliArgs(argv);
    if (args.command !== 'train') throw new Error('parsed as another command');
    const rt = await createRuntime({ adapter, onError: () => {} });
    // In this process: its human lines would clutter the test output.
    const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const running = runCommand(args, { argv, runtime: rt });
    const failed = running.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // Lost once a few periodic checkpoints are on disk.
    await waitFor('a checkpoint', () => mtimeOf(ckpt) >= 0);
    await new Promise((r) => setTimeout(r, rng() * 200));
    rt.device.destroy();
    const error = await failed;
    quiet.mockRestore();
    rt.destroy();
    expect(error, 'training went on after the device was lost').toBeInstanceOf(Error);
    const message = error!.message;
    expect(message).toMatch(/step \d+/);
    expect(message).toMatch(/the WebGPU device was lost \(destroyed/);
    expect(message).toMatch(/the last work submitted: \S+/);
    // In a test the command line starts with the test runner's script: take the arguments.
    const hint = /the last checkpoint, at step (\d+), is (\S+); to resume: .* (train --.*)$/m.exec(
      message,
    );
    expect(hint, message).not.toBeNull();
    const [, step, path, command] = hint!;
    expect(path).toBe(ckpt);
    expect((await readCheckpointFile(ckpt)).optimizer!.step).toBe(Number(step));
    const resumed = await startCli(command!.split(' ')).exited;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(new RegExp(`resumed from .* \\(step ${step}\\)`));
    expect(tempFiles(out)).toEqual([]);
    const final = await readCheckpointFile(ckpt);
    expect(checkpointDifference(final, reference), `seed ${seed}`).toBeLessThan(1e-5);
  });
});
