// The `experiment` command: the notes' synthetic 2-D experiments, one run per set and posterior.
// Each run writes its figure (PNG) and its scores (JSON) as soon as it ends, and table.md is
// rewritten from every result in the folder, so runs made at different times build one table.
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SYNTHETIC_EXPERIMENTS } from '../experiments/settings.js';
import { runSyntheticExperiment, type ExperimentResult } from '../experiments/synthetic.js';
import { encodePngSync } from '../image/png-node.js';
import { scatterPanels } from '../image/scatter.js';
import type { ExperimentCliOptions } from './args.js';
import { Output, round, runtime } from './output.js';

/** One run's scores as stored in DIR/<set>-<posterior>.json. */
export interface ExperimentRecord {
  set: string;
  posterior: string;
  epochs: number;
  /** Training points. */
  points: number;
  seed: number;
  k: number;
  testCount: number;
  elbo: number;
  logPx: number;
  exactLogPx: number;
  /** exactLogPx − logPx: how far the model's log p(x) falls below the truth. */
  gap: number;
  trainSeconds: number;
  /** The adapter's kind (llvmpipe, swiftshader, gpu) and its full name. */
  adapter: string;
  adapterName: string;
  date: string;
}

function recordOf(
  r: ExperimentResult,
  seed: number,
  adapter: { kind: string; name: string },
): ExperimentRecord {
  return {
    set: r.name,
    posterior: r.posterior,
    epochs: r.epochs,
    points: r.count,
    seed,
    k: r.k,
    testCount: r.testCount,
    elbo: round(r.test.elbo),
    logPx: round(r.test.logPx),
    exactLogPx: round(r.test.exactLogPx),
    gap: round(r.test.exactLogPx - r.test.logPx),
    trainSeconds: round(r.seconds, 1),
    adapter: adapter.kind,
    adapterName: adapter.name,
    date: new Date().toISOString().slice(0, 10),
  };
}

/** Writes via a temporary name, so an interrupted run never leaves half a file. */
async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, bytes);
  await rename(temp, path);
}

/** The markdown table of every DIR/*.json record, in set then posterior order. */
export function experimentTable(records: readonly ExperimentRecord[]): string {
  const sets = Object.keys(SYNTHETIC_EXPERIMENTS);
  const sorted = [...records].sort(
    (a, b) => sets.indexOf(a.set) - sets.indexOf(b.set) || a.posterior.localeCompare(b.posterior),
  );
  const f = (v: number) => v.toFixed(3);
  return [
    '| set | posterior | points | epochs | test ELBO | log p(x) | exact log p(x) | gap | k | train s | adapter | date |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...sorted.map(
      (r) =>
        `| ${r.set} | ${r.posterior} | ${r.points} | ${r.epochs} | ${f(r.elbo)} | ${f(r.logPx)} | ${f(r.exactLogPx)} | ${f(r.gap)} | ${r.k} | ${r.trainSeconds} | ${r.adapter} | ${r.date} |`,
    ),
    '',
    'Per held-out point, in nats. gap = exact log p(x) − log p(x) (importance-sampled with k',
    'samples): what the model misses of the true density.',
    '',
  ].join('\n');
}

async function readRecords(dir: string): Promise<ExperimentRecord[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  const records: ExperimentRecord[] = [];
  for (const name of names) {
    const parsed: unknown = JSON.parse(await readFile(join(dir, name), 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'gap' in parsed && 'set' in parsed) {
      records.push(parsed as ExperimentRecord);
    }
  }
  return records;
}

export async function experiment(o: ExperimentCliOptions): Promise<void> {
  const out = new Output(o.json);
  // A step of the notes' 2-D model is a few dozen tiny dispatches: on llvmpipe, waking its worker
  // threads for each costs more than the arithmetic (one thread trains 1.7× faster, measured).
  const cpuThreads = o.cpuThreads ?? (process.env.LP_NUM_THREADS === undefined ? 0 : undefined);
  const rt = await runtime(o.adapter, out, cpuThreads);
  await mkdir(o.out, { recursive: true });
  const files: string[] = [];
  try {
    for (const set of o.sets) {
      for (const posterior of o.posteriors) {
        const epochs = o.epochs ?? SYNTHETIC_EXPERIMENTS[set].epochs;
        const every = Math.max(1, Math.round(epochs / 20));
        out.log(`${set}, ${posterior} posterior: ${epochs} epochs`);
        const r = await runSyntheticExperiment(rt, set, posterior, {
          epochs: o.epochs,
          count: o.points,
          seed: o.seed,
          k: o.k,
          onEpoch: (e) => {
            if (e.epoch % every !== 0 && e.epoch !== epochs) return;
            out.log(
              `  epoch ${e.epoch}/${epochs}: train loss ${e.train.loss.toFixed(4)} (${e.stepsPerSecond.toFixed(0)} steps/s)`,
            );
            out.json({ type: 'epoch', set, posterior, epoch: e.epoch, loss: round(e.train.loss) });
          },
        });
        const record = recordOf(r, o.seed, rt.info);
        const stem = join(o.out, `${set}-${posterior}`);
        const figure = scatterPanels([r.figure.data, r.figure.samples, r.figure.reconstructions]);
        await writeAtomically(
          `${stem}.png`,
          encodePngSync(figure.pixels, figure.width, figure.height, 3),
        );
        await writeAtomically(`${stem}.json`, `${JSON.stringify(record, null, 2)}\n`);
        files.push(`${stem}.png`, `${stem}.json`);
        out.log(
          `  test: ELBO ${record.elbo.toFixed(3)}, log p(x) ${record.logPx.toFixed(3)} (k = ${o.k}), ` +
            `exact ${record.exactLogPx.toFixed(3)}, gap ${record.gap.toFixed(3)} nats; ` +
            `trained in ${record.trainSeconds} s`,
        );
        out.json({ type: 'result', ...record });
        const table = join(o.out, 'table.md');
        await writeAtomically(table, experimentTable(await readRecords(o.out)));
        if (!files.includes(table)) files.push(table);
      }
    }
  } finally {
    rt.destroy();
  }
  out.finish('experiment', files, { adapter: rt.info.name });
}
