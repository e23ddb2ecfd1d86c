// The op table: for each op type, how it becomes dispatches (prepare) and its gradient rule (grad).
// Forward ops of the model, backward-only ops (emitted by the rules), and small utility ops.
// Adding a model variant means adding entries here, not changing the graph or the executor.
import type { BufferRange } from '../gpu/buffers.js';
import { asProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import type { Activation } from '../kernels/activation-codes.js';
import { prepareActivationBackward } from '../kernels/activations.js';
import { addIntoKernel, iwaeLogWeightKernel, repeatRowsKernel } from '../kernels/graph-util.js';
import { prepareKlBackward, prepareKlForward, type KlObjective } from '../kernels/kl.js';
import {
  prepareLikelihoodBackward,
  prepareLikelihoodForward,
  type Likelihood,
} from '../kernels/likelihood.js';
import { prepareMatmul, type MatmulLayout, type MatmulVariant } from '../kernels/matmul.js';
import { prepareLogSumExpRows, prepareReduceCols, prepareReduceTotal } from '../kernels/reduce.js';
import { prepareReparamBackward, prepareReparamForward } from '../kernels/reparam.js';
import type { Graph, GradContext, Op, OpRule, Tensor } from './graph.js';

/** Values that change between steps, pushed into uniforms by update(). */
export interface StepState {
  /** 0-based step counter (part of the PRNG counter: new noise every step). */
  step: number;
  /** Capacity C of the capacity objective at this step. */
  capacity: number;
}

/** An op's program; `update` writes this step's uniforms (only ops whose uniforms change). */
export type PreparedOp = Program & { update?(state: StepState): void };

export interface PrepareContext {
  rt: GpuRuntime;
  /** The buffer range of a tensor. */
  buffer(t: Tensor): BufferRange;
  /** Matmul variant pinned for every matmul of the graph (default: per-shape selection). */
  matmulVariant: MatmulVariant | undefined;
}

export interface OpDef<A = unknown> extends OpRule<A> {
  prepare(ctx: PrepareContext, op: Op<A>): Promise<PreparedOp>;
}

// ---- attribute types ----

export interface LinearAttrs {
  act: Activation;
  alpha?: number;
}
export interface MatmulAttrs {
  layout: MatmulLayout;
  M: number;
  N: number;
  K: number;
  accumulate: boolean;
}
export interface ActBackwardAttrs {
  act: Activation;
  alpha?: number;
  accumulate: boolean;
}
export interface AccumulateAttrs {
  accumulate: boolean;
}
export interface ReparamAttrs {
  /** K samples per example. */
  samples: number;
  seed: number;
  /** eps is the op's third input, written by the caller. */
  givenNoise: boolean;
}
export interface ReparamBackwardAttrs {
  samples: number;
  accumulate: boolean;
}
export interface KlAttrs {
  /** beta, scale; capacity (when the capacity objective is on) is updated per step. */
  objective: KlObjective;
}
export interface KlBackwardAttrs extends KlAttrs {
  accumulate: boolean;
}
export interface LikelihoodAttrs {
  likelihood: Likelihood;
  /** Weight of Σ_b nll_b in the objective (1 for 'sum', 1/B for 'mean'). */
  scale: number;
}
export interface LikelihoodBackwardAttrs extends LikelihoodAttrs {
  accumulate: boolean;
}
export interface RepeatAttrs {
  copies: number;
}

// ---- helpers ----

function rows(t: Tensor): number {
  return t.shape[0]!;
}

function cols(t: Tensor): number {
  return t.size / t.shape[0]!;
}

/** The one gradient-rule check for ops writing several gradients with one ACCUMULATE flag. */
function sameAccumulate(op: Op, slots: { accumulate: boolean }[]): boolean {
  const first = slots[0]!.accumulate;
  if (slots.some((s) => s.accumulate !== first)) {
    throw new Error(
      `graph: ${op.type} '${op.name}' writes gradients that are at different stages of ` +
        'accumulation; its kernel has one ACCUMULATE flag',
    );
  }
  return first;
}

/**
 * The gradient w.r.t. the pre-activation of an op with a fused activation (outputs [y, pre]):
 * dy itself for 'identity', else an act_backward op. Undefined when y got no gradient.
 */
export function preActivationGrad(
  g: Graph,
  op: Op<{ act: Activation; alpha?: number }>,
  ctx: GradContext,
  kind: string,
): Tensor | undefined {
  const [y, pre] = op.outputs as [Tensor, Tensor | undefined];
  const dy = ctx.grad(y);
  if (!dy || op.attrs.act === 'identity') return dy;
  if (!pre) throw new Error(`graph: ${kind} '${op.name}' needs its pre-activation output`);
  const act: ActBackwardAttrs = { act: op.attrs.act, accumulate: false };
  if (op.attrs.alpha !== undefined) act.alpha = op.attrs.alpha;
  return g.op(
    'act_backward',
    `${op.name}.dpre`,
    [dy, pre],
    [{ name: `${op.name}.dpre`, shape: y.shape }],
    act,
  ).outputs[0]!;
}

// ---- forward ops ----

/** y = act(x·Wᵀ + b): x (R, in), W (out, in), b (out) -> y (R, out) [, pre (R, out)]. */
const linear: OpDef<LinearAttrs> = {
  async prepare({ rt, buffer, matmulVariant }, op) {
    const [x, w, b] = op.inputs as [Tensor, Tensor, Tensor];
    const [y, pre] = op.outputs as [Tensor, Tensor | undefined];
    return asProgram(
      await prepareMatmul(rt, {
        layout: 'NT',
        M: rows(x),
        N: w.shape[0]!,
        K: w.shape[1]!,
        a: buffer(x),
        b: buffer(w),
        c: buffer(y),
        bias: buffer(b),
        ...(pre ? { pre: buffer(pre) } : {}),
        act: op.attrs.act,
        ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
        ...(matmulVariant ? { variant: matmulVariant } : {}),
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const [x, w, b] = op.inputs as [Tensor, Tensor, Tensor];
    const dpre = preActivationGrad(g, op, ctx, 'linear');
    if (!dpre) return;
    const R = rows(x);
    const out = w.shape[0]!;
    const inn = w.shape[1]!;
    if (ctx.needs(x)) {
      const s = ctx.slot(x);
      g.op<MatmulAttrs>('matmul', `${op.name}.dx`, [dpre, w], [s.grad], {
        layout: 'NN',
        M: R,
        N: inn,
        K: out,
        accumulate: s.accumulate,
      });
    }
    if (ctx.needs(w)) {
      const s = ctx.slot(w);
      g.op<MatmulAttrs>('matmul', `${op.name}.dW`, [dpre, x], [s.grad], {
        layout: 'TN',
        M: out,
        N: inn,
        K: R,
        accumulate: s.accumulate,
      });
    }
    if (ctx.needs(b)) {
      const s = ctx.slot(b);
      g.op<AccumulateAttrs>('reduce_cols', `${op.name}.db`, [dpre], [s.grad], {
        accumulate: s.accumulate,
      });
    }
  },
};

/** z = mu + exp(½·logvar)·eps with K samples: mu, logvar (B, Z) -> z (B·K, Z), eps (B·K, Z). */
const reparam: OpDef<ReparamAttrs> = {
  async prepare({ rt, buffer }, op) {
    const [mu, logvar, givenEps] = op.inputs as [Tensor, Tensor, Tensor | undefined];
    const [z, eps] = op.outputs as [Tensor, Tensor | undefined];
    const noise = givenEps ?? eps;
    if (!noise) throw new Error(`graph: reparam '${op.name}' has no eps tensor`);
    const d = await prepareReparamForward(rt, {
      z: buffer(z),
      eps: buffer(noise),
      mu: buffer(mu),
      logvar: buffer(logvar),
      batch: rows(mu),
      latent: cols(mu),
      samples: op.attrs.samples,
      seed: op.attrs.seed,
      givenNoise: op.attrs.givenNoise,
      label: op.name,
    });
    return Object.assign(asProgram(d), {
      update: (state: StepState) => d.setUniforms({ step: state.step >>> 0 }),
    });
  },
  grad(g, op, ctx) {
    const [mu, logvar, givenEps] = op.inputs as [Tensor, Tensor, Tensor | undefined];
    const [z, eps] = op.outputs as [Tensor, Tensor | undefined];
    const dz = ctx.grad(z);
    if (!dz || !ctx.needs(mu) || !ctx.needs(logvar)) return;
    const slots = [ctx.slot(mu), ctx.slot(logvar)];
    g.op<ReparamBackwardAttrs>(
      'reparam_backward',
      `${op.name}.backward`,
      [dz, (givenEps ?? eps)!, logvar],
      slots.map((s) => s.grad),
      { samples: op.attrs.samples, accumulate: sameAccumulate(op, slots) },
    );
  },
};

/** KL(q ‖ N(0, I)) per example and the weighted objective: -> kl (B), klTotal (2). A loss op. */
const kl: OpDef<KlAttrs> = {
  loss: true,
  async prepare({ rt, buffer }, op) {
    const [mu, logvar] = op.inputs as [Tensor, Tensor];
    const [perExample, total] = op.outputs as [Tensor, Tensor];
    const f = await prepareKlForward(rt, {
      ...op.attrs.objective,
      kl: buffer(perExample),
      klTotal: buffer(total),
      mu: buffer(mu),
      logvar: buffer(logvar),
      batch: rows(mu),
      latent: cols(mu),
      label: op.name,
    });
    if (op.attrs.objective.capacity === undefined) return f;
    return Object.assign(f, {
      update: (s: StepState) => f.reduce.setUniforms({ capacity: s.capacity }),
    });
  },
  grad(g, op, ctx) {
    const [mu, logvar] = op.inputs as [Tensor, Tensor];
    const total = op.outputs[1]!;
    if (!ctx.needs(mu) || !ctx.needs(logvar)) return;
    const slots = [ctx.slot(mu), ctx.slot(logvar)];
    g.op<KlBackwardAttrs>(
      'kl_backward',
      `${op.name}.backward`,
      [mu, logvar, total],
      slots.map((s) => s.grad),
      { objective: op.attrs.objective, accumulate: sameAccumulate(op, slots) },
    );
  },
};

/** Negative log-likelihood per row: output (R, D), target (R, D) [, logSigma (R, D)] -> nll (R). */
const likelihood: OpDef<LikelihoodAttrs> = {
  loss: true,
  async prepare({ rt, buffer }, op) {
    const [output, target, logSigma] = op.inputs as [Tensor, Tensor, Tensor | undefined];
    return asProgram(
      await prepareLikelihoodForward(rt, {
        likelihood: op.attrs.likelihood,
        nll: buffer(op.outputs[0]!),
        output: buffer(output),
        target: buffer(target),
        ...(logSigma ? { logSigma: buffer(logSigma) } : {}),
        batch: rows(output),
        size: cols(output),
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const [output, target, logSigma] = op.inputs as [Tensor, Tensor, Tensor | undefined];
    if (!ctx.needs(output)) return;
    const slots = [
      ctx.slot(output),
      ...(logSigma && ctx.needs(logSigma) ? [ctx.slot(logSigma)] : []),
    ];
    if (logSigma && slots.length !== 2) {
      throw new Error(`graph: likelihood '${op.name}': log sigma must be trainable with the mean`);
    }
    g.op<LikelihoodBackwardAttrs>(
      'likelihood_backward',
      `${op.name}.backward`,
      [output, target, ...(logSigma ? [logSigma] : [])],
      slots.map((s) => s.grad),
      { ...op.attrs, accumulate: sameAccumulate(op, slots) },
    );
  },
};

// ---- backward-only ops ----

/** C = op(A)·op(B) (+= with accumulate); the layouts of the linear backward. */
const matmul: OpDef<MatmulAttrs> = {
  async prepare({ rt, buffer, matmulVariant }, op) {
    const [a, b] = op.inputs as [Tensor, Tensor];
    const { layout, M, N, K, accumulate } = op.attrs;
    return asProgram(
      await prepareMatmul(rt, {
        layout,
        M,
        N,
        K,
        a: buffer(a),
        b: buffer(b),
        c: buffer(op.outputs[0]!),
        accumulate,
        ...(matmulVariant ? { variant: matmulVariant } : {}),
        label: op.name,
      }),
    );
  },
};

/** dpre = dy · act'(pre). */
const actBackward: OpDef<ActBackwardAttrs> = {
  async prepare({ rt, buffer }, op) {
    const [dy, pre] = op.inputs as [Tensor, Tensor];
    return asProgram(
      await prepareActivationBackward(rt, {
        n: dy.size,
        activation: op.attrs.act,
        ...(op.attrs.alpha !== undefined ? { alpha: op.attrs.alpha } : {}),
        dx: buffer(op.outputs[0]!),
        dy: buffer(dy),
        x: buffer(pre),
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
};

/** Column sums: x (R, C) -> out (C) (a bias gradient). */
const reduceCols: OpDef<AccumulateAttrs> = {
  async prepare({ rt, buffer }, op) {
    const x = op.inputs[0]!;
    return prepareReduceCols(rt, {
      x: buffer(x),
      out: buffer(op.outputs[0]!),
      rows: rows(x),
      cols: cols(x),
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
  },
};

const reparamBackward: OpDef<ReparamBackwardAttrs> = {
  async prepare({ rt, buffer }, op) {
    const [dz, eps, logvar] = op.inputs as [Tensor, Tensor, Tensor];
    const [dmu, dlogvar] = op.outputs as [Tensor, Tensor];
    return asProgram(
      await prepareReparamBackward(rt, {
        dmu: buffer(dmu),
        dlogvar: buffer(dlogvar),
        dz: buffer(dz),
        eps: buffer(eps),
        logvar: buffer(logvar),
        batch: rows(logvar),
        latent: cols(logvar),
        samples: op.attrs.samples,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
};

const klBackward: OpDef<KlBackwardAttrs> = {
  async prepare({ rt, buffer }, op) {
    const [mu, logvar, total] = op.inputs as [Tensor, Tensor, Tensor];
    const [dmu, dlogvar] = op.outputs as [Tensor, Tensor];
    const d = await prepareKlBackward(rt, {
      ...op.attrs.objective,
      dmu: buffer(dmu),
      dlogvar: buffer(dlogvar),
      mu: buffer(mu),
      logvar: buffer(logvar),
      klTotal: buffer(total),
      batch: rows(mu),
      latent: cols(mu),
      accumulate: op.attrs.accumulate,
      label: op.name,
    });
    if (op.attrs.objective.capacity === undefined) return asProgram(d);
    return Object.assign(asProgram(d), {
      update: (s: StepState) => d.setUniforms({ capacity: s.capacity }),
    });
  },
};

const likelihoodBackward: OpDef<LikelihoodBackwardAttrs> = {
  async prepare({ rt, buffer }, op) {
    const [output, target, logSigma] = op.inputs as [Tensor, Tensor, Tensor | undefined];
    const [doutput, dlogSigma] = op.outputs as [Tensor, Tensor | undefined];
    return asProgram(
      await prepareLikelihoodBackward(rt, {
        likelihood: op.attrs.likelihood,
        doutput: buffer(doutput),
        ...(dlogSigma ? { dlogSigma: buffer(dlogSigma) } : {}),
        output: buffer(output),
        ...(logSigma ? { logSigma: buffer(logSigma) } : {}),
        target: buffer(target),
        batch: rows(output),
        size: cols(output),
        scale: op.attrs.scale,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
};

// ---- utility ops (not differentiable) ----

/** Sum of all values: x -> out (1). */
const sum: OpDef = {
  async prepare({ rt, buffer }, op) {
    const x = op.inputs[0]!;
    return prepareReduceTotal(rt, {
      x: buffer(x),
      out: buffer(op.outputs[0]!),
      n: x.size,
      label: op.name,
    });
  },
};

/** Each row repeated `copies` times: x (B, D) -> (B·copies, D). */
const repeatRows: OpDef<RepeatAttrs> = {
  async prepare({ rt, buffer }, op) {
    const x = op.inputs[0]!;
    return asProgram(
      await rt.prepare(repeatRowsKernel, {
        bindings: { repeated: buffer(op.outputs[0]!), rows_in: buffer(x) },
        shape: { B: rows(x), K: op.attrs.copies, D: cols(x) },
        label: op.name,
      }),
    );
  },
};

/** IWAE log weights: nll (B·K), z, eps (B·K, Z), logvar (B, Z) -> log w (B, K). */
const iwaeLogWeight: OpDef = {
  async prepare({ rt, buffer }, op) {
    const [nll, z, eps, logvar] = op.inputs as [Tensor, Tensor, Tensor, Tensor];
    const out = op.outputs[0]!;
    return asProgram(
      await rt.prepare(iwaeLogWeightKernel, {
        bindings: {
          log_weight: buffer(out),
          nll_in: buffer(nll),
          z_in: buffer(z),
          eps_noise: buffer(eps),
          lv_in: buffer(logvar),
        },
        shape: { B: rows(out), K: cols(out), Z: cols(logvar) },
        label: op.name,
      }),
    );
  },
};

/** Stable logsumexp of each row: x (R, C) -> (R). */
const logSumExpRows: OpDef = {
  async prepare({ rt, buffer }, op) {
    const x = op.inputs[0]!;
    return prepareLogSumExpRows(rt, {
      x: buffer(x),
      out: buffer(op.outputs[0]!),
      rows: rows(x),
      cols: cols(x),
      label: op.name,
    });
  },
};

/** acc[offset ..] += x: running sums kept across steps (the metrics accumulator). */
const addInto: OpDef<{ offset: number }> = {
  async prepare({ rt, buffer }, op) {
    const x = op.inputs[0]!;
    return asProgram(
      await rt.prepare(addIntoKernel, {
        bindings: { acc: buffer(op.outputs[0]!), add_src: buffer(x) },
        shape: { n: x.size, offset: op.attrs.offset },
        label: op.name,
      }),
    );
  },
};

export const OPS: Record<string, OpDef<never>> = {
  linear,
  reparam,
  kl,
  likelihood,
  matmul,
  act_backward: actBackward,
  reduce_cols: reduceCols,
  reparam_backward: reparamBackward,
  kl_backward: klBackward,
  likelihood_backward: likelihoodBackward,
  sum,
  repeat_rows: repeatRows,
  iwae_log_weight: iwaeLogWeight,
  logsumexp_rows: logSumExpRows,
  add_into: addInto,
};

/** Adds an op type (model variants, inference and display ops live in their own modules). */
export function registerOp<A>(type: string, def: OpDef<A>): void {
  if (OPS[type] && OPS[type] !== (def as OpDef<never>)) {
    throw new Error(`graph: op type '${type}' is already registered`);
  }
  OPS[type] = def as OpDef<never>;
}

export type { Graph, GradContext };
