// The gated update of one IAF step per row, fused (shaders/iaf_gate.wgsl): z (N, Z) and the step's
// MADE output a (N, 2Z) = [m | s] -> z′ = m + σ ⊙ (z − m) (N, Z) and −log|det| = Σ softplus(−s′)
// (N), σ = sigmoid(s′), s′ = s + bias; the backward gives dz and da.
import { ceilDiv, defineKernel, dispatch1d } from '../gpu/kernel.js';
import type { BindingResource, GpuRuntime, PreparedDispatch } from '../gpu/runtime.js';
import { checkDim, checkFinite } from './checks.js';

const WG = 64;

const rowsDispatch = ({ N }: { N: number }) => dispatch1d(ceilDiv(N, WG));

/** z_out = m + σ(s + bias)(z − m), neg_logdet = Σ softplus(−(s + bias)) per row. */
export const iafGateForward = defineKernel<'N' | 'Z'>({
  name: 'iaf_gate_forward',
  file: 'iaf_gate.wgsl',
  entryPoint: 'iaf_gate_forward',
  workgroupSize: [WG],
  dispatch: rowsDispatch,
  elements: ({ N, Z }) => ({ z_out: N * Z, neg_logdet: N, z_in: N * Z, a_in: N * 2 * Z }),
});

/** dz and da from the upstream dz_out and dneg. */
export const iafGateBackward = defineKernel<'N' | 'Z'>({
  name: 'iaf_gate_backward',
  file: 'iaf_gate.wgsl',
  entryPoint: 'iaf_gate_backward',
  workgroupSize: [WG],
  dispatch: rowsDispatch,
  elements: ({ N, Z }) => ({
    dz: N * Z,
    da: N * 2 * Z,
    z_in: N * Z,
    a_in: N * 2 * Z,
    dz_out: N * Z,
    dneg: N,
  }),
});

export interface IafGateOptions {
  /** Outputs: z′ (N, Z) and −log|det ∂z′/∂z| (N). */
  zOut: BindingResource;
  negLogdet: BindingResource;
  /** (N, Z). */
  z: BindingResource;
  /** (N, 2Z): m, then s. */
  a: BindingResource;
  rows: number;
  latent: number;
  /** Added to s inside the gate. */
  bias: number;
  label?: string;
}

export async function prepareIafGateForward(
  rt: GpuRuntime,
  o: IafGateOptions,
): Promise<PreparedDispatch> {
  const name = iafGateForward.name;
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'latent', o.latent);
  checkFinite(name, 'bias', o.bias);
  return rt.prepare(iafGateForward, {
    bindings: { z_out: o.zOut, neg_logdet: o.negLogdet, z_in: o.z, a_in: o.a },
    shape: { N: o.rows, Z: o.latent },
    uniforms: { bias: o.bias },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}

export interface IafGateBackwardOptions {
  /** Outputs: dz (N, Z) and da (N, 2Z). */
  dz: BindingResource;
  da: BindingResource;
  /** Upstream gradients; absent: zero. */
  dzOut?: BindingResource | undefined;
  dnegLogdet?: BindingResource | undefined;
  /** The forward's inputs. */
  z: BindingResource;
  a: BindingResource;
  rows: number;
  latent: number;
  bias: number;
  /** Add into dz / da instead of assigning. */
  accumulateZ?: boolean;
  accumulateA?: boolean;
  label?: string;
}

export async function prepareIafGateBackward(
  rt: GpuRuntime,
  o: IafGateBackwardOptions,
): Promise<PreparedDispatch> {
  const name = iafGateBackward.name;
  checkDim(name, 'rows', o.rows);
  checkDim(name, 'latent', o.latent);
  checkFinite(name, 'bias', o.bias);
  if (!o.dzOut && !o.dnegLogdet) throw new Error(`${name}: needs dzOut, dnegLogdet or both`);
  // A missing upstream gradient is zero: its binding is a placeholder, read nowhere.
  return rt.prepare(iafGateBackward, {
    bindings: {
      dz: o.dz,
      da: o.da,
      z_in: o.z,
      a_in: o.a,
      dz_out: o.dzOut ?? o.z,
      dneg: o.dnegLogdet ?? o.z,
    },
    shape: { N: o.rows, Z: o.latent },
    uniforms: { bias: o.bias },
    constants: {
      HAS_DZ_OUT: o.dzOut ? 1 : 0,
      HAS_DNEG: o.dnegLogdet ? 1 : 0,
      ACCUMULATE_Z: o.accumulateZ ? 1 : 0,
      ACCUMULATE_A: o.accumulateA ? 1 : 0,
    },
    ...(o.label !== undefined ? { label: o.label } : {}),
  });
}
