// Log-densities per row: the diagonal Gaussian log N(z; μ, diag exp(logvar)) with K samples per
// mean row (row r of z uses mean row floor(r / K)), and the standard normal.
//   gaussian_logpdf  z (M·K, Z) [, mu, logvar (M, Z)] -> logp (M·K)
import {
  prepareGaussianLogPdfBackward,
  prepareGaussianLogPdfForward,
} from '../../kernels/gaussian-logpdf.js';
import { defineOp, type Graph, type Tensor } from '../graph.js';

export interface LogPdfAttrs {
  /** Samples per mean row. */
  samples: number;
}

type LogPdfIn = { z: Tensor; mu?: Tensor | undefined; logvar?: Tensor | undefined };

export const gaussianLogPdfBackwardOp = defineOp<
  LogPdfIn & { dlogp: Tensor },
  { dz?: Tensor | undefined; dmu?: Tensor | undefined; dlogvar?: Tensor | undefined },
  LogPdfAttrs & { accumulateZ: boolean; accumulateMu: boolean; accumulateLogvar: boolean }
>({
  type: 'gaussian_logpdf_backward',
  prepare({ rt, buffer }, op) {
    const { z, mu, logvar, dlogp } = op.in;
    const { dz, dmu, dlogvar } = op.out;
    const a = op.attrs;
    return prepareGaussianLogPdfBackward(rt, {
      dlogp: buffer(dlogp),
      z: buffer(z),
      ...(mu && logvar ? { mu: buffer(mu), logvar: buffer(logvar) } : {}),
      rows: z.rows,
      size: z.cols,
      samples: a.samples,
      ...(dz ? { dz: buffer(dz), accumulateZ: a.accumulateZ } : {}),
      ...(dmu ? { dmu: buffer(dmu), accumulateMu: a.accumulateMu } : {}),
      ...(dlogvar ? { dlogvar: buffer(dlogvar), accumulateLogvar: a.accumulateLogvar } : {}),
      label: op.name,
    });
  },
});

export const gaussianLogPdfOp = defineOp<LogPdfIn, { logp: Tensor }, LogPdfAttrs>({
  type: 'gaussian_logpdf',
  prepare({ rt, buffer }, op) {
    const { z, mu, logvar } = op.in;
    return prepareGaussianLogPdfForward(rt, {
      logp: buffer(op.out.logp),
      z: buffer(z),
      ...(mu && logvar ? { mu: buffer(mu), logvar: buffer(logvar) } : {}),
      rows: z.rows,
      size: z.cols,
      samples: op.attrs.samples,
      label: op.name,
    });
  },
  grad(g, op, ctx) {
    const dlogp = ctx.grad(op.out.logp);
    if (!dlogp) return;
    const { z, mu, logvar } = op.in;
    const sz = ctx.needs(z) ? ctx.slot(z) : undefined;
    const smu = ctx.needs(mu) ? ctx.slot(mu) : undefined;
    const slv = ctx.needs(logvar) ? ctx.slot(logvar) : undefined;
    if (!sz && !smu && !slv) return;
    g.add(
      gaussianLogPdfBackwardOp,
      `${op.name}.backward`,
      { z, mu, logvar, dlogp },
      { dz: sz?.grad, dmu: smu?.grad, dlogvar: slv?.grad },
      {
        samples: op.attrs.samples,
        accumulateZ: sz?.accumulate ?? false,
        accumulateMu: smu?.accumulate ?? false,
        accumulateLogvar: slv?.accumulate ?? false,
      },
    );
  },
});

/**
 * log N(z; μ, diag exp(logvar)) per row of z, with `samples` rows of z per row of μ; without
 * params, the standard normal log N(z; 0, I).
 */
export function gaussianLogDensity(
  g: Graph,
  name: string,
  z: Tensor,
  params?: { mu: Tensor; logvar: Tensor; samples: number },
): Tensor {
  return g.add(
    gaussianLogPdfOp,
    name,
    { z, mu: params?.mu, logvar: params?.logvar },
    { logp: [z.rows] },
    { samples: params?.samples ?? 1 },
  ).out.logp;
}
