// `npm run docs` (TypeDoc) builds the API reference from the doc comments without errors, and every
// public symbol has a doc comment.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

// Symbols of these files have no doc comments yet; they are being restructured (model description
// v2, the trainer) and get theirs then. Remove a file from this list once it is documented.
const UNDOCUMENTED_FOR_NOW = ['src/vae/config.ts', 'src/vae/trainer.ts'];

describe('API reference', () => {
  it('builds with TypeDoc, no errors, every public symbol documented', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      join(ROOT, 'node_modules', '.bin', 'typedoc'),
      ['--emit', 'none'],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    const output = `${stdout}${stderr}`;
    expect(output).toMatch(/Found 0 errors/);
    const warnings = output
      .split('\n')
      .filter((l) => l.includes('[warning]') && !/Found \d+ errors/.test(l));
    const unexpected = warnings.filter((l) => !UNDOCUMENTED_FOR_NOW.some((f) => l.includes(f)));
    expect(unexpected).toEqual([]);
  });
});
