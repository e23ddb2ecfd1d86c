// Concat of 2–4 row-major tensors along columns in one dispatch, and its backward in one dispatch:
// what copy_cols (columns.wgsl) does with one dispatch per part, for the small tensors where a
// step's cost is its dispatch count (the 2-D experiments' flow parameters [u | w | b], an IAF
// step's [z | h]). Part k holds columns [start_k, end_k) of the output, end_3 = cols.
//   concat_parts:          cp_out[r, c] = part_k[r, c − start_k]
//   concat_parts_backward: d_k[r, c − start_k] (=|+=) cp_dout[r, c] for every part k with HAS_k
// Parts k >= PARTS (and, backward, parts without HAS_k) are bound to a placeholder and never
// touched. ACC_k: d_k accumulates instead of being assigned. One invocation per output element,
// 1-D grid from dispatch1d().

override WG_X: u32 = 64;
override PARTS: u32 = 2;
override HAS0: bool = true;
override HAS1: bool = true;
override HAS2: bool = true;
override HAS3: bool = true;
override ACC0: bool = false;
override ACC1: bool = false;
override ACC2: bool = false;
override ACC3: bool = false;

struct ConcatPartsParams {
  rows: u32,  // rows of every tensor
  cols: u32,  // columns of the output
  end0: u32,  // column where part 0 ends (part 1 starts)
  end1: u32,  // where part 1 ends (or cols)
  end2: u32,  // where part 2 ends (or cols)
}

// (part, column within it, the part's width) of output column c.
fn locate(c: u32, p: ConcatPartsParams) -> vec3<u32> {
  if (c < p.end0) {
    return vec3<u32>(0u, c, p.end0);
  }
  if (PARTS == 2u || c < p.end1) {
    return vec3<u32>(1u, c - p.end0, p.end1 - p.end0);
  }
  if (PARTS == 3u || c < p.end2) {
    return vec3<u32>(2u, c - p.end1, p.end2 - p.end1);
  }
  return vec3<u32>(3u, c - p.end2, p.cols - p.end2);
}

// ---- concat_parts ----

@group(0) @binding(0) var<storage, read_write> cp_out: array<f32>;  // cp_out: (rows, cols)
@group(0) @binding(1) var<storage, read> part0: array<f32>;         // part0: (rows, end0)
@group(0) @binding(2) var<storage, read> part1: array<f32>;         // part1: (rows, end1 − end0)
@group(0) @binding(3) var<storage, read> part2: array<f32>;         // part2: (rows, end2 − end1)
@group(0) @binding(4) var<storage, read> part3: array<f32>;         // part3: (rows, cols − end2)
@group(0) @binding(5) var<uniform> fwd: ConcatPartsParams;

@compute @workgroup_size(WG_X)
fn concat_parts(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= fwd.rows * fwd.cols) {
    return;
  }
  let r = i / fwd.cols;
  let at = locate(i - r * fwd.cols, fwd);
  let j = r * at.z + at.y;
  switch at.x {
    case 0u: { cp_out[i] = part0[j]; }
    case 1u: { cp_out[i] = part1[j]; }
    case 2u: { cp_out[i] = part2[j]; }
    default: { cp_out[i] = part3[j]; }
  }
}

// ---- concat_parts_backward ----

@group(0) @binding(0) var<storage, read> cp_dout: array<f32>;  // cp_dout: (rows, cols)
@group(0) @binding(1) var<storage, read_write> d0: array<f32>;  // d0: (rows, end0)
@group(0) @binding(2) var<storage, read_write> d1: array<f32>;  // d1: (rows, end1 − end0)
@group(0) @binding(3) var<storage, read_write> d2: array<f32>;  // d2: (rows, end2 − end1)
@group(0) @binding(4) var<storage, read_write> d3: array<f32>;  // d3: (rows, cols − end2)
@group(0) @binding(5) var<uniform> bwd: ConcatPartsParams;

@compute @workgroup_size(WG_X)
fn concat_parts_backward(@builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= bwd.rows * bwd.cols) {
    return;
  }
  let r = i / bwd.cols;
  let at = locate(i - r * bwd.cols, bwd);
  let j = r * at.z + at.y;
  let v = cp_dout[i];
  switch at.x {
    case 0u: {
      if (HAS0) { d0[j] = select(v, d0[j] + v, ACC0); }
    }
    case 1u: {
      if (HAS1) { d1[j] = select(v, d1[j] + v, ACC1); }
    }
    case 2u: {
      if (HAS2) { d2[j] = select(v, d2[j] + v, ACC2); }
    }
    default: {
      if (HAS3) { d3[j] = select(v, d3[j] + v, ACC3); }
    }
  }
}
