// activation_forward / activation_backward: elementwise activations over a flat buffer of n floats.
// The activation is the override ACT (codes in activation_fns.wgsl / src/kernels/activation-codes.ts),
// so each activation gets its own specialised pipeline; alpha (leaky_relu slope, elu scale) is a
// uniform. Each invocation handles one element; 1-D grid from dispatch1d().

//!include activation_fns.wgsl

override WG_X: u32 = 256;
override ACT: u32 = 0u;
// activation_backward only: false assigns dx, true adds to it.
override ACCUMULATE: bool = false;

struct ActParams {
  n: u32,      // number of elements
  alpha: f32,  // leaky_relu negative slope / elu alpha (ignored by the others)
}

// ---- forward: y = act(x) ----
@group(0) @binding(0) var<storage, read_write> act_y: array<f32>;  // act_y: (n) output
@group(0) @binding(1) var<storage, read> act_x: array<f32>;        // act_x: (n) input
@group(0) @binding(2) var<uniform> fwd: ActParams;

@compute @workgroup_size(WG_X)
fn activations_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i < fwd.n) {
    act_y[i] = activation_forward(act_x[i], ACT, fwd.alpha);
  }
}

// ---- backward: act_dx (=|+=) act_dy * act'(act_pre), act_pre the pre-activation ----
@group(0) @binding(0) var<storage, read_write> act_dx: array<f32>;  // act_dx: (n)
@group(0) @binding(1) var<storage, read> act_dy: array<f32>;        // act_dy: (n)
@group(0) @binding(2) var<storage, read> act_pre: array<f32>;      // act_pre: (n) pre-activation x
@group(0) @binding(3) var<uniform> bwd: ActParams;

@compute @workgroup_size(WG_X)
fn activations_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i < bwd.n) {
    let g = act_dy[i] * activation_derivative(act_pre[i], ACT, bwd.alpha);
    if (ACCUMULATE) {
      act_dx[i] = act_dx[i] + g;
    } else {
      act_dx[i] = g;
    }
  }
}
