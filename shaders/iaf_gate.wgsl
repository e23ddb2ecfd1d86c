// The gated update of one IAF step (Kingma et al. 2016), fused: z (N, Z) and the step's MADE
// output a (N, 2Z) = [m | s] give, per row, with s′ = s + bias (the forget-gate bias) and
// σ = sigmoid(s′):
//   z′ = m + σ ⊙ (z − m)                        (= σ ⊙ z + (1 − σ) ⊙ m)
//   neg_logdet = Σ_i softplus(−s′_i)            (= −Σ_i log σ_i = −log|det ∂z′/∂z|)
//   iaf_gate_forward:  z_out (N, Z), neg_logdet (N). One invocation per row (Z is small: a loop).
//   iaf_gate_backward: from the upstream dz_out (N, Z) and dneg (N):
//     dz = σ dz_out,  dm = (1 − σ) dz_out,
//     ds = σ (1 − σ)(z − m) dz_out − (1 − σ) dneg   (d softplus(−s′)/ds = −sigmoid(−s′) = −(1 − σ)).
//     HAS_DZ_OUT / HAS_DNEG false: that upstream gradient is zero (its binding is only a
//     placeholder). ACCUMULATE_Z / ACCUMULATE_A: dz / da add into their buffers instead of being
//     assigned (z's gradient is often written by another op too).
//!include activation_fns.wgsl

override WG_X: u32 = 64;
override HAS_DZ_OUT: bool = true;
override HAS_DNEG: bool = true;
override ACCUMULATE_Z: bool = false;
override ACCUMULATE_A: bool = false;

struct IafGateParams {
  N: u32,     // rows
  Z: u32,     // latent size
  bias: f32,  // added to s inside the gate
}

// Both entry points read z and a at the same bindings.
@group(0) @binding(2) var<storage, read> z_in: array<f32>;  // z_in: (N, Z)
@group(0) @binding(3) var<storage, read> a_in: array<f32>;  // a_in: (N, 2Z) = [m | s]

// ---- iaf_gate_forward ----

@group(0) @binding(0) var<storage, read_write> z_out: array<f32>;       // z_out: (N, Z)
@group(0) @binding(1) var<storage, read_write> neg_logdet: array<f32>;  // neg_logdet: (N)
@group(0) @binding(4) var<uniform> fwd: IafGateParams;

@compute @workgroup_size(WG_X)
fn iaf_gate_forward(@builtin(workgroup_id) wid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (n >= fwd.N) {
    return;
  }
  let Z = fwd.Z;
  let zr = n * Z;
  let ar = n * 2u * Z;
  var neg = 0.0;
  for (var j = 0u; j < Z; j++) {
    let m = a_in[ar + j];
    let s = a_in[ar + Z + j] + fwd.bias;
    z_out[zr + j] = m + sigmoid_stable(s) * (z_in[zr + j] - m);
    neg += softplus_stable(-s);
  }
  neg_logdet[n] = neg;
}

// ---- iaf_gate_backward ----

@group(0) @binding(0) var<storage, read_write> dz: array<f32>;  // dz: (N, Z)
@group(0) @binding(1) var<storage, read_write> da: array<f32>;  // da: (N, 2Z)
@group(0) @binding(4) var<storage, read> dz_out: array<f32>;    // dz_out: (N, Z) upstream
@group(0) @binding(5) var<storage, read> dneg: array<f32>;      // dneg: (N) upstream
@group(0) @binding(6) var<uniform> bwd: IafGateParams;

fn put_z(e: u32, v: f32) {
  if (ACCUMULATE_Z) {
    dz[e] = dz[e] + v;
  } else {
    dz[e] = v;
  }
}

fn put_a(e: u32, v: f32) {
  if (ACCUMULATE_A) {
    da[e] = da[e] + v;
  } else {
    da[e] = v;
  }
}

@compute @workgroup_size(WG_X)
fn iaf_gate_backward(@builtin(workgroup_id) wid: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (n >= bwd.N) {
    return;
  }
  let Z = bwd.Z;
  let zr = n * Z;
  let ar = n * 2u * Z;
  var g_neg = 0.0;
  if (HAS_DNEG) {
    g_neg = dneg[n];
  }
  for (var j = 0u; j < Z; j++) {
    let m = a_in[ar + j];
    let sigma = sigmoid_stable(a_in[ar + Z + j] + bwd.bias);
    // 1 − σ as sigmoid(−s′): no cancellation when σ rounds to 1.
    let one_minus = sigmoid_stable(-(a_in[ar + Z + j] + bwd.bias));
    var up = 0.0;
    if (HAS_DZ_OUT) {
      up = dz_out[zr + j];
    }
    put_z(zr + j, sigma * up);
    put_a(ar + j, one_minus * up);
    put_a(ar + Z + j, sigma * one_minus * (z_in[zr + j] - m) * up - one_minus * g_neg);
  }
}
