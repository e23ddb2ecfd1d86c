// Per-row loss terms: tensors whose backward reads an upstream gradient, so a term can be summed,
// weighted per example (q(y|x) in M2, importance weights in IWAE) or fed into a larger expression.
// The fused likelihood and KL kernels are the fast path.
//   likelihood  output (R, D), target (R, D) [, logSigma (R, D)] -> nll (R)   −log p(x|z) per row
//   kl          mu, logvar (B, Z) -> kl (B)   KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per example
//   kl_gaussians  mu, logvar, priorMu, priorLogvar (B, Z) -> kl (B)   KL(q ‖ p), p a learned
//               diagonal Gaussian (the CVAE's prior network), gradients to both sides
import type { Likelihood } from '../../kernels/likelihood.js';
import {
  prepareLikelihoodBackwardRows,
  prepareLikelihoodForward,
} from '../../kernels/likelihood.js';
import {
  prepareKlBackwardRows,
  prepareKlGaussiansBackwardRows,
  prepareKlGaussiansRows,
  prepareKlRows,
} from '../../kernels/kl.js';
import { asProgram } from '../../gpu/program.js';
import { defineOp, type Op, type Tensor } from '../graph.js';
import { sameAccumulate, type Accumulating } from './util.js';

export interface LikelihoodAttrs {
  likelihood: Likelihood;
}

type LikelihoodIn = { output: Tensor; target: Tensor; logSigma?: Tensor | undefined };

export const likelihoodBackwardOp = defineOp<
  LikelihoodIn & { dnll: Tensor },
  { doutput: Tensor; dlogSigma?: Tensor | undefined },
  Accumulating<LikelihoodAttrs>
>({
  type: 'likelihood_backward',
  async prepare({ rt, buffer }, op) {
    const { output, target, logSigma, dnll } = op.in;
    const { doutput, dlogSigma } = op.out;
    return asProgram(
      await prepareLikelihoodBackwardRows(rt, {
        likelihood: op.attrs.likelihood,
        doutput: buffer(doutput),
        ...(dlogSigma ? { dlogSigma: buffer(dlogSigma) } : {}),
        output: buffer(output),
        ...(logSigma ? { logSigma: buffer(logSigma) } : {}),
        target: buffer(target),
        dnll: buffer(dnll),
        batch: output.rows,
        size: output.cols,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** Negative log-likelihood per row. */
export const likelihoodOp = defineOp<LikelihoodIn, { nll: Tensor }, LikelihoodAttrs>({
  type: 'likelihood',
  prepare({ rt, buffer }, op) {
    const { output, target, logSigma } = op.in;
    if (target.size !== output.size) {
      throw new Error(
        `graph: likelihood '${op.name}': target ${target.toString()} is not shaped as the output ${output.toString()}`,
      );
    }
    return prepareLikelihoodForward(rt, {
      likelihood: op.attrs.likelihood,
      nll: buffer(op.out.nll),
      output: buffer(output),
      target: buffer(target),
      ...(logSigma ? { logSigma: buffer(logSigma) } : {}),
      batch: output.rows,
      size: output.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const { output, target, logSigma } = op.in;
    const dnll = ctx.grad(op.out.nll);
    if (!dnll || !ctx.needs(output)) return;
    if (logSigma && !ctx.needs(logSigma)) {
      throw new Error(`graph: likelihood '${op.name}': log sigma must be trainable with the mean`);
    }
    const slots = [ctx.slot(output), ...(logSigma ? [ctx.slot(logSigma)] : [])];
    g.add(
      likelihoodBackwardOp,
      `${op.name}.backward`,
      { output, target, logSigma, dnll },
      { doutput: slots[0]!.grad, dlogSigma: slots[1]?.grad },
      { likelihood: op.attrs.likelihood, accumulate: sameAccumulate(op as Op, slots) },
    );
  },
});

export const klBackwardOp = defineOp<
  { mu: Tensor; logvar: Tensor; dkl: Tensor },
  { dmu: Tensor; dlogvar: Tensor },
  Accumulating
>({
  type: 'kl_backward',
  async prepare({ rt, buffer }, op) {
    const { mu, logvar, dkl } = op.in;
    return asProgram(
      await prepareKlBackwardRows(rt, {
        dmu: buffer(op.out.dmu),
        dlogvar: buffer(op.out.dlogvar),
        mu: buffer(mu),
        logvar: buffer(logvar),
        dkl: buffer(dkl),
        batch: mu.rows,
        latent: mu.cols,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** KL(q ‖ N(0, I)) per example, in closed form. */
export const klOp = defineOp<{ mu: Tensor; logvar: Tensor }, { kl: Tensor }, object>({
  type: 'kl',
  prepare({ rt, buffer }, op) {
    const { mu, logvar } = op.in;
    return prepareKlRows(rt, {
      kl: buffer(op.out.kl),
      mu: buffer(mu),
      logvar: buffer(logvar),
      batch: mu.rows,
      latent: mu.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const { mu, logvar } = op.in;
    const dkl = ctx.grad(op.out.kl);
    if (!dkl || !ctx.needs(mu) || !ctx.needs(logvar)) return;
    const slots = [ctx.slot(mu), ctx.slot(logvar)] as const;
    g.add(
      klBackwardOp,
      `${op.name}.backward`,
      { mu, logvar, dkl },
      { dmu: slots[0].grad, dlogvar: slots[1].grad },
      { accumulate: sameAccumulate(op as Op, slots) },
    );
  },
});

type KlGaussiansIn = { mu: Tensor; logvar: Tensor; priorMu: Tensor; priorLogvar: Tensor };

/** One side's gradients of Σ_b dkl[b] KL(q_b ‖ p_b) (side 'q': mu, logvar; 'p': the prior's). */
export const klGaussiansBackwardOp = defineOp<
  KlGaussiansIn & { dkl: Tensor },
  { dmu: Tensor; dlogvar: Tensor },
  Accumulating<{ side: 'q' | 'p' }>
>({
  type: 'kl_gaussians_backward',
  async prepare({ rt, buffer }, op) {
    const { mu, logvar, priorMu, priorLogvar, dkl } = op.in;
    return asProgram(
      await prepareKlGaussiansBackwardRows(rt, {
        side: op.attrs.side,
        grad: { mu: buffer(op.out.dmu), logvar: buffer(op.out.dlogvar) },
        q: { mu: buffer(mu), logvar: buffer(logvar) },
        p: { mu: buffer(priorMu), logvar: buffer(priorLogvar) },
        dkl: buffer(dkl),
        batch: mu.rows,
        latent: mu.cols,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** KL(q ‖ p) per example between two diagonal Gaussians, in closed form. */
export const klGaussiansOp = defineOp<KlGaussiansIn, { kl: Tensor }, object>({
  type: 'kl_gaussians',
  prepare({ rt, buffer }, op) {
    const { mu, logvar, priorMu, priorLogvar } = op.in;
    for (const t of [logvar, priorMu, priorLogvar]) {
      if (t.rows !== mu.rows || t.cols !== mu.cols) {
        throw new Error(
          `graph: kl_gaussians '${op.name}': ${t.toString()} is not shaped as mu ${mu.toString()}`,
        );
      }
    }
    return prepareKlGaussiansRows(rt, {
      kl: buffer(op.out.kl),
      q: { mu: buffer(mu), logvar: buffer(logvar) },
      p: { mu: buffer(priorMu), logvar: buffer(priorLogvar) },
      batch: mu.rows,
      latent: mu.cols,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dkl = ctx.grad(op.out.kl);
    if (!dkl) return;
    // One backward per side whose mean and logvar want gradients (a side is trained as a whole).
    for (const side of ['q', 'p'] as const) {
      const [m, lv] = side === 'q' ? [op.in.mu, op.in.logvar] : [op.in.priorMu, op.in.priorLogvar];
      if (!ctx.needs(m) && !ctx.needs(lv)) continue;
      if (!ctx.needs(m) || !ctx.needs(lv)) {
        throw new Error(
          `graph: kl_gaussians '${op.name}': the ${side === 'q' ? 'posterior' : 'prior'}'s mean and logvar must both be trainable or both fixed`,
        );
      }
      const slots = [ctx.slot(m), ctx.slot(lv)] as const;
      g.add(
        klGaussiansBackwardOp,
        `${op.name}.backward.${side}`,
        { ...op.in, dkl },
        { dmu: slots[0].grad, dlogvar: slots[1].grad },
        { side, accumulate: sameAccumulate(op as Op, slots) },
      );
    }
  },
});
