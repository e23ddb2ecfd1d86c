// The set-up `npm test` and `npm run train` run first: quiet when there is nothing to do, npm ci
// when node_modules is missing or differs from package-lock.json (scripts/deps-status.mjs).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function lock(packages: Record<string, { version: string; optional?: boolean }>) {
  return JSON.stringify({
    name: 'app',
    lockfileVersion: 3,
    packages: {
      '': { name: 'app' },
      ...Object.fromEntries(Object.entries(packages).map(([n, e]) => [`node_modules/${n}`, e])),
    },
  });
}

/** A project folder with a package-lock.json and, unless `installed` is undefined, node_modules. */
function project(
  wanted: Record<string, { version: string; optional?: boolean }>,
  installed?: Record<string, { version: string }>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-vae-deps-'));
  writeFileSync(join(dir, 'package-lock.json'), lock(wanted));
  if (installed) {
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules', '.package-lock.json'), lock(installed));
  }
  return dir;
}

function status(dir: string) {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'deps-status.mjs'), dir], {
    encoding: 'utf8',
  });
  return { code: r.status, reason: r.stdout.trim() };
}

describe('deps-status', () => {
  const wanted = {
    a: { version: '1.0.0' },
    b: { version: '2.1.0' },
    'c-mac': { version: '3.0.0', optional: true },
  };

  it('is up to date when every locked package is installed at its version', () => {
    expect(status(project(wanted, { a: { version: '1.0.0' }, b: { version: '2.1.0' } }))).toEqual({
      code: 0,
      reason: '',
    });
  });

  it('names what makes npm ci necessary', () => {
    expect(status(project(wanted))).toEqual({ code: 1, reason: 'node_modules is missing' });
    expect(status(project(wanted, { a: { version: '1.0.0' } }))).toEqual({
      code: 1,
      reason: 'b 2.1.0 is not installed',
    });
    expect(status(project(wanted, { a: { version: '1.0.1' }, b: { version: '2.1.0' } }))).toEqual({
      code: 1,
      reason: 'a is 1.0.1, package-lock.json wants 1.0.0',
    });
    const extra = { a: { version: '1.0.0' }, b: { version: '2.1.0' }, d: { version: '0.1.0' } };
    expect(status(project(wanted, extra))).toEqual({
      code: 1,
      reason: 'd is installed but not in package-lock.json',
    });
  });

  it('matches this checkout', () => {
    expect(status(ROOT)).toEqual({ code: 0, reason: '' });
  });
});

describe('scripts/setup.sh', () => {
  const setup = (dir: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync('bash', [join(dir, 'scripts', 'setup.sh'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, WEBGPU_VAE_SKIP_SETUP: '', ...env },
    });

  it('has nothing to do here, and says nothing', () => {
    for (const mode of ['test', 'train']) {
      const r = setup(ROOT, [mode, '--check']);
      expect(`${r.stdout}${r.stderr}`).toBe('');
      expect(r.status).toBe(0);
    }
  });

  it('sees what a fresh clone lacks', () => {
    const clone = mkdtempSync(join(tmpdir(), 'webgpu-vae-clone-'));
    cpSync(join(ROOT, 'scripts'), join(clone, 'scripts'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(clone, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(clone, 'package-lock.json'));
    const r = setup(clone, ['train', '--check']);
    expect(r.stdout).toMatch(/^setup: npm ci needed: node_modules is missing$/m);
    expect(r.status).toBe(1);
    const skipped = setup(clone, ['--check'], { WEBGPU_VAE_SKIP_SETUP: '1' });
    expect([skipped.status, skipped.stdout]).toEqual([0, '']);
    expect(setup(clone, ['tset']).stderr).toMatch(/unknown argument 'tset'/);
  });
});
