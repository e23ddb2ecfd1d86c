// Per-row log-densities of diagonal Gaussians (shaders/gaussian_logpdf.wgsl), with K samples per
// mean row: z (M*K, Z) row r is scored under N(mu[r / K], diag(exp(logvar[r / K]))), or under the
// standard normal N(0, I) when no mu / logvar are given:
//   logp[r] = -1/2 Σ_j ((z - mu)^2 exp(-logvar) + logvar + log 2π)      prepareGaussianLogPdfForward
//   dz, dmu, dlogvar for an upstream dlogp (rows), each optional        prepareGaussianLogPdfBackward
// The exp of logvar is clamped to [-30, 20] with a straight-through gradient, as in reparam and kl.
// The row sums are block sums plus reduce passes when Z > ROW_BLOCK (barrier-free, see
// prepareRowBlocks); dmu / dlogvar sum their K samples in one invocation per (m, j), no atomics.
import type { BufferRange } from '../gpu/buffers.js';
import { ceilDiv, dispatch1d, kernelFamily, type Shape } from '../gpu/kernel.js';
import { buildProgram, type Program } from '../gpu/program.js';
import type { GpuRuntime } from '../gpu/runtime.js';
import { checkDim, checkElements } from './checks.js';
import { prepareRowBlocks } from './likelihood.js';
import { LOGVAR_CLAMP } from './reparam.js';

const WG = 64;

// Shapes: rows of z, Z per row, K samples per mean row, block (forwards).
type Sizes = 'rows' | 'Z' | 'K';
type BlockSizes = Sizes | 'block';

const logPdfKernel = kernelFamily<Sizes>({
  file: 'gaussian_logpdf.wgsl',
  workgroupSize: [WG],
  constants: { LOGVAR_MIN: LOGVAR_CLAMP.min, LOGVAR_MAX: LOGVAR_CLAMP.max },
  dispatch: ({ rows, Z }) => dispatch1d(ceilDiv(rows * Z, WG)),
});
const perBlock = ({ rows, Z, block }: Shape<BlockSizes>) =>
  dispatch1d(ceilDiv(rows * ceilDiv(Z, block), WG));
const perParam = ({ rows, Z, K }: Shape<Sizes>) => dispatch1d(ceilDiv((rows / K) * Z, WG));
const zElements = ({ rows, Z }: Shape<'rows' | 'Z'>) => rows * Z;
const paramElements = ({ rows, Z, K }: Shape<Sizes>) => (rows / K) * Z;
const blockSums = ({ rows, Z, block }: Shape<BlockSizes>) => rows * ceilDiv(Z, block);

/** gl_out (rows, nb): block sums of -1/2 ((z - mu)^2 exp(-lv) + lv + log 2π). */
export const gaussianLogPdfBlocksKernel = logPdfKernel<'block'>('gaussian_logpdf_blocks', {
  dispatch: perBlock,
  elements: (s) => ({
    gl_out: blockSums(s),
    gl_z: zElements(s),
    gl_mu: paramElements(s),
    gl_lv: paramElements(s),
  }),
});
/** gl_out (rows, nb): block sums of -1/2 (z^2 + log 2π). */
export const stdNormalLogPdfBlocksKernel = logPdfKernel<'block'>('std_normal_logpdf_blocks', {
  dispatch: perBlock,
  elements: (s) => ({ gl_out: blockSums(s), gl_z: zElements(s) }),
});
const gradInputs = (s: Shape<Sizes>) => ({
  gb_dlogp: s.rows,
  gb_z: zElements(s),
  gb_mu: paramElements(s),
  gb_lv: paramElements(s),
});
/** gb_dz (rows, Z) (=|+=) -dlogp (z - mu) exp(-lv). */
export const gaussianLogPdfBackwardZKernel = logPdfKernel('gaussian_logpdf_backward_z', {
  elements: (s) => ({ gb_dz: zElements(s), ...gradInputs(s) }),
});
/** gb_dz (rows, Z) (=|+=) -dlogp z. */
export const stdNormalLogPdfBackwardKernel = logPdfKernel('std_normal_logpdf_backward', {
  elements: (s) => ({ gb_dz: zElements(s), gb_dlogp: s.rows, gb_z: zElements(s) }),
});
/**
 * gp_dparam (M, Z) (=|+=) Σ_k dlogp (z - mu) exp(-lv) with PARAM = 0 (dmu), or
 * Σ_k -1/2 dlogp (1 - (z - mu)^2 exp(-lv)) with PARAM = 1 (dlogvar).
 */
export const gaussianLogPdfBackwardParamKernel = logPdfKernel('gaussian_logpdf_backward_param', {
  dispatch: perParam,
  elements: (s) => ({ gp_dparam: paramElements(s), ...gradInputs(s) }),
});

interface LogPdfShape {
  /** Rows of z: means * samples. */
  rows: number;
  /** Values per row. */
  size: number;
  /** Samples per mean row (default 1): rows r*K .. r*K + K - 1 share mean row r. */
  samples?: number;
}

/** The density's parameters; omit both for the standard normal N(0, I). */
interface LogPdfParams {
  /** Means (rows / samples, size). */
  mu?: BufferRange;
  /** Log-variances (rows / samples, size). */
  logvar?: BufferRange;
}

function checkShape(kernel: string, o: LogPdfShape & LogPdfParams) {
  checkDim(kernel, 'rows', o.rows);
  checkDim(kernel, 'size', o.size);
  const K = o.samples ?? 1;
  checkDim(kernel, 'samples', K);
  if (o.rows % K !== 0) {
    throw new Error(`${kernel}: rows ${o.rows} is not a multiple of samples ${K}`);
  }
  checkElements(kernel, 'z', o.rows * o.size);
  if ((o.mu === undefined) !== (o.logvar === undefined)) {
    throw new Error(`${kernel}: give both mu and logvar, or neither (standard normal)`);
  }
  const params = o.mu && o.logvar ? { mu: o.mu, logvar: o.logvar } : undefined;
  return { shape: { rows: o.rows, Z: o.size, K }, params };
}

export interface GaussianLogPdfForwardOptions extends LogPdfShape, LogPdfParams {
  /** Output (rows): log N(z[r]; mu[r / samples], diag(exp(logvar[r / samples]))). */
  logp: BufferRange;
  /** (rows, size). */
  z: BufferRange;
  label?: string;
}

/** Per-row log-density of z under a diagonal Gaussian, or the standard normal. */
export async function prepareGaussianLogPdfForward(
  rt: GpuRuntime,
  o: GaussianLogPdfForwardOptions,
): Promise<Program> {
  const name = 'gaussian_logpdf_forward';
  const { shape, params } = checkShape(name, o);
  return prepareRowBlocks(rt, {
    kernel: params ? gaussianLogPdfBlocksKernel.name : stdNormalLogPdfBlocksKernel.name,
    rows: o.rows,
    cols: o.size,
    rowsOut: o.logp,
    label: o.label,
    first: (out, block) =>
      params
        ? rt.prepare(gaussianLogPdfBlocksKernel, {
            bindings: { gl_out: out, gl_z: o.z, gl_mu: params.mu, gl_lv: params.logvar },
            shape: { ...shape, block },
            label: o.label,
          })
        : rt.prepare(stdNormalLogPdfBlocksKernel, {
            bindings: { gl_out: out, gl_z: o.z },
            shape: { ...shape, block },
            label: o.label,
          }),
  });
}

export interface GaussianLogPdfBackwardOptions extends LogPdfShape, LogPdfParams {
  /** Gradient of logp (rows). */
  dlogp: BufferRange;
  /** The forward's z (rows, size). */
  z: BufferRange;
  /** Gradient of z (rows, size), when z needs one. */
  dz?: BufferRange;
  accumulateZ?: boolean;
  /** Gradient of mu (rows / samples, size), summed over the samples. */
  dmu?: BufferRange;
  accumulateMu?: boolean;
  /** Gradient of logvar (rows / samples, size), summed over the samples (straight-through clamp). */
  dlogvar?: BufferRange;
  accumulateLogvar?: boolean;
  label?: string;
}

/** The gradients asked for (at least one), one dispatch each. */
export async function prepareGaussianLogPdfBackward(
  rt: GpuRuntime,
  o: GaussianLogPdfBackwardOptions,
): Promise<Program> {
  const name = 'gaussian_logpdf_backward';
  const { shape, params } = checkShape(name, o);
  if (!o.dz && !o.dmu && !o.dlogvar) throw new Error(`${name}: give dz, dmu and/or dlogvar`);
  if (!params && (o.dmu || o.dlogvar)) {
    throw new Error(`${name}: the standard normal has no mu or logvar to differentiate`);
  }
  const sub = (part: string) => `${o.label ? o.label + '.' : ''}${part}`;
  const acc = (flag: boolean | undefined) => ({ ACCUMULATE: flag ? 1 : 0 });
  return buildProgram(rt, o.label ?? name, async (b) => {
    if (!params) {
      if (o.dz) {
        await b.dispatch(stdNormalLogPdfBackwardKernel, {
          bindings: { gb_dz: o.dz, gb_dlogp: o.dlogp, gb_z: o.z },
          shape,
          constants: acc(o.accumulateZ),
          label: sub('dz'),
        });
      }
      return;
    }
    const inputs = { gb_dlogp: o.dlogp, gb_z: o.z, gb_mu: params.mu, gb_lv: params.logvar };
    if (o.dz) {
      await b.dispatch(gaussianLogPdfBackwardZKernel, {
        bindings: { gb_dz: o.dz, ...inputs },
        shape,
        constants: acc(o.accumulateZ),
        label: sub('dz'),
      });
    }
    for (const [param, grad, accumulate] of [
      [0, o.dmu, o.accumulateMu],
      [1, o.dlogvar, o.accumulateLogvar],
    ] as const) {
      if (!grad) continue;
      await b.dispatch(gaussianLogPdfBackwardParamKernel, {
        bindings: { gp_dparam: grad, ...inputs },
        shape,
        constants: { PARAM: param, ...acc(accumulate) },
        label: sub(param === 0 ? 'dmu' : 'dlogvar'),
      });
    }
  });
}
