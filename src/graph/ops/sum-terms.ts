// A linear combination of tensors of one shape as one op, y = Σ_k c_k · x_k, with one backward
// dispatch for every term's gradient (src/kernels/sum-terms.ts): where a chain of adds and
// subtracts takes a dispatch per term forward and two backward. A flow's log q(z_K|x) = log q(z_0)
// − Σ log|det| over K steps is 1 + K terms: 2 dispatches each way instead of K forward and 2K back.
import { asProgram } from '../../gpu/program.js';
import {
  MAX_SUM_TERMS,
  prepareSumTermsBackward,
  prepareSumTermsForward,
} from '../../kernels/sum-terms.js';
import { defineOp, type Graph, type Tensor, type TensorMap } from '../graph.js';
import { scale } from './elementwise.js';
import { numberedGradients, numberedInputs } from './util.js';

/** The terms of one op: t0, t1, … in order. */
type Terms = TensorMap;

const termName = (k: number) => `t${k}`;

export interface SumTermsAttrs {
  /** One per term, in order. */
  coefficients: readonly number[];
}

const sumTermsBackwardOp = defineOp<
  { dy: Tensor },
  Terms,
  SumTermsAttrs & { accumulate: readonly boolean[] }
>({
  type: 'sum_terms_backward',
  async prepare({ rt, buffer }, op) {
    const { coefficients, accumulate } = op.attrs;
    return asProgram(
      await prepareSumTermsBackward(rt, {
        dy: buffer(op.in.dy),
        grads: coefficients.map((_, k) => {
          const dx = op.out[termName(k)];
          return dx ? { dx: buffer(dx), accumulate: accumulate[k]! } : {};
        }),
        coefficients,
        n: op.in.dy.size,
        label: op.name,
      }),
    );
  },
});

export const sumTermsOp = defineOp<Terms, { y: Tensor }, SumTermsAttrs>({
  type: 'sum_terms',
  async prepare({ rt, buffer }, op) {
    const { coefficients } = op.attrs;
    return asProgram(
      await prepareSumTermsForward(rt, {
        y: buffer(op.out.y),
        terms: numberedInputs(op, 't', coefficients.length).map((t) => buffer(t)),
        coefficients,
        n: op.out.y.size,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const dy = ctx.grad(op.out.y);
    if (!dy) return;
    const { coefficients } = op.attrs;
    const grads = numberedGradients(ctx, numberedInputs(op, 't', coefficients.length), 't');
    if (!grads) return;
    g.add(sumTermsBackwardOp, `${op.name}.backward`, { dy }, grads.out, {
      coefficients,
      accumulate: grads.accumulate,
    });
  },
});

/** One term of sumTerms: a tensor and its coefficient. */
export interface Term {
  x: Tensor;
  coefficient: number;
}

/**
 * Σ_k coefficient_k · x_k over tensors of one shape. A tensor given twice is one term (its
 * coefficients added: the backward then writes its gradient once); more than seven terms chain
 * ops of seven (the running sum is the first term of the next; the last op is `name`, those
 * before it `name.0`, `name.1`, …).
 */
export function sumTerms(g: Graph, name: string, terms: readonly Term[]): Tensor {
  const first = terms[0];
  if (!first) throw new Error(`graph: sum_terms '${name}' needs at least one term`);
  const merged: Term[] = [];
  for (const t of terms) {
    if (t.x.size !== first.x.size || t.x.shape.join() !== first.x.shape.join()) {
      throw new Error(
        `graph: sum_terms '${name}': ${t.x.toString()} does not have the shape of ${first.x.toString()}`,
      );
    }
    if (!Number.isFinite(t.coefficient)) {
      throw new Error(`graph: sum_terms '${name}': the coefficient of ${t.x.name} is not finite`);
    }
    const same = merged.find((m) => m.x === t.x);
    if (same) same.coefficient += t.coefficient;
    else merged.push({ ...t });
  }
  if (merged.length === 1) return scale(g, name, merged[0]!.x, merged[0]!.coefficient);
  let rest = merged;
  let part = 0;
  for (;;) {
    const chunk = rest.slice(0, MAX_SUM_TERMS);
    rest = rest.slice(MAX_SUM_TERMS);
    const last = rest.length === 0;
    const inputs = Object.fromEntries(chunk.map((t, k) => [termName(k), t.x]));
    const y = g.add(
      sumTermsOp,
      last ? name : `${name}.${part}`,
      inputs,
      {
        y: first.x.shape,
      },
      { coefficients: chunk.map((t) => t.coefficient) },
    ).out.y;
    if (last) return y;
    rest = [{ x: y, coefficient: 1 }, ...rest];
    part++;
  }
}
