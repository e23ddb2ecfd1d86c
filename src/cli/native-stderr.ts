// Keeping the native WebGPU libraries' messages (Dawn, Mesa, the Vulkan loader: "XDG_RUNTIME_DIR is
// invalid", "While initializing adapter", "... artificially reduced ...") out of the CLI's output.
// They are written by native code straight to file descriptor 2, which Node cannot redirect
// in-process (no dup2). So the CLI runs its command in a child process whose fd 2 is a pipe to the
// parent, and gives the child the real stderr as fd 3 for its own messages (progress, errors).
// The parent drops what arrives on the pipe, unless the child dies of a signal it did not forward
// (a native crash): then the captured text is printed, so nothing needed for a bug report is lost.
// --verbose or WEBGPU_VAE_VERBOSE=1 runs in one process and shows everything.
//
// Signals: the child runs in its own process group, so a terminal's Ctrl-C reaches only the
// parent, which forwards SIGINT, SIGTERM and SIGHUP once and exits with the child's status. If the
// parent is killed outright (SIGKILL), the child notices the closed IPC channel and kills itself
// the same way, so no training goes on unseen.
//
// Niceness: the child's own session (detached) puts it in a scheduler autogroup of its own on
// Linux, at autogroup nice 0, which would undo `nice webgpu-vae train …` against the rest of the
// machine; the child carries its inherited niceness over to that autogroup.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, writeSync } from 'node:fs';
import { constants, getPriority } from 'node:os';
import { isatty, WriteStream } from 'node:tty';
import type { ProgressStream } from './progress.js';

/** Set in the child's environment. */
export const CHILD_ENV = 'WEBGPU_VAE_CLI_CHILD';
/** Asks for the native messages (as --verbose does). */
export const VERBOSE_ENV = 'WEBGPU_VAE_VERBOSE';
/** The child's descriptor for the CLI's own stderr messages. */
const OWN_STDERR_FD = 3;
/** Captured native output kept for a crash report. */
const KEEP_BYTES = 64 * 1024;
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function isCliChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[CHILD_ENV] === '1';
}

export function verboseFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[VERBOSE_ENV];
  return v !== undefined && v !== '' && v !== '0';
}

let own: ProgressStream | undefined;

/** Where the CLI's own stderr messages go: fd 3 in the child, process.stderr otherwise. */
export function ownStderr(): ProgressStream {
  if (own) return own;
  if (!isCliChild()) return (own = process.stderr);
  if (isatty(OWN_STDERR_FD)) return (own = new WriteStream(OWN_STDERR_FD));
  return (own = {
    isTTY: false,
    write(chunk: string) {
      writeSync(OWN_STDERR_FD, chunk);
      return true;
    },
  });
}

/**
 * Sets this process's scheduler autogroup to its own niceness where that is above 0 (Linux with
 * autogroups; elsewhere, or without /proc/self/autogroup, nothing). Returns whether it did.
 */
export function autogroupFollowsNice(autogroupFile = '/proc/self/autogroup'): boolean {
  if (process.platform !== 'linux') return false;
  const nice = getPriority();
  if (nice <= 0) return false;
  try {
    writeFileSync(autogroupFile, String(nice));
    return true;
  } catch {
    return false; // no autogroup scheduling here: plain nice already works
  }
}

/** In the child: keeps the parent's niceness and dies with the parent (see the file comment). */
export function followParent(): void {
  if (!isCliChild()) return;
  autogroupFollowsNice();
  if (!process.channel) return;
  process.channel.unref();
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What the child wrote to fd 2 (the last KEEP_BYTES). */
  native: string;
}

/**
 * Runs `node [execArgv] script ...args` as the CLI child (see the file comment) and resolves
 * with how it ended. `stderr` receives the crash report, if any.
 */
export function runCapturingNativeStderr(
  script: string,
  args: readonly string[],
  options: { execArgv?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildOutcome> {
  // The handlers are installed before the child exists: a signal arriving while it is spawned is
  // then queued for the event loop (which runs the handler once `child` is set) instead of taking
  // the default action, the parent's death with the child left running.
  let child: ChildProcess | undefined;
  const forward = (signal: NodeJS.Signals) => child?.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  try {
    child = spawn(process.execPath, [...(options.execArgv ?? []), script, ...args], {
      stdio: ['inherit', 'inherit', 'pipe', 2, 'ipc'],
      env: { ...(options.env ?? process.env), [CHILD_ENV]: '1' },
      detached: true,
    });
  } catch (error) {
    for (const s of FORWARDED) process.off(s, forward);
    throw error;
  }
  let native = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    native = (native + text).slice(-KEEP_BYTES);
  });
  const started = child;
  return new Promise((resolve, reject) => {
    started.on('error', reject);
    started.on('close', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve({ code, signal, native });
    });
  });
}

/** The exit status for the parent, and the crash report to print (empty when none). */
export function settle(outcome: ChildOutcome): { status: number; report: string } {
  const { code, signal, native } = outcome;
  if (signal === null) return { status: code ?? 1, report: '' };
  const status = 128 + (constants.signals[signal] ?? 0);
  if ((FORWARDED as readonly string[]).includes(signal)) return { status, report: '' };
  const body = native.trim() === '' ? '(nothing)' : native.trimEnd();
  return {
    status,
    report: `webgpu-vae: the process was killed by ${signal}; the native WebGPU libraries printed:\n${body}\n`,
  };
}
