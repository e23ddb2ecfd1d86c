// The public API (src/index.ts): curated, browser-safe, and every runtime export used by a typed
// example in test/api-examples/ (which `tsc` type-checks in npm test).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as api from '../src/index.js';
import * as nodeApi from '../src/node.js';
import * as digitsApi from '../src/digits.js';
import * as reference from '../src/reference/graph.js';
import * as graph from '../src/graph/graph.js';
import * as executor from '../src/graph/executor.js';
import * as checks from '../src/kernels/checks.js';
import * as matmul from '../src/kernels/matmul.js';
import * as fill from '../src/kernels/fill.js';

const internals = { reference, graph, executor, checks, matmul, fill };

const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'test', 'api-examples');

/** Names imported from `module` by the examples. */
function importedNames(module: string): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(EXAMPLES, file), 'utf8');
    const re = /import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g;
    for (const m of text.matchAll(re)) {
      if (m[2] !== module) continue;
      for (const part of m[1]!.split(',')) {
        const name = part.trim().replace(/^type\s+/, '');
        if (name) names.add(name);
      }
    }
  }
  return names;
}

/** Bare specifiers imported (statically or with a literal import()) by the module graph of `entry`. */
function bareImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;
    for (const m of text.matchAll(re)) {
      const spec = m[1] ?? m[2]!;
      if (/^import\s+type\s/.test(m[0].trim()) || /^export\s+type\s/.test(m[0].trim())) continue;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else bare.add(spec);
    }
  };
  visit(entry);
  return bare;
}

describe('public API', () => {
  it('has a typed example for every runtime export of each entry', () => {
    const missing = (mod: object, name: string) =>
      Object.keys(mod).filter((k) => !importedNames(name).has(k));
    expect(missing(api, 'webgpu-vae'), 'exports of src/index.ts without an example').toEqual([]);
    const nodeOnly = Object.keys(nodeApi).filter((k) => !(k in api) && !(k in digitsApi));
    expect(
      nodeOnly.filter((k) => !importedNames('webgpu-vae/node').has(k)),
      'exports of src/node.ts without an example',
    ).toEqual([]);
    expect(missing(digitsApi, 'webgpu-vae/digits')).toEqual([]);
  });

  it('leaves out test oracles, internals and Node-only code', () => {
    const names = Object.keys(api);
    for (const internal of [
      'runGraph64', // src/reference/graph.ts: the float64 test oracle
      'zlibCompress',
      'adler32',
      'crc32',
      'pngImage',
      'assemblePng',
      'Graph',
      'CompiledGraph',
      'buildVaeGraph',
      'matmulForward',
      'checkFinite',
      'loadEmbeddedDigits',
      'writeCheckpointFile',
      'encodePngSync',
      'loadIdxDataset',
    ]) {
      expect(names, internal).not.toContain(internal);
    }
    // Nothing from the float64 reference, the graph, the kernels (but fill) or the checks.
    for (const [what, mod] of Object.entries(internals)) {
      expect(
        Object.keys(mod).filter((k) => names.includes(k) && k !== 'fillForward'),
        what,
      ).toEqual([]);
    }
    expect(names.length).toBeGreaterThan(50);
    expect(names.length).toBeLessThan(120);
  });

  it('keeps node: modules and the optional packages out of the browser entry', () => {
    const main = bareImports(join(ROOT, 'src', 'index.ts'));
    expect([...main].filter((s) => s.startsWith('node:'))).toEqual([]);
    expect(main.has('mnist')).toBe(false);
    expect(main.has('webgpu')).toBe(false);
    expect([...main].sort()).toEqual(['wgsl_reflect/wgsl_reflect.module.js']);
    // The digits entry is the one that names `mnist` (resolved by bundlers only when used).
    expect(bareImports(join(ROOT, 'src', 'digits.ts')).has('mnist')).toBe(true);
  });
});
