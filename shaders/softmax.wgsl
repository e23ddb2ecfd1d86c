// Softmax family over the rows of row-major (rows, cols) logits x. Every op starts from the row
// logsumexp lse[r] = m + log Σ_c exp(x[r,c] - m) (the lse passes of reduce.wgsl, any row length),
// so p = exp(x - lse) and log p = x - lse never overflow and never take log(0):
//   softmax_apply:        sm_y = exp(x - lse) (softmax), or x - lse with LOG (log-softmax)
//   softmax_backward:     sm_dx (=|+=) y * (dy - s),    s = Σ_c dy·y        (softmax; y = softmax)
//                         sm_dx (=|+=) dy - exp(y) * s, s = Σ_c dy         (LOG; y = log-softmax)
//   softmax_dot_blocks:   sd_out (rows, nb) = block sums of sd_a·sd_b (the s of the softmax backward)
//   xent_index_forward:   ce[r] = lse[r] - x[r, y[r]] for an integer class label y[r] (f32)
//   xent_index_backward:  dx (=|+=) dce[r] * (p - onehot(y[r]))
//                         A label that is not an integer in [0, cols) gives ce = 0 and a zero
//                         gradient (the row is ignored; labels are validated on the CPU anyway).
//   xent_probs_blocks:    block sums of t * (lse - x) (ce[r] = -Σ_c t·log p, t a probability row)
//   xent_probs_backward:  dx (=|+=) dce[r] * (p * Σ_c t - t)   (the exact gradient; p - t when
//                         the row of t sums to 1)
//   xent_probs_backward_target: dt (=|+=) dce[r] * (lse - x) = -dce[r] * log p
//   entropy_blocks:       block sums of p * (lse - x) (H[r] = -Σ_c p log p, every term >= 0)
//   entropy_backward:     dx (=|+=) -dh[r] * p * (x - lse + H[r])
// The *_blocks kernels write (rows, nb) partial sums of `block` consecutive terms, nb =
// ceil(cols / block): with nb = 1 that is the per-row result, otherwise src/kernels/softmax.ts adds
// the reduce_rows passes (barrier-free, as the CPU adapters want). Elementwise kernels: one
// invocation per element; 1-D grids from dispatch1d(). ACCUMULATE: false assigns, true adds.

//!include label_fns.wgsl

override WG_X: u32 = 64;
override ACCUMULATE: bool = false;
override LOG: bool = false;

struct RowsParams {
  rows: u32,  // rows of x
  cols: u32,  // classes per row
}

struct BlockParams {
  rows: u32,   // rows of x
  cols: u32,   // classes per row
  block: u32,  // terms summed per invocation
}

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

// p = exp(x - lse); the min() keeps a rounding excess of x over lse from giving p > 1.
fn prob(xv: f32, l: f32) -> f32 {
  return exp(min(xv - l, 0.0));
}

// ---- softmax_apply ----

@group(0) @binding(0) var<storage, read_write> sm_y: array<f32>;  // sm_y: (rows, cols)
@group(0) @binding(1) var<storage, read> sm_x: array<f32>;        // sm_x: (rows, cols) logits
@group(0) @binding(2) var<storage, read> sm_lse: array<f32>;      // sm_lse: (rows)
@group(0) @binding(3) var<uniform> sm: RowsParams;

@compute @workgroup_size(WG_X)
fn softmax_apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= sm.rows * sm.cols) {
    return;
  }
  let l = sm_lse[i / sm.cols];
  sm_y[i] = select(prob(sm_x[i], l), sm_x[i] - l, LOG);
}

// ---- softmax_backward ----

@group(0) @binding(0) var<storage, read_write> sm_dx: array<f32>;  // sm_dx: (rows, cols)
@group(0) @binding(1) var<storage, read> sm_dy: array<f32>;        // sm_dy: (rows, cols)
@group(0) @binding(2) var<storage, read> sm_yin: array<f32>;       // sm_yin: (rows, cols) forward output
@group(0) @binding(3) var<storage, read> sm_s: array<f32>;         // sm_s: (rows) Σ dy·y, or Σ dy (LOG)
@group(0) @binding(4) var<uniform> smb: RowsParams;

@compute @workgroup_size(WG_X)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= smb.rows * smb.cols) {
    return;
  }
  let s = sm_s[i / smb.cols];
  let yv = sm_yin[i];
  var g: f32;
  if (LOG) {
    g = sm_dy[i] - exp(min(yv, 0.0)) * s;
  } else {
    g = yv * (sm_dy[i] - s);
  }
  if (ACCUMULATE) {
    sm_dx[i] = sm_dx[i] + g;
  } else {
    sm_dx[i] = g;
  }
}

// ---- softmax_dot_blocks ----

@group(0) @binding(0) var<storage, read_write> sd_out: array<f32>;  // sd_out: (rows, nb)
@group(0) @binding(1) var<storage, read> sd_a: array<f32>;          // sd_a: (rows, cols)
@group(0) @binding(2) var<storage, read> sd_b: array<f32>;          // sd_b: (rows, cols)
@group(0) @binding(3) var<uniform> sd: BlockParams;

@compute @workgroup_size(WG_X)
fn softmax_dot_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let g = linear_index(wid, nwg, lid);
  let nb = (sd.cols + sd.block - 1u) / sd.block;
  if (g >= sd.rows * nb) {
    return;
  }
  let r = g / nb;
  let c0 = (g - r * nb) * sd.block;
  let count = min(sd.block, sd.cols - c0);
  let base = r * sd.cols + c0;
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    acc += sd_a[base + k] * sd_b[base + k];
  }
  sd_out[g] = acc;
}

// ---- xent_index_forward ----

@group(0) @binding(0) var<storage, read_write> xe_ce: array<f32>;  // xe_ce: (rows)
@group(0) @binding(1) var<storage, read> xe_logits: array<f32>;    // xe_logits: (rows, cols)
@group(0) @binding(2) var<storage, read> xe_labels: array<f32>;    // xe_labels: (rows) class per row
@group(0) @binding(3) var<storage, read> xe_lse: array<f32>;       // xe_lse: (rows)
@group(0) @binding(4) var<uniform> xe: RowsParams;

@compute @workgroup_size(WG_X)
fn xent_index_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let r = linear_index(wid, nwg, lid);
  if (r >= xe.rows) {
    return;
  }
  let k = class_of(xe_labels[r], xe.cols);
  var v = 0.0;
  if (k >= 0) {
    // lse >= x mathematically; max() drops a rounding excess so ce >= 0.
    v = max(xe_lse[r] - xe_logits[r * xe.cols + u32(k)], 0.0);
  }
  xe_ce[r] = v;
}

// ---- xent_index_backward ----

@group(0) @binding(0) var<storage, read_write> xb_dlogits: array<f32>;  // xb_dlogits: (rows, cols)
@group(0) @binding(1) var<storage, read> xb_dce: array<f32>;            // xb_dce: (rows)
@group(0) @binding(2) var<storage, read> xb_logits: array<f32>;         // xb_logits: (rows, cols)
@group(0) @binding(3) var<storage, read> xb_labels: array<f32>;         // xb_labels: (rows)
@group(0) @binding(4) var<storage, read> xb_lse: array<f32>;            // xb_lse: (rows)
@group(0) @binding(5) var<uniform> xb: RowsParams;

@compute @workgroup_size(WG_X)
fn xent_index_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= xb.rows * xb.cols) {
    return;
  }
  let r = i / xb.cols;
  let c = i - r * xb.cols;
  let k = class_of(xb_labels[r], xb.cols);
  var g = 0.0;
  if (k >= 0) {
    g = xb_dce[r] * (prob(xb_logits[i], xb_lse[r]) - select(0.0, 1.0, u32(k) == c));
  }
  if (ACCUMULATE) {
    xb_dlogits[i] = xb_dlogits[i] + g;
  } else {
    xb_dlogits[i] = g;
  }
}

// ---- xent_probs_blocks ----

@group(0) @binding(0) var<storage, read_write> xp_out: array<f32>;  // xp_out: (rows, nb)
@group(0) @binding(1) var<storage, read> xp_logits: array<f32>;     // xp_logits: (rows, cols)
@group(0) @binding(2) var<storage, read> xp_probs: array<f32>;      // xp_probs: (rows, cols) targets t
@group(0) @binding(3) var<storage, read> xp_lse: array<f32>;        // xp_lse: (rows)
@group(0) @binding(4) var<uniform> xp: BlockParams;

@compute @workgroup_size(WG_X)
fn xent_probs_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let g = linear_index(wid, nwg, lid);
  let nb = (xp.cols + xp.block - 1u) / xp.block;
  if (g >= xp.rows * nb) {
    return;
  }
  let r = g / nb;
  let c0 = (g - r * nb) * xp.block;
  let count = min(xp.block, xp.cols - c0);
  let base = r * xp.cols + c0;
  let l = xp_lse[r];
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    acc += xp_probs[base + k] * max(l - xp_logits[base + k], 0.0);
  }
  xp_out[g] = acc;
}

// ---- xent_probs_backward ----

@group(0) @binding(0) var<storage, read_write> xq_dlogits: array<f32>;  // xq_dlogits: (rows, cols)
@group(0) @binding(1) var<storage, read> xq_dce: array<f32>;            // xq_dce: (rows)
@group(0) @binding(2) var<storage, read> xq_logits: array<f32>;         // xq_logits: (rows, cols)
@group(0) @binding(3) var<storage, read> xq_probs: array<f32>;          // xq_probs: (rows, cols)
@group(0) @binding(4) var<storage, read> xq_lse: array<f32>;            // xq_lse: (rows)
@group(0) @binding(5) var<storage, read> xq_tsum: array<f32>;           // xq_tsum: (rows) Σ_c t
@group(0) @binding(6) var<uniform> xq: RowsParams;

@compute @workgroup_size(WG_X)
fn xent_probs_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= xq.rows * xq.cols) {
    return;
  }
  let r = i / xq.cols;
  let g = xq_dce[r] * (prob(xq_logits[i], xq_lse[r]) * xq_tsum[r] - xq_probs[i]);
  if (ACCUMULATE) {
    xq_dlogits[i] = xq_dlogits[i] + g;
  } else {
    xq_dlogits[i] = g;
  }
}

// ---- xent_probs_backward_target ----

@group(0) @binding(0) var<storage, read_write> xt_dprobs: array<f32>;  // xt_dprobs: (rows, cols)
@group(0) @binding(1) var<storage, read> xt_dce: array<f32>;           // xt_dce: (rows)
@group(0) @binding(2) var<storage, read> xt_logits: array<f32>;        // xt_logits: (rows, cols)
@group(0) @binding(3) var<storage, read> xt_lse: array<f32>;           // xt_lse: (rows)
@group(0) @binding(4) var<uniform> xt: RowsParams;

@compute @workgroup_size(WG_X)
fn xent_probs_backward_target(@builtin(workgroup_id) wid: vec3<u32>,
                              @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= xt.rows * xt.cols) {
    return;
  }
  let r = i / xt.cols;
  let g = xt_dce[r] * max(xt_lse[r] - xt_logits[i], 0.0);
  if (ACCUMULATE) {
    xt_dprobs[i] = xt_dprobs[i] + g;
  } else {
    xt_dprobs[i] = g;
  }
}

// ---- entropy_blocks ----

@group(0) @binding(0) var<storage, read_write> en_out: array<f32>;  // en_out: (rows, nb)
@group(0) @binding(1) var<storage, read> en_logits: array<f32>;     // en_logits: (rows, cols)
@group(0) @binding(2) var<storage, read> en_lse: array<f32>;        // en_lse: (rows)
@group(0) @binding(3) var<uniform> en: BlockParams;

@compute @workgroup_size(WG_X)
fn entropy_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let g = linear_index(wid, nwg, lid);
  let nb = (en.cols + en.block - 1u) / en.block;
  if (g >= en.rows * nb) {
    return;
  }
  let r = g / nb;
  let c0 = (g - r * nb) * en.block;
  let count = min(en.block, en.cols - c0);
  let base = r * en.cols + c0;
  let l = en_lse[r];
  var acc = 0.0;
  for (var k = 0u; k < count; k++) {
    let neg_log_p = max(l - en_logits[base + k], 0.0);
    acc += exp(-neg_log_p) * neg_log_p;
  }
  en_out[g] = acc;
}

// ---- entropy_backward ----

@group(0) @binding(0) var<storage, read_write> eb_dlogits: array<f32>;  // eb_dlogits: (rows, cols)
@group(0) @binding(1) var<storage, read> eb_dh: array<f32>;             // eb_dh: (rows)
@group(0) @binding(2) var<storage, read> eb_logits: array<f32>;         // eb_logits: (rows, cols)
@group(0) @binding(3) var<storage, read> eb_lse: array<f32>;            // eb_lse: (rows)
@group(0) @binding(4) var<storage, read> eb_h: array<f32>;              // eb_h: (rows) forward output
@group(0) @binding(5) var<uniform> eb: RowsParams;

@compute @workgroup_size(WG_X)
fn entropy_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= eb.rows * eb.cols) {
    return;
  }
  let r = i / eb.cols;
  let log_p = min(eb_logits[i] - eb_lse[r], 0.0);
  let g = -eb_dh[r] * exp(log_p) * (log_p + eb_h[r]);
  if (ACCUMULATE) {
    eb_dlogits[i] = eb_dlogits[i] + g;
  } else {
    eb_dlogits[i] = g;
  }
}
