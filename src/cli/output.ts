// What a command prints: human lines (stdout, or stderr under --json) and JSON lines, the final
// summary, and the runtime it announces.
import { createRuntime, type GpuRuntime } from '../gpu/runtime.js';
import type { AdapterChoice } from '../gpu/device.js';
import type { Metrics } from '../vae/trainer.js';
import { ownStderr } from './native-stderr.js';

/** Human lines (stdout, or stderr when stdout carries JSON) and JSON lines (--json only). */
export class Output {
  private readonly started = performance.now();

  constructor(private readonly jsonMode: boolean) {}

  log(line: string): void {
    if (this.jsonMode) ownStderr().write(`${line}\n`);
    else process.stdout.write(`${line}\n`);
  }

  json(record: Record<string, unknown>): void {
    if (this.jsonMode) process.stdout.write(`${JSON.stringify(record)}\n`);
  }

  /** Seconds since the command started. */
  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** The final line: what was written and how long it took (and the JSON summary). */
  finish(command: string, files: string[], summary: Record<string, unknown> = {}): void {
    const seconds = this.elapsed();
    const what = files.length > 0 ? `wrote ${files.join(', ')}` : 'done';
    this.log(`${what} in ${seconds.toFixed(1)} s`);
    this.json({ type: 'summary', command, files, seconds: round(seconds, 3), ...summary });
  }
}

export const round = (v: number, digits = 4) => Number(v.toFixed(digits));

/** Every metric by name (loss, recon, kl, elbo; iwae; …) and the example count. */
export function metricsJson(m: Metrics): Record<string, number> {
  const values = Object.fromEntries(Object.entries(m.values).map(([k, v]) => [k, round(v)]));
  return { ...values, examples: m.examples };
}

export async function runtime(
  adapter: AdapterChoice,
  out: Output,
  cpuThreads?: number,
): Promise<GpuRuntime> {
  const rt = await createRuntime({
    adapter,
    ...(cpuThreads === undefined ? {} : { cpuThreads }),
    onError: (e) => ownStderr().write(`${e.message}\n`),
  });
  out.log(`adapter: ${rt.info.name} (${rt.info.kind})`);
  return rt;
}
