// The embedded WGSL loads the same way everywhere: in vitest (every other test), in the compiled
// package run by plain Node, and in a Vite build running in headless Chromium.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from 'vite';
import { launchChromium, serveStatic } from './helpers/browser.js';

const ROOT = join(import.meta.dirname, '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');

describe('packaging', () => {
  it('the compiled package runs a kernel from plain Node', () => {
    const outDir = join(ARTIFACTS, 'dist-node');
    rmSync(outDir, { recursive: true, force: true });
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', outDir], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    const script = join(outDir, 'smoke.mjs');
    writeFileSync(
      script,
      `import { createRuntime, fillForward, readFloats } from './index.js';
const rt = await createRuntime({ adapter: 'llvmpipe' });
const out = rt.buffers.storage('out', 4 * 333);
const d = await rt.prepare(fillForward, { bindings: { out }, shape: { n: 333 }, uniforms: { value: -4.5 } });
await rt.submitChecked([d]);
const v = await readFloats(rt.device, out);
console.log(JSON.stringify({ ok: v.every((x) => x === -4.5), adapter: rt.info.name }));
rt.destroy();
`,
    );
    const stdout = execFileSync('node', [script], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(result.ok).toBe(true);
    expect(result.adapter).toMatch(/llvmpipe/);
    // The package's bin (webgpu-vae) runs from the compiled output too.
    const help = execFileSync('node', [join(outDir, 'cli.js'), 'help'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(help).toMatch(/Usage: webgpu-vae <command>/);
    expect(readFileSync(join(outDir, 'cli.js'), 'utf8').startsWith('#!/usr/bin/env node')).toBe(
      true,
    );
  });

  it('a Vite build runs a kernel in headless Chromium (SwiftShader)', async () => {
    const outDir = join(ARTIFACTS, 'browser-smoke');
    mkdirSync(ARTIFACTS, { recursive: true });
    await build({
      root: join(ROOT, 'test', 'browser'),
      logLevel: 'warn',
      build: {
        outDir,
        emptyOutDir: true,
        rollupOptions: { input: join(ROOT, 'test', 'browser', 'smoke.html') },
      },
    });
    const { url, server } = await serveStatic(outDir);
    const { browser, close } = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${url}/smoke.html`);
      await page.waitForFunction('window.__smoke !== undefined', { timeout: 60_000 });
      const result = (await page.evaluate('window.__smoke')) as {
        ok: boolean;
        adapter?: string;
        error?: string;
      };
      expect(result.error).toBeUndefined();
      expect(result.ok).toBe(true);
      expect(result.adapter).toMatch(/swiftshader/i);
      await page.screenshot({ path: join(ARTIFACTS, 'browser-smoke.png') });
    } finally {
      await close();
      server.close();
    }
  });
});
