// Named metrics per example: the GPU sums each of a graph's metrics (build.ts) over steps, and
// these turn the sums into per-example values, adding what the objective derives on the CPU (the
// ELBO from recon and kl, the IWAE bound from its logsumexp).
import type { ResolvedVaeConfig } from './config.js';
import { kindsOf } from './kinds.js';

/** Per-example averages over a window of steps or examples. */
export interface Metrics {
  /** Steps (or evaluation batches) included. */
  steps: number;
  examples: number;
  /** The objective per example (what training minimizes; the negative bound for β = 1). */
  loss: number;
  /** Every metric by name, per example (e.g. recon, kl, elbo; iwae; …), loss included. */
  values: Readonly<Record<string, number>>;
}

export function metricsFrom(
  config: ResolvedVaeConfig,
  names: readonly string[],
  sums: ArrayLike<number>,
  steps: number,
  examples: number,
): Metrics {
  const values: Record<string, number> = {};
  names.forEach((name, i) => (values[name] = sums[i]! / Math.max(1, examples)));
  const objective = kindsOf(config).objective;
  Object.assign(values, objective.derive?.(config.objective, values) ?? {});
  // A metric named with a leading '_' is a denominator for derive (M2's labeled rows), not a figure.
  for (const name of Object.keys(values)) if (name.startsWith('_')) delete values[name];
  return { steps, examples, loss: values.loss!, values };
}

/** One line: "loss 105.20 (recon 80.10, kl 25.10, elbo -105.20)" — every metric but loss, by name. */
export function formatMetrics(m: Metrics, digits = 2): string {
  const rest = Object.entries(m.values)
    .filter(([name]) => name !== 'loss')
    .map(([name, v]) => `${name} ${v.toFixed(digits)}`);
  return `loss ${m.loss.toFixed(digits)}${rest.length ? ` (${rest.join(', ')})` : ''}`;
}
