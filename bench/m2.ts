// Issue 11's semi-supervised figures: M2 (Kingma, Rezende, Mohamed & Welling 2014) on full MNIST
// with N labels (an equal share per class, chosen by --seed: the same digits on both sides), trained
// by us and by the PyTorch twin from one model description at the same settings, both at once (a
// core each), with the test classification error of q(y|x) on all 10,000 test digits after every
// epoch and each side's seconds per epoch, beside the paper's M2 (11.97 % with 100 labels, 3.60 %
// with 1000).
//   npx tsx bench/m2.ts [--labels 100,1000] [--epochs 10] [--batch 100] [--hidden 500]
//                       [--latent 50] [--activation softplus] [--alpha A] [--lr 1e-3]
//                       [--schedule constant|cosine|step:EPOCHS:GAMMA] [--adapter auto]
//                       [--serial] [--no-twin] [--no-ours] [--data DIR] [--out DIR]
//                       [--openblas DIR] [--seed 1]
// The default model is the paper's M2: q(z|x,y), p(x|z,y) and q(y|x) each one hidden layer of 500
// softplus units, latent 50, α = 0.1·N (the library's default; --alpha A writes objective.alpha, the
// weight per labeled row), Bernoulli on the grayscale pixels;
// each step takes --batch unlabeled and --batch labeled rows (both trainers). Every run is the
// user-facing command (ours: src/cli.ts train --labels; the twin: webgpu_vae_torch.train --labels),
// and resumable: run the same command again after an interruption and each side continues from
// its last epoch's checkpoint (ours' per-epoch lines are kept in ours.jsonl, the twin's in its
// metrics.jsonl). --no-ours / --no-twin train nothing on that side; the epochs it has in --out
// still show (so both flags print the table of what is there). Writes the table to <out>/m2.md
// and the rows with the settings to <out>/m2-<date>.json. --openblas as in bench/iwae.ts.
// --schedule: the learning rate's over the whole run on both sides (step:40:0.1 keeps --lr for 40
// epochs, then a tenth of it); a run resumed in the same --out keeps the same --schedule and
// --epochs (the cosine's period is the run).
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ACTIVATIONS, type Activation } from '../src/kernels/activation-codes.js';
import { checkSchedule, type LrSchedule } from '../src/optim/schedule.js';
import { jsonLines, num, ours, twin, type Json } from './commands.js';
import { paperM2 } from './portable.js';
import { positiveInt, trainingOptions } from './quality-args.js';

/** The paper's test errors (%) of M2 alone (Kingma et al. 2014), per labels (issue 11's figures). */
const PAPER: Record<number, number> = { 100: 11.97, 1000: 3.6 };

const { values } = parseArgs({
  options: {
    labels: { type: 'string', default: '100,1000' },
    epochs: { type: 'string', default: '10' },
    batch: { type: 'string', default: '100' },
    hidden: { type: 'string', default: '500' },
    latent: { type: 'string', default: '50' },
    activation: { type: 'string', default: 'softplus' },
    alpha: { type: 'string', default: '' },
    lr: { type: 'string', default: '1e-3' },
    schedule: { type: 'string', default: 'constant' },
    adapter: { type: 'string', default: 'auto' },
    serial: { type: 'boolean', default: false },
    'no-twin': { type: 'boolean', default: false },
    'no-ours': { type: 'boolean', default: false },
    data: { type: 'string', default: new URL('../../shared/data', import.meta.url).pathname },
    out: { type: 'string', default: 'bench/out/m2' },
    seed: { type: 'string', default: '1' },
    openblas: { type: 'string', default: '' },
  },
});
const o = trainingOptions(values);
const labelCounts = values.labels.split(',').map((t) => positiveInt('labels', t.trim()));
const hidden = positiveInt('hidden', values.hidden);
const latent = positiveInt('latent', values.latent);
const lr = Number(values.lr);
if (!(lr > 0)) throw new Error(`--lr must be a number > 0, got '${values.lr}'`);
const schedule = parseSchedule(values.schedule);
const alpha = values.alpha === '' ? undefined : Number(values.alpha);
if (alpha !== undefined && !(alpha >= 0)) {
  throw new Error(`--alpha must be a number >= 0, got '${values.alpha}'`);
}
const activation = values.activation as Activation;
if (!(activation in ACTIVATIONS)) {
  throw new Error(
    `--activation: unknown '${values.activation}' (known: ${Object.keys(ACTIVATIONS).join(', ')})`,
  );
}

/** --schedule's text as the schedule both trainers take (the twin's own text form). */
function parseSchedule(text: string): LrSchedule {
  const [kind, ...rest] = text.split(':');
  if ((kind === 'constant' || kind === 'cosine') && rest.length === 0) return { kind };
  if (kind === 'step' && rest.length === 2) {
    const [stepSize = NaN, gamma = NaN] = rest.map(Number);
    return checkSchedule({ kind, stepSize, gamma });
  }
  throw new Error(`--schedule: use constant, cosine or step:EPOCHS:GAMMA, got '${text}'`);
}

/** The schedule as ours' CLI flags and as the twin's --schedule. */
const scheduleArgs = {
  ours:
    schedule.kind === 'step'
      ? [
          '--schedule',
          'step',
          '--step-size',
          `${schedule.stepSize}`,
          '--gamma',
          `${schedule.gamma}`,
        ]
      : ['--schedule', schedule.kind],
  twin: ['--schedule', values.schedule],
};

const config = paperM2({ hidden, latent, activation, alpha });
const configPath = join(o.out, 'model.json');
writeFileSync(configPath, JSON.stringify(config, null, 2));

/** One side's epoch: the test error of q(y|x) in percent and the epoch's training seconds. */
interface Epoch {
  epoch: number;
  error: number;
  seconds: number;
  trainLoss: number;
}

/**
 * The epochs in a JSON-lines file (none when it is absent), in order; an epoch trained again after
 * an interruption (its checkpoint was not yet written) counts as its last line says.
 */
function epochsIn(file: string, pick: (line: Json) => Epoch | undefined): Epoch[] {
  if (!existsSync(file)) return [];
  const byEpoch = new Map<number, Epoch>();
  for (const e of jsonLines(readFileSync(file, 'utf8')).flatMap((l) => pick(l) ?? [])) {
    byEpoch.set(e.epoch, e);
  }
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
}

/** Ours' epoch line (`train --json`): test.accuracy is q(y|x)'s on the whole test split. */
const oursEpoch = (l: Json): Epoch | undefined =>
  l.type !== 'epoch'
    ? undefined
    : {
        epoch: num(l, 'epoch'),
        error: 100 * (1 - num(l.test as Json, 'accuracy')),
        seconds: num(l, 'seconds'),
        trainLoss: num(l.train as Json, 'loss'),
      };
/** The twin's metrics.jsonl line: test.classificationError. */
const twinEpoch = (l: Json): Epoch => ({
  epoch: num(l, 'epoch'),
  error: 100 * num(l.test as Json, 'classificationError'),
  seconds: num(l, 'seconds'),
  trainLoss: num(l.train as Json, 'loss'),
});

const mnist = join(o.data, 'mnist');

async function runOurs(labels: number, train: boolean): Promise<Epoch[]> {
  const dir = join(o.out, `ours-${labels}`);
  const log = join(dir, 'ours.jsonl');
  const checkpoint = join(dir, 'model.safetensors');
  const done = epochsIn(log, oursEpoch);
  if (train && done.length < o.epochs) {
    // A resumed run takes its model from the checkpoint.
    const model = existsSync(checkpoint) ? ['--resume', checkpoint] : ['--config', configPath];
    mkdirSync(dir, { recursive: true });
    // Each line is kept as it comes: an interrupted run keeps the epochs it finished.
    await ours(
      [
        ...['train', '--quiet', ...model, '--dataset', 'mnist', '--data', o.data],
        ...['--labels', `${labels}`, '--epochs', `${o.epochs}`, '--batch', `${o.batch}`],
        ...['--lr', `${lr}`, '--seed', `${o.seed}`, '--out', dir, '--adapter', o.adapter],
        ...scheduleArgs.ours,
      ],
      (line) => appendFileSync(log, `${JSON.stringify(line)}\n`),
    );
  }
  return epochsIn(log, oursEpoch);
}

async function runTwin(labels: number, train: boolean): Promise<Epoch[]> {
  const dir = join(o.out, `twin-${labels}`);
  const metrics = join(dir, 'metrics.jsonl');
  const checkpoint = join(dir, 'model.safetensors');
  const done = epochsIn(metrics, twinEpoch);
  if (train && done.length < o.epochs) {
    const resume = done.length > 0 && existsSync(checkpoint) ? ['--resume', checkpoint] : [];
    await twin(
      'train',
      [
        ...['--config', configPath, '--data', mnist, '--out', dir, '--labels', `${labels}`],
        // The twin's --epochs counts the epochs to train now.
        ...['--epochs', `${o.epochs - done.length}`, '--batch-size', `${o.batch}`],
        ...['--lr', `${lr}`, '--seed', `${o.seed}`, ...resume, ...scheduleArgs.twin],
      ],
      o.openblas,
      `twin ${labels}: `,
      // Beside ours, one core each.
      values.serial ? undefined : 1,
    );
  }
  return epochsIn(metrics, twinEpoch);
}

const started = new Date().toISOString();
const results: { labels: number; ours: Epoch[]; twin: Epoch[] }[] = [];
for (const labels of labelCounts) {
  const oursRun = () => runOurs(labels, o.ours);
  const twinRun = () => runTwin(labels, o.twin);
  const [oursEpochs, twinEpochs] = values.serial
    ? [await oursRun(), await twinRun()]
    : await Promise.all([oursRun(), twinRun()]);
  results.push({ labels, ours: oursEpochs, twin: twinEpochs });
}

const cell = (e: Epoch | undefined, f: (e: Epoch) => string) => (e ? f(e) : '—');
const table = [
  '| labels | epoch | ours: test error | twin: test error | ours: train loss | twin: train loss | ours: s | twin: s |',
  '|---|---|---|---|---|---|---|---|',
  ...results.flatMap((r) =>
    Array.from({ length: o.epochs }, (_, i) => {
      const [a, b] = [r.ours[i], r.twin[i]];
      return (
        `| ${r.labels} | ${i + 1} | ${cell(a, (e) => `${e.error.toFixed(2)} %`)} | ` +
        `${cell(b, (e) => `${e.error.toFixed(2)} %`)} | ${cell(a, (e) => e.trainLoss.toFixed(2))} | ` +
        `${cell(b, (e) => e.trainLoss.toFixed(2))} | ${cell(a, (e) => e.seconds.toFixed(0))} | ` +
        `${cell(b, (e) => e.seconds.toFixed(0))} |`
      );
    }),
  ),
  '',
  ...results.map(
    (r) =>
      `${r.labels} labels: the paper's M2 ${PAPER[r.labels] !== undefined ? `${PAPER[r.labels]} %` : '(no figure)'}`,
  ),
].join('\n');
console.log(`\n${table}`);
writeFileSync(join(o.out, 'm2.md'), `${table}\n`);
const file = join(o.out, `m2-${started.slice(0, 10)}.json`);
writeFileSync(file, JSON.stringify({ started, settings: { ...values, config }, results }, null, 2));
console.log(`wrote ${file}`);
