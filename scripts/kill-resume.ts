// The kill -9 check of issue 16 at full size: a small CLI training run (a checkpoint every 2 steps)
// is killed with SIGKILL at 20 random moments, each time resumed from its last checkpoint, then run
// to the end; every checkpoint left by a kill must load, each run must resume from it, no temporary
// file may remain, and the final weights must equal those of the same run left uninterrupted.
// test/cli-interrupt.test.ts runs the same with two kills.
//
//   npx tsx scripts/kill-resume.ts [--kills 20] [--adapter llvmpipe] [--seed N] [--max-delay-ms 1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { startCli } from '../test/helpers/cli-run.js';
import {
  SMALL_RUN_STEPS_PER_EPOCH,
  checkpointDifference,
  killAndResume,
  smallRun,
} from '../test/helpers/kill-resume.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    adapter: { type: 'string', default: 'llvmpipe' },
    seed: { type: 'string' },
    'max-delay-ms': { type: 'string', default: '1000' },
  },
});
const kills = Number(values.kills);
const seed = values.seed !== undefined ? Number(values.seed) : (Math.random() * 2 ** 32) >>> 0;
const root = mkdtempSync(join(tmpdir(), 'webgpu-vae-kill-resume-'));
// Enough epochs that no killed run reaches the end.
const epochs = 20 + 3 * kills;
const total = epochs * SMALL_RUN_STEPS_PER_EPOCH;
const { trainArgs, modelArgs } = smallRun(root, epochs, values.adapter);
const started = Date.now();
console.log(
  `kill-resume: ${kills} kills, seed ${seed}, ${epochs} epochs of ${SMALL_RUN_STEPS_PER_EPOCH} steps, ${values.adapter}, ${new Date().toISOString()}`,
);

const reference = join(root, 'reference');
const whole = await startCli(['train', ...trainArgs, ...modelArgs, '--out', reference]).exited;
if (whole.code !== 0) throw new Error(`the uninterrupted run failed:\n${whole.stderr}`);

const out = join(root, 'killed');
const report = await killAndResume({
  trainArgs,
  modelArgs,
  out,
  kills,
  maxDelayMs: Number(values['max-delay-ms']),
  seed,
  log: (line) => console.log(line),
});

const problems: string[] = [];
let from = 0;
report.kills.forEach((k, i) => {
  if ((k.resumedFrom ?? 0) !== from) {
    problems.push(`kill ${i + 1}: resumed from ${k.resumedFrom}, the last checkpoint was ${from}`);
  }
  if (k.step < from) problems.push(`kill ${i + 1}: the checkpoint went back to step ${k.step}`);
  from = k.step;
});
if (report.final.code !== 0) problems.push(`final run: status ${report.final.code}`);
if (report.finalResumedFrom !== from) {
  problems.push(`final run resumed from ${report.finalResumedFrom}, not ${from}`);
}
if (report.finalStep !== total) {
  problems.push(`final step ${report.finalStep}, expected ${total}`);
}
if (report.tempFilesLeft.length > 0) {
  problems.push(`temporary files left: ${report.tempFilesLeft.join(', ')}`);
}
const a = await readCheckpointFile(join(reference, 'model.safetensors'));
const b = await readCheckpointFile(join(out, 'model.safetensors'));
const worst = checkpointDifference(a, b);
if (!(worst < 1e-5))
  problems.push(`final weights and moments differ from the uninterrupted run's by ${worst}`);

const midWrite = report.kills.filter((k) => k.tempFiles > 0).length;
console.log(
  `result: ${problems.length === 0 ? 'PASS' : 'FAIL'}: ${report.kills.length} kills ` +
    `(${midWrite} left a temporary file, removed by the next run); every checkpoint loaded; ` +
    `final step ${report.finalStep}/${epochs * 20}; temporary files left ${report.tempFilesLeft.length}; ` +
    `final weights and moments vs the uninterrupted run: worst relative difference ${worst.toExponential(2)}; ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s`,
);
for (const p of problems) console.log(`  problem: ${p}`);
rmSync(root, { recursive: true, force: true });
process.exit(problems.length === 0 ? 0 : 1);
