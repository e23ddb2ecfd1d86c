// One planar flow step per row, fused (shaders/planar.wgsl): z (N, Z) and per-row parameters
// [û | w | b] (N, 2Z + 1) -> z′ (N, Z) and log|det| (N); the backward gives dz and the parameters'
// per-row gradients (the graph sums a global step's rows with repeat_rows' backward).
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim } from './checks.js';

const WG = 64;

const rowsDispatch = ({ N }: { N: number }) => dispatch1d(ceilDiv(N, WG));

/** z_out = z + û tanh(wᵀz + b), logdet = log|1 + (1 − h²) wᵀû| per row. */
export const planarRowsForward = defineKernel<'N' | 'Z'>({
  name: 'planar_rows_forward',
  file: 'planar.wgsl',
  entryPoint: 'planar_rows_forward',
  workgroupSize: [WG],
  dispatch: rowsDispatch,
  elements: ({ N, Z }) => ({ z_out: N * Z, logdet: N, z_in: N * Z, params: N * (2 * Z + 1) }),
});

/** dz and dparams (per row) from the upstream dz_out and dlogdet. */
export const planarRowsBackward = defineKernel<'N' | 'Z'>({
  name: 'planar_rows_backward',
  file: 'planar.wgsl',
  entryPoint: 'planar_rows_backward',
  workgroupSize: [WG],
  dispatch: rowsDispatch,
  elements: ({ N, Z }) => ({
    dz: N * Z,
    dparams: N * (2 * Z + 1),
    z_in: N * Z,
    params: N * (2 * Z + 1),
    dz_out: N * Z,
    dlogdet: N,
  }),
});

export interface PlanarRowsOptions {
  /** Outputs: z′ (N, Z) and log|det| (N). */
  zOut: BindingResource;
  logdet: BindingResource;
  /** (N, Z). */
  z: BindingResource;
  /** (N, 2Z + 1): û, w, b of each row's step. */
  params: BindingResource;
  rows: number;
  latent: number;
  label?: string;
}

export async function preparePlanarRowsForward(
  rt: GpuRuntime,
  o: PlanarRowsOptions,
): Promise<PreparedDispatch> {
  checkDim(planarRowsForward.name, 'rows', o.rows);
  checkDim(planarRowsForward.name, 'latent', o.latent);
  return rt.prepare(planarRowsForward, {
    bindings: { z_out: o.zOut, logdet: o.logdet, z_in: o.z, params: o.params },
    shape: { N: o.rows, Z: o.latent },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface PlanarRowsBackwardOptions {
  /** Outputs: dz (N, Z) and dparams (N, 2Z + 1). */
  dz: BindingResource;
  dparams: BindingResource;
  /** Upstream gradients; absent: zero. */
  dzOut?: BindingResource | undefined;
  dlogdet?: BindingResource | undefined;
  /** The forward's inputs. */
  z: BindingResource;
  params: BindingResource;
  rows: number;
  latent: number;
  /** Add into dz / dparams instead of assigning. */
  accumulateZ?: boolean;
  accumulateParams?: boolean;
  label?: string;
}

export async function preparePlanarRowsBackward(
  rt: GpuRuntime,
  o: PlanarRowsBackwardOptions,
): Promise<PreparedDispatch> {
  const name = planarRowsBackward.name;
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'latent', o.latent);
  if (!o.dzOut && !o.dlogdet) throw new Error(`${name}: needs dzOut, dlogdet or both`);
  // A missing upstream gradient is zero: its binding is a placeholder of the right size, read
  // nowhere (HAS_DZ_OUT / HAS_DLOGDET false).
  return rt.prepare(planarRowsBackward, {
    bindings: {
      dz: o.dz,
      dparams: o.dparams,
      z_in: o.z,
      params: o.params,
      dz_out: o.dzOut ?? o.z,
      dlogdet: o.dlogdet ?? o.z,
    },
    shape: { N: o.rows, Z: o.latent },
    constants: {
      HAS_DZ_OUT: o.dzOut ? 1 : 0,
      HAS_DLOGDET: o.dlogdet ? 1 : 0,
      ACCUMULATE_Z: o.accumulateZ ? 1 : 0,
      ACCUMULATE_P: o.accumulateParams ? 1 : 0,
    },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
