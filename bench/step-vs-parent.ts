// One workload of bench/step.ts (MLP or conv VAE, train step or decode) in this tree beside an
// older commit, in one run: the commit is exported (git archive) into a temporary directory, and
// the two run alternately, each round in the other order, so that load from other work on the
// machine affects both alike.
// Usage: npx tsx bench/step-vs-parent.ts [--parent REV (default: merge-base with main)]
//          [--rounds R (4)] [--model mlp|conv (conv)] [--mode train|decode (train)]
//          [--adapter llvmpipe|swiftshader] [--steps N (8)] [--samples S (3)] [--batch B]
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT }).toString().trim();
const parent = git('rev-parse', option('--parent', git('merge-base', 'HEAD', 'main')));
const head = git('rev-parse', 'HEAD');
const dirty = git('status', '--porcelain', '--', 'src', 'shaders', 'bench') !== '';
const rounds = Number(option('--rounds', '4'));
const childArgs = ['--adapter', option('--adapter', 'llvmpipe')];
childArgs.push('--steps', option('--steps', '8'), '--samples', option('--samples', '3'));
childArgs.push('--model', option('--model', 'conv'), '--mode', option('--mode', 'train'));
if (process.argv.includes('--batch')) childArgs.push('--batch', option('--batch', ''));

const dir = mkdtempSync(join(tmpdir(), 'step-parent-'));
try {
  execFileSync('sh', ['-c', `git archive ${parent} | tar -x -C ${dir}`], { cwd: ROOT });
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dir, 'node_modules'));
  execFileSync('node', ['scripts/embed-wgsl.mjs'], { cwd: dir });
  for (const f of ['step.ts', 'portable.ts']) {
    copyFileSync(join(ROOT, 'bench', f), join(dir, 'bench', f));
  }
  const trees = { ours: ROOT, parent: dir };
  const results: Record<keyof typeof trees, number[]> = { ours: [], parent: [] };
  let adapterName = '';
  let unit = '';
  for (let r = 0; r < rounds; r++) {
    const order = (r % 2 === 0 ? ['ours', 'parent'] : ['parent', 'ours']) as (keyof typeof trees)[];
    for (const side of order) {
      const child = spawnSync('npx', ['tsx', 'bench/step.ts', ...childArgs], {
        cwd: trees[side],
        encoding: 'utf8',
      });
      const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
      if (child.status !== 0 || !line) {
        throw new Error(`${side} failed (${child.status}):\n${child.stderr.slice(-2000)}`);
      }
      const out = JSON.parse(line) as { adapter: string; mode: string; perSecond: number[] };
      adapterName = out.adapter;
      unit = out.mode === 'decode' ? 'images/s' : 'samples/s';
      results[side].push(...out.perSecond);
      console.log(
        `round ${r + 1} ${side}: ${out.perSecond.map((v) => v.toFixed(1)).join(', ')} ${unit}`,
      );
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const ours = median(results.ours);
  const base = median(results.parent);
  console.log(
    `${adapterName}: ours ${head.slice(0, 7)}${dirty ? ' (+ uncommitted changes)' : ''} ` +
      `${ours.toFixed(1)} ${unit}, parent ${parent.slice(0, 7)} ${base.toFixed(1)} ${unit} ` +
      `(medians of ${results.ours.length} samples each): ${(ours / base).toFixed(2)}×`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
