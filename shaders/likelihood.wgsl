// Decoder likelihoods: per-example negative log-likelihoods (forward) and their gradients w.r.t. the
// decoder outputs (backward). Rows of D values per example; the backwards are elementwise (1-D grid,
// dispatch1d). Each forward comes in two variants, picked per adapter by src/kernels/likelihood.ts:
//   *_nll_forward: one workgroup per example, tree reduction in workgroup memory with barriers
//                  (real GPUs).
//   *_nll_blocks:  no workgroup memory or barriers (CPU adapters, where barriers switch fibers and
//                  shared loads are gathers): invocation g = r * nb + j sums the `block` consecutive
//                  terms j * block .. of row r into nll[g], nll: (B, nb), nb = ceil(D / block). With
//                  nb = 1 that is the per-example NLL (one invocation per row); otherwise the
//                  reduce_rows passes of shaders/reduce.wgsl sum the (B, nb) partials into (B).
//                  Constant terms are added per block (count * const), so the partials sum exactly
//                  to the NLL. 1-D grid from dispatch1d().
//
//   Bernoulli from logits l, target x in [0, 1]:
//     nll_b = sum_d softplus(l) - x l                           (= -[x log s(l) + (1-x) log(1-s(l))])
//     dl    = dnll * (sigmoid(l) - x)
//     Evaluated as max(l,0) - x l + log1p(exp(-|l|)), with (1-x) l for l >= 0: finite and accurate
//     for any finite logit (|l| = 1e4 included).
//   Gaussian, fixed sigma (uniforms inv_var = 1/sigma^2, log_norm = log sigma + 0.5 log 2 pi):
//     nll_b = sum_d 0.5 (x - mu)^2 / sigma^2 + D log_norm      (sigma = 1: 0.5 * squared error + const)
//     dmu   = dnll * (mu - x) / sigma^2
//   Gaussian, learned log sigma per output (decoder outputs mean and log_sigma, (B, D) each):
//     c     = clamp(log_sigma, LOGSIGMA_MIN, LOGSIGMA_MAX)     (default [-6, 6]: 0.0025 <= sigma <= 403)
//     nll_b = sum_d 0.5 (x - mu)^2 exp(-2c) + c + 0.5 log 2 pi
//     dmu   = dnll * (mu - x) exp(-2c)
//     dlog_sigma = dnll * (1 - (x - mu)^2 exp(-2c)) inside the range, 0 outside: the exact gradient
//     of the clamped loss, as torch.clamp gives (the clamp is a floor/ceiling on sigma).
//
// Backwards (*_nll_backward_rows) have the ACCUMULATE override (assign when false, add when true):
// the gradient of sum_b dnll[b] * nll_b, reading the per-row upstream gradient dnll: (B) (the loss
// as a tensor: per-example weights, IWAE's normalized importance weights, beta or 1/B composed by
// the graph), dnll = dnll[i / D] in the formulas above.
// The batch sum of nll is left to the reduction kernels (shaders/reduce.wgsl).

//!include activation_fns.wgsl

override WG_X: u32 = 256;  // power of two
override ACCUMULATE: bool = false;
override LOGSIGMA_MIN: f32 = -6.0;
override LOGSIGMA_MAX: f32 = 6.0;

const HALF_LOG_2PI: f32 = 0.9189385332046727;

var<workgroup> partial: array<f32, WG_X>;

// Tree sum over the workgroup (same as kl.wgsl); every invocation gets the total. Uniform control
// flow only.
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

fn store_grad_bern(i: u32, v: f32) {
  if (ACCUMULATE) {
    dlogits[i] = dlogits[i] + v;
  } else {
    dlogits[i] = v;
  }
}

fn bernoulli_term(l: f32, tgt: f32) -> f32 {
  // max(l, 0) - x l, written so that x = 1, l >> 0 (and x = 0, l << 0) give exactly 0.
  let lin = select(-tgt * l, (1.0 - tgt) * l, l >= 0.0);
  return lin + softplus_stable(-abs(l));  // log1p(exp(-|l|))
}

// ---- Bernoulli ----

struct RowParams {
  B: u32,  // batch size
  D: u32,  // values per example
}

@group(0) @binding(0) var<storage, read_write> nll: array<f32>;  // nll: (B)
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // logits: (B, D)
@group(0) @binding(2) var<storage, read> x: array<f32>;          // x: (B, D) targets
@group(0) @binding(3) var<uniform> bern_fwd: RowParams;

@compute @workgroup_size(WG_X)
fn bernoulli_nll_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let b = wid.y * nwg.x + wid.x;  // one workgroup per example
  if (b >= bern_fwd.B) {
    return;
  }
  var acc = 0.0;
  for (var d = lid; d < bern_fwd.D; d += WG_X) {
    let e = b * bern_fwd.D + d;
    acc += bernoulli_term(logits[e], x[e]);
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    nll[b] = total;
  }
}

// Parameters of the *_nll_blocks entry points.
struct BlockParams {
  B: u32,      // batch size
  D: u32,      // values per example
  block: u32,  // terms summed per invocation
}

// The (row, block) that invocation g owns: x = first element index, y = number of terms; y = 0
// when g is past the last block (the caller returns).
// (A parameter may not be called `block`: wgsl_reflect does not parse that name.)
fn row_block(g: u32, rows: u32, cols: u32, len: u32) -> vec2<u32> {
  let nb = (cols + len - 1u) / len;
  if (g >= rows * nb) {
    return vec2<u32>(0u, 0u);
  }
  let r = g / nb;
  let c0 = (g - r * nb) * len;
  return vec2<u32>(r * cols + c0, min(len, cols - c0));
}

@group(0) @binding(3) var<uniform> bern_blk: BlockParams;

@compute @workgroup_size(WG_X)
fn bernoulli_nll_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let span = row_block(g, bern_blk.B, bern_blk.D, bern_blk.block);
  if (span.y == 0u) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < span.y; k++) {
    acc += bernoulli_term(logits[span.x + k], x[span.x + k]);
  }
  nll[g] = acc;
}

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;  // dlogits: (B, D)

// ---- Gaussian, fixed sigma ----

struct GaussFwdParams {
  B: u32,
  D: u32,
  inv_var: f32,   // 1 / sigma^2
  log_norm: f32,  // log sigma + 0.5 log 2 pi
}

@group(0) @binding(1) var<storage, read> mean: array<f32>;  // mean: (B, D)
@group(0) @binding(3) var<uniform> gauss_fwd: GaussFwdParams;

@compute @workgroup_size(WG_X)
fn gaussian_nll_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let b = wid.y * nwg.x + wid.x;
  if (b >= gauss_fwd.B) {
    return;
  }
  var acc = 0.0;
  for (var d = lid; d < gauss_fwd.D; d += WG_X) {
    let e = b * gauss_fwd.D + d;
    let r = x[e] - mean[e];
    acc += r * r;
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    nll[b] = 0.5 * gauss_fwd.inv_var * total + f32(gauss_fwd.D) * gauss_fwd.log_norm;
  }
}

struct GaussBlockParams {
  B: u32,
  D: u32,
  block: u32,
  inv_var: f32,   // 1 / sigma^2
  log_norm: f32,  // log sigma + 0.5 log 2 pi
}

@group(0) @binding(3) var<uniform> gauss_blk: GaussBlockParams;

@compute @workgroup_size(WG_X)
fn gaussian_nll_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let span = row_block(g, gauss_blk.B, gauss_blk.D, gauss_blk.block);
  if (span.y == 0u) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < span.y; k++) {
    let r = x[span.x + k] - mean[span.x + k];
    acc += r * r;
  }
  nll[g] = 0.5 * gauss_blk.inv_var * acc + f32(span.y) * gauss_blk.log_norm;
}

@group(0) @binding(0) var<storage, read_write> dmean: array<f32>;  // dmean: (B, D)

fn store_grad_mean(i: u32, v: f32) {
  if (ACCUMULATE) {
    dmean[i] = dmean[i] + v;
  } else {
    dmean[i] = v;
  }
}

// ---- Gaussian, learned log sigma ----

@group(0) @binding(3) var<storage, read> log_sigma: array<f32>;  // log_sigma: (B, D)
@group(0) @binding(4) var<uniform> learned_fwd: RowParams;

@compute @workgroup_size(WG_X)
fn gaussian_learned_nll_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                @builtin(local_invocation_index) lid: u32) {
  let b = wid.y * nwg.x + wid.x;
  if (b >= learned_fwd.B) {
    return;
  }
  var acc = 0.0;
  for (var d = lid; d < learned_fwd.D; d += WG_X) {
    let e = b * learned_fwd.D + d;
    let c = clamp(log_sigma[e], LOGSIGMA_MIN, LOGSIGMA_MAX);
    let r = x[e] - mean[e];
    acc += 0.5 * r * r * exp(-2.0 * c) + c;
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) {
    nll[b] = total + f32(learned_fwd.D) * HALF_LOG_2PI;
  }
}

@group(0) @binding(4) var<uniform> learned_blk: BlockParams;

@compute @workgroup_size(WG_X)
fn gaussian_learned_nll_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let span = row_block(g, learned_blk.B, learned_blk.D, learned_blk.block);
  if (span.y == 0u) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < span.y; k++) {
    let e = span.x + k;
    let c = clamp(log_sigma[e], LOGSIGMA_MIN, LOGSIGMA_MAX);
    let r = x[e] - mean[e];
    acc += 0.5 * r * r * exp(-2.0 * c) + c;
  }
  nll[g] = acc + f32(span.y) * HALF_LOG_2PI;
}

@group(0) @binding(1) var<storage, read_write> dlog_sigma: array<f32>;  // dlog_sigma: (B, D)
@group(0) @binding(2) var<storage, read> mean_l: array<f32>;            // mean_l: (B, D)
@group(0) @binding(3) var<storage, read> x_l: array<f32>;               // x_l: (B, D)
@group(0) @binding(4) var<storage, read> log_sigma_l: array<f32>;       // log_sigma_l: (B, D)

// dmean[i], dlog_sigma[i] of w * nll (w: the row's upstream gradient).
fn store_grads_learned(i: u32, w: f32) {
  let ls = log_sigma_l[i];
  let c = clamp(ls, LOGSIGMA_MIN, LOGSIGMA_MAX);
  let inv_var = exp(-2.0 * c);
  let r = x_l[i] - mean_l[i];
  let gm = w * (-r) * inv_var;
  let inside = ls >= LOGSIGMA_MIN && ls <= LOGSIGMA_MAX;
  let gs = select(0.0, w * (1.0 - r * r * inv_var), inside);
  if (ACCUMULATE) {
    dmean[i] = dmean[i] + gm;
    dlog_sigma[i] = dlog_sigma[i] + gs;
  } else {
    dmean[i] = gm;
    dlog_sigma[i] = gs;
  }
}

// ---- Backwards with a per-row upstream gradient ----

struct RowsBwdParams {
  B: u32,  // batch size
  D: u32,  // values per example
}

@group(0) @binding(3) var<storage, read> dnll: array<f32>;  // dnll: (B) upstream gradient of nll
@group(0) @binding(4) var<uniform> bern_rows: RowsBwdParams;

@compute @workgroup_size(WG_X)
fn bernoulli_nll_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= bern_rows.B * bern_rows.D) {
    return;
  }
  store_grad_bern(i, dnll[i / bern_rows.D] * (sigmoid_stable(logits[i]) - x[i]));
}

struct GaussRowsBwdParams {
  B: u32,
  D: u32,
  inv_var: f32,  // 1 / sigma^2
}

@group(0) @binding(4) var<uniform> gauss_rows: GaussRowsBwdParams;

@compute @workgroup_size(WG_X)
fn gaussian_nll_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= gauss_rows.B * gauss_rows.D) {
    return;
  }
  store_grad_mean(i, dnll[i / gauss_rows.D] * gauss_rows.inv_var * (mean[i] - x[i]));
}

@group(0) @binding(5) var<storage, read> dnll_l: array<f32>;  // dnll_l: (B) upstream gradient of nll
@group(0) @binding(6) var<uniform> learned_rows: RowsBwdParams;

@compute @workgroup_size(WG_X)
fn gaussian_learned_nll_backward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= learned_rows.B * learned_rows.D) {
    return;
  }
  store_grads_learned(i, dnll_l[i / learned_rows.D]);
}
