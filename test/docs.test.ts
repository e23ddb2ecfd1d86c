// `npm run docs` (TypeDoc) builds the API reference from the doc comments without errors, and every
// public symbol has a doc comment.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

describe('API reference', () => {
  it('builds with TypeDoc, no errors, every public symbol documented', async () => {
    const { stdout, stderr } = await promisify(execFile)(
      join(ROOT, 'node_modules', '.bin', 'typedoc'),
      ['--emit', 'none'],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    const output = `${stdout}${stderr}`;
    // An error makes TypeDoc exit non-zero (execFile then rejects); its "Found N errors and M
    // warnings" summary is printed only when there is something to report.
    expect(output).not.toMatch(/\[error\]/);
    const warnings = output
      .split('\n')
      .filter((l) => l.includes('[warning]') && !/Found \d+ errors/.test(l));
    expect(warnings).toEqual([]);
  });
});
