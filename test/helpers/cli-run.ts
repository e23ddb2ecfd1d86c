// Running the CLI as a user would, for the interruption tests and scripts/kill-resume.ts: started
// (`node --import tsx src/cli.ts ...`), signalled or killed at chosen moments, and a small IDX
// dataset to train on quickly.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { idxBytes } from './idx.js';
import { makeRng } from './reference.js';

export const REPO_ROOT = new URL('../..', import.meta.url).pathname;

/** How a CLI process ended, with everything it printed. */
export interface CliExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  pid: number;
  /** Output so far. */
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<CliExitInfo>;
  /** Whether it has exited. */
  readonly done: boolean;
}

/** Starts `webgpu-vae ARGS` (the parent that runs the command in a child, as users get it). */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, FORCE_COLOR: '0', WEBGPU_VAE_VERBOSE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let done = false;
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const exited = new Promise<CliExitInfo>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      done = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    pid: child.pid!,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    get done() {
      return done;
    },
  };
}

/** The process ids whose parent is `pid` (Linux /proc). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so parse after ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Whether `pid` still runs (a zombie does not). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `test()` holds (polled every 20 ms); rejects after `timeoutMs`. */
export async function waitFor(
  what: string,
  test: () => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The file's modification time in ms, or -1 when it does not exist. */
export function mtimeOf(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : -1;
}

/** Temporary checkpoint files (the atomic writer's) in `dir`. */
export function tempFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('.tmp-')) : [];
}

/**
 * Writes the four MNIST-format files of a small dataset into `dir`: blurry random blobs of
 * side × side pixels (learnable, unlike noise), with labels.
 */
export function writeSmallIdx(
  dir: string,
  { train, test, side, seed }: { train: number; test: number; side: number; seed: number },
): void {
  mkdirSync(dir, { recursive: true });
  const rng = makeRng(seed);
  const images = (n: number) => {
    const body = new Uint8Array(n * side * side);
    for (let k = 0; k < n; k++) {
      const cx = rng() * side;
      const cy = rng() * side;
      const r2 = (0.15 + 0.25 * rng()) ** 2 * side * side;
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const d2 = (x - cx) ** 2 + (y - cy) ** 2;
          body[k * side * side + y * side + x] = Math.round(255 * Math.exp(-d2 / r2));
        }
      }
    }
    return idxBytes(2051, [n, side, side], body);
  };
  const labels = (n: number) =>
    idxBytes(
      2049,
      [n],
      Uint8Array.from({ length: n }, () => Math.floor(rng() * 10)),
    );
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images(train));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(train));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images(test));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(test));
}
