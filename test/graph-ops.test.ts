// Every general op of the graph, in a small graph on fresh random values of awkward sizes: its
// gradient rule and backward kernels on the GPU against the float64 interpreter, and the
// interpreter against finite differences (test/helpers/graph-check.ts). The kernels themselves
// are tested against float64 in their own files; this checks the rules that wire them.
import { describe, expect, it } from 'vitest';
import type { Graph, Tensor } from '../src/graph/graph.js';
import { activationOp, maskedLinear, matmulOp } from '../src/graph/ops/dense.js';
import { channelsFirst, channelsLast } from '../src/graph/ops/layout.js';
import { gaussianLogDensity } from '../src/graph/ops/density.js';
import { fullReparam } from '../src/graph/ops/latent.js';
import { klGaussiansOp, klOp } from '../src/graph/ops/loss.js';
import { add, maskedFill, multiply, scale, subtract, unary } from '../src/graph/ops/elementwise.js';
import { concatCols, lookupRows, oneHotPlanes, sliceCols } from '../src/graph/ops/select.js';
import { softmax, softmaxCrossEntropy, softmaxEntropy } from '../src/graph/ops/softmax.js';
import { sumTerms } from '../src/graph/ops/sum-terms.js';
import { logSumExpRowsOp, reduceRows, repeatRows, view } from '../src/graph/ops/util.js';
import type { MatmulLayout } from '../src/kernels/matmul.js';
import { TEST_ADAPTERS, runtimeFor } from './helpers/gpu.js';
import { checkGraphGradients, probedGraph, runOnGpu } from './helpers/graph-check.js';
import { freshSeed, makeRng, randomNormal, randomUniform } from './helpers/reference.js';

type Param = (name: string, values: Float32Array, shape: readonly number[]) => Tensor;
type Input = Param;

/** A case: a graph builder over random parameters and inputs of awkward sizes. */
type Build = (g: Graph, p: Param, i: Input, rng: () => number) => Tensor;

const n = (rng: () => number, count: number, std = 1) => randomNormal(rng, count, std);

const CASES: [string, Build][] = [
  [
    'add, sub, mul with every broadcast',
    (g, p, _i, rng) => {
      const a = p('a', n(rng, 7 * 5), [7, 5]);
      const row = p('row', n(rng, 5), [1, 5]);
      const col = p('col', n(rng, 7), [7, 1]);
      const s = p('s', n(rng, 1), [1, 1]);
      const full = p('full', n(rng, 35), [7, 5]);
      const t1 = add(g, 'add.row', a, row);
      const t2 = subtract(g, 'sub.col', t1, col);
      const t3 = multiply(g, 'mul.scalar', t2, s);
      return multiply(g, 'mul.full', t3, full);
    },
  ],
  [
    'a tensor used twice (x·x) and scale',
    (g, p, _i, rng) => {
      const x = p('x', n(rng, 13), [13, 1]);
      return scale(g, 'scaled', multiply(g, 'square', x, x), -0.7);
    },
  ],
  [
    'unary log|1 + x|, 1/x and x − 1 on one tensor (its gradient assigned, then added twice)',
    (g, p, _i, rng) => {
      // Values at least 0.5 from the poles of log|1 + x| and 1/x.
      const v = n(rng, 11 * 3).map((a) => (a < 0 ? a - 2.5 : a + 0.5));
      const x = p('x', v, [11, 3]);
      const logAbs = unary(g, 'log_abs', x, 'log_abs', 1);
      const inv = unary(g, 'reciprocal', x, 'reciprocal');
      return add(
        g,
        'both',
        multiply(g, 'prod', logAbs, inv),
        unary(g, 'shifted', x, 'identity', -1),
      );
    },
  ],
  [
    'masked linear: one weight under two random masks (its gradient assigned, then added)',
    (g, p, _i, rng) => {
      const [R, out, inn] = [5, 6, 9];
      const x = p('x', n(rng, R * inn), [R, inn]);
      const w = p('w', n(rng, out * inn), [out, inn]);
      const b = p('b', n(rng, out), [out]);
      const mask = () => Array.from({ length: out * inn }, () => (rng() < 0.5 ? 1 : 0));
      const h = maskedLinear(g, 'made.0', x, w, b, mask(), 'tanh', true);
      const y = maskedLinear(g, 'made.1', x, w, undefined, mask(), 'identity', true);
      return multiply(g, 'both', h, y);
    },
  ],
  [
    'masked fill with a row-broadcast mask',
    (g, p, i, rng) => {
      const x = p('x', n(rng, 6 * 9), [6, 9]);
      const mask = i(
        'mask',
        Float32Array.from({ length: 9 }, () => (rng() < 0.4 ? 1 : 0)),
        [1, 9],
      );
      return maskedFill(g, 'filled', x, mask, 0.25);
    },
  ],
  [
    'concat along features (three parts, one used twice) and slice',
    (g, p, _i, rng) => {
      const a = p('a', n(rng, 5 * 3), [5, 3]);
      const b = p('b', n(rng, 5 * 7), [5, 7]);
      const c = concatCols(g, 'cat', [a, b, a]);
      return sliceCols(g, 'slice', c, 2, 9);
    },
  ],
  [
    'sum of terms: nine terms, one tensor given twice (merged), chained in ops of seven',
    (g, p, _i, rng) => {
      const xs = Array.from({ length: 8 }, (_, k) => p(`x${k}`, n(rng, 6 * 5), [6, 5]));
      const terms = xs.map((x, k) => ({ x, coefficient: k % 2 ? -1 : 0.5 + k / 4 }));
      // x3 again: one term of coefficient −1 + 1.75; and a term used as an input elsewhere too.
      const s = sumTerms(g, 'terms', [...terms, { x: xs[3]!, coefficient: 1.75 }]);
      return multiply(
        g,
        'weighted',
        sumTerms(g, 'pair', [
          { x: s, coefficient: 2 },
          { x: xs[0]!, coefficient: -0.3 },
        ]),
        s,
      );
    },
  ],
  [
    'softmax and log-softmax',
    (g, p, _i, rng) => {
      const x = p('x', n(rng, 4 * 11, 3), [4, 11]);
      return add(g, 'both', softmax(g, 'p', x), softmax(g, 'logp', x, true));
    },
  ],
  [
    'softmax cross-entropy with labels and with probabilities, and the entropy',
    (g, p, i, rng) => {
      const logits = p('logits', n(rng, 6 * 10, 2), [6, 10]);
      const labels = i(
        'labels',
        Float32Array.from({ length: 6 }, () => Math.floor(rng() * 10)),
        [6],
      );
      const probsRaw = p('probs', randomUniform(rng, 6 * 10, 0.05, 1), [6, 10]);
      const ce1 = softmaxCrossEntropy(g, 'ce.labels', logits, { labels });
      const ce2 = softmaxCrossEntropy(g, 'ce.probs', logits, { probs: probsRaw });
      return add(g, 'sum', add(g, 'ce', ce1, ce2), softmaxEntropy(g, 'h', logits));
    },
  ],
  [
    'row sums, means, sums of squares and logsumexp',
    (g, p, _i, rng) => {
      const x = p('x', n(rng, 9 * 33), [9, 33]);
      const s = reduceRows(g, 'sum', x);
      const m = reduceRows(g, 'mean', x, 'mean');
      const q = reduceRows(g, 'sumsq', x, 'sumsq');
      const lse = g.add(logSumExpRowsOp, 'lse', { x }, { y: [9] }, {}).out.y;
      return add(g, 'all', add(g, 'sm', s, m), add(g, 'ql', q, lse));
    },
  ],
  [
    'repeat_rows and views',
    (g, p, _i, rng) => {
      const x = p('x', n(rng, 3 * 4), [3, 4]);
      const h = g.add(activationOp, 'tanh', { x }, { y: [3, 4] }, { act: 'tanh' }).out.y;
      const r = repeatRows(g, 'rep', h, 5);
      return view(g, r, [5, 12]);
    },
  ],
  [
    'standalone activations',
    (g, p, _i, rng) => {
      const x = p('x', n(rng, 29, 2), [29]);
      const e = g.add(activationOp, 'elu', { x }, { y: [29] }, { act: 'elu' }).out.y;
      return g.add(activationOp, 'gelu', { x: e }, { y: [29] }, { act: 'gelu' }).out.y;
    },
  ],
  ...(['NN', 'NT', 'TN'] as const).map((layout: MatmulLayout): [string, Build] => [
    `bias-free matmul ${layout} with gradients to both operands`,
    (g, p, _i, rng) => {
      const [M, N, K] = [5, 7, 3];
      const aShape = layout === 'TN' ? [K, M] : [M, K];
      const bShape = layout === 'NT' ? [N, K] : [K, N];
      const a = p('a', n(rng, M * K), aShape);
      const b = p('b', n(rng, K * N), bShape);
      return g.add(matmulOp, 'mm', { a, b }, { c: [M, N] }, { layout, M, N, K }).out.c;
    },
  ]),
  [
    'Gaussian log-density with K samples per mean row, and the standard normal',
    (g, p, _i, rng) => {
      const [M, K, Z] = [3, 4, 5];
      const z = p('z', n(rng, M * K * Z), [M * K, Z]);
      const mu = p('mu', n(rng, M * Z), [M, Z]);
      const logvar = p('logvar', n(rng, M * Z, 0.5), [M, Z]);
      const q = gaussianLogDensity(g, 'logq', z, { mu, logvar, samples: K });
      return subtract(g, 'logw', gaussianLogDensity(g, 'logp', z), q);
    },
  ],
  [
    'full-covariance samples with given noise: gradients to mu, logvar, L′ and eps, each at its own stage of accumulation',
    (g, p, _i, rng) => {
      const [B, K, Z] = [3, 2, 5];
      const mu = p('mu', n(rng, B * Z), [B, Z]);
      const logvar = p('logvar', n(rng, B * Z, 0.5), [B, Z]);
      const lower = p('lower', n(rng, B * 10), [B, 10]);
      const eps = p('eps', n(rng, B * K * Z), [B * K, Z]);
      const { z } = fullReparam(
        g,
        'full',
        { mu, logvar, lower, eps },
        { samples: K, seed: 1, stream: 0 },
      );
      // mu, logvar and L′ are read again by later ops (their gradients are assigned first
      // there, then added by full_reparam); eps only here (assigned).
      const kl = g.add(klOp, 'kl', { mu, logvar }, { kl: [B] }, {}).out.kl;
      const rows = add(g, 'kl.lower', kl, reduceRows(g, 'lower.sq', lower, 'sumsq'));
      return add(g, 'z.kl', view(g, z, [B, K * Z]), rows);
    },
  ],
  [
    'KL between two diagonal Gaussians: gradients to both sides, q also through another path',
    (g, p, _i, rng) => {
      const B = 5;
      const Z = 3;
      const mu = p('mu', n(rng, B * Z), [B, Z]);
      const logvar = p('logvar', n(rng, B * Z, 0.7), [B, Z]);
      const priorMu = p('prior.mu', n(rng, B * Z), [B, Z]);
      const priorLogvar = p('prior.logvar', n(rng, B * Z, 0.7), [B, Z]);
      // q's mean and logvar are read again below (as reparam reads them), so their gradients
      // are assigned there and added by the KL, while the prior's are assigned by the KL: the
      // two sides at different stages of accumulation.
      const kl = g.add(klGaussiansOp, 'kl2', { mu, logvar, priorMu, priorLogvar }, { kl: [B] }, {})
        .out.kl;
      const both = add(g, 'q.both', mu, logvar);
      return add(g, 'kl2.plus', kl, reduceRows(g, 'q.sq', both, 'sumsq'));
    },
  ],
  [
    'rows looked up by index: a one-hot matmul, so the table gets its gradient',
    (g, p, i, rng) => {
      const table = p('table', n(rng, 7 * 6), [7, 6]);
      const idx = i(
        'idx',
        Float32Array.from({ length: 11 }, () => Math.floor(rng() * 7)),
        [11],
      );
      return lookupRows(g, 'rows', table, idx);
    },
  ],
  [
    'image layouts: NCHW rows to rows of channels and back, x read again (gradient added)',
    (g, p, _i, rng) => {
      const [B, C, P] = [3, 5, 7];
      const x = p('x', n(rng, B * C * P), [B, C * P]);
      const w = p('w', n(rng, B * P * C), [B * P, C]);
      const rows = multiply(g, 'rows.w', channelsLast(g, 'to.nhwc', x, C, P), w);
      // Backward runs in reverse: x's gradient is assigned by the last multiply, then the layout
      // adds to it.
      return multiply(g, 'back.x', channelsFirst(g, 'to.nchw', rows, P), x);
    },
  ],
];

describe.each(TEST_ADAPTERS)('graph ops on %s', (adapter) => {
  it.each(CASES)('%s', async (_name, build) => {
    const seed = freshSeed();
    const rng = makeRng(seed);
    const rt = await runtimeFor(adapter);
    const checked = probedGraph(rng, (g, p, i) => build(g, p, i, rng));
    const problems = await checkGraphGradients(rt, checked, { rel: 3e-4 });
    expect(problems, `seed ${seed}\n${problems.join('\n')}`).toEqual([]);
  });

  it('one-hot planes: each label a constant image channel, no gradient', async () => {
    const rt = await runtimeFor(adapter);
    const rng = makeRng(freshSeed());
    const labels = Float32Array.of(2, 0, 1);
    const checked = probedGraph(rng, (g, p, i) => {
      const y = i('y', labels, [3]);
      const planes = oneHotPlanes(g, 'planes', y, 3, 4);
      const w = p('w', n(rng, 3 * 12), [3, 12]);
      planes.keep = true;
      return multiply(g, 'weighted', w, planes);
    });
    const { grads } = await runOnGpu(rt, checked);
    // d/dw = probe ⊙ planes: zero outside each row's one plane of 4 pixels.
    const dw = grads.get('w')!;
    const probe = checked.inputs.get('probe')!;
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 12; c++) {
        const on = Math.floor(c / 4) === labels[r];
        expect(dw[r * 12 + c]).toBeCloseTo(on ? probe[r * 12 + c]! : 0, 6);
      }
    }
  });
});
