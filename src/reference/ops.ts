// The float64 function pair of every forward op type of the graph (src/graph/ops/*), keyed by
// type, for the reference interpreter (graph.ts). Each entry only adapts an op's named tensors and
// attributes to the per-family float64 functions of this folder.
import type { Op } from '../graph/graph.js';
import type { ActAttrs, ConstantMaskAttrs, MatmulAttrs } from '../graph/ops/dense.js';
import type { ConvAttrs } from '../graph/ops/conv.js';
import type { ReparamAttrs } from '../graph/ops/latent.js';
import type { LikelihoodAttrs } from '../graph/ops/loss.js';
import type { AbsDiffAttrs, ObjectiveAttrs } from '../graph/ops/objective.js';
import type { BinaryAttrs, MaskedFillAttrs, UnaryAttrs } from '../graph/ops/elementwise.js';
import type { LogPdfAttrs } from '../graph/ops/density.js';
import type { SliceAttrs } from '../graph/ops/select.js';
import type { SumTermsAttrs } from '../graph/ops/sum-terms.js';
import type { ReduceOp } from '../kernels/reduce.js';
import {
  concatColsBackward64,
  concatColsForward64,
  sliceColsBackward64,
  sliceColsForward64,
} from './columns.js';
import {
  binaryBackward64,
  binaryForward64,
  constantMask64,
  maskedFillBackward64,
  maskedFillForward64,
  scaleBackward64,
  scaleForward64,
  sumTermsBackward64,
  sumTermsForward64,
  unaryBackward64,
  unaryForward64,
} from './elementwise.js';
import { classCycleForward64, gatherRowsForward64, oneHotForward64 } from './gather.js';
import {
  gaussianLogPdfBackward64,
  gaussianLogPdfForward64,
  standardNormalLogPdfBackward64,
  standardNormalLogPdfForward64,
} from './gaussian-logpdf.js';
import {
  logSoftmaxBackward64,
  logSoftmaxForward64,
  softmaxBackward64,
  softmaxCrossEntropyBackward64,
  softmaxCrossEntropyForward64,
  softmaxEntropyBackward64,
  softmaxEntropyForward64,
  softmaxForward64,
} from './softmax.js';
import { activationBackward64, activationForward64, type Epilogue64 } from './activations.js';
import {
  conv2dBackward64,
  conv2dForward64,
  convTranspose2dBackward64,
  convTranspose2dForward64,
} from './conv.js';
import { linearBackward64, linearForward64, matmulBackward64, matmulForward64 } from './dense.js';
import { repeatRowsBackward64, repeatRowsForward64 } from './graph-util.js';
import type { ReferenceOp, RefContext } from './graph.js';
import { fullReparamBackward64, fullReparamForward64, scaleTril64 } from './full-reparam.js';
import { planarRowsBackward64, planarRowsForward64 } from './planar.js';
import { iafGateBackward64, iafGateForward64 } from './iaf-gate.js';
import { klBackward64, klForward64, klGaussiansBackward64, klGaussiansForward64 } from './kl.js';
import { likelihoodBackward64, likelihoodForward64 } from './likelihood.js';
import {
  logSumExpRowsBackward64,
  logSumExpRowsForward64,
  reduceRowsBackward64,
  reduceRowsForward64,
  reduceTotalBackward64,
  reduceTotalForward64,
} from './reduce.js';
import { reparamBackward64, reparamForward64, reparamNoise64 } from './reparam.js';
import { argminRows64, codeUsage64, vqEma64, vqRestart64 } from './quantize.js';
import type { VqEmaAttrs, VqRestartAttrs } from '../graph/ops/quantize.js';
import { randomMask64 } from './mask.js';
import { categoricalSample64 } from './categorical.js';
import type { CategoricalSampleAttrs } from '../graph/ops/categorical.js';
import { layout64 } from './layout.js';
import type { LayoutAttrs } from '../graph/ops/layout.js';
import type { RandomMaskAttrs } from '../graph/ops/mask.js';

const attrs = <A>(op: Op): A => op.attrs as A;

function epilogue(a: ActAttrs): Epilogue64 {
  return a.alpha !== undefined ? { act: a.act, alpha: a.alpha } : { act: a.act };
}

function need(d: Float64Array | undefined, op: Op, name: string): Float64Array {
  if (!d) throw new Error(`reference: ${op.type} '${op.name}' got no gradient for '${name}'`);
  return d;
}

const linear: ReferenceOp = {
  forward(op, c) {
    const a = attrs<ActAttrs>(op);
    const [out, inn] = op.in.weight!.shape as [number, number];
    const x = c.in('x');
    const rows = x.length / inn;
    const args = [x, c.in('weight'), c.maybe('bias'), rows, inn, out] as const;
    const result: Record<string, Float64Array> = { y: linearForward64(...args, epilogue(a)) };
    if (op.out.pre) result.pre = linearForward64(...args);
    return result;
  },
  vjp(op, c, _out, d) {
    const a = attrs<ActAttrs>(op);
    const [out, inn] = op.in.weight!.shape as [number, number];
    const x = c.in('x');
    const g = linearBackward64(
      need(d('y'), op, 'y'),
      x,
      c.in('weight'),
      c.maybe('bias'),
      x.length / inn,
      inn,
      out,
      epilogue(a),
    );
    return { x: g.dx, weight: g.dw, bias: g.db };
  },
};

const matmul: ReferenceOp = {
  forward(op, c) {
    const { layout, M, N, K } = attrs<MatmulAttrs>(op);
    return { c: matmulForward64(c.in('a'), c.in('b'), M, N, K, layout) };
  },
  vjp(op, c, _out, d) {
    const { layout, M, N, K } = attrs<MatmulAttrs>(op);
    const g = matmulBackward64(need(d('c'), op, 'c'), c.in('a'), c.in('b'), M, N, K, layout);
    return { a: g.da, b: g.db };
  },
};

const activation: ReferenceOp = {
  forward(op, c) {
    const a = attrs<ActAttrs>(op);
    return {
      y: activationForward64(c.in('x'), a.act, ...(a.alpha !== undefined ? [a.alpha] : [])),
    };
  },
  vjp(op, c, _out, d) {
    const a = attrs<ActAttrs>(op);
    const alpha = a.alpha !== undefined ? [a.alpha] : [];
    return { x: activationBackward64(need(d('y'), op, 'y'), c.in('x'), a.act, ...alpha) };
  },
};

function conv(transposed: boolean): ReferenceOp {
  const fwd = transposed ? convTranspose2dForward64 : conv2dForward64;
  const bwd = transposed ? convTranspose2dBackward64 : conv2dBackward64;
  const shapeOf = (op: Op) => ({ ...attrs<ConvAttrs>(op), batch: op.in.x!.rows });
  return {
    forward(op, c) {
      const a = attrs<ConvAttrs>(op);
      const args = [c.in('x'), c.in('weight'), c.maybe('bias'), shapeOf(op)] as const;
      const result: Record<string, Float64Array> = { y: fwd(...args, epilogue(a)) };
      if (op.out.pre) result.pre = fwd(...args);
      return result;
    },
    vjp(op, c, _out, d) {
      const a = attrs<ConvAttrs>(op);
      const g = bwd(
        need(d('y'), op, 'y'),
        c.in('x'),
        c.in('weight'),
        c.maybe('bias'),
        shapeOf(op),
        epilogue(a),
      );
      return { x: g.dx, weight: g.dw, bias: g.db };
    },
  };
}

function noiseOf(op: Op, c: RefContext): Float64Array {
  const a = attrs<ReparamAttrs>(op);
  const mu = op.in.mu!;
  return a.givenNoise
    ? c.in('eps')
    : reparamNoise64(a.seed, c.step, mu.rows, mu.cols, a.samples, a.stream);
}

const reparam: ReferenceOp = {
  forward(op, c) {
    const a = attrs<ReparamAttrs>(op);
    const mu = op.in.mu!;
    const eps = noiseOf(op, c);
    const z = reparamForward64(c.in('mu'), c.in('logvar'), eps, mu.rows, mu.cols, a.samples);
    const result: Record<string, Float64Array> = { z };
    if (op.out.eps) result.eps = eps;
    return result;
  },
  vjp(op, c, _out, d) {
    const a = attrs<ReparamAttrs>(op);
    const mu = op.in.mu!;
    const g = reparamBackward64(
      need(d('z'), op, 'z'),
      c.in('mu'),
      c.in('logvar'),
      noiseOf(op, c),
      mu.rows,
      mu.cols,
      a.samples,
    );
    return { mu: g.dmu, logvar: g.dlogvar };
  },
};

const randomMask: ReferenceOp = {
  forward(op, c) {
    const a = attrs<RandomMaskAttrs>(op);
    const rows = op.out.mask!.rows;
    return { mask: randomMask64(a.pattern, rows, a.shape, a.seed, c.step, a.stream) };
  },
};

// Column position[0] of y redrawn; the rest of y keeps its current value (it is written in place).
const categoricalSample: ReferenceOp = {
  forward(op, c) {
    const a = attrs<CategoricalSampleAttrs>(op);
    const y = op.out.y!;
    const P = y.cols;
    const position = Math.min(Math.max(Math.trunc(c.in('position')[0]!), 0), P - 1);
    const { idx } = categoricalSample64(c.in('logits'), {
      rows: y.rows,
      classes: a.classes,
      positions: P,
      position,
      temperature: c.in('temperature')[0]!,
      seed: a.seed,
      step: c.step,
      stream: a.stream,
    });
    const out = Float64Array.from(c.value(y));
    idx.forEach((k, r) => (out[r * P + position] = k));
    return { y: out };
  },
};

const fullReparam: ReferenceOp = {
  forward(op, c) {
    const a = attrs<ReparamAttrs>(op);
    const mu = op.in.mu!;
    const eps = noiseOf(op, c);
    const z = fullReparamForward64(
      c.in('mu'),
      c.in('logvar'),
      c.in('lower'),
      eps,
      mu.rows,
      mu.cols,
      a.samples,
    );
    const result: Record<string, Float64Array> = { z };
    if (op.out.eps) result.eps = eps;
    return result;
  },
  vjp(op, c, _out, d) {
    const a = attrs<ReparamAttrs>(op);
    const mu = op.in.mu!;
    const g = fullReparamBackward64(
      need(d('z'), op, 'z'),
      c.in('logvar'),
      c.in('lower'),
      noiseOf(op, c),
      mu.rows,
      mu.cols,
      a.samples,
    );
    return { mu: g.dmu, logvar: g.dlogvar, lower: g.dlower, eps: g.deps };
  },
};

const scaleTril: ReferenceOp = {
  forward(op, c) {
    const lv = op.in.logvar!;
    return { L: scaleTril64(c.in('logvar'), c.in('lower'), lv.rows, lv.cols) };
  },
};

const kl: ReferenceOp = {
  forward(op, c) {
    const mu = op.in.mu!;
    return { kl: klForward64(c.in('mu'), c.in('logvar'), mu.rows, mu.cols) };
  },
  vjp(op, c, _out, d) {
    const mu = op.in.mu!;
    const g = klBackward64(need(d('kl'), op, 'kl'), c.in('mu'), c.in('logvar'), mu.rows, mu.cols);
    return { mu: g.dmu, logvar: g.dlogvar };
  },
};

const klGaussians: ReferenceOp = {
  forward(op, c) {
    const mu = op.in.mu!;
    const q = { mu: c.in('mu'), logvar: c.in('logvar') };
    const p = { mu: c.in('priorMu'), logvar: c.in('priorLogvar') };
    return { kl: klGaussiansForward64(q, p, mu.rows, mu.cols) };
  },
  vjp(op, c, _out, d) {
    const mu = op.in.mu!;
    const q = { mu: c.in('mu'), logvar: c.in('logvar') };
    const p = { mu: c.in('priorMu'), logvar: c.in('priorLogvar') };
    const g = klGaussiansBackward64(need(d('kl'), op, 'kl'), q, p, mu.rows, mu.cols);
    return { mu: g.q.dmu, logvar: g.q.dlogvar, priorMu: g.p.dmu, priorLogvar: g.p.dlogvar };
  },
};

const planarRows: ReferenceOp = {
  forward(op, c) {
    const z = op.in.z!;
    return planarRowsForward64(c.in('z'), c.in('params'), z.rows, z.cols);
  },
  vjp(op, c, _out, d) {
    const z = op.in.z!;
    const g = planarRowsBackward64(d('z'), d('logdet'), c.in('z'), c.in('params'), z.rows, z.cols);
    return { z: g.dz, params: g.dparams };
  },
};

const iafGate: ReferenceOp = {
  forward(op, c) {
    const z = op.in.z!;
    return iafGateForward64(c.in('z'), c.in('a'), z.rows, z.cols, attrs<{ bias: number }>(op).bias);
  },
  vjp(op, c, _out, d) {
    const z = op.in.z!;
    const { bias } = attrs<{ bias: number }>(op);
    const g = iafGateBackward64(d('z'), d('negLogdet'), c.in('z'), c.in('a'), z.rows, z.cols, bias);
    return { z: g.dz, a: g.da };
  },
};

const likelihood: ReferenceOp = {
  forward(op, c) {
    const o = op.in.output!;
    const { likelihood: lk } = attrs<LikelihoodAttrs>(op);
    return {
      nll: likelihoodForward64(
        c.in('output'),
        c.in('target'),
        c.maybe('logSigma'),
        o.rows,
        o.cols,
        lk,
      ),
    };
  },
  vjp(op, c, _out, d) {
    const o = op.in.output!;
    const { likelihood: lk } = attrs<LikelihoodAttrs>(op);
    const g = likelihoodBackward64(
      need(d('nll'), op, 'nll'),
      c.in('output'),
      c.in('target'),
      c.maybe('logSigma'),
      o.rows,
      o.cols,
      lk,
    );
    return { output: g.doutput, target: g.dtarget, logSigma: g.dlogSigma };
  },
};

const sum: ReferenceOp = {
  forward: (_op, c) => ({ s: reduceTotalForward64(c.in('x')) }),
  vjp: (op, c, _out, d) => ({ x: reduceTotalBackward64(need(d('s'), op, 's'), c.in('x')) }),
};

const logSumExpRows: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    return { y: logSumExpRowsForward64(c.in('x'), x.rows, x.cols) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    return { x: logSumExpRowsBackward64(need(d('y'), op, 'y'), c.in('x'), x.rows, x.cols) };
  },
};

const repeatRows: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    const { copies } = attrs<{ copies: number }>(op);
    return { y: repeatRowsForward64(c.in('x'), x.rows, x.cols, copies) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    const { copies } = attrs<{ copies: number }>(op);
    return { x: repeatRowsBackward64(need(d('y'), op, 'y'), c.in('x'), x.rows, x.cols, copies) };
  },
};

const layout: ReferenceOp = {
  forward(op, c) {
    const a = attrs<LayoutAttrs>(op);
    const B = op.in.x!.size / (a.channels * a.pixels);
    return { y: layout64(c.in('x'), a.to, B, a.channels, a.pixels) };
  },
  vjp(op, _c, _out, d) {
    const a = attrs<LayoutAttrs>(op);
    const B = op.in.x!.size / (a.channels * a.pixels);
    const back = a.to === 'nhwc' ? 'nchw' : 'nhwc';
    return { x: layout64(need(d('y'), op, 'y'), back, B, a.channels, a.pixels) };
  },
};

/** Views and the metrics accumulator compute nothing a loss reads. */
const none: ReferenceOp = { forward: () => ({}) };

function termWeight(t: { weight: number; hyper?: number }, hyper: Float64Array): number {
  return t.hyper === undefined ? t.weight : t.weight * hyper[t.hyper]!;
}

const objective: ReferenceOp = {
  forward(op, c) {
    const { terms, offset } = attrs<ObjectiveAttrs>(op);
    const hyper = c.in('hyper');
    let loss = offset;
    for (const t of terms) loss += termWeight(t, hyper) * c.in(t.name)[0]!;
    return { loss: Float64Array.of(loss) };
  },
  seed(op, c) {
    const { terms, scale } = attrs<ObjectiveAttrs>(op);
    const hyper = c.in('hyper');
    return Object.fromEntries(
      terms.map((t) => [t.name, Float64Array.of(termWeight(t, hyper) * scale)]),
    );
  },
};

const absDiff: ReferenceOp = {
  forward(op, c) {
    const { factor, index } = attrs<AbsDiffAttrs>(op);
    return { y: Float64Array.of(Math.abs(c.in('x')[0]! - factor * c.in('hyper')[index]!)) };
  },
  vjp(op, c, _out, d) {
    const { factor, index } = attrs<AbsDiffAttrs>(op);
    const sign = Math.sign(c.in('x')[0]! - factor * c.in('hyper')[index]!);
    return { x: Float64Array.of(need(d('y'), op, 'y')[0]! * sign) };
  },
};

const reduceRows: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    return { y: reduceRowsForward64(c.in('x'), x.rows, x.cols, attrs<{ op: ReduceOp }>(op).op) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    const { op: kind } = attrs<{ op: ReduceOp }>(op);
    return { x: reduceRowsBackward64(need(d('y'), op, 'y'), c.in('x'), x.rows, x.cols, kind) };
  },
};

const binary: ReferenceOp = {
  forward(op, c) {
    const a = op.in.a!;
    const { op: kind, broadcast } = attrs<BinaryAttrs>(op);
    return { y: binaryForward64(c.in('a'), c.in('b'), a.rows, a.cols, kind, broadcast) };
  },
  vjp(op, c, _out, d) {
    const a = op.in.a!;
    const { op: kind, broadcast } = attrs<BinaryAttrs>(op);
    const g = binaryBackward64(
      need(d('y'), op, 'y'),
      c.in('a'),
      c.in('b'),
      a.rows,
      a.cols,
      kind,
      broadcast,
    );
    return { a: g.da, b: g.db };
  },
};

const scale: ReferenceOp = {
  forward: (op, c) => ({ y: scaleForward64(c.in('x'), attrs<{ scale: number }>(op).scale) }),
  vjp: (op, c, _out, d) => ({
    x: scaleBackward64(need(d('y'), op, 'y'), c.in('x'), attrs<{ scale: number }>(op).scale),
  }),
};

const sumTerms: ReferenceOp = {
  forward(op, c) {
    const { coefficients } = attrs<SumTermsAttrs>(op);
    return {
      y: sumTermsForward64(
        coefficients.map((_, k) => c.in(`t${k}`)),
        coefficients,
      ),
    };
  },
  vjp(op, _c, _out, d) {
    const { coefficients } = attrs<SumTermsAttrs>(op);
    const grads = sumTermsBackward64(need(d('y'), op, 'y'), coefficients);
    return Object.fromEntries(grads.map((g, k) => [`t${k}`, g]));
  },
};

const unary: ReferenceOp = {
  forward(op, c) {
    const { fn, shift } = attrs<UnaryAttrs>(op);
    return { y: unaryForward64(c.in('x'), fn, shift) };
  },
  vjp(op, c, _out, d) {
    const { fn, shift } = attrs<UnaryAttrs>(op);
    return { x: unaryBackward64(need(d('y'), op, 'y'), c.in('x'), fn, shift) };
  },
};

const constantMask: ReferenceOp = {
  forward: (op, c) => ({ y: constantMask64(c.in('x'), attrs<ConstantMaskAttrs>(op).mask) }),
  vjp: (op, _c, _out, d) => ({
    x: constantMask64(need(d('y'), op, 'y'), attrs<ConstantMaskAttrs>(op).mask),
  }),
};

const maskedFill: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    const { value, broadcast } = attrs<MaskedFillAttrs>(op);
    return { y: maskedFillForward64(c.in('x'), c.in('mask'), x.rows, x.cols, value, broadcast) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    const { value, broadcast } = attrs<MaskedFillAttrs>(op);
    return {
      x: maskedFillBackward64(
        need(d('y'), op, 'y'),
        c.in('x'),
        c.in('mask'),
        x.rows,
        x.cols,
        value,
        broadcast,
      ),
    };
  },
};

function concatParts(op: Op, c: RefContext) {
  const { cols } = attrs<{ cols: readonly number[] }>(op);
  return cols.map((n, i) => ({ x: c.in(`in${i}`), cols: n }));
}

const concatCols: ReferenceOp = {
  forward: (op, c) => ({ y: concatColsForward64(concatParts(op, c), op.out.y!.rows) }),
  vjp(op, c, _out, d) {
    const grads = concatColsBackward64(need(d('y'), op, 'y'), concatParts(op, c), op.out.y!.rows);
    return Object.fromEntries(grads.map((g, i) => [`in${i}`, g]));
  },
};

const sliceCols: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    const { offset, width } = attrs<SliceAttrs>(op);
    return { y: sliceColsForward64(c.in('x'), x.rows, x.cols, offset, width) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    const { offset, width } = attrs<SliceAttrs>(op);
    return {
      x: sliceColsBackward64(need(d('y'), op, 'y'), c.in('x'), x.rows, x.cols, offset, width),
    };
  },
};

const oneHot: ReferenceOp = {
  forward: (op, c) => ({
    y: oneHotForward64(c.in('labels'), attrs<{ classes: number }>(op).classes),
  }),
};

const classCycle: ReferenceOp = {
  forward: (op) => ({
    y: classCycleForward64(op.out.y!.size, attrs<{ classes: number }>(op).classes),
  }),
};

const gatherRows: ReferenceOp = {
  forward(op, c) {
    const table = op.in.table!;
    return { y: gatherRowsForward64(c.in('table'), c.in('idx'), table.rows, table.cols) };
  },
};

const argminRows: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    return argminRows64(c.in('x'), x.rows, x.cols);
  },
};

// sg[x]: its output requires no gradient, so the reverse walk never asks for a vjp.
const stopGradient: ReferenceOp = { forward: (_op, c) => ({ y: Float64Array.from(c.in('x')) }) };

const reduceCols: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    const v = c.in('x');
    const y = new Float64Array(x.cols);
    for (let r = 0; r < x.rows; r++)
      for (let j = 0; j < x.cols; j++) y[j] = y[j]! + v[r * x.cols + j]!;
    return { y };
  },
};

// Writes the codebook and its state: later reads of those parameters see the update.
const vqEma: ReferenceOp = {
  forward(op, c) {
    const codebook = op.out.codebook!;
    const count = op.out.count!;
    const sum = op.out.sum!;
    const { decay, eps } = attrs<VqEmaAttrs>(op);
    const r = vqEma64(
      { count: c.value(count), sum: c.value(sum) },
      { count: c.in('batchCount'), sum: c.in('batchSum') },
      codebook.rows,
      codebook.cols,
      decay,
      eps,
    );
    return { codebook: r.codebook, count: r.count, sum: r.sum };
  },
};

const vqRestart: ReferenceOp = {
  forward(op, c) {
    const a = attrs<VqRestartAttrs>(op);
    const r = vqRestart64(
      {
        codebook: c.value(op.out.codebook!),
        count: c.value(op.out.count!),
        sum: c.value(op.out.sum!),
      },
      c.in('z'),
      op.in.z!.rows,
      a.threshold,
      { seed: a.seed, step: c.step, stream: a.stream },
    );
    return { codebook: r.codebook, count: r.count, sum: r.sum };
  },
};

const codeUsage: ReferenceOp = {
  forward(op, c) {
    const u = codeUsage64(c.in('counts'), attrs<{ scale: number }>(op).scale);
    return { perplexity: Float64Array.of(u.perplexity), used: Float64Array.of(u.used) };
  },
};

const gaussianLogPdf: ReferenceOp = {
  forward(op, c) {
    const z = op.in.z!;
    const { samples } = attrs<LogPdfAttrs>(op);
    const mu = c.maybe('mu');
    const logp = mu
      ? gaussianLogPdfForward64(c.in('z'), mu, c.in('logvar'), z.rows, z.cols, samples)
      : standardNormalLogPdfForward64(c.in('z'), z.rows, z.cols);
    return { logp };
  },
  vjp(op, c, _out, d) {
    const z = op.in.z!;
    const { samples } = attrs<LogPdfAttrs>(op);
    const dlogp = need(d('logp'), op, 'logp');
    const mu = c.maybe('mu');
    if (!mu) return { z: standardNormalLogPdfBackward64(dlogp, c.in('z'), z.rows, z.cols) };
    const g = gaussianLogPdfBackward64(
      dlogp,
      c.in('z'),
      mu,
      c.in('logvar'),
      z.rows,
      z.cols,
      samples,
    );
    return { z: g.dz, mu: g.dmu, logvar: g.dlogvar };
  },
};

const softmax: ReferenceOp = {
  forward(op, c) {
    const x = op.in.x!;
    const f = attrs<{ log: boolean }>(op).log ? logSoftmaxForward64 : softmaxForward64;
    return { y: f(c.in('x'), x.rows, x.cols) };
  },
  vjp(op, c, _out, d) {
    const x = op.in.x!;
    const f = attrs<{ log: boolean }>(op).log ? logSoftmaxBackward64 : softmaxBackward64;
    return { x: f(need(d('y'), op, 'y'), c.in('x'), x.rows, x.cols) };
  },
};

function xentTarget(c: RefContext) {
  const labels = c.maybe('labels');
  return labels ? { labels } : { probs: c.in('probs') };
}

const softmaxXent: ReferenceOp = {
  forward(op, c) {
    const l = op.in.logits!;
    return { ce: softmaxCrossEntropyForward64(c.in('logits'), xentTarget(c), l.rows, l.cols) };
  },
  vjp(op, c, _out, d) {
    const l = op.in.logits!;
    const g = softmaxCrossEntropyBackward64(
      need(d('ce'), op, 'ce'),
      c.in('logits'),
      xentTarget(c),
      l.rows,
      l.cols,
    );
    return { logits: g.dlogits, probs: g.dprobs };
  },
};

const softmaxEntropy: ReferenceOp = {
  forward(op, c) {
    const l = op.in.logits!;
    return { h: softmaxEntropyForward64(c.in('logits'), l.rows, l.cols) };
  },
  vjp(op, c, _out, d) {
    const l = op.in.logits!;
    return {
      logits: softmaxEntropyBackward64(need(d('h'), op, 'h'), c.in('logits'), l.rows, l.cols),
    };
  },
};

export const REFERENCE_OPS: Readonly<Record<string, ReferenceOp>> = {
  reduce_rows: reduceRows,
  binary,
  scale,
  sum_terms: sumTerms,
  masked_fill: maskedFill,
  constant_mask: constantMask,
  unary,
  concat_cols: concatCols,
  slice_cols: sliceCols,
  one_hot: oneHot,
  class_cycle: classCycle,
  gather_rows: gatherRows,
  argmin_rows: argminRows,
  stop_gradient: stopGradient,
  reduce_cols: reduceCols,
  vq_ema: vqEma,
  vq_restart: vqRestart,
  code_usage: codeUsage,
  gaussian_logpdf: gaussianLogPdf,
  softmax,
  softmax_xent: softmaxXent,
  softmax_entropy: softmaxEntropy,
  linear,
  matmul,
  activation,
  conv2d: conv(false),
  conv_transpose2d: conv(true),
  reparam,
  random_mask: randomMask,
  categorical_sample: categoricalSample,
  full_reparam: fullReparam,
  full_scale_tril: scaleTril,
  kl,
  kl_gaussians: klGaussians,
  planar_rows: planarRows,
  iaf_gate: iafGate,
  likelihood,
  sum,
  logsumexp_rows: logSumExpRows,
  repeat_rows: repeatRows,
  layout,
  view: none,
  add_into: none,
  objective,
  abs_diff: absDiff,
};
