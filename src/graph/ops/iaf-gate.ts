// The fused gated update of an IAF step as a graph op:
//   iaf_gate  z (N, Z), a (N, 2Z) = [m | s] -> z′ = m + σ ⊙ (z − m) (N, Z),
//             negLogdet = Σ_i softplus(−s′_i) (N),  σ = sigmoid(s′), s′ = s + bias
// with gradients to z and a (src/kernels/iaf-gate.ts): one dispatch each way where the composed
// form (slices, shift, sigmoid, subtract, multiply, add, negate, softplus, row sum) took ten.
import { asProgram } from '../../gpu/program.js';
import { prepareIafGateBackward, prepareIafGateForward } from '../../kernels/iaf-gate.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';

type IafGateIn = { z: Tensor; a: Tensor };

const iafGateBackwardOp = defineOp<
  IafGateIn & { dzOut?: Tensor | undefined; dnegLogdet?: Tensor | undefined },
  { dz: Tensor; da: Tensor },
  { bias: number; accumulateZ: boolean; accumulateA: boolean }
>({
  type: 'iaf_gate_backward',
  async prepare({ rt, buffer }, op) {
    const { z, a, dzOut, dnegLogdet } = op.in;
    return asProgram(
      await prepareIafGateBackward(rt, {
        dz: buffer(op.out.dz),
        da: buffer(op.out.da),
        dzOut: dzOut && buffer(dzOut),
        dnegLogdet: dnegLogdet && buffer(dnegLogdet),
        z: buffer(z),
        a: buffer(a),
        rows: z.rows,
        latent: z.cols,
        bias: op.attrs.bias,
        accumulateZ: op.attrs.accumulateZ,
        accumulateA: op.attrs.accumulateA,
        label: op.name,
      }),
    );
  },
});

export const iafGateOp = defineOp<IafGateIn, { z: Tensor; negLogdet: Tensor }, { bias: number }>({
  type: 'iaf_gate',
  async prepare({ rt, buffer }, op) {
    const { z, a } = op.in;
    return asProgram(
      await prepareIafGateForward(rt, {
        zOut: buffer(op.out.z),
        negLogdet: buffer(op.out.negLogdet),
        z: buffer(z),
        a: buffer(a),
        rows: z.rows,
        latent: z.cols,
        bias: op.attrs.bias,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const { z, a } = op.in;
    const dzOut = ctx.grad(op.out.z);
    const dnegLogdet = ctx.grad(op.out.negLogdet);
    if (!dzOut && !dnegLogdet) return;
    if (!ctx.needs(z) && !ctx.needs(a)) return;
    // The kernel writes both gradients; one nobody wants goes to a scratch tensor.
    const dz = ctx.slotOrScratch(z, `${op.name}.dz.unused`);
    const da = ctx.slotOrScratch(a, `${op.name}.da.unused`);
    g.add(
      iafGateBackwardOp,
      `${op.name}.backward`,
      { z, a, dzOut, dnegLogdet },
      { dz: dz.grad, da: da.grad },
      { bias: op.attrs.bias, accumulateZ: dz.accumulate, accumulateA: da.accumulate },
    );
  },
});

/** The gated update on every row of z from the MADE output a = [m | s]: z′ and −log|det| (N). */
export function iafGate(
  g: Graph,
  name: string,
  z: Tensor,
  a: Tensor,
  bias: number,
): { z: Tensor; negLogdet: Tensor } {
  if (a.rows !== z.rows || a.cols !== 2 * z.cols) {
    throw new Error(
      `graph: iaf_gate '${name}': a ${a.toString()} must be (${z.rows}, ${2 * z.cols}) for z ${z.toString()}`,
    );
  }
  return g.add(iafGateOp, name, { z, a }, { z: z.shape, negLogdet: [z.rows] }, { bias }).out;
}
