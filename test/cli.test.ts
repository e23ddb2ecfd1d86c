// The command line end to end: train on the embedded digits, then eval and sample from the
// checkpoint it wrote, resume from it, and fail with a named problem on bad input.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TEST_ADAPTERS } from './helpers/gpu.js';

const run = promisify(execFile);
const cli = (args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, FORCE_COLOR: '0' },
    maxBuffer: 16 << 20,
  });

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path);
  expect([...bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

describe('webgpu-vae CLI', () => {
  const adapter = TEST_ADAPTERS[0]!;
  const out = mkdtempSync(join(tmpdir(), 'webgpu-vae-cli-'));

  it('trains on the embedded digits and writes a checkpoint, samples and reconstructions', async () => {
    const { stdout } = await cli([
      'train',
      '--epochs',
      '2',
      '--hidden',
      '64',
      '--latent',
      '4',
      '--batch',
      '200',
      '--lr',
      '3e-3',
      '--adapter',
      adapter,
      '--out',
      out,
      '--quiet',
    ]);
    const losses = [...stdout.matchAll(/test loss ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(losses, stdout).toHaveLength(2);
    expect(losses[1]!, stdout).toBeLessThan(losses[0]!);
    expect(losses[1]!, stdout).toBeLessThan(260);
    expect(statSync(join(out, 'model.safetensors')).size).toBeGreaterThan(4 * 50_000);
    expect(pngSize(join(out, 'samples.png'))).toEqual({ width: 8 * 30 + 2, height: 8 * 30 + 2 });
    expect(pngSize(join(out, 'reconstructions.png')).width).toBe(16 * 30 + 2);
  });

  it('evaluates, samples from and resumes the checkpoint', async () => {
    const ckpt = join(out, 'model.safetensors');
    const ev = await cli([
      'eval',
      '--checkpoint',
      ckpt,
      '--k',
      '20',
      '--limit',
      '300',
      '--adapter',
      adapter,
    ]);
    const elbo = Number(/ELBO (-[\d.]+) nats/.exec(ev.stdout)?.[1]);
    const logPx = Number(/log p\(x\) ≈ (-[\d.]+) nats/.exec(ev.stdout)?.[1]);
    expect(elbo, ev.stdout).toBeLessThan(0);
    expect(logPx, ev.stdout).toBeGreaterThan(elbo);
    const sampleDir = join(out, 'more');
    await cli([
      'sample',
      '--checkpoint',
      ckpt,
      '--count',
      '10',
      '--out',
      sampleDir,
      '--adapter',
      adapter,
    ]);
    expect(pngSize(join(sampleDir, 'samples.png'))).toEqual({
      width: 4 * 30 + 2,
      height: 3 * 30 + 2,
    });
    const resumed = await cli([
      'train',
      '--resume',
      ckpt,
      '--epochs',
      '1',
      '--batch',
      '200',
      '--adapter',
      adapter,
      '--out',
      join(out, 'resumed'),
      '--quiet',
    ]);
    expect(resumed.stdout).toMatch(/resumed from .* \(step 80\)/);
  });

  it('exits with a named problem on bad input', async () => {
    await expect(cli(['train', '--epoch', '2'])).rejects.toMatchObject({
      stderr: expect.stringMatching(/--epoch.*--epochs/),
    });
    await expect(
      cli(['eval', '--checkpoint', join(out, 'missing.safetensors')]),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/missing\.safetensors/),
    });
    await expect(
      cli(['train', '--data', join(out, 'nodata'), '--epochs', '1']),
    ).rejects.toMatchObject({
      stderr: expect.stringMatching(/nodata/),
    });
  });
});
