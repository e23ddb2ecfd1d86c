// Runs the PyTorch twin (python/webgpu_vae_torch) from tests: Debian's python3 with python3-torch
// (scripts/setup.sh installs it), PYTHONPATH=python, in the repository root.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.WEBGPU_VAE_PYTHON ?? '/usr/bin/python3';
export const TORCHRUN = process.env.WEBGPU_VAE_TORCHRUN ?? '/usr/bin/torchrun';
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const execFileAsync = promisify(execFile);

/** Runs a program with the twin on PYTHONPATH in the repository root; resolves to stdout. */
export async function run(file: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(file, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONPATH: join(REPO_ROOT, 'python'), OMP_NUM_THREADS: '1' },
      maxBuffer: 64 << 20,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${what} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
      cause: error,
    });
  }
}

/** `python3 -m webgpu_vae_torch.<module> ...args`; resolves to stdout. */
export function twin(module: string, args: string[]): Promise<string> {
  return run(PYTHON, ['-m', `webgpu_vae_torch.${module}`, ...args], `webgpu_vae_torch.${module}`);
}

/** A Python file (path from the repository root) run with the twin on the path; resolves to stdout. */
export function pythonScript(file: string, args: string[] = []): Promise<string> {
  return run(PYTHON, [join(REPO_ROOT, file), ...args], file);
}

/**
 * `torchrun --nproc_per_node n -m webgpu_vae_torch.<module> ...` on this machine (c10d rendezvous
 * on a free port). `--redirects 2 --tee 2` works around Debian's torch 1.13 under Python 3.11,
 * whose launcher fails on the default redirect setting ('0' maps to no IntFlag member there).
 */
export function torchrun(n: number, module: string, args: string[]): Promise<string> {
  return run(
    TORCHRUN,
    [
      '--rdzv_backend=c10d',
      '--rdzv_endpoint=localhost:0',
      '--nnodes=1',
      `--nproc_per_node=${n}`,
      '--redirects=2',
      '--tee=2',
      '-m',
      `webgpu_vae_torch.${module}`,
      ...args,
    ],
    `torchrun ${module}`,
  );
}

/** A temporary folder removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
