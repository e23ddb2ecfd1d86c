// The vq posterior from the CLI: train --posterior vq and its flags (defaults, named mistakes),
// then end to end on a small IDX set: train writes a checkpoint with the vq section and
// reconstructions (no samples: there is no prior over the codes yet), eval reports the
// reconstruction errors, codebook and commitment losses, perplexity and codes in use, sample
// says a prior must be trained, and reconstruct draws pairs of test images and reconstructions.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { parseCliArgs } from '../src/cli/args.js';
import { runCommand } from '../src/cli/commands.js';
import { modelConfig } from '../src/cli/model.js';
import { convVqPreset, resolveVaeConfig } from '../src/vae/config.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';
import { idxBytes } from './helpers/idx.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const run = promisify(execFile);

function train(...args: string[]) {
  const r = parseCliArgs(['train', ...args]);
  if (r.command !== 'train') throw new Error(`expected train, got ${r.command}`);
  return r.options;
}

describe('train --posterior vq: flags', () => {
  it('defaults and every flag', () => {
    expect(train('--posterior', 'vq').posterior).toEqual({
      kind: 'vq',
      codes: 64,
      dim: 4,
      update: 'ema',
      beta: 0.25,
      restart: undefined,
    });
    expect(train('--posterior', 'vq', '--vq-restart', '0.01').posterior).toMatchObject({
      restart: 0.01,
    });
    const o = train(
      '--posterior',
      'vq',
      '--latent',
      '6',
      '--codes',
      '9',
      '--code-dim',
      '3',
      '--vq-update',
      'loss',
      '--commitment',
      '0.5',
    );
    expect(o.posterior).toEqual({
      kind: 'vq',
      codes: 9,
      dim: 3,
      update: 'loss',
      beta: 0.5,
      restart: undefined,
    });
    // A latent narrower than the default code size: one vector of all of it.
    expect(train('--posterior', 'vq', '--latent', '3').posterior).toMatchObject({ dim: 3 });
  });

  it('--preset conv: the conv VQ-VAE (a 7×7 grid of codes), restarts by default with EMA', async () => {
    const o = train('--preset', 'conv', '--posterior', 'vq', '--codes', '32');
    expect(o.posterior).toEqual({
      kind: 'vq',
      codes: 32,
      dim: 16,
      update: 'ema',
      beta: 0.25,
      restart: 0.9,
      grid: true,
    });
    const config = resolveVaeConfig(await modelConfig(o, 784));
    expect(config).toEqual(resolveVaeConfig(convVqPreset(32, 16)));
    const loss = train(
      ...['--preset', 'conv', '--posterior', 'vq', '--code-dim', '5', '--vq-update', 'loss'],
    );
    expect(loss.posterior).toMatchObject({ dim: 5, update: 'loss', restart: undefined });
    expect(resolveVaeConfig(await modelConfig(loss, 784))).toMatchObject({
      latentSize: 5 * 49,
      posterior: { kind: 'vq', dim: 5, update: 'loss', grid: true },
      decoder: { hidden: [], reshape: [5, 7, 7] },
    });
  });

  it.each([
    [['--codes', '8'], /--codes applies only to --posterior vq \(got --posterior diagonal\)/],
    [['--posterior', 'full', '--commitment', '1'], /--commitment applies only to --posterior vq/],
    [['--posterior', 'vq', '--code-dim', '3'], /--code-dim 3 must divide --latent 20/],
    [['--posterior', 'vq', '--beta', '2'], /--beta weighs the KL term.*--commitment/],
    [['--posterior', 'vq', '--objective', 'iwae'], /--objective iwae needs .*--posterior vq/],
    [['--posterior', 'vq', '--vq-update', 'sgd'], /--vq-update/],
    [['--posterior', 'vq', '--codes', '0'], /--codes/],
    [['--posterior', 'vq', '--flow-steps', '2'], /--flow-steps applies only to the flows/],
    [['--posterior', 'vq', '--vq-update', 'loss', '--vq-restart', '0.1'], /--vq-restart needs/],
    [['--posterior', 'vq', '--vq-restart', '1'], /--vq-restart/],
    [
      ['--preset', 'conv', '--posterior', 'vq', '--latent', '8'],
      /--latent does not apply to --preset conv --posterior vq/,
    ],
  ])('train %j is refused', (args, message) => {
    expect(() => train(...args)).toThrow(message);
  });
});

describe('vq from the CLI', () => {
  const adapter = TEST_ADAPTERS[0]!;
  const out = mkdtempSync(join(tmpdir(), 'webgpu-vae-cli-vq-'));
  const dataRoot = join(out, 'data');
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args, '--adapter', adapter], {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        ...process.env,
        FORCE_COLOR: '0',
        WEBGPU_VAE_VERBOSE: '',
        WEBGPU_VAE_DATA: dataRoot,
      },
      maxBuffer: 16 << 20,
    });
  const ckpt = join(out, 'model.safetensors');
  const mnist = ['--dataset', 'mnist'];

  it('trains, evaluates, refuses to sample without a prior, reconstructs', async () => {
    // A small IDX set of smooth random images (so there is something to reconstruct).
    mkdirSync(join(dataRoot, 'mnist'), { recursive: true });
    const seed = freshSeed();
    const rng = makeRng(seed);
    const split = (name: string, count: number) => {
      const pixels = new Uint8Array(count * 784);
      for (let i = 0; i < count; i++) {
        const [a, b] = [rng() * 6, rng() * 6];
        for (let p = 0; p < 784; p++) {
          const [r, c] = [Math.floor(p / 28) / 28, (p % 28) / 28];
          pixels[i * 784 + p] = Math.round(127.5 * (1 + Math.sin(a * r + b * c)));
        }
      }
      const labels = Uint8Array.from({ length: count }, () => Math.floor(rng() * 10));
      const file = (kind: string) =>
        join(dataRoot, 'mnist', `${name}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte.gz`);
      writeFileSync(file('images'), gzipSync(idxBytes(0x803, [count, 28, 28], pixels)));
      writeFileSync(file('labels'), gzipSync(idxBytes(0x801, [count], labels)));
    };
    split('train', 400);
    split('t10k', 200);

    const trained = await cli([
      'train',
      '--posterior',
      'vq',
      '--latent',
      '4',
      '--hidden',
      '32',
      '--codes',
      '16',
      '--code-dim',
      '2',
      '--vq-update',
      'loss',
      '--commitment',
      '0.5',
      '--epochs',
      '6',
      '--batch',
      '50',
      '--lr',
      '3e-3',
      '--out',
      out,
      '--quiet',
      ...mnist,
    ]);
    expect(trained.stdout).toMatch(/vq posterior \(2 codes of 16 per example, codebook loss/);
    expect(trained.stdout).toMatch(/no samples\.png: .*train-prior/);
    const { config } = await readCheckpointFile(ckpt);
    expect(config).toMatchObject({
      latentSize: 4,
      posterior: { kind: 'vq', codes: 16, dim: 2, beta: 0.5, update: 'loss' },
    });
    expect(existsSync(join(out, 'reconstructions.png'))).toBe(true);
    expect(existsSync(join(out, 'samples.png'))).toBe(false);

    const ev = await cli(['eval', '--checkpoint', ckpt, '--json', ...mnist]);
    const summary = JSON.parse(ev.stdout.trim().split('\n').at(-1)!) as {
      test: Record<string, number>;
      mse: number;
      bce: number;
      perplexity: number;
      codesInUse: number;
      codesUsed: number;
    };
    expect(Object.keys(summary.test).sort()).toEqual(
      ['codebook', 'codes_used', 'commitment', 'examples', 'loss', 'perplexity', 'recon'].sort(),
    );
    expect(summary.test.examples).toBe(200);
    // Bernoulli likelihood: the cross-entropy of the reconstructions is the recon term.
    expect(Math.abs(summary.bce - summary.test.recon!)).toBeLessThan(1e-3 * summary.bce);
    expect(summary.mse).toBeGreaterThan(0);
    expect(summary.mse).toBeLessThan(784);
    // 48 steps: at 4 (one epoch of batch 100) the 'loss' codebook kept one live code on 1 data
    // seed in 9 (seed 2635979224); at 48 the fewest in 16 seeds was 3.
    const codes = `data seed ${seed}: ${summary.codesInUse} codes in use, perplexity ${summary.perplexity}`;
    expect(summary.codesInUse, codes).toBeGreaterThanOrEqual(2);
    expect(summary.codesInUse).toBeLessThanOrEqual(16);
    expect(summary.codesUsed).toBeCloseTo(summary.codesInUse / 16, 4);
    expect(summary.perplexity, codes).toBeGreaterThan(1);
    expect(summary.perplexity, codes).toBeLessThanOrEqual(summary.codesInUse + 1e-6);
    expect(ev.stderr).toMatch(/codes: perplexity [\d.]+, \d+ of 16 in use/);

    // Refused before any weights reach the GPU; run in this process (no CLI start-up to wait for).
    const sample = parseCliArgs(['sample', '--checkpoint', ckpt, '--out', out]);
    if (sample.command !== 'sample') throw new Error('expected sample');
    await expect(runCommand(sample, { argv: [] })).rejects.toThrow(
      /a vq model samples from a prior over its codes.*train-prior.*reconstruct --checkpoint/,
    );

    const count = 3 + (freshSeed() % 4);
    await cli([
      'reconstruct',
      '--checkpoint',
      ckpt,
      '--count',
      String(count),
      '--out',
      out,
      ...mnist,
    ]);
    const png = readFileSync(join(out, 'reconstructions.png'));
    // 2·count tiles of 28 in one row (16 columns), 2 pixels of padding around and between.
    expect(png.readUInt32BE(16)).toBe(2 * count * 30 + 2);
    expect(png.readUInt32BE(20)).toBe(32);
  }, 120_000);
});
