// The full-covariance Gaussian posterior q(z|x) = N(μ(x), L(x)L(x)ᵀ): heads encoder.mu,
// encoder.logvar and encoder.lower on the encoder's top features, reparameterized samples
// z = μ + L·ε, log q(z|x) from the noise, and the closed-form KL to a standard-normal prior, all
// composed from small ops (full_reparam is the only new one):
//   L = mask ⊙ L′ + diag(σ),  σ = exp(½·logvar)
//   log q(z|x) = Σ_j log N(ε_j; 0, 1) − Σ_i log σ_i          (log|det ∂z/∂ε| = Σ_i log σ_i)
//   KL(N(μ, LLᵀ) ‖ N(0, I)) = ½(Σσ² + ΣL′² + Σμ² − Z − Σ log σ²) = KL_diag(μ, logvar) + ½ΣL′²
import { gaussianLogDensity } from '../../graph/ops/density.js';
import { add, scale, subtract } from '../../graph/ops/elementwise.js';
import { fullReparam, scaleTrilOp } from '../../graph/ops/latent.js';
import { klOp } from '../../graph/ops/loss.js';
import { reduceRows, view } from '../../graph/ops/util.js';
import type { Tensor } from '../../graph/graph.js';
import { lowerSize } from '../../kernels/full-reparam.js';
import { fail } from '../fields.js';
import { linearLayer } from '../modules.js';
import type { LinearSpec } from '../layers.js';
import type { PosteriorGraph, PosteriorKind, PriorGraph } from '../sections.js';

/**
 * The full-covariance Gaussian posterior q(z|x) = N(μ(x), L(x)L(x)ᵀ) (Z ≥ 2): heads encoder.mu and
 * encoder.logvar (Z outputs each: the mean and log σ² of L's diagonal, as in the diagonal kind)
 * and encoder.lower (Z(Z−1)/2 outputs: L's strictly lower entries, row-major: L[1,0], L[2,0],
 * L[2,1], …), samples z = μ + L·ε. encode() also returns L itself as `scaleTril` (n, Z, Z). It
 * has no other fields.
 */
export interface FullPosteriorConfig {
  /** The posterior's kind. */
  kind: 'full';
}

export const fullPosterior: PosteriorKind<FullPosteriorConfig> = {
  kind: 'full',
  fields: [],
  resolve(_raw, path, model) {
    if (model.latentSize < 2) {
      fail(
        `${path}.kind 'full' needs latentSize >= 2, got ${model.latentSize} (with one latent ` +
          `dimension the covariance is diagonal: use kind 'diagonal')`,
      );
    }
    return { kind: 'full' };
  },
  heads(_c, model, inSize): LinearSpec[] {
    const Z = model.latentSize;
    return [
      { name: 'encoder.mu', inSize, outSize: Z },
      { name: 'encoder.logvar', inSize, outSize: Z },
      { name: 'encoder.lower', inSize, outSize: lowerSize(Z) },
    ];
  },
  build(ctx, c, h, o): PosteriorGraph {
    const g = ctx.g;
    const [muSpec, logvarSpec, lowerSpec] = this.heads(c, ctx.config, h.cols) as [
      LinearSpec,
      LinearSpec,
      LinearSpec,
    ];
    const mu = linearLayer(ctx, muSpec, h, 'identity');
    const logvar = linearLayer(ctx, logvarSpec, h, 'identity');
    const lower = linearLayer(ctx, lowerSpec, h, 'identity');
    const K = o.samples;
    const B = mu.rows;
    const { z, eps } = fullReparam(
      g,
      'full_reparam',
      { mu, logvar, lower, eps: o.eps },
      { samples: K, seed: ctx.seed, stream: ctx.stream() },
    );
    let logq: Tensor | undefined;
    let scaleTril: Tensor | undefined;
    return {
      z,
      samples: K,
      mean: mu,
      outputs: { mu, logvar, lower },
      report: () => ({
        scaleTril: (scaleTril ??= g.add(
          scaleTrilOp,
          'scale_tril',
          { logvar, lower },
          { L: [B, mu.cols * mu.cols] },
          {},
        ).out.L),
      }),
      // Σ_j log N(ε_j) per sample row minus ½ Σ logvar per example: the noise is a constant, so
      // the gradient flows through the log-determinant only (the total derivative along z(ε)).
      logq: () => {
        if (logq) return logq;
        const noise = view(g, gaussianLogDensity(g, 'logq.noise', eps), [B, K], 'logq.noise.rows');
        const logDet = scale(g, 'logq.logdet', reduceRows(g, 'logq.logvar', logvar), 0.5);
        logq = view(g, subtract(g, 'logq.rows', noise, logDet), [B * K], 'logq');
        return logq;
      },
      analyticKl: (prior: PriorGraph) => {
        if (prior.kind !== 'standard-normal') return undefined;
        const diagonal = g.add(klOp, 'kl.diagonal', { mu, logvar }, { kl: [B] }, {}).out.kl;
        const offDiagonal = scale(g, 'kl.lower', reduceRows(g, 'kl.lower.sq', lower, 'sumsq'), 0.5);
        return add(g, 'kl', diagonal, offDiagonal);
      },
    };
  },
};
