// One planar flow step per row (Rezende & Mohamed 2015), fused: z (N, Z) and each row's step
// parameters params (N, 2Z + 1) = [u | w | b] (global parameters arrive repeated to every row) give
//   û = u + β w,  β = (softplus(−wᵀu) − 1) / ‖w‖²   (the invertibility fix: wᵀû = −1 + softplus(wᵀu))
//   a = wᵀz + b,  h = tanh(a),  z′ = z + û h,  logdet = log|1 + (1 − h²) wᵀû|.
//   planar_rows_forward:  z_out (N, Z), logdet (N). One invocation per row (Z is small: a loop).
//   planar_rows_backward: from the upstream dz_out (N, Z) and dlogdet (N), with s = 1 − h²,
//     c = wᵀû, D = 1 + s c, g = dlogdet / D:
//       dh = dz_outᵀû − 2 h c g,  da = s dh,  dz = dz_out + da w,  db = da,
//       gû = h dz_out + g s w  (the gradient at û),  then through the fix, with
//       β_a = ∂β/∂(wᵀu) = −sigmoid(−wᵀu)/‖w‖² and ∂β/∂‖w‖² = −β/‖w‖²:
//       du = gû + (gûᵀw) β_a w,  dw = da z + g s û + β gû + (gûᵀw)(β_a u − 2β w/‖w‖²).
//     h is recomputed from z and the parameters (the same expression as the forward, so the same
//     value). HAS_DZ_OUT / HAS_DLOGDET false: that upstream gradient is zero (its binding is only
//     a placeholder). ACCUMULATE_Z / ACCUMULATE_P: dz / dparams add into their buffers instead of
//     being assigned (z's gradient is often written by another op too; the parameters' is not).

override WG_X: u32 = 64;
override HAS_DZ_OUT: bool = true;
override HAS_DLOGDET: bool = true;
override ACCUMULATE_Z: bool = false;
override ACCUMULATE_P: bool = false;

struct PlanarParams {
  N: u32,  // rows
  Z: u32,  // latent size
}

// softplus(x) = log(1 + exp(x)) without overflow.
fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// Both entry points read z and the parameters at the same bindings, so one function serves both.
@group(0) @binding(2) var<storage, read> z_in: array<f32>;    // z_in: (N, Z)
@group(0) @binding(3) var<storage, read> params: array<f32>;  // params: (N, 2Z + 1) = [u | w | b]

// Row n's step: β of û = u + β w, a = wᵀz + b, c = wᵀû, and wᵀu, ‖w‖² (the backward's chain).
struct PlanarRow {
  beta: f32,
  a: f32,
  c: f32,
  wu: f32,
  wsq: f32,
}

fn planar_row(n: u32, Z: u32) -> PlanarRow {
  let zr = n * Z;
  let pr = n * (2u * Z + 1u);
  var wu = 0.0;
  var wsq = 0.0;
  var wz = 0.0;
  for (var j = 0u; j < Z; j++) {
    let w = params[pr + Z + j];
    wu += w * params[pr + j];
    wsq += w * w;
    wz += w * z_in[zr + j];
  }
  let beta = (softplus(-wu) - 1.0) / wsq;
  // wᵀû = wᵀu + β ‖w‖²
  return PlanarRow(beta, wz + params[pr + 2u * Z], wu + beta * wsq, wu, wsq);
}

// ---- planar_rows_forward ----

@group(0) @binding(0) var<storage, read_write> z_out: array<f32>;   // z_out: (N, Z)
@group(0) @binding(1) var<storage, read_write> logdet: array<f32>;  // logdet: (N)
@group(0) @binding(4) var<uniform> fwd: PlanarParams;

@compute @workgroup_size(WG_X)
fn planar_rows_forward(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (n >= fwd.N) {
    return;
  }
  let Z = fwd.Z;
  let zr = n * Z;
  let pr = n * (2u * Z + 1u);
  let row = planar_row(n, Z);
  let h = tanh(row.a);
  for (var j = 0u; j < Z; j++) {
    let u_hat = params[pr + j] + row.beta * params[pr + Z + j];
    z_out[zr + j] = z_in[zr + j] + u_hat * h;
  }
  logdet[n] = log(abs(1.0 + (1.0 - h * h) * row.c));
}

// ---- planar_rows_backward ----

@group(0) @binding(0) var<storage, read_write> dz: array<f32>;       // dz: (N, Z)
@group(0) @binding(1) var<storage, read_write> dparams: array<f32>;  // dparams: (N, 2Z + 1)
@group(0) @binding(4) var<storage, read> dz_out: array<f32>;         // dz_out: (N, Z) upstream
@group(0) @binding(5) var<storage, read> dlogdet: array<f32>;        // dlogdet: (N) upstream
@group(0) @binding(6) var<uniform> bwd: PlanarParams;

fn put_z(e: u32, v: f32) {
  if (ACCUMULATE_Z) {
    dz[e] = dz[e] + v;
  } else {
    dz[e] = v;
  }
}

fn put_p(e: u32, v: f32) {
  if (ACCUMULATE_P) {
    dparams[e] = dparams[e] + v;
  } else {
    dparams[e] = v;
  }
}

// The upstream gradient of z′ (zero without one).
fn upstream(e: u32) -> f32 {
  if (HAS_DZ_OUT) {
    return dz_out[e];
  }
  return 0.0;
}

@compute @workgroup_size(WG_X)
fn planar_rows_backward(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let n = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (n >= bwd.N) {
    return;
  }
  let Z = bwd.Z;
  let zr = n * Z;
  let pr = n * (2u * Z + 1u);
  let row = planar_row(n, Z);
  let beta = row.beta;
  let wsq = row.wsq;
  var dzu = 0.0;
  for (var j = 0u; j < Z; j++) {
    dzu += upstream(zr + j) * (params[pr + j] + beta * params[pr + Z + j]);
  }
  let beta_a = -1.0 / ((1.0 + exp(row.wu)) * wsq);  // −sigmoid(−wᵀu) / ‖w‖²
  let h = tanh(row.a);
  let s = 1.0 - h * h;
  var g = 0.0;
  if (HAS_DLOGDET) {
    g = dlogdet[n] / (1.0 + s * row.c);
  }
  let da = s * (dzu - 2.0 * h * row.c * g);
  // gûᵀw first: the fix's chain needs it for every coordinate.
  var guw = 0.0;
  for (var j = 0u; j < Z; j++) {
    let w = params[pr + Z + j];
    guw += (h * upstream(zr + j) + g * s * w) * w;
  }
  for (var j = 0u; j < Z; j++) {
    let u = params[pr + j];
    let w = params[pr + Z + j];
    let up = upstream(zr + j);
    let gu = h * up + g * s * w;
    put_z(zr + j, up + da * w);
    put_p(pr + j, gu + guw * beta_a * w);
    put_p(pr + Z + j, da * z_in[zr + j] + g * s * (u + beta * w) + beta * gu
      + guw * (beta_a * u - 2.0 * beta * w / wsq));
  }
  put_p(pr + 2u * Z, da);
}
