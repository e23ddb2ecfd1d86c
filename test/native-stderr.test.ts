// The CLI's child process keeps native stderr (Dawn, Mesa, Vulkan loader) out of the output, passes
// its own messages and stdout through, reports native output after a crash, forwards signals, and
// does not outlive a parent that was killed outright.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { autogroupFollowsNice, verboseFromEnv } from '../src/cli/native-stderr.js';

const ROOT = join(import.meta.dirname, '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'noisy-cli.ts');
const run = promisify(execFile);

async function noisy(mode: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
      cwd: ROOT,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const r = e as { code: number; stdout: string; stderr: string };
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts the fixture in 'wait' mode (under `nice -n N` when given); resolves once the child has
 * printed its pid.
 */
async function startWaiting(nice?: number) {
  const command = [process.execPath, '--import', 'tsx', FIXTURE, 'wait'];
  if (nice !== undefined) command.unshift('nice', '-n', String(nice));
  const parent = spawn(command[0]!, command.slice(1), { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  parent.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  parent.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    parent.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await until('the child', () => /child \d+/.test(stdout));
  const child = Number(/child (\d+)/.exec(stdout)![1]);
  return { parent, child, exited, output: () => ({ stdout, stderr }) };
}

describe('native stderr capture', () => {
  it('is turned off by WEBGPU_VAE_VERBOSE (as by --verbose)', () => {
    expect(verboseFromEnv({ WEBGPU_VAE_VERBOSE: '1' })).toBe(true);
    expect(verboseFromEnv({ WEBGPU_VAE_VERBOSE: 'yes' })).toBe(true);
    expect(verboseFromEnv({ WEBGPU_VAE_VERBOSE: '0' })).toBe(false);
    expect(verboseFromEnv({ WEBGPU_VAE_VERBOSE: '' })).toBe(false);
    expect(verboseFromEnv({})).toBe(false);
  });

  it('drops native output and passes stdout and the own messages through', async () => {
    const r = await noisy('ok');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^child \d+\n$/);
    expect(r.stderr).toBe('own message\n');
  });

  it("passes the child's exit status on without the native output", async () => {
    const r = await noisy('fail');
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('own message\n');
  });

  it('prints the native output when the child crashes', async () => {
    const r = await noisy('crash');
    expect(r.code).toBe(128 + 6);
    expect(r.stderr).toContain('own message\n');
    expect(r.stderr).toMatch(
      /killed by SIGABRT; the native WebGPU libraries printed:\nnative noise/,
    );
  });

  it('forwards SIGTERM to the child and exits with its status, quietly', async () => {
    const w = await startWaiting();
    try {
      w.parent.kill('SIGTERM');
      const { code } = await w.exited;
      expect(code).toBe(128 + 15);
      expect(w.output().stderr).toBe('own message\n');
      await until('the child to end', () => !alive(w.child));
    } finally {
      if (alive(w.child)) process.kill(w.child, 'SIGKILL');
    }
  });

  it('does not outlive a parent killed with SIGKILL', async () => {
    const w = await startWaiting();
    try {
      expect(alive(w.child)).toBe(true);
      w.parent.kill('SIGKILL');
      await w.exited;
      await until('the orphaned child to end', () => !alive(w.child));
    } finally {
      if (alive(w.child)) process.kill(w.child, 'SIGKILL');
    }
  });

  it('keeps the niceness it was started with: the child carries it to its own autogroup', async () => {
    const w = await startWaiting(7);
    try {
      expect(getPriority(w.child)).toBe(7);
      // On Linux with autogroup scheduling the child's own session is a new autogroup, whose
      // nice (0 by default) is what the scheduler weighs against other sessions.
      const autogroup = `/proc/${w.child}/autogroup`;
      if (existsSync(autogroup)) expect(readFileSync(autogroup, 'utf8')).toMatch(/ nice 7$/m);
      else expect(autogroupFollowsNice(join(tmpdir(), 'no-such-dir', 'autogroup'))).toBe(false);
    } finally {
      w.parent.kill('SIGKILL');
      await w.exited;
      await until('the child to end', () => !alive(w.child));
    }
  });
});
