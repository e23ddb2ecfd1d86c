// Stochastic latent ops: the reparameterized sample of a diagonal Gaussian, each op with its own
// PRNG stream (a graph-unique number in the Philox counter), so two sampling ops never share noise.
//   reparam  mu, logvar (B, Z) [, eps (B·K, Z) given] -> z (B·K, Z), eps (B·K, Z)
//            z[b·K + k] = mu[b] + exp(½·logvar[b])·eps[b·K + k]
import { asProgram } from '../../gpu/program.js';
import { prepareReparamBackward, prepareReparamForward } from '../../kernels/reparam.js';
import { defineOp, type Op, type Tensor } from '../graph.js';
import type { StepState } from '../prepare.js';
import { sameAccumulate, type Accumulating } from './util.js';

export interface ReparamAttrs {
  /** K samples per example. */
  samples: number;
  seed: number;
  /** The op's PRNG stream (unique in its graph). */
  stream: number;
  /** eps is an input written by the caller (golden tests), not drawn. */
  givenNoise: boolean;
}

export const reparamBackwardOp = defineOp<
  { dz: Tensor; eps: Tensor; logvar: Tensor },
  { dmu: Tensor; dlogvar: Tensor },
  Accumulating<{ samples: number }>
>({
  type: 'reparam_backward',
  async prepare({ rt, buffer }, op) {
    const { dz, eps, logvar } = op.in;
    return asProgram(
      await prepareReparamBackward(rt, {
        dmu: buffer(op.out.dmu),
        dlogvar: buffer(op.out.dlogvar),
        dz: buffer(dz),
        eps: buffer(eps),
        logvar: buffer(logvar),
        batch: logvar.rows,
        latent: logvar.cols,
        samples: op.attrs.samples,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

export const reparamOp = defineOp<
  { mu: Tensor; logvar: Tensor; eps?: Tensor | undefined },
  { z: Tensor; eps?: Tensor | undefined },
  ReparamAttrs
>({
  type: 'reparam',
  async prepare({ rt, buffer }, op) {
    const { mu, logvar } = op.in;
    const noise = op.in.eps ?? op.out.eps;
    if (!noise) throw new Error(`graph: reparam '${op.name}' has no eps tensor`);
    const d = await prepareReparamForward(rt, {
      z: buffer(op.out.z),
      eps: buffer(noise),
      mu: buffer(mu),
      logvar: buffer(logvar),
      batch: mu.rows,
      latent: mu.cols,
      samples: op.attrs.samples,
      seed: op.attrs.seed,
      stream: op.attrs.stream,
      givenNoise: op.attrs.givenNoise,
      label: op.name,
    });
    return Object.assign(asProgram(d), {
      update: (state: StepState) => d.setUniforms({ step: state.step >>> 0 }),
    });
  },
  grad(g, op, ctx) {
    const { mu, logvar } = op.in;
    const dz = ctx.grad(op.out.z);
    if (!dz || !ctx.needs(mu) || !ctx.needs(logvar)) return;
    const eps = op.in.eps ?? op.out.eps;
    if (!eps) throw new Error(`graph: reparam '${op.name}' has no eps tensor`);
    const slots = [ctx.slot(mu), ctx.slot(logvar)] as const;
    g.add(
      reparamBackwardOp,
      `${op.name}.backward`,
      { dz, eps, logvar },
      { dmu: slots[0].grad, dlogvar: slots[1].grad },
      { samples: op.attrs.samples, accumulate: sameAccumulate(op as Op, slots) },
    );
  },
});
