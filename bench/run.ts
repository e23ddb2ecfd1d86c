// `npm run bench`: builds bench/browser with Vite, serves it, and runs it in headless Chromium
// (puppeteer-core, WebGPU on SwiftShader): startup on fresh browsers first (the first train step
// on a fresh profile, ours and TensorFlow.js; ours again on the same profile, with the choices the
// first load persisted; the first decode from a checkpoint URL, ours and TensorFlow.js), then the
// full page (ours, TensorFlow.js WebGPU, TensorFlow.js WASM). Comparisons with the parent commit
// are bench/compare-parent.ts. Prints one table and writes
// bench/out/bench-<date>.json. Options: --skip-startup, --only-startup, --skip-display,
// --only-display, --only-train (the train section alone: MNIST VAE steps on all three sides, conv
// VAE steps on ours, their memory and per-kernel breakdowns; no startup, no display), --only-conv
// (the conv VAE steps alone, ours only: a quick check), --only-vq (the conv VQ-VAE steps alone,
// ours only; with the conv VAE steps beside them when both are given, for the VQ row's ratio to
// the conv VAE step); CHROMIUM_PATH as for the tests
// (test/helpers/browser.ts launches Chromium).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { launchChromium, serveStatic } from '../test/helpers/browser.js';
import { encodeCheckpoint } from '../src/checkpoint/checkpoint.js';
import { parameterSpecs, resolveVaeConfig } from '../src/vae/config.js';
import { initialWeights } from '../src/vae/model.js';
import type { BenchPageResult, Breakdown, Row, SideName } from './browser/main.js';
import { CHECKPOINT_URL, MNIST_VAE } from './browser/workloads.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench', 'out');
const PAGE = join(OUT, 'page');
const SIDES: SideName[] = ['ours', 'tfjs-webgpu', 'tfjs-wasm'];

async function buildPage(): Promise<void> {
  const root = join(ROOT, 'bench', 'browser');
  await build({
    root,
    logLevel: 'warn',
    build: {
      outDir: PAGE,
      emptyOutDir: true,
      chunkSizeWarningLimit: 100_000,
      rollupOptions: { input: join(root, 'index.html') },
    },
  });
  const wasmDir = join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
  mkdirSync(join(PAGE, 'tfjs-wasm'), { recursive: true });
  for (const f of [
    'tfjs-backend-wasm.wasm',
    'tfjs-backend-wasm-simd.wasm',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ]) {
    copyFileSync(join(wasmDir, f), join(PAGE, 'tfjs-wasm', f));
  }
  // The checkpoint the decode-startup pages load (the MNIST VAE's seed-0 weights).
  const config = resolveVaeConfig(MNIST_VAE);
  const weights = initialWeights(config, 0);
  const bytes = encodeCheckpoint({
    params: parameterSpecs(config).map(
      (spec) => [spec.name, { shape: spec.shape, data: weights.get(spec.name)! }] as const,
    ),
    config,
  });
  writeFileSync(join(PAGE, CHECKPOINT_URL), bytes);
}

/**
 * Opens `?mode=...` in a fresh browser and waits for it: a fresh profile (no shader cache, no
 * persisted choices) unless `profile` names one to reuse.
 */
async function runPage(
  url: string,
  query: string,
  timeoutMs: number,
  profile?: string,
): Promise<BenchPageResult & { browserVersion: string }> {
  const { browser, close } = await launchChromium(profile ? { profile } : {});
  try {
    const browserVersion = await browser.version();
    const page = await browser.newPage();
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('[bench]')) console.log(`  ${text.slice(8)}`);
      else if (m.type() === 'error' || m.type() === 'warn') console.log(`  (${m.type()}) ${text}`);
    });
    page.on('pageerror', (e) => console.log(`  (pageerror) ${String(e)}`));
    await page.goto(`${url}/index.html?${query}`);
    // Poll from here: one long waitForFunction call would hit puppeteer's protocol timeout.
    const deadline = Date.now() + timeoutMs;
    const done = 'window.__bench !== undefined || window.__benchError !== undefined';
    while (!(await page.evaluate(done))) {
      if (Date.now() > deadline) throw new Error(`page ${query}: no result after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const error = (await page.evaluate('window.__benchError')) as string | undefined;
    if (error) throw new Error(`page ${query}: ${error}`);
    const result = (await page.evaluate('window.__bench')) as BenchPageResult;
    return { ...result, browserVersion };
  } finally {
    await close();
  }
}

const fmt = (v: number | undefined, digits = 3): string =>
  v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v.toPrecision(digits);

function ratio(r: Row, other: SideName): string {
  const a = r.values.ours;
  const b = r.values[other];
  if (a === undefined || b === undefined) return '—';
  const x = r.unit === 'ms' || r.unit === 'MiB' ? b / a : a / b;
  return `${x.toFixed(2)}×`;
}

function table(rows: Row[]): string {
  const lines = [
    '| workload | unit | ours | tfjs webgpu | ours vs tfjs webgpu | tfjs wasm | ours vs tfjs wasm | note |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.unit} | ${fmt(r.values.ours)} | ${fmt(r.values['tfjs-webgpu'])} | ` +
        `${ratio(r, 'tfjs-webgpu')} | ${fmt(r.values['tfjs-wasm'])} | ${ratio(r, 'tfjs-wasm')} | ${r.note ?? ''} |`,
    );
  }
  return lines.join('\n');
}

/** Kernel name (label up to its first '[') -> summed ms and dispatch count, slowest first. */
function byKernel(b: Breakdown): [string, { ms: number; count: number }][] {
  const out = new Map<string, { ms: number; count: number }>();
  for (const k of b.kernels) {
    const name = k.label.replace(/\[.*$/, '');
    const e = out.get(name) ?? { ms: 0, count: 0 };
    e.ms += k.ms;
    e.count++;
    out.set(name, e);
  }
  return [...out].sort((x, y) => y[1].ms - x[1].ms);
}

/** One line: the top `top` kernels of a step by GPU time, with their share. */
function breakdownLine(what: string, b: Breakdown, top = 5): string {
  const total = b.kernels.reduce((s, k) => s + k.ms, 0);
  const kernels = byKernel(b)
    .slice(0, top)
    .map(
      ([name, e]) =>
        `${name} ${e.ms.toFixed(1)} ms (${((100 * e.ms) / total).toFixed(1)} %, ${e.count}×)`,
    );
  return (
    `${what}, batch ${b.batch}, top ${top} kernels by GPU time (timestamp queries, each dispatch ` +
    `in its own pass, median of 3; ${b.kernels.length} dispatches, Σ ${total.toFixed(1)} ms; ` +
    `timed step ${b.stepMs.toFixed(1)} ms wall): ${kernels.join('; ')}`
  );
}

function breakdownTable(b: Breakdown): string {
  const total = b.kernels.reduce((s, k) => s + k.ms, 0);
  const lines = [
    `Per-kernel GPU time of one train step at batch ${b.batch} (timestamp queries, each dispatch ` +
      `in its own pass; median of 3): ${b.kernels.length} dispatches, Σ ${total.toFixed(2)} ms; ` +
      `the timed step (wall, pipelined) took ${b.stepMs.toFixed(2)} ms.`,
    '',
    '| kernel | dispatches | ms | share |',
    '| --- | --- | --- | --- |',
  ];
  for (const [name, e] of byKernel(b)) {
    lines.push(
      `| ${name} | ${e.count} | ${e.ms.toFixed(3)} | ${((100 * e.ms) / total).toFixed(1)} % |`,
    );
  }
  lines.push('', 'Slowest dispatches:', '', '| dispatch | ms |', '| --- | --- |');
  for (const k of [...b.kernels].sort((x, y) => y.ms - x.ms).slice(0, 12)) {
    lines.push(`| ${k.label} | ${k.ms.toFixed(3)} |`);
  }
  return lines.join('\n');
}

function checksList(rows: Row[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    for (const side of SIDES) {
      const c = r.checks[side];
      if (c) lines.push(`- ${r.name}, ${side}: ${c}`);
    }
  }
  return lines.join('\n');
}

/**
 * The traversal grid through the library's GPU-direct display (src/display), each target on its
 * own fresh page so that a failure cannot end the rest of the run: into the WebGPU canvas, and into
 * an offscreen texture (the same work without presentation).
 */
async function displayRows(url: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const target of ['canvas', 'texture'] as const) {
    console.log(`display page (${target}) …`);
    const row: Row = {
      section: 'inference',
      name: `traversal 16×16 grid, GPU-direct display into a ${target} (src/display)`,
      unit: 'frames/s',
      values: {},
      timings: {},
      checks: {},
      note: 'ours only: LatentView.frame() (codes, decode, tiles, copy to the target; no readback), two frames in flight as TraversalLoop runs them',
    };
    try {
      const d = await runPage(url, `mode=display&target=${target}`, 120_000);
      if (d.display) {
        row.values.ours = d.display.fps;
        row.timings.ours = d.display.timing;
      }
    } catch (error) {
      row.note = `failed: ${String(error).split('\n')[0]}`;
      console.log(`  ${row.note}`);
    }
    rows.push(row);
  }
  return rows;
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  // --only-train / --only-conv / --only-vq: the full page limited to those workload groups
  // (main.ts &only=).
  const only = args.has('--only-train')
    ? 'train'
    : ['conv', 'vq'].filter((g) => args.has(`--only-${g}`)).join(',') || undefined;
  if (only) for (const a of ['--skip-startup', '--skip-display']) args.add(a);
  const started = Date.now();
  console.log('building bench/browser …');
  await buildPage();
  const { url, server } = await serveStatic(PAGE);
  const startup: Record<string, Record<string, number | string>> = {};
  let browserVersion = '';
  try {
    if (!args.has('--skip-startup') && !args.has('--only-display')) {
      // The first run gets a fresh profile that the second run reuses: persisted matmul choices
      // (IndexedDB) and Chromium's shader cache.
      const profile = mkdtempSync(join(tmpdir(), 'webgpu-vae-bench-profile-'));
      try {
        for (const [name, query, keep] of [
          ['ours', 'mode=startup', profile],
          ['ours, second load (same profile: persisted choices)', 'mode=startup', profile],
          ['ours (matmul variant pinned: no selection)', 'mode=startup&variant=rb4x16', undefined],
          ['tfjs-webgpu', 'mode=startup-tfjs', undefined],
          ['ours: first decode from a checkpoint URL', 'mode=decode-startup', undefined],
          [
            'tfjs-webgpu: first decode from a checkpoint URL',
            'mode=decode-startup-tfjs',
            undefined,
          ],
        ] as const) {
          console.log(`startup: ${name}`);
          const r = await runPage(url, query, 300_000, keep);
          startup[name] = r.startup ?? {};
          browserVersion = r.browserVersion;
          console.log(`  ${JSON.stringify(r.startup)}`);
        }
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    }
    let full: (BenchPageResult & { browserVersion: string }) | undefined;
    if (args.has('--only-display')) {
      for (const r of await displayRows(url)) console.log(`${r.name}: ${r.values.ours ?? r.note}`);
      return;
    }
    if (!args.has('--only-startup')) {
      console.log('full benchmark page …');
      full = await runPage(url, only ? `mode=full&only=${only}` : 'mode=full', 900_000);
      browserVersion = full.browserVersion;
    }
    // The GPU-direct display (src/display) on its own fresh page: a failure there cannot end the
    // rest of the run.
    if (full?.rows && !args.has('--skip-display')) {
      const at = full.rows.findIndex((r) => r.name.startsWith('traversal'));
      full.rows.splice(at + 1, 0, ...(await displayRows(url)));
    }
    const date = new Date().toISOString();
    const report = [
      `date: ${date}`,
      `browser: ${browserVersion}`,
      full ? `adapter: ${full.adapterName}` : '',
      full ? `backends: ${JSON.stringify(full.backends)}` : '',
      '',
    ];
    if (full?.rows) {
      report.push(table(full.rows), '', 'Checked before timing:', checksList(full.rows), '');
      if (full.memory) {
        report.push(`memory (ours, batch 128): ${JSON.stringify(full.memory)}`, '');
      }
      if (full.breakdown) {
        report.push(breakdownLine('MNIST VAE step', full.breakdown), '');
        report.push(breakdownTable(full.breakdown), '');
      }
      if (full.convMemory) {
        report.push(`conv VAE memory (ours, batch 128): ${JSON.stringify(full.convMemory)}`, '');
      }
      if (full.convBreakdown) {
        report.push(breakdownLine('conv VAE step', full.convBreakdown), '');
      }
    }
    if (Object.keys(startup).length) {
      const f = (t: Record<string, number | string>, k: string) =>
        typeof t[k] === 'number' ? (t[k] as number).toFixed(0) : '—';
      const train = Object.entries(startup).filter(([, t]) => 'firstStep' in t);
      const decode = Object.entries(startup).filter(([, t]) => 'firstDecode' in t);
      report.push(
        'Startup (ms from navigation start; a fresh browser, fresh profile unless said):',
      );
      report.push('');
      report.push(
        '| page | script start | device | compiled | first step done | second step done | choices measured, persisted |',
      );
      report.push('| --- | --- | --- | --- | --- | --- | --- |');
      for (const [name, t] of train) {
        report.push(
          `| ${name} | ${f(t, 'scriptStart')} | ${f(t, 'device')} | ${f(t, 'compiled')} | ${f(t, 'firstStep')} | ${f(t, 'secondStep')} | ${t.measuredChoices ?? '—'}, ${t.persistedChoices ?? '—'} |`,
        );
      }
      report.push('');
      report.push(
        '| page | script start | device | loaded and compiled | first decode (256) read back | checksum |',
      );
      report.push('| --- | --- | --- | --- | --- | --- |');
      for (const [name, t] of decode) {
        const sum = typeof t.checksum === 'number' ? t.checksum.toFixed(3) : '—';
        report.push(
          `| ${name} | ${f(t, 'scriptStart')} | ${f(t, 'device')} | ${f(t, 'loaded')} | ${f(t, 'firstDecode')} | ${sum} |`,
        );
      }
      report.push('');
    }
    report.push(`total: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log(`\n${report.join('\n')}`);
    mkdirSync(OUT, { recursive: true });
    const file = join(OUT, `bench-${date.slice(0, 19).replace(/:/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ date, browserVersion, startup, ...full }, null, 2) + '\n');
    console.log(`wrote ${file}`);
  } finally {
    server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
