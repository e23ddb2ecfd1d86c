// `train --mask` and `inpaint` end to end: a small model trained with quadrant masks on the
// embedded digits (the mask as an input channel), then inpaint writing its PNG of rows
// original | masked | filled, the missing-pixel errors in its JSON summary, and named mistakes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';
import { freshSeed } from './helpers/reference.js';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, FORCE_COLOR: '0', WEBGPU_VAE_VERBOSE: '' },
    maxBuffer: 16 << 20,
  });

function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('train --mask and inpaint', () => {
  const adapter = TEST_ADAPTERS[0]!;
  const out = mkdtempSync(join(tmpdir(), 'webgpu-vae-inpaint-'));
  const ckpt = join(out, 'model.safetensors');

  it('trains with quadrant masks fed as input and stores the masking section', async () => {
    await cli([
      'train',
      '--epochs',
      '1',
      '--hidden',
      '64',
      '--latent',
      '4',
      '--batch',
      '200',
      '--mask',
      'quadrant',
      '--mask-channels',
      '--adapter',
      adapter,
      '--out',
      out,
      '--quiet',
    ]);
    const { config } = await readCheckpointFile(ckpt);
    expect(config).toMatchObject({
      masking: { kind: 'quadrant', fill: 0, channels: true, loss: 'all' },
    });
  }, 120_000);

  it('writes rows of original | masked | filled and reports the missing-pixel error', async () => {
    const count = 3 + (freshSeed() % 4);
    const { stdout, stderr } = await cli([
      'inpaint',
      '--checkpoint',
      ckpt,
      '--mask',
      'block',
      '--count',
      String(count),
      '--iterations',
      '4',
      '--adapter',
      adapter,
      '--out',
      out,
      '--json',
    ]);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      command: string;
      files: string[];
      count: number;
      bceBefore: number;
      bcePerPass: number[];
    };
    expect(summary).toMatchObject({ command: 'inpaint', count, files: [join(out, 'inpaint.png')] });
    expect(summary.bcePerPass).toHaveLength(4);
    // A block filled with 0 costs far more than any completion by the model.
    for (const bce of summary.bcePerPass) expect(bce).toBeLessThan(summary.bceBefore);
    expect(stderr).toMatch(/missing-pixel BCE \(nats per pixel\): [\d.]+ filled with 0, /);
    // Three 28×28 tiles per row, 2 pixels of padding.
    expect(pngSize(join(out, 'inpaint.png'))).toEqual({
      width: 3 * 30 + 2,
      height: count * 30 + 2,
    });
  }, 120_000);

  it('names a checkpoint that does not exist', async () => {
    await expect(
      cli(['inpaint', '--checkpoint', join(out, 'missing.safetensors'), '--adapter', adapter]),
    ).rejects.toThrow(/missing\.safetensors/);
  });
});
