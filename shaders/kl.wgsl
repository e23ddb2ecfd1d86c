// KL divergence of the encoder's diagonal Gaussian q = N(mu, diag(exp(logvar))) to N(0, I), as a
// per-example loss tensor (the graph composes beta, 1/B and the capacity objective):
//   KL_b = 0.5 * sum_j (mu[b,j]^2 + exp(lv[b,j]) - 1 - lv[b,j])
//   kl_forward:  kl (B): per-example KL_b. One workgroup per example, tree reduction over Z in
//                workgroup memory with barriers (real GPUs).
//   kl_blocks:   the same without workgroup memory or barriers (CPU adapters): invocation
//                g = b * nb + j sums the `block` consecutive terms j * block .. of row b into kl[g],
//                kl: (B, nb), nb = ceil(Z / block). With nb = 1 (Z <= block, the usual case) that is
//                KL_b, one invocation per example; otherwise src/kernels/kl.ts adds the reduce_rows
//                passes of shaders/reduce.wgsl. 1-D grid from dispatch1d().
//   kl_backward_rows: the gradient of sum_b dkl[b] * KL_b, reading the upstream gradient dkl: (B):
//                dmu = dkl[b] * mu, dlv = dkl[b] * 0.5 * (exp(c) - 1).
//                ACCUMULATE override: reparam_backward also writes dmu/dlogvar; one of the two
//                assigns (ACCUMULATE = false) and the other adds (true), in either order.
//
// logvar clamp (same rule as reparam.wgsl): exp is taken of c = clamp(lv, LOGVAR_MIN, LOGVAR_MAX),
// default [-30, 20]; the term is 0.5 * (mu^2 + (exp(c) - 1 - c) + (c - lv)), so the linear -lv part
// is exact and the value finite for any finite input. The gradient 0.5 * (exp(c) - 1) is
// straight-through (not zeroed outside the range), so it keeps pulling logvar back into range.
// exp(c) - 1 - c and exp(c) - 1 use series for |c| < 0.5 (no cancellation when q is close to the
// prior, mu ~ 0 and lv ~ 0, where the KL is tiny).

override WG_X: u32 = 64;  // power of two
override ACCUMULATE: bool = false;
override LOGVAR_MIN: f32 = -30.0;
override LOGVAR_MAX: f32 = 20.0;

// exp(x) - 1, accurate for small |x|.
fn expm1_acc(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 + x * (0.008333333333333333 +
      x * (0.001388888888888889 + x * (1.984126984126984e-4 + x * 2.48015873015873e-5)))))));
  }
  return exp(x) - 1.0;
}

// exp(x) - 1 - x, accurate for small |x|.
fn expm1_minus_x(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 + x * (0.008333333333333333 +
      x * (0.001388888888888889 + x * (1.984126984126984e-4 + x * (2.48015873015873e-5 + x * 2.7557319223985893e-6)))))));
  }
  return exp(x) - 1.0 - x;
}

fn kl_term(m: f32, lv: f32) -> f32 {
  let c = clamp(lv, LOGVAR_MIN, LOGVAR_MAX);
  return 0.5 * (m * m + expm1_minus_x(c) + (c - lv));
}

var<workgroup> partial: array<f32, WG_X>;

// Tree sum of `partial` over the workgroup; every invocation gets the total. Call from uniform
// control flow only.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG_X / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid] = partial[lid] + partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// ---- kl_forward ----

struct KlForwardParams {
  B: u32,  // batch size
  Z: u32,  // latent size
}

@group(0) @binding(0) var<storage, read_write> kl: array<f32>;  // kl: (B)
@group(0) @binding(1) var<storage, read> mu: array<f32>;        // mu: (B, Z)
@group(0) @binding(2) var<storage, read> logvar: array<f32>;    // logvar: (B, Z)
@group(0) @binding(3) var<uniform> fwd: KlForwardParams;

@compute @workgroup_size(WG_X)
fn kl_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let b = wid.y * nwg.x + wid.x;  // one workgroup per example (uniform across the workgroup)
  if (b >= fwd.B) {
    return;
  }
  var acc = 0.0;
  for (var j = lid; j < fwd.Z; j += WG_X) {
    let e = b * fwd.Z + j;
    acc += kl_term(mu[e], logvar[e]);
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    kl[b] = total;
  }
}

// ---- kl_blocks ----

struct KlBlockParams {
  B: u32,      // batch size
  Z: u32,      // latent size
  block: u32,  // terms summed per invocation
}

@group(0) @binding(3) var<uniform> blk: KlBlockParams;

@compute @workgroup_size(WG_X)
fn kl_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (blk.Z + blk.block - 1u) / blk.block;
  if (g >= blk.B * nb) {
    return;
  }
  let b = g / nb;
  let j0 = (g - b * nb) * blk.block;
  let count = min(blk.block, blk.Z - j0);
  let base = b * blk.Z + j0;
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    acc += kl_term(mu[base + k], logvar[base + k]);
  }
  kl[g] = acc;
}

// ---- kl_backward_rows ----

@group(0) @binding(0) var<storage, read_write> dmu: array<f32>;      // dmu: (B, Z)
@group(0) @binding(1) var<storage, read_write> dlogvar: array<f32>;  // dlogvar: (B, Z)
@group(0) @binding(2) var<storage, read> mu_in: array<f32>;          // mu_in: (B, Z)
@group(0) @binding(3) var<storage, read> logvar_in: array<f32>;      // logvar_in: (B, Z)
@group(0) @binding(4) var<storage, read> dkl: array<f32>;            // dkl: (B) upstream gradient of KL_b
@group(0) @binding(5) var<uniform> bwd_rows: KlForwardParams;

@compute @workgroup_size(WG_X)
fn kl_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (e >= bwd_rows.B * bwd_rows.Z) {
    return;
  }
  let w = dkl[e / bwd_rows.Z];
  let c = clamp(logvar_in[e], LOGVAR_MIN, LOGVAR_MAX);
  let gmu = w * mu_in[e];
  let glv = w * 0.5 * expm1_acc(c);
  if (ACCUMULATE) {
    dmu[e] = dmu[e] + gmu;
    dlogvar[e] = dlogvar[e] + glv;
  } else {
    dmu[e] = gmu;
    dlogvar[e] = glv;
  }
}

// ---- KL between two diagonal Gaussians ----
// KL(N(mu_q, exp(lv_q)) ‖ N(mu_p, exp(lv_p))) per example, for a learned prior p(z|·) (the CVAE's
// prior network): with c = the clamped logvars, d = c_q − c_p and Δ = mu_q − mu_p,
//   KL_b = 0.5 Σ_j ((lv_p − lv_q) + exp(d) − 1 + Δ² exp(−c_p))
//        = 0.5 Σ_j (expm1(d) − d + ((c_q − lv_q) − (c_p − lv_p)) + Δ² exp(−c_p))
// (the first form's logs cancel when q ≈ p; the second keeps the small KL exact, as kl_term).
//   kl_gaussians_forward: kl (B), one workgroup per example (real GPUs).
//   kl_gaussians_blocks:  barrier-free block sums kl (B, nb) as kl_blocks (CPU adapters).
//   kl_gaussians_backward_rows: gradients of Σ_b dkl[b] KL_b for one side (SIDE_P false: q's
//     mean and logvar, true: p's), straight through the clamps; w = dkl[b]:
//     dmu_q = w Δ exp(−c_p),  dlv_q = w ½ expm1(d),
//     dmu_p = −dmu_q,         dlv_p = −w ½ (expm1(d) + Δ² exp(−c_p)).
//     One dispatch per side that needs a gradient: each side has its own ACCUMULATE stage (q's
//     mean also gets reparam's gradient) and the bindings stay within 8 storage buffers.
override SIDE_P: bool = false;

fn kl_gaussians_term(mq: f32, lvq: f32, mp: f32, lvp: f32) -> f32 {
  let cq = clamp(lvq, LOGVAR_MIN, LOGVAR_MAX);
  let cp = clamp(lvp, LOGVAR_MIN, LOGVAR_MAX);
  let delta = mq - mp;
  return 0.5 * (expm1_minus_x(cq - cp) + ((cq - lvq) - (cp - lvp)) + delta * delta * exp(-cp));
}

@group(0) @binding(0) var<storage, read_write> kl2: array<f32>;        // kl2: (B) or (B, nb)
@group(0) @binding(1) var<storage, read> mu_q: array<f32>;             // mu_q: (B, Z)
@group(0) @binding(2) var<storage, read> logvar_q: array<f32>;         // logvar_q: (B, Z)
@group(0) @binding(3) var<storage, read> mu_p: array<f32>;             // mu_p: (B, Z)
@group(0) @binding(4) var<storage, read> logvar_p: array<f32>;         // logvar_p: (B, Z)
@group(0) @binding(5) var<uniform> fwd2: KlForwardParams;

@compute @workgroup_size(WG_X)
fn kl_gaussians_forward(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let b = wid.y * nwg.x + wid.x;  // one workgroup per example (uniform across the workgroup)
  if (b >= fwd2.B) {
    return;
  }
  var acc = 0.0;
  for (var j = lid; j < fwd2.Z; j += WG_X) {
    let e = b * fwd2.Z + j;
    acc += kl_gaussians_term(mu_q[e], logvar_q[e], mu_p[e], logvar_p[e]);
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    kl2[b] = total;
  }
}

@group(0) @binding(5) var<uniform> blk2: KlBlockParams;

@compute @workgroup_size(WG_X)
fn kl_gaussians_blocks(@builtin(workgroup_id) wid: vec3<u32>,
                       @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (blk2.Z + blk2.block - 1u) / blk2.block;
  if (g >= blk2.B * nb) {
    return;
  }
  let b = g / nb;
  let j0 = (g - b * nb) * blk2.block;
  let count = min(blk2.block, blk2.Z - j0);
  let base = b * blk2.Z + j0;
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    let e = base + k;
    acc += kl_gaussians_term(mu_q[e], logvar_q[e], mu_p[e], logvar_p[e]);
  }
  kl2[g] = acc;
}

@group(0) @binding(0) var<storage, read_write> dmu_side: array<f32>;      // dmu_side: (B, Z)
@group(0) @binding(1) var<storage, read_write> dlogvar_side: array<f32>;  // dlogvar_side: (B, Z)
@group(0) @binding(2) var<storage, read> q_mu: array<f32>;                // q_mu: (B, Z)
@group(0) @binding(3) var<storage, read> q_logvar: array<f32>;            // q_logvar: (B, Z)
@group(0) @binding(4) var<storage, read> p_mu: array<f32>;                // p_mu: (B, Z)
@group(0) @binding(5) var<storage, read> p_logvar: array<f32>;            // p_logvar: (B, Z)
@group(0) @binding(6) var<storage, read> dkl2: array<f32>;                // dkl2: (B) upstream gradient
@group(0) @binding(7) var<uniform> bwd2: KlForwardParams;

@compute @workgroup_size(WG_X)
fn kl_gaussians_backward_rows(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (e >= bwd2.B * bwd2.Z) {
    return;
  }
  let w = dkl2[e / bwd2.Z];
  let cq = clamp(q_logvar[e], LOGVAR_MIN, LOGVAR_MAX);
  let cp = clamp(p_logvar[e], LOGVAR_MIN, LOGVAR_MAX);
  let delta = q_mu[e] - p_mu[e];
  let inv_var_p = exp(-cp);
  let em1 = expm1_acc(cq - cp);
  var gmu = w * delta * inv_var_p;
  var glv = w * 0.5 * em1;
  if (SIDE_P) {
    gmu = -gmu;
    glv = -w * 0.5 * (em1 + delta * delta * inv_var_p);
  }
  if (ACCUMULATE) {
    dmu_side[e] = dmu_side[e] + gmu;
    dlogvar_side[e] = dlogvar_side[e] + glv;
  } else {
    dmu_side[e] = gmu;
    dlogvar_side[e] = glv;
  }
}
