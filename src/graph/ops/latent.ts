// Stochastic latent ops: the reparameterized samples of a diagonal and of a full-covariance
// Gaussian, each op with its own PRNG stream (a graph-unique number in the Philox counter), so two
// sampling ops never share noise.
//   reparam          mu, logvar (B, Z) [, eps (B·K, Z) given] -> z (B·K, Z), eps (B·K, Z)
//                    z[b·K + k] = mu[b] + exp(½·logvar[b])·eps[b·K + k]
//   full_reparam     mu, logvar (B, Z), lower (B, Z(Z−1)/2) [, eps given] -> z (B·K, Z), eps
//                    z[b·K + k] = mu[b] + L[b]·eps[b·K + k],  L = mask ⊙ L′ + diag(exp(½·logvar))
//   full_scale_tril  logvar, lower -> L (B, Z·Z) (inference; no gradient)
import { asProgram } from '../../gpu/program.js';
import {
  prepareFullReparamBackward,
  prepareFullReparamForward,
  prepareScaleTril,
} from '../../kernels/full-reparam.js';
import { prepareReparamBackward, prepareReparamForward } from '../../kernels/reparam.js';
import { defineOp, type Graph, type Op, type Tensor } from '../graph.js';
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

type FullIn = { mu: Tensor; logvar: Tensor; lower: Tensor; eps?: Tensor | undefined };

export const fullReparamBackwardOp = defineOp<
  { dz: Tensor; eps: Tensor; logvar: Tensor; lower: Tensor },
  {
    dmu?: Tensor | undefined;
    dlogvar?: Tensor | undefined;
    dlower?: Tensor | undefined;
    deps?: Tensor | undefined;
  },
  {
    samples: number;
    accumulateMu: boolean;
    accumulateLogvar: boolean;
    accumulateLower: boolean;
    accumulateEps: boolean;
  }
>({
  type: 'full_reparam_backward',
  prepare({ rt, buffer }, op) {
    const { dz, eps, logvar, lower } = op.in;
    const { dmu, dlogvar, dlower, deps } = op.out;
    const a = op.attrs;
    return prepareFullReparamBackward(rt, {
      dz: buffer(dz),
      eps: buffer(eps),
      logvar: buffer(logvar),
      lower: buffer(lower),
      batch: logvar.rows,
      latent: logvar.cols,
      samples: a.samples,
      ...(dmu ? { dmu: buffer(dmu), accumulateMu: a.accumulateMu } : {}),
      ...(dlogvar ? { dlogvar: buffer(dlogvar), accumulateLogvar: a.accumulateLogvar } : {}),
      ...(dlower ? { dlower: buffer(dlower), accumulateLower: a.accumulateLower } : {}),
      ...(deps ? { deps: buffer(deps), accumulateEps: a.accumulateEps } : {}),
      label: op.name,
    });
  },
});

export const fullReparamOp = defineOp<
  FullIn,
  { z: Tensor; eps?: Tensor | undefined },
  ReparamAttrs
>({
  type: 'full_reparam',
  async prepare({ rt, buffer }, op) {
    const { mu, logvar, lower } = op.in;
    const noise = op.in.eps ?? op.out.eps;
    if (!noise) throw new Error(`graph: full_reparam '${op.name}' has no eps tensor`);
    if (lower.rows !== mu.rows || lower.cols !== (mu.cols * (mu.cols - 1)) / 2) {
      throw new Error(
        `graph: full_reparam '${op.name}': lower ${lower.toString()} must hold Z(Z−1)/2 values ` +
          `per row of mu ${mu.toString()}`,
      );
    }
    const p = await prepareFullReparamForward(rt, {
      z: buffer(op.out.z),
      eps: buffer(noise),
      mu: buffer(mu),
      logvar: buffer(logvar),
      lower: buffer(lower),
      batch: mu.rows,
      latent: mu.cols,
      samples: op.attrs.samples,
      seed: op.attrs.seed,
      stream: op.attrs.stream,
      givenNoise: op.attrs.givenNoise,
      label: op.name,
    });
    return Object.assign(p, { update: (state: StepState) => p.setStep(state.step >>> 0) });
  },
  grad(g, op, ctx) {
    const dz = ctx.grad(op.out.z);
    if (!dz) return;
    const { mu, logvar, lower } = op.in;
    const eps = op.in.eps ?? op.out.eps;
    if (!eps) throw new Error(`graph: full_reparam '${op.name}' has no eps tensor`);
    // Each gradient has its own dispatch, so each follows its own stage of accumulation.
    const slot = (t: Tensor | undefined) => (ctx.needs(t) ? ctx.slot(t) : undefined);
    const [smu, slv, slo, seps] = [slot(mu), slot(logvar), slot(lower), slot(op.in.eps)];
    if (!smu && !slv && !slo && !seps) return;
    g.add(
      fullReparamBackwardOp,
      `${op.name}.backward`,
      { dz, eps, logvar, lower },
      { dmu: smu?.grad, dlogvar: slv?.grad, dlower: slo?.grad, deps: seps?.grad },
      {
        samples: op.attrs.samples,
        accumulateMu: smu?.accumulate ?? false,
        accumulateLogvar: slv?.accumulate ?? false,
        accumulateLower: slo?.accumulate ?? false,
        accumulateEps: seps?.accumulate ?? false,
      },
    );
  },
});

/**
 * K samples z = mu + L·eps per example (rows b·K + k) and the noise: `eps` when given, else drawn
 * into a tensor that never takes a gradient (drawn noise is a constant), so ops reading it (log
 * q(z|x) from eps) add no backward work. Z ≥ 2 (with one latent value L′ is empty: use reparam).
 */
export function fullReparam(
  g: Graph,
  name: string,
  inputs: FullIn,
  attrs: Omit<ReparamAttrs, 'givenNoise'>,
): { z: Tensor; eps: Tensor } {
  const shape = [inputs.mu.rows * attrs.samples, inputs.mu.cols];
  const given = inputs.eps;
  const op = g.add(
    fullReparamOp,
    name,
    inputs,
    { z: shape, eps: given ? undefined : g.tensor(`${name}.eps`, shape, 'temp', false) },
    { ...attrs, givenNoise: given !== undefined },
  );
  const eps = given ?? op.out.eps;
  if (!eps) throw new Error(`graph: full_reparam '${name}' has no eps tensor`);
  return { z: op.out.z, eps };
}

/** L (B, Z·Z) = mask ⊙ L′ + diag(exp(½·logvar)), row-major per example: a report, no gradient. */
export const scaleTrilOp = defineOp<{ logvar: Tensor; lower: Tensor }, { L: Tensor }, object>({
  type: 'full_scale_tril',
  prepare({ rt, buffer }, op) {
    const { logvar, lower } = op.in;
    return prepareScaleTril(rt, {
      L: buffer(op.out.L),
      logvar: buffer(logvar),
      lower: buffer(lower),
      batch: logvar.rows,
      latent: logvar.cols,
      label: op.name,
    });
  },
});
