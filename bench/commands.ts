// The user-facing commands of both sides, run from a bench: ours (src/cli.ts with --json: JSON
// lines on stdout, human lines on stderr) and the twin's modules (python -m webgpu_vae_torch.X,
// which append JSON lines to metrics.jsonl), each as a child process so that two can train at once
// on two cores; plus reading the JSON lines back.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { twinEnv } from './mnist-nll.js';

export const ROOT = new URL('..', import.meta.url).pathname;

export type Json = Record<string, unknown>;

/** The JSON lines among a command's output lines. */
export function jsonLines(text: string): Json[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Json);
}

/** A number field of a JSON line; the error shows the line. */
export function num(record: Json | undefined, key: string): number {
  const v = record?.[key];
  if (typeof v !== 'number') {
    throw new Error(`expected a number '${key}' in ${JSON.stringify(record)}`);
  }
  return v;
}

/** The JSON lines of a metrics.jsonl (the twin's record of a run, one line per epoch). */
export function metricsLines(file: string): Json[] {
  const lines = jsonLines(readFileSync(file, 'utf8'));
  if (lines.length === 0) throw new Error(`${file}: no metrics`);
  return lines;
}

/**
 * Runs a program to its end: stderr passes through, stdout is returned, and each whole line of it
 * goes to `onLine` as it comes and is shown with `prefix` when given. Rejects with the command line
 * and the exit status.
 */
export function runProgram(
  file: string,
  args: readonly string[],
  o: { env?: NodeJS.ProcessEnv; prefix?: string; onLine?: (line: string) => void } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: ROOT,
      env: o.env ?? process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    let shown = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      text += chunk;
      // Whole lines only, so that two programs' lines do not interleave mid-line.
      const end = text.lastIndexOf('\n') + 1;
      for (const line of text.slice(shown, end).split('\n').slice(0, -1)) {
        o.onLine?.(line);
        if (o.prefix !== undefined) process.stdout.write(`${o.prefix}${line}\n`);
      }
      shown = Math.max(shown, end);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(text);
      else reject(new Error(`${file} ${args.join(' ')}: exit ${code ?? signal}`));
    });
  });
}

/** Ours: one CLI command with --json; its JSON lines (each also to `onJson` as it comes). */
export async function ours(
  args: readonly string[],
  onJson?: (line: Json) => void,
): Promise<Json[]> {
  const cli = [...['--import', 'tsx', join(ROOT, 'src/cli.ts')], ...args, '--json'];
  const onLine = onJson && ((line: string) => jsonLines(line).forEach(onJson));
  return jsonLines(await runProgram(process.execPath, cli, onLine ? { onLine } : {}));
}

/**
 * The twin: one module's command (its lines shown with `prefix`); --openblas as in iwae.ts. With
 * `threads`, OpenBLAS and OpenMP keep to that many (torch.set_num_threads alone leaves OpenBLAS's
 * own pool at one thread per core: measured, 190 % CPU on two cores with --threads 1).
 */
export async function twin(
  module: string,
  args: readonly string[],
  openblas: string,
  prefix = '',
  threads?: number,
): Promise<void> {
  const env = {
    ...twinEnv(openblas),
    PYTHONPATH: join(ROOT, 'python'),
    ...(threads !== undefined
      ? { OPENBLAS_NUM_THREADS: `${threads}`, OMP_NUM_THREADS: `${threads}` }
      : {}),
  };
  await runProgram('/usr/bin/python3', ['-m', `webgpu_vae_torch.${module}`, ...args], {
    env,
    prefix,
  });
}
