// The notes' synthetic experiments: the scatter figure (pixels where the points are), the table,
// the runner on a small set (scores consistent with each other and with the exact density, the
// figure's point clouds), and the CLI command end to end (files, JSON, table, argument errors).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../src/cli/args.js';
import { experimentTable, type ExperimentRecord } from '../src/cli/experiment.js';
import { syntheticLogDensity, generateSynthetic } from '../src/data/synthetic.js';
import { SYNTHETIC_EXPERIMENTS } from '../src/experiments/settings.js';
import { runSyntheticExperiment } from '../src/experiments/synthetic.js';
import { scatterExtent, scatterPanels } from '../src/image/scatter.js';
import { startCli } from './helpers/cli-run.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { freshSeed, makeRng } from './helpers/reference.js';

/** The RGB of pixel (col, row) of an image. */
function pixel(img: { width: number; pixels: Uint8Array }, col: number, row: number): number[] {
  const o = (row * img.width + col) * 3;
  return [img.pixels[o]!, img.pixels[o + 1]!, img.pixels[o + 2]!];
}

describe('scatterPanels', () => {
  it('inks the pixels where the points fall, panel by panel, y up, and nothing else', () => {
    const rng = makeRng(freshSeed());
    const size = 37;
    const margin = 3;
    const extent = 2;
    const half = Math.floor(size / 2);
    // Points at pixel centres chosen at random, away from the axes (the axes are drawn grey).
    const cells = Array.from({ length: 2 }, () =>
      Array.from({ length: 5 }, () => [
        1 + Math.floor(rng() * (half - 2)),
        half + 2 + Math.floor(rng() * (half - 2)),
      ]),
    );
    const toValue = (cell: number) => ((cell + 0.5) / size) * 2 * extent - extent;
    const panels = cells.map((list) =>
      Float32Array.from(list.flatMap(([col, row]) => [toValue(col!), -toValue(row!)])),
    );
    const img = scatterPanels(panels, { size, margin, extent });
    expect(img.width).toBe(margin + 2 * (size + margin));
    expect(img.height).toBe(size + 2 * margin);
    const inked = new Set<string>();
    cells.forEach((list, p) => {
      for (const [col, row] of list) {
        // y = −value(row) puts a point `row` pixels from the top (y up: the lower half is y < 0).
        const x = margin + p * (size + margin) + col!;
        const y = margin + row!;
        inked.add(`${x},${y}`);
      }
    });
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const [r, g, b] = pixel(img, x, y);
        const isInk = b! > r! + 40;
        expect(isInk, `pixel ${x},${y}`).toBe(inked.has(`${x},${y}`));
        if (!isInk) expect(r).toBe(g);
      }
    }
  });

  it('takes its extent from the points, ignoring the outermost 0.5 %; names bad input', () => {
    const points = new Float32Array(2000).map((_, i) => ((i % 200) - 100) / 100);
    points[0] = 1e6; // one far outlier
    expect(scatterExtent([points])).toBeCloseTo(1.1, 1);
    expect(() => scatterPanels([new Float32Array(3)])).toThrow(/panel 0 must be \(n, 2\)/);
    expect(() => scatterPanels([], { size: 4 })).toThrow(/size must be an integer >= 16/);
  });
});

describe('experimentTable', () => {
  it('orders rows by set then posterior and prints each score', () => {
    const base = {
      points: 20000,
      seed: 0,
      k: 1000,
      testCount: 2000,
      trainSeconds: 12.5,
      adapter: 'llvmpipe',
      adapterName: 'llvmpipe (LLVM 15.0.6, 256 bits)',
      date: '2026-12-02',
    };
    const records: ExperimentRecord[] = [
      {
        ...base,
        set: 'figure-eight',
        posterior: 'diagonal',
        epochs: 200,
        elbo: -1.5,
        logPx: -1.4,
        exactLogPx: -1.25,
        gap: 0.15,
      },
      {
        ...base,
        set: 'stretched-gaussian',
        posterior: 'full',
        epochs: 20,
        elbo: -3.25,
        logPx: -3.2,
        exactLogPx: -3.125,
        gap: 0.075,
      },
      {
        ...base,
        set: 'stretched-gaussian',
        posterior: 'diagonal',
        epochs: 20,
        elbo: -3.5,
        logPx: -3.25,
        exactLogPx: -3.125,
        gap: 0.125,
      },
    ];
    const rows = experimentTable(records)
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| set'));
    expect(rows.map((r) => r.split(' | ').slice(0, 2).join(' '))).toEqual([
      '| stretched-gaussian diagonal',
      '| stretched-gaussian full',
      '| figure-eight diagonal',
    ]);
    expect(rows[0]).toContain('| 20000 | 20 | -3.500 | -3.250 | -3.125 | 0.125 | 1000 |');
  });
});

describe('the experiment command arguments', () => {
  it('take the set as the first argument or --set, lists, all; and name each mistake', () => {
    const parsed = parseCliArgs(['experiment', 'figure-eight,three-blobs', '--posterior', 'all']);
    expect(parsed.command).toBe('experiment');
    if (parsed.command !== 'experiment') return;
    expect(parsed.options.sets).toEqual(['figure-eight', 'three-blobs']);
    expect(parsed.options.posteriors).toEqual(['diagonal', 'full', 'planar', 'iaf']);
    expect(parsed.options.epochs).toBeUndefined();
    expect(parsed.options.cpuThreads).toBeUndefined(); // the command then picks 0 or LP_NUM_THREADS
    const threads = parseCliArgs(['experiment', 'three-blobs', '--cpu-threads', '2']);
    if (threads.command !== 'experiment') throw new Error('not experiment');
    expect(threads.options.cpuThreads).toBe(2);
    expect(() => parseCliArgs(['experiment', '--cpu-threads', '-1'])).toThrow(
      /--cpu-threads must be >= 0/,
    );
    const all = parseCliArgs(['experiment', '--set', 'all']);
    if (all.command !== 'experiment') throw new Error('not experiment');
    expect(all.options.sets).toEqual(Object.keys(SYNTHETIC_EXPERIMENTS));
    expect(all.options.posteriors).toEqual(['diagonal']);
    expect(() => parseCliArgs(['experiment', 'figure-eigth'])).toThrow(
      /--set: unknown name 'figure-eigth'.*did you mean 'figure-eight'/,
    );
    expect(() => parseCliArgs(['experiment', 'three-blobs', '--set', 'figure-eight'])).toThrow(
      /both give the set; give one/,
    );
    expect(() => parseCliArgs(['experiment', 'three-blobs', 'figure-eight'])).toThrow(
      /unexpected argument 'figure-eight'/,
    );
    expect(() => parseCliArgs(['experiment', '--posterior', 'planr'])).toThrow(
      /--posterior: unknown name 'planr'.*did you mean 'planar'/,
    );
    expect(() => parseCliArgs(['experiment', '--points', '5'])).toThrow(/--points must be >= 10/);
  });
});

describe.each(TEST_ADAPTERS.slice(0, 1))('a synthetic experiment on %s', (adapter) => {
  it('trains, scores held-out points against the exact density, and returns the figure', async () => {
    const rt = await runtimeFor(adapter);
    const seed = freshSeed() % 1000;
    const count = 3000;
    const r = await runSyntheticExperiment(rt, 'stretched-gaussian', 'full', {
      epochs: 3,
      count,
      seed,
      k: 64,
    });
    expect(r.reports.length).toBe(3);
    // The exact log p(x) is the mean density over the same held-out points the runner drew.
    const test = generateSynthetic('stretched-gaussian', {
      count: count / 10,
      seed: seed + 1,
      noiseVariance: SYNTHETIC_EXPERIMENTS['stretched-gaussian'].noiseVariance,
    });
    const exact = syntheticLogDensity(test, test.data);
    expect(r.test.exactLogPx).toBeCloseTo(exact.reduce((s, v) => s + v, 0) / exact.length, 6);
    // The model cannot beat the truth on average (up to the 300 points' sampling noise), the
    // ELBO is below the 64-sample bound, and 3 epochs get within half a nat of the truth.
    const { elbo, logPx, exactLogPx } = r.test;
    expect(logPx, `seed ${seed}`).toBeLessThan(exactLogPx + 0.1);
    expect(elbo, `seed ${seed}`).toBeLessThan(logPx + 0.02);
    expect(exactLogPx - logPx, `seed ${seed}`).toBeLessThan(0.5);
    // The figure: data, samples of the model (spread roughly like the data after 3 epochs: x's
    // variance is 9 + σ²; a decoder without its noise or a broken draw lands far outside),
    // and one reconstruction per test point.
    expect(r.figure.data.length).toBe(2 * Math.min(count, 10000));
    expect(r.figure.samples.length).toBe(2 * SYNTHETIC_EXPERIMENTS['stretched-gaussian'].samples);
    expect(r.figure.reconstructions.length).toBe(2 * (count / 10));
    const xs = r.figure.samples.filter((_, i) => i % 2 === 0);
    const variance = xs.reduce((s, v) => s + v * v, 0) / xs.length;
    expect(variance, `seed ${seed}`).toBeGreaterThan(4.5);
    expect(variance, `seed ${seed}`).toBeLessThan(18);
    expect(r.figure.reconstructions.every(Number.isFinite)).toBe(true);
  });
});

describe('webgpu-vae experiment', () => {
  it('writes the figure, the scores and the table', async () => {
    const out = mkdtempSync(join(tmpdir(), 'experiment-'));
    const args = ['experiment', 'three-blobs', '--posterior', 'diagonal', '--epochs', '1'];
    const run = await startCli([
      ...args,
      ...['--points', '400', '--k', '16', '--out', out, '--json', '--adapter', 'llvmpipe'],
    ]).exited;
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const result = lines.find((l) => l.type === 'result');
    expect(result).toMatchObject({
      set: 'three-blobs',
      posterior: 'diagonal',
      epochs: 1,
      points: 400,
    });
    const record = JSON.parse(
      readFileSync(join(out, 'three-blobs-diagonal.json'), 'utf8'),
    ) as ExperimentRecord;
    expect(record.gap).toBeCloseTo(record.exactLogPx - record.logPx, 3);
    expect(Number.isFinite(record.elbo)).toBe(true);
    const png = readFileSync(join(out, 'three-blobs-diagonal.png'));
    // IHDR: width and height, three panels of 320 with margins of 8.
    expect(png.readUInt32BE(16)).toBe(8 + 3 * (320 + 8));
    expect(png.readUInt32BE(20)).toBe(320 + 16);
    // The image is not blank: some pixels of the first panel are inked.
    const idat = png.indexOf('IDAT');
    const raw = inflateSync(png.subarray(idat + 4, idat + 4 + png.readUInt32BE(idat - 4)));
    expect(raw.some((v) => v > 0 && v < 150)).toBe(true);
    const table = readFileSync(join(out, 'table.md'), 'utf8');
    expect(table).toContain('| three-blobs | diagonal | 400 | 1 |');
  });
});
