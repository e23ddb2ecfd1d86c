// Reparameterized sampling of a full-covariance Gaussian q = N(mu, L Lᵀ) (the `full` posterior
// kind), K samples per example at rows b*K + k:
//   L = mask ⊙ L′ + diag(σ),  σ = exp(½ clamp(logvar)),
//   L′ (B, P): the strictly lower entries of each example's L, packed row-major: row i holds
//   L[i, 0..i-1] from i(i-1)/2, so P = Z(Z-1)/2 (P = 0 for Z = 1: fr_lower is bound, never read).
//
//   full_reparam_noise:    eps[b,k,j] ~ N(0, 1), drawn exactly as reparam_forward draws it (same
//                          Philox counter layout), so equal seed, step and stream give equal eps.
//   full_reparam_forward:  z[b,k,i] = mu[b,i] + σ[b,i] eps[b,k,i] + Σ_{j<i} L′[b,i,j] eps[b,k,j]
//   full_reparam_backward, PARAM = 0 (mu), 1 (logvar) or 2 (lower), into fr_dparam:
//       dmu[b,i]      (=|+=) Σ_k dz[b,k,i]
//       dlogvar[b,i]  (=|+=) ½ σ[b,i] Σ_k dz[b,k,i] eps[b,k,i]
//       dlower[b,i,j] (=|+=) Σ_k dz[b,k,i] eps[b,k,j]                      (j < i)
//   full_reparam_backward_eps (noise given as an input): Lᵀ dz,
//       deps[b,k,j]   (=|+=) σ[b,j] dz[b,k,j] + Σ_{i>j} L′[b,i,j] dz[b,k,i]
//   full_scale_tril: L (B, Z, Z) itself, row-major (what inference reports; no gradient).
//
// One invocation per output element, each summing its own terms in order (no atomics, no
// barriers); 1-D grids from dispatch1d(). Each gradient output has its own dispatch and
// ACCUMULATE, so the graph can write any of them at any stage of accumulation.
// logvar clamp: the rule of reparam.wgsl (exp at clamp(lv, LOGVAR_MIN, LOGVAR_MAX), gradient
// straight-through).

//!include prng.wgsl

override WG_X: u32 = 64;
override ACCUMULATE: bool = false;
override LOGVAR_MIN: f32 = -30.0;
override LOGVAR_MAX: f32 = 20.0;
override PARAM: u32 = 0u;

const PARAM_MU: u32 = 0u;
const PARAM_LOGVAR: u32 = 1u;

fn fr_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

fn fr_std(lv: f32) -> f32 {
  return exp(0.5 * clamp(lv, LOGVAR_MIN, LOGVAR_MAX));
}

// Start of row i of an example's packed strictly lower entries (row 0 is empty: 0 * wrapped 0 - 1
// is 0).
fn fr_row(i: u32) -> u32 {
  return i * (i - 1u) / 2u;
}

// ---- full_reparam_noise ----

struct FullNoiseParams {
  B: u32,       // batch size
  Z: u32,       // latent size
  K: u32,       // samples per example
  seed: u32,    // PRNG key
  step: u32,    // training step (part of the counter)
  stream: u32,  // noise stream of this op (counter word 3)
}

@group(0) @binding(0) var<storage, read_write> fr_noise: array<f32>;  // fr_noise: (B, K, Z)
@group(0) @binding(1) var<uniform> frn: FullNoiseParams;

@compute @workgroup_size(WG_X)
fn full_reparam_noise(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let t = fr_index(wid, nwg, lid);
  let n = frn.B * frn.Z;
  let quads = (n + 3u) / 4u;
  if (t >= quads * frn.K) {
    return;
  }
  let s = t / quads;
  let q = t - s * quads;
  let normals = philox_normal4(frn.seed, frn.step, q, s, frn.stream);
  for (var c = 0u; c < 4u; c++) {
    let e = 4u * q + c;
    if (e < n) {
      let b = e / frn.Z;
      fr_noise[(b * frn.K + s) * frn.Z + (e - b * frn.Z)] = normals[c];
    }
  }
}

// ---- full_reparam_forward ----

struct FullForwardParams {
  B: u32,  // batch size
  Z: u32,  // latent size
  K: u32,  // samples per example
}

@group(0) @binding(0) var<storage, read_write> fr_z: array<f32>;  // fr_z: (B, K, Z)
@group(0) @binding(1) var<storage, read> fr_mu: array<f32>;       // fr_mu: (B, Z)
@group(0) @binding(2) var<storage, read> fr_lv: array<f32>;       // fr_lv: (B, Z) log-variance
@group(0) @binding(3) var<storage, read> fr_lower: array<f32>;    // fr_lower: (B, P) L′ packed
@group(0) @binding(4) var<storage, read> fr_eps: array<f32>;      // fr_eps: (B, K, Z)
@group(0) @binding(5) var<uniform> frf: FullForwardParams;

@compute @workgroup_size(WG_X)
fn full_reparam_forward(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let t = fr_index(wid, nwg, lid);
  let Z = frf.Z;
  if (t >= frf.B * frf.K * Z) {
    return;
  }
  let r = t / Z;
  let i = t - r * Z;
  let b = r / frf.K;
  let e = b * Z + i;
  let row = b * (Z * (Z - 1u) / 2u) + fr_row(i);
  var s = fr_std(fr_lv[e]) * fr_eps[t];
  for (var j = 0u; j < i; j++) {
    s += fr_lower[row + j] * fr_eps[r * Z + j];
  }
  fr_z[t] = fr_mu[e] + s;
}

// ---- full_reparam_backward ----

struct FullBackwardParams {
  B: u32,  // batch size
  Z: u32,  // latent size
  K: u32,  // samples per example
  W: u32,  // values per example of fr_dparam: Z (mu, logvar) or P (lower)
}

@group(0) @binding(0) var<storage, read_write> fr_dparam: array<f32>;  // fr_dparam: (B, W)
@group(0) @binding(1) var<storage, read> fr_dz: array<f32>;            // fr_dz: (B, K, Z)
@group(0) @binding(2) var<storage, read> fr_eps_in: array<f32>;        // fr_eps_in: (B, K, Z)
@group(0) @binding(3) var<storage, read> fr_lv_in: array<f32>;         // fr_lv_in: (B, Z)
@group(0) @binding(4) var<uniform> frb: FullBackwardParams;

@compute @workgroup_size(WG_X)
fn full_reparam_backward(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let t = fr_index(wid, nwg, lid);
  if (t >= frb.B * frb.W) {
    return;
  }
  let Z = frb.Z;
  let b = t / frb.W;
  let p = t - b * frb.W;
  // The (row, column) of L this entry differentiates: (p, p) for mu and logvar, the packed
  // position p for lower (row i starts at i(i-1)/2; the float root is corrected to the exact one).
  var i = p;
  var j = p;
  if (PARAM > PARAM_LOGVAR) {
    i = u32(floor(0.5 + sqrt(0.25 + 2.0 * f32(p))));
    while (i > 0u && fr_row(i) > p) {
      i--;
    }
    while (fr_row(i + 1u) <= p) {
      i++;
    }
    j = p - fr_row(i);
  }
  var g = 0.0;
  for (var k = 0u; k < frb.K; k++) {
    let o = (b * frb.K + k) * Z;
    let dz = fr_dz[o + i];
    if (PARAM == PARAM_MU) {
      g += dz;
    } else {
      g += dz * fr_eps_in[o + j];
    }
  }
  if (PARAM == PARAM_LOGVAR) {
    g *= 0.5 * fr_std(fr_lv_in[b * Z + i]);
  }
  if (ACCUMULATE) {
    fr_dparam[t] = fr_dparam[t] + g;
  } else {
    fr_dparam[t] = g;
  }
}

// ---- full_reparam_backward_eps ----

@group(0) @binding(0) var<storage, read_write> fr_deps: array<f32>;  // fr_deps: (B, K, Z)
@group(0) @binding(1) var<storage, read> fr_dz_e: array<f32>;        // fr_dz_e: (B, K, Z)
@group(0) @binding(2) var<storage, read> fr_lv_e: array<f32>;        // fr_lv_e: (B, Z)
@group(0) @binding(3) var<storage, read> fr_lower_e: array<f32>;     // fr_lower_e: (B, P)
@group(0) @binding(4) var<uniform> fre: FullForwardParams;

@compute @workgroup_size(WG_X)
fn full_reparam_backward_eps(@builtin(workgroup_id) wid: vec3<u32>,
                             @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
  let t = fr_index(wid, nwg, lid);
  let Z = fre.Z;
  if (t >= fre.B * fre.K * Z) {
    return;
  }
  let r = t / Z;
  let j = t - r * Z;
  let b = r / fre.K;
  let base = b * (Z * (Z - 1u) / 2u);
  var g = fr_std(fr_lv_e[b * Z + j]) * fr_dz_e[t];
  for (var i = j + 1u; i < Z; i++) {
    g += fr_lower_e[base + fr_row(i) + j] * fr_dz_e[r * Z + i];
  }
  if (ACCUMULATE) {
    fr_deps[t] = fr_deps[t] + g;
  } else {
    fr_deps[t] = g;
  }
}

// ---- full_scale_tril ----

struct ScaleTrilParams {
  B: u32,  // batch size
  Z: u32,  // latent size
}

@group(0) @binding(0) var<storage, read_write> fr_tril: array<f32>;  // fr_tril: (B, Z, Z)
@group(0) @binding(1) var<storage, read> fr_lv_t: array<f32>;        // fr_lv_t: (B, Z)
@group(0) @binding(2) var<storage, read> fr_lower_t: array<f32>;     // fr_lower_t: (B, P)
@group(0) @binding(3) var<uniform> frt: ScaleTrilParams;

@compute @workgroup_size(WG_X)
fn full_scale_tril(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let t = fr_index(wid, nwg, lid);
  let Z = frt.Z;
  if (t >= frt.B * Z * Z) {
    return;
  }
  let r = t / Z;
  let j = t - r * Z;
  let b = r / Z;
  let i = r - b * Z;
  var v = 0.0;
  if (j == i) {
    v = fr_std(fr_lv_t[b * Z + i]);
  } else if (j < i) {
    v = fr_lower_t[b * (Z * (Z - 1u) / 2u) + fr_row(i) + j];
  }
  fr_tril[t] = v;
}
