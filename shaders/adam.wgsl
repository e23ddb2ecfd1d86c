// Fused Adam / AdamW step over one flat parameter buffer, with PyTorch's formulas
// (torch.optim.Adam / AdamW, amsgrad=False, maximize=False):
//   g = grad * clip                                   (clip from the global gradient norm, below)
//   AdamW (decoupled = 1): p = p * (1 - lr * weight_decay)
//   Adam  (decoupled = 0): g = g + weight_decay * p   (classic L2)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)    bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
//
// adam_step reads stats[0] = sum of squares of all grads (written on the GPU just before by the
// reduce_rows SQUARE pass, no CPU round trip), and
//   - when clip = 1 scales grads by min(1, max_norm / (sqrt(stats[0]) + 1e-6)) like
//     torch.nn.utils.clip_grad_norm_;
//   - when the sum of squares is not finite (a NaN/Inf gradient, or squares overflowing f32), skips
//     the whole step: params, m and v are left untouched, and stats[1] (a count of skipped steps)
//     is incremented by invocation 0. A failed step never corrupts the weights.
// adam_step_unchecked does neither (no norm needed, no protection).

override WG_X: u32 = 256;

struct AdamParams {
  n: u32,             // number of parameters
  lr: f32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,  // 1 - beta1 and 1 - beta2, computed in float64 on the CPU like PyTorch's
  one_minus_beta2: f32,  // scalars (1 - f32(0.999) would be off by 1.3e-5 relative)
  eps: f32,
  weight_decay: f32,
  bc1: f32,           // 1 - beta1^t
  bc2: f32,           // 1 - beta2^t
  max_norm: f32,      // clipping threshold (used when clip = 1)
  clip: u32,          // 1: clip by global norm (adam_step only)
  decoupled: u32,     // 1: AdamW decoupled decay, 0: L2 added to the gradient
}

@group(0) @binding(0) var<storage, read_write> params: array<f32>;  // params: (n)
@group(0) @binding(1) var<storage, read_write> m: array<f32>;       // m: (n) first moment
@group(0) @binding(2) var<storage, read_write> v: array<f32>;       // v: (n) second moment
@group(0) @binding(3) var<storage, read> grads: array<f32>;         // grads: (n)
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;   // stats: (2) [sum sq, skipped]
@group(0) @binding(5) var<uniform> a: AdamParams;

struct AdamState {
  p: vec4<f32>,
  m: vec4<f32>,
  v: vec4<f32>,
}

// The update of four values at once (the scalar entry points use lane x only).
fn adam_math(grad_in: vec4<f32>, p_in: vec4<f32>, m_in: vec4<f32>, v_in: vec4<f32>,
             gscale: f32) -> AdamState {
  var g = grad_in * gscale;
  var p = p_in;
  if (a.decoupled != 0u) {
    p = p * (1.0 - a.lr * a.weight_decay);
  } else {
    g = g + a.weight_decay * p;
  }
  let mi = a.beta1 * m_in + a.one_minus_beta1 * g;
  let vi = a.beta2 * v_in + a.one_minus_beta2 * g * g;
  let denom = sqrt(vi) / sqrt(a.bc2) + a.eps;
  return AdamState(p - (a.lr / a.bc1) * mi / denom, mi, vi);
}

fn update(i: u32, gscale: f32) {
  let r = adam_math(vec4<f32>(grads[i]), vec4<f32>(params[i]), vec4<f32>(m[i]), vec4<f32>(v[i]),
                    gscale);
  m[i] = r.m.x;
  v[i] = r.v.x;
  params[i] = r.p.x;
}

// Tests the bits, not x != x: shader compilers may assume floats are finite.
fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The gradient scale from the norm in stats[0], or -1 when the step must be skipped (counted once).
fn gradient_scale(i: u32, sumsq: f32) -> f32 {
  if (!is_finite(sumsq)) {
    if (i == 0u) {
      stats[1] = stats[1] + 1.0;
    }
    return -1.0;
  }
  if (a.clip != 0u) {
    return min(1.0, a.max_norm / (sqrt(max(sumsq, 0.0)) + 1e-6));
  }
  return 1.0;
}

@compute @workgroup_size(WG_X)
fn adam_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let gscale = gradient_scale(i, stats[0]);
  if (gscale >= 0.0 && i < a.n) {
    update(i, gscale);
  }
}

@compute @workgroup_size(WG_X)
fn adam_step_unchecked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i < a.n) {
    update(i, 1.0);
  }
}

// ---- vec4 entry points (n a multiple of 4): one vec4 load per array and invocation, which is
// what makes this memory-bound kernel fast on the CPU adapters (a scalar load is a per-lane
// gather there). The same buffers, bound as vec4 arrays.

@group(0) @binding(0) var<storage, read_write> params4: array<vec4<f32>>;  // params4: (n / 4)
@group(0) @binding(1) var<storage, read_write> m4: array<vec4<f32>>;       // m4: (n / 4)
@group(0) @binding(2) var<storage, read_write> v4: array<vec4<f32>>;       // v4: (n / 4)
@group(0) @binding(3) var<storage, read> grads4: array<vec4<f32>>;         // grads4: (n / 4)

fn update4(q: u32, gscale: f32) {
  let r = adam_math(grads4[q], params4[q], m4[q], v4[q], gscale);
  m4[q] = r.m;
  v4[q] = r.v;
  params4[q] = r.p;
}

@compute @workgroup_size(WG_X)
fn adam_step4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let gscale = gradient_scale(q, stats[0]);
  if (gscale >= 0.0 && q < a.n / 4u) {
    update4(q, gscale);
  }
}

@compute @workgroup_size(WG_X)
fn adam_step4_unchecked(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (q < a.n / 4u) {
    update4(q, 1.0);
  }
}
