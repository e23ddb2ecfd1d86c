// The PyTorch twin (python/webgpu_vae_torch) beside ours on the pytorch/examples VAE (784-400-20,
// ReLU, Bernoulli, BCE + KL summed, Adam 1e-3, batch 128) on the full MNIST, one run after the
// other: ours on a WebGPU adapter (bench/mnist-vae.ts) and the twin in 1 process for the same
// epochs (test loss per epoch, training samples/s), then the twin in 1 process with 2 threads and
// in 2 processes under torchrun (DDP, gloo) for a few epochs (samples/s). Debian's python3-torch
// multiplies matrices with the reference BLAS (libblas3, about 1.5 GFLOP/s here); with
// --openblas DIR (a folder holding OpenBLAS's libblas.so.3, e.g. unpacked from Debian's
// libopenblas0-pthread with dpkg -x, nothing installed) the twin runs use it through
// LD_LIBRARY_PATH, and the short runs are repeated with the reference BLAS. Before each run the
// load average and the busiest other processes are recorded (what ran beside). Test loss: the
// single-sample negative ELBO per test image, as the PyTorch example reports it.
//   npx tsx bench/torch-twin.ts [epochs=10] [--ddp-epochs 2] [--adapter llvmpipe] [--data DIR]
//                               [--openblas DIR [--ref-epochs 1]]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { PYTORCH_EXAMPLES_VAE } from '../src/vae/state-dict.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = args[i + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  args.splice(i, 2);
  return value;
};
const ddpEpochs = Number(option('--ddp-epochs', '2'));
const openblas = option('--openblas', '');
const refEpochs = Number(option('--ref-epochs', '1'));
const adapter = option('--adapter', 'llvmpipe');
const root = join(import.meta.dirname, '..');
const data = option('--data', join(root, '..', 'shared', 'data', 'mnist'));
const epochs = Number(args[0] ?? 10);
const out = join(root, 'bench', 'out');
mkdirSync(out, { recursive: true });
const python = process.env.WEBGPU_VAE_PYTHON ?? '/usr/bin/python3';
const torchrun = process.env.WEBGPU_VAE_TORCHRUN ?? '/usr/bin/torchrun';

interface Epoch {
  epoch: number;
  testLoss: number;
  samplesPerSecond: number;
}
interface Run {
  name: string;
  command: string;
  epochs: Epoch[];
  seconds: number;
  beside: { loadBefore: number[]; loadAfter: number[]; busiest: string[] };
}

/** The busiest processes right now, but this benchmark's own. */
function busiest(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pcpu,args', '--sort=-pcpu'], { encoding: 'utf8' });
  return ps
    .split('\n')
    .slice(1, 8)
    .map((l) => l.trim().slice(0, 120))
    .filter((l) => l && !l.includes('bench/torch-twin') && !l.startsWith('0.0'));
}

function runCommand(
  name: string,
  file: string,
  argv: string[],
  parse: (stdout: string) => Epoch[],
  env: Record<string, string> = {},
) {
  const command = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), file, ...argv].join(' ');
  console.log(`\n== ${name}: ${command}`);
  const beside = { loadBefore: loadavg(), loadAfter: [] as number[], busiest: busiest() };
  const started = performance.now();
  const r = spawnSync(file, argv, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: join(root, 'python'), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) throw new Error(`${name} failed (${r.status ?? r.signal})`);
  beside.loadAfter = loadavg();
  const run: Run = {
    name,
    command,
    epochs: parse(r.stdout),
    seconds: (performance.now() - started) / 1000,
    beside,
  };
  return run;
}

/** metrics.jsonl of the twin's trainer. */
const twinEpochs = (dir: string) => (): Epoch[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const r = JSON.parse(line) as {
        epoch: number;
        samplesPerSecond: number;
        test: { loss: number };
      };
      return { epoch: r.epoch, testLoss: r.test.loss, samplesPerSecond: r.samplesPerSecond };
    });

function twinRun(
  name: string,
  dir: string,
  n: number,
  extra: string[],
  processes: number,
  blas: string,
) {
  rmSync(dir, { recursive: true, force: true });
  const env: Record<string, string> = blas ? { LD_LIBRARY_PATH: blas } : {};
  name += blas ? ', OpenBLAS' : ', reference BLAS';
  const trainArgs = [
    '--config',
    JSON.stringify(PYTORCH_EXAMPLES_VAE.config),
    '--data',
    data,
    '--out',
    dir,
    '--epochs',
    String(n),
    '--batch-size',
    '128',
    '--lr',
    '1e-3',
    '--seed',
    '1',
    ...extra,
  ];
  if (processes === 1) {
    return runCommand(
      name,
      python,
      ['-m', 'webgpu_vae_torch.train', ...trainArgs],
      twinEpochs(dir),
      env,
    );
  }
  // --redirects 2 --tee 2: Debian's torch 1.13 launcher under Python 3.11 (see README).
  const launcher = [
    '--rdzv_backend=c10d',
    '--rdzv_endpoint=localhost:0',
    '--nnodes=1',
    `--nproc_per_node=${processes}`,
    '--redirects=2',
    '--tee=2',
    '-m',
    'webgpu_vae_torch.train',
  ];
  return runCommand(name, torchrun, [...launcher, ...trainArgs], twinEpochs(dir), env);
}

const runs: Run[] = [];
runs.push(
  runCommand(
    `ours (${adapter})`,
    'npx',
    ['tsx', 'bench/mnist-vae.ts', String(epochs), adapter, data],
    (stdout) => {
      const file = /wrote (\S+\.json)/.exec(stdout)?.[1];
      if (!file) throw new Error('bench/mnist-vae.ts wrote no result file');
      const r = JSON.parse(readFileSync(file, 'utf8')) as {
        epochs: { epoch: number; test: { loss: number }; stepsPerSecond: number }[];
      };
      return r.epochs.map((e) => ({
        epoch: e.epoch,
        testLoss: e.test.loss,
        samplesPerSecond: e.stepsPerSecond * 128,
      }));
    },
  ),
);
// The long run (test loss), then the short ones (samples/s) with each BLAS.
runs.push(twinRun('twin, 1 process', join(out, 'twin-1p'), epochs, [], 1, openblas));
for (const blas of openblas ? [openblas, ''] : ['']) {
  const n = blas === openblas ? ddpEpochs : refEpochs;
  const tag = blas ? 'openblas' : 'ref';
  if (blas !== openblas)
    runs.push(twinRun('twin, 1 process', join(out, `twin-1p-${tag}`), n, [], 1, blas));
  runs.push(
    twinRun(
      'twin, 1 process, 2 threads',
      join(out, `twin-1p2t-${tag}`),
      n,
      ['--threads', '2'],
      1,
      blas,
    ),
  );
  runs.push(
    twinRun('twin, 2 processes (torchrun, gloo)', join(out, `twin-2p-${tag}`), n, [], 2, blas),
  );
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log(
  '\nrun | epochs | test loss, last epoch | training samples/s (median of epochs) | load before → after',
);
for (const r of runs) {
  const last = r.epochs.at(-1)!;
  console.log(
    `${r.name} | ${r.epochs.length} | ${last.testLoss.toFixed(2)} | ` +
      `${median(r.epochs.map((e) => e.samplesPerSecond)).toFixed(0)} | ` +
      `${r.beside.loadBefore.map((l) => l.toFixed(1)).join(' ')} → ${r.beside.loadAfter.map((l) => l.toFixed(1)).join(' ')}`,
  );
}
const [ours, twin] = runs;
const gap = Math.abs(ours!.epochs.at(-1)!.testLoss - twin!.epochs.at(-1)!.testLoss);
console.log(`test loss after ${epochs} epochs: ours vs twin differ by ${gap.toFixed(2)} nats`);
const file = join(out, `torch-twin-${new Date().toISOString().slice(0, 19)}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), epochs, runs }, null, 2));
console.log(`wrote ${file}`);
