// Checks shared by every section of the model description: each failure is an Error whose message
// starts with "vae config:" and names the field by its path (e.g. `encoder.conv[1].stride`).

import { ACTIVATIONS, type Activation } from '../kernels/activation-codes.js';

export function fail(message: string): never {
  throw new Error(`vae config: ${message}`);
}

/** An integer in [1, max]. */
export function checkSize(path: string, value: unknown, max = 1 << 20): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    fail(`${path} must be an integer in [1, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A finite number >= min. */
export function checkNumber(path: string, value: unknown, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    fail(
      `${path} must be a finite number${min > -Infinity ? ` >= ${min}` : ''}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A plain object (a section), or a named error. */
export function checkObject(path: string, value: unknown, shape: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`${path} must be an object ${shape}, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...new Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `known` to `name`, when close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Rejects any field of `raw` not in `known`, naming it with its path and, when one exists, the
 * field it was probably meant to be. `elsewhere` maps fields that belong to another section to
 * where they go (misplaced, not unknown).
 */
export function checkFields(
  raw: Record<string, unknown>,
  path: string,
  known: readonly string[],
  elsewhere: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(raw)) {
    if (known.includes(key) || raw[key] === undefined) continue;
    const at = path ? `${path}.${key}` : key;
    const home = elsewhere[key];
    if (home) fail(`${at} is not a field here; it belongs in ${home}`);
    const hint = suggest(key, known);
    fail(
      `${at} is unknown (${hint ? `did you mean ${path ? `${path}.` : ''}${hint}? ` : ''}known: ${known.join(', ') || 'none'})`,
    );
  }
}

/** A `{ kind, ... }` section's kind among `kinds`, or a named error. */
export function checkKind(
  path: string,
  raw: Record<string, unknown>,
  kinds: readonly string[],
): string {
  const kind = raw.kind;
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    const hint = typeof kind === 'string' ? suggest(kind, kinds) : undefined;
    fail(
      `${path}.kind must be one of ${kinds.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(kind)}` +
        (hint ? ` (did you mean '${hint}'?)` : ''),
    );
  }
  return kind;
}

function isActivation(name: string): name is Activation {
  // Own keys only: 'toString' is `in` every object.
  return Object.hasOwn(ACTIVATIONS, name);
}

/** An activation's name (a key of ACTIVATIONS) at `path`, `fallback` when absent. */
export function checkActivation(path: string, value: unknown, fallback: Activation): Activation {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !isActivation(name)) {
    fail(
      `${path} ${JSON.stringify(name)} is unknown (known: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return name;
}
