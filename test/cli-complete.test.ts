// `train --condition quadrants`, `eval` and `complete` end to end on a small IDX set of 28×28 blobs:
// the completion model with a prior network in the checkpoint, eval labelling its estimate as the
// conditional log-likelihood of the missing pixels, and complete writing rows of
// original | observed | completions.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { startCli, writeSmallIdx } from './helpers/cli-run.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';
import { freshSeed } from './helpers/reference.js';

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const r = await startCli(args).exited;
  if (r.code !== 0) throw new Error(`webgpu-vae ${args[0]} exited ${r.code}: ${r.stderr}`);
  return r;
}

const lastJson = (stdout: string) =>
  JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

describe('train --condition quadrants, eval and complete', () => {
  const adapter = TEST_ADAPTERS[0]!;
  const out = mkdtempSync(join(tmpdir(), 'webgpu-vae-complete-'));
  const data = join(out, 'data');
  const ckpt = join(out, 'model.safetensors');
  const common = ['--data', data, '--adapter', adapter, '--json'];

  it('trains a completion model, evaluates log p(x_miss|x_obs), writes completions', async () => {
    writeSmallIdx(data, { train: 64, test: 16, side: 28, seed: freshSeed() });
    const trained = await cli([
      ...['train', '--condition', 'quadrants', '--observed', '2', '--prior', 'conditional'],
      ...['--prior-hidden', '16', '--hidden', '32', '--latent', '4', '--epochs', '1'],
      ...['--batch', '32', '--out', out, '--quiet', ...common],
    ]);
    expect(trained.stderr).toMatch(
      /completing images from the left half \(2 of 4 quadrants; the decoder reads z and the observed pixels\), prior network 16 on the observed pixels/,
    );
    // No samples from a completion model: completions of test images instead.
    expect(lastJson(trained.stdout).files).toEqual([
      ckpt,
      join(out, 'completions.png'),
      join(out, 'reconstructions.png'),
    ]);
    const { config, params } = await readCheckpointFile(ckpt);
    expect(config).toMatchObject({
      condition: { kind: 'quadrants', observed: 2 },
      prior: { kind: 'conditional', hidden: [16], activation: 'relu' },
    });
    expect([...params.keys()].at(-1)).toBe('prior.logvar.bias');

    const evaluated = await cli(['eval', '--checkpoint', ckpt, '--k', '4', ...common]);
    const summary = lastJson(evaluated.stdout);
    expect(summary).toMatchObject({ command: 'eval', quantity: 'log p(x_miss|x_obs)', k: 4 });
    expect(evaluated.stderr).toMatch(
      /log p\(x_miss\|x_obs\) ≈ -[\d.]+ nats: conditional NLL of the missing pixels [\d.]+ \(importance-sampled, k = 4;/,
    );

    const png = join(out, 'pics', 'done.png');
    const count = 2 + (freshSeed() % 3);
    const completed = await cli([
      ...['complete', '--checkpoint', ckpt, '--count', String(count), '--draws', '2'],
      ...['--out', png, ...common],
    ]);
    const done = lastJson(completed.stdout);
    expect(done).toMatchObject({ command: 'complete', files: [png], count, draws: 2, observed: 2 });
    expect(done.bce).toHaveLength(2);
    // Four 28×28 tiles per row (original, observed, two completions), 2 pixels of padding.
    const bytes = readFileSync(png);
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([4 * 30 + 2, count * 30 + 2]);
  }, 180_000);
});
