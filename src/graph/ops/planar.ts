// The fused planar flow step as a graph op:
//   planar_rows  z (N, Z), params (N, 2Z + 1) = [û | w | b] -> z′ (N, Z), logdet (N)
// with gradients to z and to each row's parameters (src/kernels/planar.ts). A global step's
// parameters reach every row through repeat_rows, whose backward sums the rows' gradients.
import { asProgram } from '../../gpu/program.js';
import { preparePlanarRowsBackward, preparePlanarRowsForward } from '../../kernels/planar.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';

type PlanarIn = { z: Tensor; params: Tensor };

const planarRowsBackwardOp = defineOp<
  PlanarIn & { dzOut?: Tensor | undefined; dlogdet?: Tensor | undefined },
  { dz: Tensor; dparams: Tensor },
  { accumulateZ: boolean; accumulateParams: boolean }
>({
  type: 'planar_rows_backward',
  async prepare({ rt, buffer }, op) {
    const { z, params, dzOut, dlogdet } = op.in;
    return asProgram(
      await preparePlanarRowsBackward(rt, {
        dz: buffer(op.out.dz),
        dparams: buffer(op.out.dparams),
        dzOut: dzOut && buffer(dzOut),
        dlogdet: dlogdet && buffer(dlogdet),
        z: buffer(z),
        params: buffer(params),
        rows: z.rows,
        latent: z.cols,
        accumulateZ: op.attrs.accumulateZ,
        accumulateParams: op.attrs.accumulateParams,
        label: op.name,
      }),
    );
  },
});

export const planarRowsOp = defineOp<PlanarIn, { z: Tensor; logdet: Tensor }, object>({
  type: 'planar_rows',
  async prepare({ rt, buffer }, op) {
    const { z, params } = op.in;
    if (params.rows !== z.rows || params.cols !== 2 * z.cols + 1) {
      throw new Error(
        `graph: planar_rows '${op.name}': params ${params.toString()} must be (${z.rows}, ${2 * z.cols + 1}) for z ${z.toString()}`,
      );
    }
    return asProgram(
      await preparePlanarRowsForward(rt, {
        zOut: buffer(op.out.z),
        logdet: buffer(op.out.logdet),
        z: buffer(z),
        params: buffer(params),
        rows: z.rows,
        latent: z.cols,
        label: op.name,
      }),
    );
  },
  grad(g, op, ctx) {
    const { z, params } = op.in;
    const dzOut = ctx.grad(op.out.z);
    const dlogdet = ctx.grad(op.out.logdet);
    if (!dzOut && !dlogdet) return;
    if (!ctx.needs(z) && !ctx.needs(params)) return;
    // The kernel writes both gradients; one nobody wants goes to a scratch tensor.
    const dz = ctx.slotOrScratch(z, `${op.name}.dz.unused`);
    const dparams = ctx.slotOrScratch(params, `${op.name}.dparams.unused`);
    g.add(
      planarRowsBackwardOp,
      `${op.name}.backward`,
      { z, params, dzOut, dlogdet },
      { dz: dz.grad, dparams: dparams.grad },
      { accumulateZ: dz.accumulate, accumulateParams: dparams.accumulate },
    );
  },
});

/** One planar step on every row of z: z′ and log|det ∂z′/∂z| (N). */
export function planarRows(
  g: Graph,
  name: string,
  z: Tensor,
  params: Tensor,
): { z: Tensor; logdet: Tensor } {
  return g.add(planarRowsOp, name, { z, params }, { z: z.shape, logdet: [z.rows] }, {}).out;
}
