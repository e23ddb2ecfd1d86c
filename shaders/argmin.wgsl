// Row argmin: am_idx[r] = argmin_c am_x[r, c] (the lowest column among equal minima, as
// torch.argmin) as an integer-valued f32 (exact below 2^24, what one_hot and gather read), and
// am_min[r] the minimum. NaN never compares less, so NaN entries are skipped; a row without a
// non-NaN value gives index 0 and NaN. One invocation per row scanning its columns in order: no
// workgroup memory or barriers (they do not pay on the CPU adapters, and rows are many: a VQ
// assignment has one per latent vector). 1-D grid from dispatch1d(). Forward only: an index has no
// gradient (the straight-through estimator goes around it).

override WG_X: u32 = 64;

struct ArgminParams {
  rows: u32,  // rows of am_x
  cols: u32,  // columns of am_x (codes)
}

@group(0) @binding(0) var<storage, read_write> am_idx: array<f32>;  // am_idx: (rows)
@group(0) @binding(1) var<storage, read_write> am_min: array<f32>;  // am_min: (rows)
@group(0) @binding(2) var<storage, read> am_x: array<f32>;          // am_x: (rows, cols)
@group(0) @binding(3) var<uniform> am: ArgminParams;

@compute @workgroup_size(WG_X)
fn argmin_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (r >= am.rows) {
    return;
  }
  let base = r * am.cols;
  var best = 0u;
  var found = false;
  var best_v = am_x[base];
  for (var c = 0u; c < am.cols; c++) {
    let v = am_x[base + c];
    // v == v: not NaN.
    if (v == v && (!found || v < best_v)) {
      best = c;
      best_v = v;
      found = true;
    }
  }
  am_idx[r] = f32(best);
  am_min[r] = best_v;
}
