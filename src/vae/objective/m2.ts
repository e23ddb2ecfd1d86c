// Semi-supervised learning with the M2 model (Kingma, Rezende, Mohamed & Welling 2014): a
// classifier q(y|x) beside the conditional VAE q(z|x, y), p(x|z, y) of the label condition. A step
// reads a labeled batch (xl, yl) and an unlabeled batch xu, and the model runs once on the rows
//   [xl (L rows, labels yl) ; xu repeated once per class (U·C rows, labels 0 … C−1 in turn)],
// so every unlabeled example is scored under every label in the same graph and submit. With
// n = −ELBO per row (nll + KL):
//   labeled   Σ_l n(xl, yl) + α·CE(q(y|xl), yl)
//   unlabeled Σ_u Σ_y q(y|xu)·n(xu, y) − H(q(y|xu))
// The weights q(y|xu) are the classifier's softmax, differentiable, so the unlabeled bound trains
// the classifier too. α is a per-step hyperparameter (hyper[0]): it changes without recompiling.
import type { Tensor } from '../../graph/graph.js';
import { add, multiply, scale } from '../../graph/ops/elementwise.js';
import { objective } from '../../graph/ops/objective.js';
import { argminRows } from '../../graph/ops/quantize.js';
import { concatCols, everyClass, oneHot, sliceCols } from '../../graph/ops/select.js';
import { softmax, softmaxCrossEntropy, softmaxEntropy } from '../../graph/ops/softmax.js';
import { reduceRows, repeatRows, total, view } from '../../graph/ops/util.js';
import { subtract } from '../../graph/ops/elementwise.js';
import type { Activation } from '../../kernels/activation-codes.js';
import {
  checkActivation,
  checkFields,
  checkNumber,
  checkObject,
  checkSize,
  fail,
} from '../fields.js';
import {
  convChain,
  convParams,
  linearChain,
  linearParams,
  resolveConvLayers,
  type ConvLayerConfig,
  type ConvSpec,
  type LinearSpec,
} from '../layers.js';
import { convLayer, linearLayer } from '../modules.js';
import type { BuildContext, ObjectiveKind } from '../sections.js';
import type { ResolvedVaeConfig } from '../config.js';
import { resolveReduction } from './elbo.js';
import { klEstimate } from './log-prior.js';

/**
 * The classifier q(y|x) of M2: optional Conv2d layers on the image (`classifier.conv.0` …, each
 * followed by the activation, flattened), dense layers, then `classifier.out` (classes logits).
 */
export interface M2ClassifierConfig {
  /**
   * Conv2d layers on the image (inputShape), input side first; absent: none. Needs an inputShape
   * (given, or implied by conv layers in the encoder or decoder).
   */
  conv?: readonly ConvLayerConfig[];
  /** Hidden layer widths (default [500], the paper's MNIST classifier). */
  hidden: number[];
  /** Activation after every hidden layer (default 'softplus', as the paper). */
  activation: Activation;
}

/**
 * Semi-supervised M2 (Kingma et al. 2014): the label condition's conditional VAE plus a classifier
 * q(y|x) (parameters `classifier.0` … and `classifier.out`, after the decoder's), trained on a
 * labeled and an unlabeled batch each step. Needs `condition: { kind: 'label', classes }` (which
 * feeds the one-hot y to the encoder and the decoder). Per labeled example the loss is
 * −ELBO(x, y) + α·CE(q(y|x), y); per unlabeled example Σ_y q(y|x)·(−ELBO(x, y)) − H(q(y|x)).
 * Metrics: `labeled` (−ELBO per labeled example), `ce` and `accuracy` (of q(y|x) on the labeled
 * batch), `unlabeled` (the unlabeled loss per unlabeled example).
 *
 * @example `{ kind: 'm2', classifier: { hidden: [500], activation: 'softplus' } }` with
 * `condition: { kind: 'label', classes: 10 }`.
 */
export interface M2ObjectiveConfig {
  /** The objective's kind. */
  kind: 'm2';
  /**
   * Weight α >= 0 of the classification term per labeled example. Absent: the paper's α = 0.1·N,
   * which weights an expectation over the labeled examples; per labeled example that is
   * 0.1·N / N_l, with N every training example (labeled and unlabeled) and N_l the labeled ones
   * (60 for 100 labels of MNIST's 60,000). fit() knows N and N_l; without them (a lone
   * trainStep, evaluate) it is 0.2, as if half the examples were labeled.
   */
  alpha?: number;
  /** The classifier q(y|x). */
  classifier: M2ClassifierConfig;
  /** 'sum' (default): the batch sum; 'mean': the gradient divided by the unlabeled rows. */
  reduction: 'sum' | 'mean';
}

function classes(config: ResolvedVaeConfig): number {
  if (config.condition.kind !== 'label') {
    fail(
      `objective.kind 'm2' needs condition.kind 'label' (the classes, and the one-hot y the ` +
        `encoder and decoder read), got '${config.condition.kind}'`,
    );
  }
  return config.condition.classes;
}

/** The classifier's layers: conv ones, hidden ones, then the logits. */
function classifierLayers(
  c: M2ObjectiveConfig,
  config: ResolvedVaeConfig,
): { conv: ConvSpec[]; dense: LinearSpec[] } {
  // Resolved layers have every field; a description written in code may leave defaults out.
  const layers = (c.classifier.conv ?? []).map((l) => ({
    channels: l.channels,
    kernel: l.kernel,
    stride: l.stride ?? 1,
    padding: l.padding ?? 0,
    outputPadding: 0,
  }));
  const conv = layers.length ? convChain('classifier.conv', layers, config.inputShape!, false) : [];
  const last = conv.at(-1);
  const flat = last ? last.outChannels * last.outHeight * last.outWidth : config.inputSize;
  const hidden = linearChain('classifier', flat, c.classifier.hidden);
  const top = c.classifier.hidden.at(-1) ?? flat;
  return {
    conv,
    dense: [...hidden, { name: 'classifier.out', inSize: top, outSize: classes(config) }],
  };
}

function classifierLogits(ctx: BuildContext, c: M2ObjectiveConfig, x: Tensor): Tensor {
  const { conv, dense } = classifierLayers(c, ctx.config);
  const act = c.classifier.activation;
  let h = x;
  // The first dense layer reads the conv output flattened: the same row-major values.
  for (const spec of conv) h = convLayer(ctx, spec, h, act);
  dense.forEach((spec, i) => {
    h = linearLayer(ctx, spec, h, i === dense.length - 1 ? 'identity' : act);
  });
  return h;
}

/** The rows of a 1-D tensor (n) from `offset`, `width` of them. */
function sliceRows(ctx: BuildContext, name: string, x: Tensor, offset: number, width: number) {
  return view(ctx.g, sliceCols(ctx.g, name, view(ctx.g, x, [1, x.size]), offset, width), [width]);
}

export const m2Objective: ObjectiveKind<M2ObjectiveConfig> = {
  kind: 'm2',
  fields: ['alpha', 'classifier', 'reduction'],
  resolve(raw, path) {
    const resolved: M2ObjectiveConfig = {
      kind: 'm2',
      classifier: { hidden: [500], activation: 'softplus' },
      reduction: resolveReduction(path, raw.reduction),
    };
    if (raw.alpha !== undefined && raw.alpha !== null) {
      resolved.alpha = checkNumber(`${path}.alpha`, raw.alpha, 0);
    }
    if (raw.classifier !== undefined && raw.classifier !== null) {
      const at = `${path}.classifier`;
      const cl = checkObject(at, raw.classifier, '{ hidden, activation, conv }');
      checkFields(cl, at, ['hidden', 'activation', 'conv']);
      const hidden = cl.hidden ?? resolved.classifier.hidden;
      if (!Array.isArray(hidden)) fail(`${at}.hidden must be an array of layer widths`);
      const activation = checkActivation(
        `${at}.activation`,
        cl.activation,
        resolved.classifier.activation,
      );
      resolved.classifier = {
        hidden: hidden.map((h, i) => checkSize(`${at}.hidden[${i}]`, h)),
        activation,
      };
      const conv = resolveConvLayers(`${at}.conv`, cl.conv, false);
      if (conv) resolved.classifier.conv = conv.map((l) => ({ ...l, outputPadding: 0 }));
    }
    return resolved;
  },
  check(c, config) {
    classes(config);
    if (config.masking) fail("objective.kind 'm2' does not take a masking section");
    if (!c.classifier.conv?.length) return;
    if (!config.inputShape) {
      fail(
        'objective.classifier.conv needs inputShape [C, H, W] (given, or implied by conv ' +
          'layers in the encoder or decoder)',
      );
    }
    classifierLayers(c, config).conv.forEach((l, i) => {
      if (l.outHeight < 1 || l.outWidth < 1) {
        fail(
          `objective.classifier.conv[${i}]: a ${l.inChannels}×${l.height}×${l.width} input ` +
            `gives an empty output (${l.outHeight}×${l.outWidth}) with kernel ${l.kernel}, ` +
            `stride ${l.stride}, padding ${l.padding}`,
        );
      }
    });
  },
  params: (c, config) => {
    const { conv, dense } = classifierLayers(c, config);
    return [...conv.flatMap(convParams), ...dense.flatMap(linearParams)];
  },
  samples: () => 1,
  hyperNames: () => ['alpha'],
  hyperAt: (c, _step, data) => [c.alpha ?? (data ? (0.1 * data.examples) / data.labeled : 0.1 * 2)],
  rows(ctx, c, { batch, labeledBatch }) {
    const g = ctx.g;
    const C = classes(ctx.config);
    const D = ctx.config.inputSize;
    const xl = g.input('xl', [labeledBatch, D]);
    const yl = g.input('yl', [labeledBatch, 1]);
    const xu = g.input('xu', [batch, D]);
    const L = labeledBatch;
    const rows = L + batch * C;
    // The images once each, [xl ; xu], and the map from a row per image to the model's rows
    // [xl ; xu repeated C times]: x is expand(images), and the encoder's layers before its label
    // columns run on the images.
    const images = view(
      g,
      concatCols(g, 'm2.images', [view(g, xl, [1, xl.size]), view(g, xu, [1, xu.size])]),
      [L + batch, D],
      'm2.images.rows',
    );
    const expand = (t: Tensor): Tensor => {
      const w = t.size / (L + batch);
      const flatT = view(g, t, [1, t.size]);
      const unlabeled = view(g, sliceCols(g, `${t.name}.u`, flatT, L * w, batch * w), [batch, w]);
      const repeatedT = repeatRows(g, `${t.name}.u.repeat`, unlabeled, C);
      const parts = [
        sliceCols(g, `${t.name}.l`, flatT, 0, L * w),
        view(g, repeatedT, [1, repeatedT.size]),
      ];
      return view(g, concatCols(g, `${t.name}.expanded`, parts), [rows, w], `${t.name}.rows`);
    };
    // [yl ; 0 … C−1 per unlabeled row], concatenated as flat rows.
    const labels = concatCols(g, 'm2.y', [
      view(g, yl, [1, labeledBatch]),
      view(g, everyClass(g, 'xu.classes', batch, C), [1, batch * C]),
    ]);
    return {
      x: expand(images),
      inputs: { y: view(g, labels, [rows, 1], 'm2.y.rows') },
      distinct: { images, expand },
      feeds: [
        { tensor: xu, field: 'images', width: D },
        { tensor: xl, field: 'images', width: D, stream: 'labeled' },
        { tensor: yl, field: 'labels', width: 1, stream: 'labeled' },
      ],
      tensors: { xl, yl, xu },
    };
  },
  classify: (ctx, c, x) => classifierLogits(ctx, c, x),
  build(ctx, c, { nll, posterior, prior, hyper, batch, rows }) {
    const g = ctx.g;
    if (!rows) throw new Error("graph: objective 'm2' needs its assembled rows");
    const C = classes(ctx.config);
    const { xl, yl, xu } = rows.tensors as Record<'xl' | 'yl' | 'xu', Tensor>;
    const L = xl.rows;
    const klRows = posterior.analyticKl(prior) ?? klEstimate(g, posterior, prior);
    const nelbo = add(g, 'm2.nelbo', nll, klRows); // −ELBO per row (L + U·C)
    const labeledRows = sliceRows(ctx, 'm2.nelbo.labeled', nelbo, 0, L);
    const unlabeledRows = view(g, sliceRows(ctx, 'm2.nelbo.unlabeled', nelbo, L, batch * C), [
      batch,
      C,
    ]);
    // q(y|x) on both batches, with the same weights.
    const logitsL = classifierLogits(ctx, c, xl);
    const logitsU = classifierLogits(ctx, c, xu);
    const labels = view(g, yl, [L]);
    const ce = total(g, softmaxCrossEntropy(g, 'm2.ce', logitsL, { labels }), 'ce');
    const q = softmax(g, 'm2.q', logitsU);
    const expected = reduceRows(g, 'm2.expected', multiply(g, 'm2.weighted', unlabeledRows, q));
    const expectedSum = total(g, expected, 'm2.expected_sum');
    const entropy = total(g, softmaxEntropy(g, 'm2.entropy', logitsU), 'm2.entropy_sum');
    const labeled = total(g, labeledRows, 'labeled');
    const loss = objective(
      g,
      hyper,
      [
        { name: 'labeled', weight: 1, value: labeled },
        { name: 'ce', weight: 1, hyper: 0, value: ce },
        { name: 'expected', weight: 1, value: expectedSum },
        { name: 'entropy', weight: -1, value: entropy },
      ],
      c.reduction === 'mean' ? 1 / batch : 1,
    );
    // Accuracy: argmax q(y|xl) (argmin of −logits) against yl, as one-hot rows.
    const predicted = argminRows(g, 'm2.predicted', scale(g, 'm2.negated', logitsL, -1)).idx;
    const truth = oneHot(g, 'm2.yl.onehot', labels, C);
    const hits = multiply(g, 'm2.hits', oneHot(g, 'm2.predicted.onehot', predicted, C), truth);
    return {
      loss,
      metrics: [
        { name: 'labeled', value: labeled },
        { name: 'ce', value: ce },
        { name: 'accuracy', value: total(g, hits, 'accuracy') },
        { name: '_labeled_rows', value: total(g, truth, 'labeled_rows') },
        { name: 'unlabeled', value: subtract(g, 'unlabeled', expectedSum, entropy) },
      ],
      perExample: { kl: klRows, nelbo },
    };
  },
  // The GPU's sums are divided by the unlabeled rows; the labeled metrics by the labeled rows.
  derive: (_c, m): Record<string, number> => {
    const count = m._labeled_rows ?? 0;
    if (!(count > 0)) return {};
    return {
      labeled: (m.labeled ?? 0) / count,
      ce: (m.ce ?? 0) / count,
      accuracy: (m.accuracy ?? 0) / count,
    };
  },
};
