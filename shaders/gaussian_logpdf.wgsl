// Log-density of diagonal Gaussians per row, with `K` samples per mean row (IWAE, importance
// sampling): row r of z (M*K, Z) is scored under N(mu[m], diag(exp(lv[m]))), m = r / K:
//   logp[r] = -1/2 Σ_j ((z[r,j] - mu[m,j])^2 exp(-lv[m,j]) + lv[m,j] + log 2π)
// and the standard normal (no mu, lv): logp[r] = -1/2 Σ_j (z[r,j]^2 + log 2π).
//   gaussian_logpdf_blocks / std_normal_logpdf_blocks: gl_out (rows, nb) = block sums of the terms
//       of `block` consecutive j (nb = ceil(Z / block)); with nb = 1 that is logp, otherwise
//       src/kernels/gaussian-logpdf.ts adds the reduce_rows passes (barrier-free).
//   gaussian_logpdf_backward_z:       dz[r,j]  (=|+=) -dlogp[r] (z - mu) exp(-lv)
//   std_normal_logpdf_backward:       dz[r,j]  (=|+=) -dlogp[r] z
//   gaussian_logpdf_backward_param, PARAM = 0 (mu) or 1 (logvar), into gp_dparam (M, Z):
//       dmu[m,j] (=|+=) Σ_k dlogp[r] (z - mu) exp(-lv)
//       dlv[m,j] (=|+=) Σ_k -1/2 dlogp[r] (1 - (z - mu)^2 exp(-lv))
//       (r = m*K + k; one invocation per (m, j) sums its K samples in order: no atomics).
// logvar clamp (the rule of reparam.wgsl and kl.wgsl): exp is taken of c = clamp(lv, LOGVAR_MIN,
// LOGVAR_MAX), default [-30, 20], so the value stays finite for any finite lv; the linear lv term
// is exact. The gradient uses the same clamped exp but is straight-through (not zeroed outside the
// range), so a logvar that left the range is pulled back. Inside the range it is the exact one.
// Each gradient output has its own dispatch and ACCUMULATE, so any subset can be written.
// 1-D grids from dispatch1d().

override WG_X: u32 = 64;
override ACCUMULATE: bool = false;
override LOGVAR_MIN: f32 = -30.0;
override LOGVAR_MAX: f32 = 20.0;
override PARAM: u32 = 0u;

const PARAM_MU: u32 = 0u;

const LOG_2PI: f32 = 1.8378770664093453;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

// exp(-lv) at the clamped lv.
fn inv_var(lv: f32) -> f32 {
  return exp(-clamp(lv, LOGVAR_MIN, LOGVAR_MAX));
}

// ---- forward: block sums of the per-element terms ----

struct LogPdfBlockParams {
  rows: u32,   // rows of z (means * samples)
  Z: u32,      // values per row
  K: u32,      // samples per mean row (unused by the standard normal)
  block: u32,  // terms summed per invocation
}

@group(0) @binding(0) var<storage, read_write> gl_out: array<f32>;  // gl_out: (rows, nb)
@group(0) @binding(1) var<storage, read> gl_z: array<f32>;          // gl_z: (rows, Z)
@group(0) @binding(2) var<storage, read> gl_mu: array<f32>;         // gl_mu: (rows / K, Z)
@group(0) @binding(3) var<storage, read> gl_lv: array<f32>;         // gl_lv: (rows / K, Z) log-variance
@group(0) @binding(4) var<uniform> glp: LogPdfBlockParams;

@compute @workgroup_size(WG_X)
fn gaussian_logpdf_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
  let g = linear_index(wid, nwg, lid);
  let nb = (glp.Z + glp.block - 1u) / glp.block;
  if (g >= glp.rows * nb) {
    return;
  }
  let r = g / nb;
  let j0 = (g - r * nb) * glp.block;
  let count = min(glp.block, glp.Z - j0);
  let zbase = r * glp.Z + j0;
  let pbase = (r / glp.K) * glp.Z + j0;
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    let lv = gl_lv[pbase + k];
    let d = gl_z[zbase + k] - gl_mu[pbase + k];
    acc += d * d * inv_var(lv) + lv + LOG_2PI;
  }
  gl_out[g] = -0.5 * acc;
}

@group(0) @binding(2) var<uniform> gls: LogPdfBlockParams;

@compute @workgroup_size(WG_X)
fn std_normal_logpdf_blocks(@builtin(workgroup_id) wid: vec3<u32>,
                            @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_index) lid: u32) {
  let g = linear_index(wid, nwg, lid);
  let nb = (gls.Z + gls.block - 1u) / gls.block;
  if (g >= gls.rows * nb) {
    return;
  }
  let r = g / nb;
  let j0 = (g - r * nb) * gls.block;
  let count = min(gls.block, gls.Z - j0);
  let base = r * gls.Z + j0;
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    let v = gl_z[base + k];
    acc += v * v + LOG_2PI;
  }
  gl_out[g] = -0.5 * acc;
}

// ---- backward ----

struct LogPdfGradParams {
  rows: u32,  // rows of z (means * samples)
  Z: u32,     // values per row
  K: u32,     // samples per mean row
}

@group(0) @binding(0) var<storage, read_write> gb_dz: array<f32>;  // gb_dz: (rows, Z)
@group(0) @binding(1) var<storage, read> gb_dlogp: array<f32>;     // gb_dlogp: (rows)
@group(0) @binding(2) var<storage, read> gb_z: array<f32>;         // gb_z: (rows, Z)
@group(0) @binding(3) var<storage, read> gb_mu: array<f32>;        // gb_mu: (rows / K, Z)
@group(0) @binding(4) var<storage, read> gb_lv: array<f32>;        // gb_lv: (rows / K, Z)
@group(0) @binding(5) var<uniform> gbp: LogPdfGradParams;

@compute @workgroup_size(WG_X)
fn gaussian_logpdf_backward_z(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= gbp.rows * gbp.Z) {
    return;
  }
  let r = i / gbp.Z;
  let p = (r / gbp.K) * gbp.Z + (i - r * gbp.Z);
  let g = -gb_dlogp[r] * (gb_z[i] - gb_mu[p]) * inv_var(gb_lv[p]);
  if (ACCUMULATE) {
    gb_dz[i] = gb_dz[i] + g;
  } else {
    gb_dz[i] = g;
  }
}

@group(0) @binding(3) var<uniform> gbs: LogPdfGradParams;

@compute @workgroup_size(WG_X)
fn std_normal_logpdf_backward(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= gbs.rows * gbs.Z) {
    return;
  }
  let g = -gb_dlogp[i / gbs.Z] * gb_z[i];
  if (ACCUMULATE) {
    gb_dz[i] = gb_dz[i] + g;
  } else {
    gb_dz[i] = g;
  }
}

@group(0) @binding(0) var<storage, read_write> gp_dparam: array<f32>;  // gp_dparam: (rows / K, Z)

@compute @workgroup_size(WG_X)
fn gaussian_logpdf_backward_param(@builtin(workgroup_id) wid: vec3<u32>,
                                  @builtin(num_workgroups) nwg: vec3<u32>,
                                  @builtin(local_invocation_index) lid: u32) {
  let p = linear_index(wid, nwg, lid);
  let means = gbp.rows / gbp.K;
  if (p >= means * gbp.Z) {
    return;
  }
  let m = p / gbp.Z;
  let j = p - m * gbp.Z;
  let mu = gb_mu[p];
  let w = inv_var(gb_lv[p]);
  var s = 0.0;
  for (var k = 0u; k < gbp.K; k++) {
    let r = m * gbp.K + k;
    let d = gb_z[r * gbp.Z + j] - mu;
    if (PARAM == PARAM_MU) {
      s += gb_dlogp[r] * d;
    } else {
      s += gb_dlogp[r] * (1.0 - d * d * w);
    }
  }
  let g = select(-0.5 * s, s * w, PARAM == PARAM_MU);
  if (ACCUMULATE) {
    gp_dparam[p] = gp_dparam[p] + g;
  } else {
    gp_dparam[p] = g;
  }
}
