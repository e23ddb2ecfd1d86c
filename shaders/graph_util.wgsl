// Small kernels the graph needs around the model's layers:
//   add_into:         acc[offset + i] += src[i], i < n  (metrics accumulated on the GPU over steps)
//   repeat_rows:      out (B*K, D) = each row of x (B, D) repeated K times (targets for K samples)
//   repeat_rows_backward: dx (B, D) (=|+=) Σ_k dy[b*K + k, :] (one invocation per element of dx,
//                     summing its K copies in order: no atomics)
// 1-D grids from dispatch1d(): the linear workgroup index is wid.y * num_workgroups.x + wid.x.

override WG_X: u32 = 256;
override ACCUMULATE: bool = false;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

// ---- add_into ----

struct AddIntoParams {
  n: u32,       // values to add
  offset: u32,  // first element of acc written
}

@group(0) @binding(0) var<storage, read_write> acc: array<f32>;  // acc: (offset + n)
@group(0) @binding(1) var<storage, read> add_src: array<f32>;    // add_src: (n)
@group(0) @binding(2) var<uniform> add_p: AddIntoParams;

@compute @workgroup_size(WG_X)
fn add_into(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i < add_p.n) {
    acc[add_p.offset + i] = acc[add_p.offset + i] + add_src[i];
  }
}

// ---- repeat_rows ----

struct RepeatParams {
  B: u32,  // rows of x
  K: u32,  // copies of each row
  D: u32,  // values per row
}

@group(0) @binding(0) var<storage, read_write> repeated: array<f32>;  // repeated: (B, K, D)
@group(0) @binding(1) var<storage, read> rows_in: array<f32>;         // rows_in: (B, D)
@group(0) @binding(2) var<uniform> rep: RepeatParams;

@compute @workgroup_size(WG_X)
fn repeat_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= rep.B * rep.K * rep.D) {
    return;
  }
  let row = o / rep.D;
  let col = o - row * rep.D;
  repeated[o] = rows_in[(row / rep.K) * rep.D + col];
}

@group(0) @binding(0) var<storage, read_write> rep_dx: array<f32>;  // rep_dx: (B, D)
@group(0) @binding(1) var<storage, read> rep_dy: array<f32>;        // rep_dy: (B, K, D)

@compute @workgroup_size(WG_X)
fn repeat_rows_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let o = linear_index(wid, nwg, lid);
  if (o >= rep.B * rep.D) {
    return;
  }
  let b = o / rep.D;
  let col = o - b * rep.D;
  var s = 0.0;
  for (var k = 0u; k < rep.K; k++) {
    s += rep_dy[(b * rep.K + k) * rep.D + col];
  }
  if (ACCUMULATE) {
    rep_dx[o] = rep_dx[o] + s;
  } else {
    rep_dx[o] = s;
  }
}
