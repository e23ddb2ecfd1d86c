// The command line end to end: train on the embedded digits, then eval and sample from the
// checkpoint it wrote, resume from it, and fail with a named problem on bad input; JSON lines,
// the final line, and no native driver noise unless --verbose.
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readCheckpointFile } from '../src/checkpoint/file.js';
import { TEST_ADAPTERS } from './helpers/gpu.js';
import { idxBytes } from './helpers/idx.js';
import { freshSeed, makeRng } from './helpers/reference.js';

const run = promisify(execFile);
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, FORCE_COLOR: '0', WEBGPU_VAE_VERBOSE: '', ...env },
    maxBuffer: 16 << 20,
  });

/** What Dawn, Mesa and the Vulkan loader print to fd 2 on a machine without a GPU. */
const NATIVE_NOISE = /XDG_RUNTIME_DIR|While initializing adapter|Warning: |artificially reduced/;

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
    const { stdout, stderr } = await cli([
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
      // Kept by the resumed run below, which names neither.
      '--schedule',
      'step',
      '--step-size',
      '1',
      '--gamma',
      '0.5',
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
    expect(stdout).toMatch(/^adapter: .*\(llvmpipe|swiftshader\)$/m);
    // The final line: every path written and the time taken.
    const files = ['model.safetensors', 'samples.png', 'reconstructions.png'].map((f) =>
      join(out, f),
    );
    expect(stdout.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(`^wrote ${files.join(', ')} in \\d+\\.\\d s$`),
    );
    expect(stderr, 'native driver messages reach the user').not.toMatch(NATIVE_NOISE);
    expect(statSync(join(out, 'model.safetensors')).size).toBeGreaterThan(4 * 50_000);
    expect((await readCheckpointFile(join(out, 'model.safetensors'))).optimizer!.step).toBe(80);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(pngSize(join(out, 'samples.png'))).toEqual({ width: 8 * 30 + 2, height: 8 * 30 + 2 });
    expect(pngSize(join(out, 'reconstructions.png')).width).toBe(16 * 30 + 2);
  });

  it('evaluates, samples from and resumes the checkpoint', async () => {
    const ckpt = join(out, 'model.safetensors');
    // eval --json: the human lines on stderr, one summary line with the metrics on stdout.
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
      '--json',
    ]);
    const elbo = Number(/elbo (-[\d.]+)\)/.exec(ev.stderr)?.[1]);
    const logPx = Number(/log p\(x\) ≈ (-[\d.]+) nats/.exec(ev.stderr)?.[1]);
    expect(elbo, ev.stderr).toBeLessThan(0);
    expect(logPx, ev.stderr).toBeGreaterThan(elbo);
    const evSummary = JSON.parse(ev.stdout) as {
      command: string;
      logPx: number;
      k: number;
      test: { examples: number; elbo: number };
    };
    expect(evSummary).toMatchObject({ command: 'eval', k: 20, test: { examples: 300 } });
    expect(evSummary.logPx).toBeCloseTo(logPx, 2);
    expect(evSummary.test.elbo).toBeCloseTo(elbo, 2);
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
    const resumedDir = join(out, 'resumed');
    const resumed = await cli([
      'train',
      '--resume',
      ckpt,
      // --epochs counts the whole run: the checkpoint ended epoch 2.
      '--epochs',
      '3',
      '--batch',
      '200',
      '--adapter',
      adapter,
      '--out',
      resumedDir,
      '--save-every',
      '7',
      '--json',
    ]);
    // --json: stdout is JSON lines only (an epoch, then the summary); the human lines go to stderr.
    const records = resumed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r.type)).toEqual(['epoch', 'summary']);
    const [epoch, summary] = records as [Record<string, any>, Record<string, any>]; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(epoch).toMatchObject({ epoch: 3, epochs: 3, step: 120, skipped: 0 });
    expect(epoch.test.loss).toBeGreaterThan(0);
    expect(epoch.test.elbo).toBeCloseTo(-epoch.test.loss, 3);
    expect(summary).toMatchObject({ command: 'train', steps: 120 });
    expect(summary.files).toEqual([
      join(resumedDir, 'model.safetensors'),
      join(resumedDir, 'samples.png'),
      join(resumedDir, 'reconstructions.png'),
    ]);
    expect(summary.seconds).toBeGreaterThan(0);
    expect(resumed.stderr).toMatch(
      /resumed from .* \(step 80\); continuing at epoch 3, batch 1 of 40/,
    );
    expect(resumed.stderr).toMatch(/after every epoch and every 7 steps/);
    expect(resumed.stderr).not.toMatch(NATIVE_NOISE);
    // The checkpoint's learning rate and schedule, though this command line names neither.
    expect(resumed.stderr).toMatch(/Adam lr 0\.003, step ×0\.5 every 1 epochs schedule/);
    const optimizer = (await readCheckpointFile(join(resumedDir, 'model.safetensors'))).optimizer!;
    expect(optimizer.step).toBe(120);
    expect(optimizer.hyper).toMatchObject({
      lr: 3e-3,
      schedule: { kind: 'step', stepSize: 1, gamma: 0.5 },
    });
  });

  it('shows the native driver messages with --verbose only', async () => {
    const ckpt = join(out, 'model.safetensors');
    const args = ['sample', '--checkpoint', ckpt, '--count', '4', '--out', join(out, 'v')];
    const quiet = await cli([...args, '--adapter', 'llvmpipe']);
    expect(quiet.stderr).not.toMatch(NATIVE_NOISE);
    // Dawn's OpenGL backend warns about llvmpipe's limits on fd 2 every time it opens it.
    const verbose = await cli([...args, '--adapter', 'llvmpipe', '--verbose']);
    expect(verbose.stderr).toMatch(/artificially reduced/);
    expect(quiet.stdout).toMatch(/^wrote .*samples\.png in \d+\.\d s$/m);
  });

  it('evaluates on a named dataset and trains a model described in a file', async () => {
    const ckpt = join(out, 'model.safetensors');
    // --dataset mnist looks in $WEBGPU_VAE_DATA/mnist first: a small IDX set written here (random
    // pixels and labels), so the test needs no downloaded data.
    const dataRoot = join(out, 'data');
    mkdirSync(join(dataRoot, 'mnist'), { recursive: true });
    const rng = makeRng(freshSeed());
    const split = (name: string, count: number) => {
      const pixels = Uint8Array.from({ length: count * 784 }, () => Math.floor(rng() * 256));
      const labels = Uint8Array.from({ length: count }, () => Math.floor(rng() * 10));
      const file = (kind: string) =>
        join(dataRoot, 'mnist', `${name}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte.gz`);
      writeFileSync(file('images'), gzipSync(idxBytes(0x803, [count, 28, 28], pixels)));
      writeFileSync(file('labels'), gzipSync(idxBytes(0x801, [count], labels)));
    };
    split('train', 600);
    split('t10k', 300);
    const ev = await cli(
      ['eval', '--checkpoint', ckpt, '--dataset', 'mnist', '--k', '2', '--limit', '200'],
      { WEBGPU_VAE_DATA: dataRoot },
    );
    expect(ev.stdout).toMatch(
      /test \(200 examples, mnist from .*mnist \(600 train \/ 300 test\)\)/,
    );
    const config = join(out, 'model.json');
    writeFileSync(
      config,
      JSON.stringify({
        inputSize: 784,
        latentSize: 3,
        encoder: { hidden: [24], activation: 'tanh' },
        decoder: { hidden: [24], activation: 'tanh' },
        likelihood: { kind: 'gaussian', sigma: 0.5 },
      }),
    );
    const dir = join(out, 'configured');
    const trained = await cli([
      'train',
      '--config',
      config,
      '--epochs',
      '1',
      '--batch',
      '500',
      '--out',
      dir,
      '--quiet',
    ]);
    expect(trained.stdout).toMatch(/model: 784-24-3 gaussian, /);
    const written = await readCheckpointFile(join(dir, 'model.safetensors'));
    expect(written.config).toMatchObject({
      latentSize: 3,
      likelihood: { kind: 'gaussian', sigma: 0.5 },
    });
    writeFileSync(
      config,
      JSON.stringify({ inputSize: 784, latentSize: 0, encoder: {}, decoder: {} }),
    );
    // Checked before data and GPU are set up.
    await expect(cli(['train', '--config', config, '--epochs', '1'])).rejects.toMatchObject({
      stdout: '',
      stderr: expect.stringMatching(/^webgpu-vae: --config .*model\.json: .*latentSize/),
    });
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
