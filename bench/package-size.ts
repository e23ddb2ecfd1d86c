// What a browser app pays for webgpu-vae: packs the package (npm pack), installs the tarball into a
// fresh app (npm install, as an app developer would), and builds examples/decode-only with Vite
// (minified), then reports the installed size and the minified + gzipped JavaScript.
//
//   npx tsx bench/package-size.ts [--root DIR] [--json]
//
// --root measures the package in another checkout (e.g. an older commit unpacked with git archive)
// with this checkout's example, so before/after figures use the same app.
import { execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const HERE = resolve(import.meta.dirname, '..');

interface Sizes {
  tarball: { file: string; packed: number; unpacked: number; files: number };
  installed: { bytes: number; files: number; packages: Record<string, number> };
  bundle: { file: string; initial: boolean; bytes: number; gzip: number }[];
  initial: { bytes: number; gzip: number };
}

/** Apparent size of the regular files under `dir` (symlinks not followed). */
function treeSize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += lstatSync(join(entry.parentPath, entry.name)).size;
    files++;
  }
  return { bytes, files };
}

/** Size of each installed package (scoped ones as @scope/name), largest first. */
function packageSizes(nodeModules: string): Record<string, number> {
  const sizes: [string, number][] = [];
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const names = name.startsWith('@')
      ? readdirSync(join(nodeModules, name)).map((n) => `${name}/${n}`)
      : [name];
    for (const n of names) sizes.push([n, treeSize(join(nodeModules, n)).bytes]);
  }
  return Object.fromEntries(sizes.sort((a, b) => b[1] - a[1]));
}

export async function measure(root: string): Promise<Sizes> {
  const work = mkdtempSync(join(tmpdir(), 'webgpu-vae-size-'));
  const npm = (args: string[], cwd: string) =>
    execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  // 1. The tarball, as published (prepack's build run first, so that --json gets clean stdout).
  npm(['run', 'build'], root);
  const packJson = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], root);
  const [packed] = JSON.parse(packJson) as {
    filename: string;
    size: number;
    unpackedSize: number;
    entryCount: number;
  }[];
  const tarball = join(work, packed!.filename);

  // 2. A fresh app installs it with its (non-optional) dependencies.
  const app = join(work, 'app');
  cpSync(join(HERE, 'examples', 'decode-only'), app, { recursive: true });
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'decode-only-app', private: true, type: 'module' }),
  );
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
  const installed = {
    ...treeSize(join(app, 'node_modules')),
    packages: packageSizes(join(app, 'node_modules')),
  };

  // 3. A production Vite build of the one-file example.
  const outDir = join(app, 'dist');
  await build({
    root: app,
    configFile: false,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 100_000 },
  });
  const html = readFileSync(join(outDir, 'index.html'), 'utf8');
  const bundle = readdirSync(join(outDir, 'assets'))
    .filter((f) => f.endsWith('.js'))
    .map((f) => {
      const bytes = readFileSync(join(outDir, 'assets', f));
      return {
        file: f,
        // Loaded with the page (script or modulepreload), as opposed to a lazy import() chunk.
        initial: html.includes(`assets/${f}`),
        bytes: bytes.length,
        gzip: gzipSync(bytes, { level: 9 }).length,
      };
    });
  const initial = bundle
    .filter((b) => b.initial)
    .reduce((s, b) => ({ bytes: s.bytes + b.bytes, gzip: s.gzip + b.gzip }), {
      bytes: 0,
      gzip: 0,
    });
  return {
    tarball: {
      file: relative(work, tarball),
      packed: packed!.size,
      unpacked: packed!.unpackedSize,
      files: packed!.entryCount,
    },
    installed,
    bundle,
    initial,
  };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { root: { type: 'string' }, json: { type: 'boolean' } },
  });
  const root = resolve(values.root ?? HERE);
  const s = await measure(root);
  if (values.json) {
    console.log(JSON.stringify(s));
  } else {
    const top = Object.entries(s.installed.packages)
      .slice(0, 4)
      .map(([n, b]) => `${n} ${mb(b)}`)
      .join(', ');
    console.log(`package:   ${root}`);
    console.log(
      `tarball:   ${kb(s.tarball.packed)} packed, ${kb(s.tarball.unpacked)} unpacked, ${s.tarball.files} files`,
    );
    console.log(
      `installed: ${mb(s.installed.bytes)} in ${s.installed.files} files (largest: ${top})`,
    );
    for (const b of s.bundle) {
      console.log(
        `bundle:    ${b.file} ${kb(b.bytes)} minified, ${kb(b.gzip)} gzipped${b.initial ? '' : ' (lazy)'}`,
      );
    }
    console.log(`initial:   ${kb(s.initial.bytes)} minified, ${kb(s.initial.gzip)} gzipped`);
  }
}
