// The objective: one scalar loss made of named scalar terms, each with a weight that may change per
// step without recompiling (β, a capacity target, later α and annealing weights). Per-step values
// live in the `hyper` input (a few floats the CPU writes before each step); a weight is
//   w = weight * (HYPER ? hyper[index] : 1).
//
//   objective_forward:   loss[0] (+)= w * term[0]      one dispatch per term; the first assigns
//                        offset + w * term[0] (a constant of the objective, e.g. IWAE's B·log K)
//   objective_backward:  dterm[0] (+)= w * scale        the seed of the reverse walk (dloss = 1;
//                                                      scale = 1 for a batch sum, 1/B for a mean)
//   broadcast_scalar:    dx[i] (+)= scale * dy[0], i < n    the backward of a total sum
//   abs_diff_forward:    out[0] = |x[0] - target|,  target = factor * hyper[index]
//   abs_diff_backward:   dx[0] (+)= dout[0] * sign(x[0] - target)   (sign(0) = 0)
// abs_diff is the capacity objective's distance of the batch KL to C (Burgess et al. 2018).
// Scalar kernels run one invocation; broadcast_scalar a 1-D grid from dispatch1d().

override WG_X: u32 = 1;
override ACCUMULATE: bool = false;
override HYPER: bool = false;

struct TermParams {
  weight: f32,
  index: u32,   // entry of hyper (HYPER only)
  scale: f32,   // objective_backward only
  offset: f32,  // objective_forward without ACCUMULATE: the objective's constant
}

// ---- objective_forward ----

@group(0) @binding(0) var<storage, read_write> loss: array<f32>;  // loss: (1)
@group(0) @binding(1) var<storage, read> term: array<f32>;        // term: (1)
@group(0) @binding(2) var<storage, read> hyper: array<f32>;       // hyper: (H)
@group(0) @binding(3) var<uniform> tp: TermParams;

fn term_weight(w: f32, index: u32) -> f32 {
  if (HYPER) {
    return w * hyper[index];
  }
  return w;
}

@compute @workgroup_size(WG_X)
fn objective_forward() {
  let v = term_weight(tp.weight, tp.index) * term[0];
  if (ACCUMULATE) {
    loss[0] = loss[0] + v;
  } else {
    loss[0] = tp.offset + v;
  }
}

// ---- objective_backward ----

@group(0) @binding(0) var<storage, read_write> dterm: array<f32>;  // dterm: (1)

@compute @workgroup_size(WG_X)
fn objective_backward() {
  let v = term_weight(tp.weight, tp.index) * tp.scale;
  if (ACCUMULATE) {
    dterm[0] = dterm[0] + v;
  } else {
    dterm[0] = v;
  }
}

// ---- broadcast_scalar ----

struct BroadcastParams {
  n: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> bc_dx: array<f32>;  // bc_dx: (n)
@group(0) @binding(1) var<storage, read> bc_dy: array<f32>;        // bc_dy: (1)
@group(0) @binding(2) var<uniform> bp: BroadcastParams;

@compute @workgroup_size(WG_X)
fn broadcast_scalar(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= bp.n) {
    return;
  }
  let v = bp.scale * bc_dy[0];
  if (ACCUMULATE) {
    bc_dx[i] = bc_dx[i] + v;
  } else {
    bc_dx[i] = v;
  }
}

// ---- abs_diff ----

struct AbsDiffParams {
  factor: f32,
  index: u32,
}

@group(0) @binding(0) var<storage, read_write> ad_out: array<f32>;  // ad_out: (1)
@group(0) @binding(1) var<storage, read> ad_x: array<f32>;          // ad_x: (1)
@group(0) @binding(2) var<storage, read> ad_hyper: array<f32>;      // ad_hyper: (H)
@group(0) @binding(3) var<uniform> ap: AbsDiffParams;

@compute @workgroup_size(WG_X)
fn abs_diff_forward() {
  ad_out[0] = abs(ad_x[0] - ap.factor * ad_hyper[ap.index]);
}

@group(0) @binding(0) var<storage, read_write> ad_dx: array<f32>;  // ad_dx: (1)
@group(0) @binding(1) var<storage, read> ad_dout: array<f32>;      // ad_dout: (1)
@group(0) @binding(2) var<storage, read> ad_xin: array<f32>;       // ad_xin: (1)
@group(0) @binding(3) var<storage, read> ad_hyp: array<f32>;       // ad_hyp: (H)
@group(0) @binding(4) var<uniform> abp: AbsDiffParams;

@compute @workgroup_size(WG_X)
fn abs_diff_backward() {
  let v = ad_dout[0] * sign(ad_xin[0] - abp.factor * ad_hyp[abp.index]);
  if (ACCUMULATE) {
    ad_dx[0] = ad_dx[0] + v;
  } else {
    ad_dx[0] = v;
  }
}
