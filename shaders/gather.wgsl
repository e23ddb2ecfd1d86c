// Row lookups by class label (labels and indices are integer-valued f32: exact below 2^24):
//   gather_rows: ga_out[r, :] = ga_table[idx[r], :]; ga_out (rows, cols), ga_table (table_rows, cols).
//                An index that is not an integer in [0, table_rows) writes a row of zeros.
//   one_hot:     oh_out[r, c] = (c == y[r]) ? 1 : 0; oh_out (rows, classes). A label that is not an
//                integer in [0, classes) gives a row of zeros.
//   class_cycle: cc_out[r] = r mod classes, the labels 0, 1, …, classes−1 over and over: every class
//                for each of rows / classes examples (semi-supervised M2 scores each unlabeled
//                example under every label in one graph).
// (The CPU validates labels when a dataset is loaded; the zeros keep a bad index from reading out
// of bounds.) Forward only: the graph writes the gradient of a gather as one_hot(idx)^T · dout,
// a matmul, so no scatter kernel is needed. One invocation per output element; 1-D grids from
// dispatch1d().

//!include label_fns.wgsl

override WG_X: u32 = 64;

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

// ---- gather_rows ----

struct GatherParams {
  rows: u32,        // rows gathered
  cols: u32,        // values per row
  table_rows: u32,  // rows of the table
}

@group(0) @binding(0) var<storage, read_write> ga_out: array<f32>;  // ga_out: (rows, cols)
@group(0) @binding(1) var<storage, read> ga_table: array<f32>;      // ga_table: (table_rows, cols)
@group(0) @binding(2) var<storage, read> ga_idx: array<f32>;        // ga_idx: (rows) row of the table
@group(0) @binding(3) var<uniform> ga: GatherParams;

@compute @workgroup_size(WG_X)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= ga.rows * ga.cols) {
    return;
  }
  let r = i / ga.cols;
  let k = class_of(ga_idx[r], ga.table_rows);
  var v = 0.0;
  if (k >= 0) {
    v = ga_table[u32(k) * ga.cols + (i - r * ga.cols)];
  }
  ga_out[i] = v;
}

// ---- one_hot ----

struct OneHotParams {
  rows: u32,     // labels
  classes: u32,  // columns of the output
}

@group(0) @binding(0) var<storage, read_write> oh_out: array<f32>;  // oh_out: (rows, classes)
@group(0) @binding(1) var<storage, read> oh_labels: array<f32>;     // oh_labels: (rows)
@group(0) @binding(2) var<uniform> oh: OneHotParams;

@compute @workgroup_size(WG_X)
fn one_hot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= oh.rows * oh.classes) {
    return;
  }
  let r = i / oh.classes;
  let k = class_of(oh_labels[r], oh.classes);
  oh_out[i] = select(0.0, 1.0, k >= 0 && u32(k) == i - r * oh.classes);
}

// ---- class_cycle ----

struct ClassCycleParams {
  rows: u32,     // labels written
  classes: u32,  // period of the cycle
}

@group(0) @binding(0) var<storage, read_write> cc_out: array<f32>;  // cc_out: (rows)
@group(0) @binding(1) var<uniform> cc: ClassCycleParams;

@compute @workgroup_size(WG_X)
fn class_cycle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= cc.rows) {
    return;
  }
  cc_out[i] = f32(i % cc.classes);
}
