// The diagonal Gaussian posterior q(z|x) = N(μ(x), diag exp(logvar(x))): heads encoder.mu and
// encoder.logvar on the encoder's top features, reparameterized samples, log q(z|x), and the
// closed-form KL to a standard-normal or a conditional diagonal Gaussian prior.
import { gaussianLogDensity } from '../../graph/ops/density.js';
import { klGaussiansOp, klOp } from '../../graph/ops/loss.js';
import { reparamOp } from '../../graph/ops/latent.js';
import type { Tensor } from '../../graph/graph.js';
import { linearLayer } from '../modules.js';
import type { LinearSpec } from '../layers.js';
import type { PosteriorGraph, PosteriorKind, PriorGraph } from '../sections.js';

/**
 * The diagonal Gaussian posterior q(z|x) = N(μ(x), diag exp(logvar(x))), the default: heads
 * encoder.mu and encoder.logvar (Linear, Z outputs each) on the encoder's top features, samples
 * z = μ + exp(½·logvar)·ε. It has no other fields.
 */
export interface DiagonalPosteriorConfig {
  /** The posterior's kind. */
  kind: 'diagonal';
}

export const diagonalPosterior: PosteriorKind<DiagonalPosteriorConfig> = {
  kind: 'diagonal',
  fields: [],
  resolve: () => ({ kind: 'diagonal' }),
  heads(_c, model, inSize): LinearSpec[] {
    return [
      { name: 'encoder.mu', inSize, outSize: model.latentSize },
      { name: 'encoder.logvar', inSize, outSize: model.latentSize },
    ];
  },
  build(ctx, _c, h, o): PosteriorGraph {
    const [muSpec, logvarSpec] = this.heads(_c, ctx.config, h.cols) as [LinearSpec, LinearSpec];
    const mu = linearLayer(ctx, muSpec, h, 'identity');
    const logvar = linearLayer(ctx, logvarSpec, h, 'identity');
    const K = o.samples;
    const shape = [mu.rows * K, mu.cols];
    const { z } = ctx.g.add(
      reparamOp,
      'reparam',
      { mu, logvar, eps: o.eps },
      o.eps ? { z: shape } : { z: shape, eps: shape },
      { samples: K, seed: ctx.seed, stream: ctx.stream(), givenNoise: o.eps !== undefined },
    ).out;
    let logq: Tensor | undefined;
    return {
      z,
      samples: K,
      mean: mu,
      outputs: { mu, logvar },
      logq: () => (logq ??= gaussianLogDensity(ctx.g, 'logq', z, { mu, logvar, samples: K })),
      analyticKl: (prior: PriorGraph) => {
        if (prior.kind === 'standard-normal') {
          return ctx.g.add(klOp, 'kl', { mu, logvar }, { kl: [mu.rows] }, {}).out.kl;
        }
        const p = prior.gaussian;
        if (!p) return undefined;
        return ctx.g.add(
          klGaussiansOp,
          'kl',
          { mu, logvar, priorMu: p.mu, priorLogvar: p.logvar },
          { kl: [mu.rows] },
          {},
        ).out.kl;
      },
    };
  },
};
