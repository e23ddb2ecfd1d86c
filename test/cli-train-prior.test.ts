// `train-prior` and `sample` on a vq checkpoint, in-process (the commands as the CLI runs them,
// without a child process): a tiny untrained vq model's checkpoint gets a trained MADE prior (its
// config section, prior.* tensors and run record; the VAE's weights and optimizer state carried
// over unchanged), then `sample` draws from it into a PNG grid; and the mistakes, named.
import { mkdtempSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseCliArgs } from '../src/cli/args.js';
import { runCommand } from '../src/cli/commands.js';
import { priorConfig } from '../src/cli/train-prior.js';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { VaeModel } from '../src/vae/model.js';
import { writeSmallIdx } from './helpers/cli-run.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';

function pngSize(path: string): { width: number; height: number } {
  const bytes = readFileSync(path);
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

async function run(argv: string[]): Promise<void> {
  const args = parseCliArgs(argv);
  if (args.command === 'help') throw new Error(`not a command: ${argv.join(' ')}`);
  // The commands print their progress; the test reads the files.
  const quiet = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await runCommand(args, { argv });
  } finally {
    quiet.mockRestore();
  }
}

describe('train-prior and sample', () => {
  const adapter = TEST_ADAPTERS[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-prior-'));
  const ckpt = join(dir, 'vq.safetensors');
  // A small dataset on disk: loads and encodes in no time (the embedded digits take seconds).
  const data = join(dir, 'data');
  writeSmallIdx(data, { train: 500, test: 100, side: 28, seed: 4 });
  const vqConfig = {
    version: 2,
    inputSize: 784,
    latentSize: 8,
    encoder: { hidden: [16] },
    decoder: { hidden: [16] },
    posterior: { kind: 'vq', codes: 8, dim: 2 },
  } as const;

  it('trains a prior into the checkpoint, keeping the VAE as it was', async () => {
    const rt = await runtimeFor(adapter);
    const model = VaeModel.create(rt, vqConfig, { seed: 1 });
    const before = await model.readWeights();
    const zero = new Map(
      [...before].map(([k, v]) => [
        k,
        { shape: model.layout.get(k)!.shape, data: v.map(() => 0.5) },
      ]),
    );
    await writeFile(
      ckpt,
      await model.toCheckpoint(
        { type: 'adam', step: 7, moments: { m: zero, v: zero } },
        { run: 'kept' },
      ),
    );
    model.destroy();
    await run([
      'train-prior',
      '--checkpoint',
      ckpt,
      '--epochs',
      '1',
      '--hidden',
      '16',
      '--limit',
      '400',
      '--batch',
      '100',
      '--data',
      data,
      '--adapter',
      adapter,
      '--quiet',
    ]);
    const written = await readCheckpointFile(ckpt);
    expect(written.config).toMatchObject({
      posterior: { kind: 'vq' },
      prior: { kind: 'made', hidden: [16], activation: 'relu' },
    });
    expect(written.params.get('prior.out.weight')!.shape).toEqual([32, 16]);
    for (const [name, w] of before) {
      expect([...written.params.get(name)!.data], name).toEqual([...w]);
    }
    expect(written.optimizer!.step).toBe(7);
    expect(written.optimizer!.moments.m!.get('prior.out.bias')!.data.every((v) => v === 0)).toBe(
      true,
    );
    expect(written.optimizer!.moments.v!.get('decoder.out.bias')!.data[0]).toBe(0.5);
    expect(written.metadata.run).toBe('kept');
    const stage = JSON.parse(written.metadata.prior_stage!) as Record<string, number>;
    expect(stage).toMatchObject({ epochs: 1, steps: 4, examples: 400, batch: 100 });
    // Uniform over 8 codes is 3 bits; anything learned is below it.
    expect(stage.testBits).toBeLessThan(3);
    expect(pngSize(join(dir, 'vq.prior-samples.png')).width).toBeGreaterThanOrEqual(8 * 28);
  }, 60_000);

  it('sample draws codes from the prior and writes the grid', async () => {
    await run([
      'sample',
      '--checkpoint',
      ckpt,
      '--count',
      '6',
      '--temperature',
      '0.5',
      '--adapter',
      adapter,
      '--out',
      dir,
    ]);
    const { width, height } = pngSize(join(dir, 'samples.png'));
    // 6 samples: 3 columns, 2 rows of 28-pixel tiles (and the grid's gaps).
    expect(width).toBeGreaterThanOrEqual(3 * 28);
    expect(height).toBeGreaterThanOrEqual(2 * 28);
    expect(height).toBeLessThan(width);
  }, 60_000);

  it('names the mistakes', async () => {
    expect(() => parseCliArgs(['train-prior', '--checkpoint', ckpt, '--hidden', '8,0'])).toThrow(
      /--hidden must be 1 to 4 comma-separated integers/,
    );
    expect(() => parseCliArgs(['train-prior'])).toThrow(/--checkpoint/);
    const written = await readCheckpointFile(ckpt);
    expect(() =>
      priorConfig(
        { ...written, config: { ...vqConfig, posterior: { kind: 'diagonal' }, prior: undefined } },
        { checkpoint: 'x.safetensors', hidden: undefined, activation: undefined },
      ),
    ).toThrow(
      /x\.safetensors: train-prior trains a prior over the codes of a vq model.*'diagonal'/,
    );
    // A checkpoint with a prior keeps it unless asked for a new one.
    expect(
      priorConfig(written, { checkpoint: ckpt, hidden: undefined, activation: undefined }).fresh,
    ).toBe(false);
    expect(
      priorConfig(written, { checkpoint: ckpt, hidden: [8], activation: undefined }).fresh,
    ).toBe(true);
  });
});
