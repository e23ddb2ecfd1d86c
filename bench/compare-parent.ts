// This tree beside its parent commit, in one run: `npx tsx bench/compare-parent.ts [commit]
// [--rounds N] [--modes display,loop,decode256,train128,conv128] [--tuned]`. Extracts the parent's
// src/ and shaders/ (git archive, default the first parent of HEAD) into
// bench/out/parent-<commit>/, builds bench/compare/page.ts twice (over this src/ and over the
// parent's), then runs each mode in fresh headless Chromium pages (SwiftShader), alternating the
// two sides round by round so that a change in the machine's load touches both. --tuned: ours
// measures its matmul variants before timing the train steps (see bench/compare/page.ts). Prints
// medians and ratios; writes bench/out/compare-*.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';
import { launchChromium, serveStatic } from '../test/helpers/browser.js';
import type { CompareResult } from './compare/page.js';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'bench', 'out');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
}

/** The parent's src/ and shaders/ with its generated WGSL module, under bench/out. */
function extractParent(commit: string): string {
  const dir = join(OUT, `parent-${commit.slice(0, 7)}`);
  if (!existsSync(join(dir, 'src', 'shaders', 'wgsl.generated.ts'))) {
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['archive', commit, 'src', 'shaders', 'scripts'], {
      cwd: ROOT,
      maxBuffer: 1 << 28,
    });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
    execFileSync('node', ['scripts/embed-wgsl.mjs'], { cwd: dir, stdio: 'ignore' });
  }
  return dir;
}

async function buildPage(srcRoot: string, outDir: string, parent: boolean): Promise<void> {
  const root = join(ROOT, 'bench', 'compare');
  // A parent without background measuring gets a stand-in that has nothing to wait for.
  const stub = existsSync(join(srcRoot, 'kernels', 'matmul-select.ts'))
    ? []
    : [
        {
          find: /^(\.\.\/)+src\/kernels\/matmul-select\.js$/,
          replacement: join(root, 'no-tuning.ts'),
        },
      ];
  await build({
    root,
    logLevel: 'warn',
    // The page's '../../src/' imports (and those of bench/browser/workloads.ts) go to srcRoot.
    resolve: {
      alias: [...(parent ? stub : []), { find: /^(\.\.\/)+src\//, replacement: `${srcRoot}/` }],
    },
    build: { outDir, emptyOutDir: true, chunkSizeWarningLimit: 100_000 },
  });
}

async function runPage(url: string, mode: string): Promise<CompareResult> {
  const { browser, close } = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.text().startsWith('[compare]')) console.log(`  ${m.text()}`);
    });
    const tuned = process.argv.includes('--tuned') ? '&tuned=1' : '';
    await page.goto(`${url}/index.html?mode=${mode}${tuned}`);
    const deadline = Date.now() + 300_000;
    const done = 'window.__compare !== undefined || window.__compareError !== undefined';
    while (!(await page.evaluate(done))) {
      if (Date.now() > deadline) throw new Error(`${mode}: no result after 300 s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const error = (await page.evaluate('window.__compareError')) as string | undefined;
    if (error) throw new Error(`${mode}: ${error}`);
    return (await page.evaluate('window.__compare')) as CompareResult;
  } finally {
    await close();
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function main(): Promise<void> {
  const commit = git(
    'rev-parse',
    process.argv[2]?.startsWith('--') ? 'HEAD^' : (process.argv[2] ?? 'HEAD^'),
  );
  const rounds = Number(arg('--rounds') ?? 3);
  const modes = (arg('--modes') ?? 'display,loop,decode256,train128,conv128').split(',');
  const parentSrc = join(extractParent(commit), 'src');
  const sides = {
    parent: join(OUT, 'compare-parent'),
    ours: join(OUT, 'compare-ours'),
  };
  console.log(`building the page over ${parentSrc} and over ${join(ROOT, 'src')} …`);
  await buildPage(parentSrc, sides.parent, true);
  await buildPage(join(ROOT, 'src'), sides.ours, false);
  const servers = {
    parent: await serveStatic(sides.parent),
    ours: await serveStatic(sides.ours),
  };
  const results: Record<string, Record<'parent' | 'ours', number[]>> = {};
  let unit: Record<string, string> = {};
  try {
    for (let r = 0; r < rounds; r++) {
      for (const mode of modes) {
        const order =
          (r + modes.indexOf(mode)) % 2 === 0
            ? (['parent', 'ours'] as const)
            : (['ours', 'parent'] as const);
        for (const side of order) {
          const result = await runPage(servers[side].url, mode);
          (results[mode] ??= { parent: [], ours: [] })[side].push(result.value);
          unit = { ...unit, [mode]: result.unit };
          console.log(
            `round ${r + 1} ${mode} ${side}: ${result.value.toFixed(1)} ${result.unit}` +
              (result.kernels && r === 0 ? ` (${result.kernels.join(', ')})` : ''),
          );
        }
      }
    }
  } finally {
    servers.parent.server.close();
    servers.ours.server.close();
  }
  const date = new Date().toISOString();
  const lines = [
    `date: ${date}; parent ${commit.slice(0, 7)}; ours ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'src', 'shaders') ? ' (+ uncommitted changes)' : ''}; ${rounds} rounds, sides alternating${process.argv.includes('--tuned') ? '; ours with measured matmul choices (--tuned)' : ''}`,
    '',
    '| workload | unit | parent (median) | ours (median) | ours / parent | all parent | all ours |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [mode, v] of Object.entries(results)) {
    const p = median(v.parent);
    const o = median(v.ours);
    lines.push(
      `| ${mode} | ${unit[mode]} | ${p.toFixed(1)} | ${o.toFixed(1)} | ${(o / p).toFixed(2)}× | ${v.parent.map((x) => x.toFixed(1)).join(', ')} | ${v.ours.map((x) => x.toFixed(1)).join(', ')} |`,
    );
  }
  console.log(`\n${lines.join('\n')}`);
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `compare-${date.slice(0, 19).replace(/:/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date, commit, rounds, results, unit }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
