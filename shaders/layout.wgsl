// Image layouts for ops that work on per-pixel vectors (a conv encoder's grid quantized as rows):
//   nchw_to_nhwc:  lo_y (B·P, C)  = lo_x (B, C·P) transposed per example: y[b·P + p, c] = x[b, c·P + p]
//   nhwc_to_nchw:  lo_y (B, C·P)  = lo_x (B·P, C) the other way:          y[b, c·P + p] = x[b·P + p, c]
// P = H·W pixels. Each is the other's backward (a permutation's vector-Jacobian product is its
// inverse), so the gradient rules run the other entry point with ACCUMULATE (=|+=). One invocation
// per output element, reading one input element: no workgroup memory. 1-D grid from dispatch1d().

override WG_X: u32 = 256;
override ACCUMULATE: bool = false;

struct LayoutParams {
  B: u32,  // examples
  C: u32,  // channels
  P: u32,  // pixels per channel (H·W)
}

@group(0) @binding(0) var<storage, read_write> lo_y: array<f32>;  // lo_y: (B·C·P)
@group(0) @binding(1) var<storage, read> lo_x: array<f32>;        // lo_x: (B·C·P)
@group(0) @binding(2) var<uniform> lo: LayoutParams;

fn layout_write(o: u32, v: f32) {
  if (ACCUMULATE) {
    lo_y[o] = lo_y[o] + v;
  } else {
    lo_y[o] = v;
  }
}

@compute @workgroup_size(WG_X)
fn nchw_to_nhwc(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (o >= lo.B * lo.C * lo.P) {
    return;
  }
  // o = (b·P + p)·C + c
  let row = o / lo.C;
  let c = o - row * lo.C;
  let b = row / lo.P;
  let p = row - b * lo.P;
  layout_write(o, lo_x[(b * lo.C + c) * lo.P + p]);
}

@compute @workgroup_size(WG_X)
fn nhwc_to_nchw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (o >= lo.B * lo.C * lo.P) {
    return;
  }
  // o = (b·C + c)·P + p
  let bc = o / lo.P;
  let p = o - bc * lo.P;
  let b = bc / lo.C;
  let c = bc - b * lo.C;
  layout_write(o, lo_x[(b * lo.P + p) * lo.C + c]);
}
