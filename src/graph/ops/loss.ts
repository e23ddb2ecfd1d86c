// Per-row loss terms: tensors whose backward reads an upstream gradient, so a term can be summed,
// weighted per example (q(y|x) in M2, importance weights in IWAE) or fed into a larger expression.
// The fused likelihood and KL kernels are the fast path.
//   likelihood  output (R, D), target (R, D) [, logSigma (R, D)] -> nll (R)   −log p(x|z) per row
//   kl          mu, logvar (B, Z) -> kl (B)   KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per example
import type { Likelihood } from '../../kernels/likelihood.js';
import {
  prepareLikelihoodBackwardRows,
  prepareLikelihoodForward,
} from '../../kernels/likelihood.js';
import { prepareKlBackwardRows, prepareKlRows } from '../../kernels/kl.js';
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
