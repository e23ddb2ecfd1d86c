// The objective: the one root of the reverse walk. loss (1) = Σ_i w_i · term_i, each term a scalar
// tensor (usually the batch sum of a per-row term) and each weight a constant times, optionally,
// an entry of the `hyper` input that the trainer writes before every step (β, a capacity target,
// annealing weights: they change without recompiling). `scale` (1 for a batch sum, 1/B for a
// batch mean) multiplies only the gradient: the loss tensor stays the batch sum, which is what
// metrics report per example.
//   objective  hyper (H), terms (1) each -> loss (1)
//   abs_diff   x (1), hyper (H) -> y (1) = |x − factor · hyper[index]|   (the capacity objective)
import { asProgram, buildProgram } from '../../gpu/program.js';
import {
  prepareAbsDiff,
  prepareAbsDiffBackward,
  prepareObjectiveSeed,
  prepareObjectiveTerm,
} from '../../kernels/objective.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';
import type { Accumulating } from './util.js';

export interface ObjectiveTerm {
  /** Name of the term's input (and of its metric). */
  name: string;
  /** Constant weight. */
  weight: number;
  /** Entry of hyper multiplying the weight (per-step), if any. */
  hyper?: number;
}

export interface ObjectiveAttrs {
  terms: readonly ObjectiveTerm[];
  /** Gradient scale: 1 for a batch sum, 1/B for a batch mean. */
  scale: number;
  /** A constant added to the loss (no gradient), e.g. IWAE's B·log K. */
  offset: number;
}

type ObjectiveIn = { hyper: Tensor } & { readonly [term: string]: Tensor | undefined };

function termInput(op: { name: string; in: ObjectiveIn }, name: string): Tensor {
  const t = op.in[name];
  if (!t || name === 'hyper') {
    throw new Error(`graph: objective '${op.name}' has no term input '${name}'`);
  }
  if (t.size !== 1) {
    throw new Error(
      `graph: objective '${op.name}': term '${name}' ${t.toString()} is not a scalar`,
    );
  }
  return t;
}

/** dterm (+)= w · scale for one term: the seed of the walk. */
export const objectiveSeedOp = defineOp<
  { hyper: Tensor },
  { dterm: Tensor },
  Accumulating<ObjectiveTerm & { scale: number }>
>({
  type: 'objective_seed',
  async prepare({ rt, buffer }, op) {
    const { weight, hyper, scale, accumulate } = op.attrs;
    return asProgram(
      await prepareObjectiveSeed(rt, {
        dterm: buffer(op.out.dterm),
        hyper: buffer(op.in.hyper),
        hyperSize: op.in.hyper.size,
        weight,
        ...(hyper !== undefined ? { index: hyper } : {}),
        scale,
        accumulate,
        label: op.name,
      }),
    );
  },
});

export const objectiveOp = defineOp<ObjectiveIn, { loss: Tensor }, ObjectiveAttrs>({
  type: 'objective',
  root: true,
  prepare({ rt, buffer }, op) {
    const hyper = op.in.hyper;
    return buildProgram(rt, op.name, async (b) => {
      for (const [i, t] of op.attrs.terms.entries()) {
        b.append(
          await prepareObjectiveTerm(rt, {
            loss: buffer(op.out.loss),
            term: buffer(termInput(op, t.name)),
            hyper: buffer(hyper),
            hyperSize: hyper.size,
            weight: t.weight,
            ...(t.hyper !== undefined ? { index: t.hyper } : {}),
            accumulate: i > 0,
            ...(i === 0 ? { offset: op.attrs.offset } : {}),
            label: `${op.name}.${t.name}`,
          }),
        );
      }
    });
  },
  grad(g, op, ctx) {
    for (const t of op.attrs.terms) {
      const term = termInput(op, t.name);
      if (!ctx.needs(term)) continue;
      const s = ctx.slot(term);
      g.add(
        objectiveSeedOp,
        `${op.name}.${t.name}.seed`,
        { hyper: op.in.hyper },
        { dterm: s.grad },
        { ...t, scale: op.attrs.scale, accumulate: s.accumulate },
      );
    }
  },
});

/**
 * The objective's root op: loss (1) = offset + Σ weight · term over named scalar terms; `scale`
 * multiplies the gradients only.
 */
export function objective(
  g: Graph,
  hyper: Tensor,
  terms: readonly (ObjectiveTerm & { value: Tensor })[],
  scale: number,
  offset = 0,
  name = 'objective',
): Tensor {
  const inputs: Record<string, Tensor> = { hyper };
  for (const t of terms) {
    if (t.name in inputs) throw new Error(`graph: objective term '${t.name}' given twice`);
    inputs[t.name] = t.value;
  }
  const attrs: ObjectiveAttrs = {
    terms: terms.map(({ name: n, weight, hyper: h }) =>
      h === undefined ? { name: n, weight } : { name: n, weight, hyper: h },
    ),
    scale,
    offset,
  };
  return g.add(objectiveOp, name, inputs as ObjectiveIn, { loss: [1] }, attrs).out.loss;
}

export interface AbsDiffAttrs {
  factor: number;
  index: number;
}

export const absDiffBackwardOp = defineOp<
  { dy: Tensor; x: Tensor; hyper: Tensor },
  { dx: Tensor },
  Accumulating<AbsDiffAttrs>
>({
  type: 'abs_diff_backward',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareAbsDiffBackward(rt, {
        dx: buffer(op.out.dx),
        dout: buffer(op.in.dy),
        x: buffer(op.in.x),
        hyper: buffer(op.in.hyper),
        hyperSize: op.in.hyper.size,
        factor: op.attrs.factor,
        index: op.attrs.index,
        accumulate: op.attrs.accumulate,
        label: op.name,
      }),
    );
  },
});

/** y = |x − factor · hyper[index]| for scalars. */
export const absDiffOp = defineOp<{ x: Tensor; hyper: Tensor }, { y: Tensor }, AbsDiffAttrs>({
  type: 'abs_diff',
  async prepare({ rt, buffer }, op) {
    return asProgram(
      await prepareAbsDiff(rt, {
        out: buffer(op.out.y),
        x: buffer(op.in.x),
        hyper: buffer(op.in.hyper),
        hyperSize: op.in.hyper.size,
        factor: op.attrs.factor,
        index: op.attrs.index,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy || !ctx.needs(op.in.x)) return;
    const s = ctx.slot(op.in.x);
    g.add(
      absDiffBackwardOp,
      `${op.name}.dx`,
      { dy, x: op.in.x, hyper: op.in.hyper },
      { dx: s.grad },
      { ...op.attrs, accumulate: s.accumulate },
    );
  },
});
