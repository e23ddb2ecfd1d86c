// Reductions by blocks, run in passes (see src/kernels/reduce.ts for the pass planning):
//   reduce_rows:  x (rows, cols) -> out (rows, nb), nb = ceil(cols / block): sums of row blocks
//   reduce_cols:  x (rows, cols) -> out (nb, cols), nb = ceil(rows / block): sums of column blocks
//   lse_partial:  x (rows, cols) -> out (rows, nb, 2): per row block (max m, sum exp(x - m))
//   lse_combine:  x (rows, cols, 2) pairs -> out (rows, nb, 2): merged (m, s) pairs
//   lse_backward: dx (rows, cols) = dy[r] * exp(x[r, c] - lse[r]) (softmax weights times dy)
//   reduce_rows_backward: dx (rows, cols) (=|+=) scale * dy[r]   (the backward of a row sum, scale 1,
//                 or mean, 1 / cols; of a total with rows = 1: dx[i] (=|+=) scale * dy[0])
//   sumsq_rows_backward:  dx (rows, cols) (=|+=) 2 * scale * x[r, c] * dy[r]   (sum of squares)
// Each invocation sums one block of `block` consecutive values sequentially; repeating the pass on
// the partial results until one value per row/column is left gives a tree summation (error grows
// with log(n), not n). No workgroup memory or barriers: they do not pay on the CPU adapters, and
// the passes are few (32^3 = 32768 values per row take three). 1-D grid from dispatch1d().
// Overrides: SQUARE sums x^2 instead of x (first pass of a sum of squares); ACCUMULATE adds to
// `out` instead of assigning (last pass of a gradient, e.g. a bias gradient); FINAL makes the lse
// passes write lse = m + log(s) into out (rows) instead of pairs (only when nb == 1).

override WG_X: u32 = 256;
override SQUARE: bool = false;
override ACCUMULATE: bool = false;
override FINAL: bool = false;

struct ReduceParams {
  rows: u32,   // rows of the input
  cols: u32,   // columns of the input (pairs for lse_combine)
  block: u32,  // values summed per invocation
  scale: f32,  // multiplies each result (1 / count for a mean in the last pass)
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // out: see each entry point
@group(0) @binding(1) var<storage, read> x: array<f32>;          // x: see each entry point
@group(0) @binding(2) var<uniform> p: ReduceParams;

fn store(i: u32, value: f32) {
  if (ACCUMULATE) {
    out[i] = out[i] + value;
  } else {
    out[i] = value;
  }
}

fn term(v: f32) -> f32 {
  return select(v, v * v, SQUARE);
}

@compute @workgroup_size(WG_X)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (p.cols + p.block - 1u) / p.block;
  if (g >= p.rows * nb) {
    return;
  }
  let r = g / nb;
  let j = g - r * nb;
  let c0 = j * p.block;
  let count = min(p.block, p.cols - c0);
  let base = r * p.cols + c0;
  var s = 0.0;
  for (var k = 0u; k < count; k++) {
    s += term(x[base + k]);
  }
  store(g, s * p.scale);
}

@compute @workgroup_size(WG_X)
fn reduce_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (p.rows + p.block - 1u) / p.block;
  if (g >= nb * p.cols) {
    return;
  }
  let j = g / p.cols;
  let c = g - j * p.cols;
  let r0 = j * p.block;
  let count = min(p.block, p.rows - r0);
  var s = 0.0;
  for (var k = 0u; k < count; k++) {
    s += term(x[(r0 + k) * p.cols + c]);
  }
  store(g, s * p.scale);
}

// Lowest finite f32 as the starting max, so an all -inf block gives s = 0 instead of NaN.
const LOWEST: f32 = -3.4028234e38;

fn lse_store(g: u32, m: f32, s: f32) {
  if (FINAL) {
    out[g] = m + log(s);
  } else {
    out[2u * g] = m;
    out[2u * g + 1u] = s;
  }
}

@compute @workgroup_size(WG_X)
fn lse_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (p.cols + p.block - 1u) / p.block;
  if (g >= p.rows * nb) {
    return;
  }
  let r = g / nb;
  let j = g - r * nb;
  let c0 = j * p.block;
  let count = min(p.block, p.cols - c0);
  let base = r * p.cols + c0;
  var m = LOWEST;
  for (var k = 0u; k < count; k++) {
    m = max(m, x[base + k]);
  }
  var s = 0.0;
  for (var k = 0u; k < count; k++) {
    s += exp(x[base + k] - m);
  }
  lse_store(g, m, s);
}

@compute @workgroup_size(WG_X)
fn lse_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let nb = (p.cols + p.block - 1u) / p.block;
  if (g >= p.rows * nb) {
    return;
  }
  let r = g / nb;
  let j = g - r * nb;
  let c0 = j * p.block;
  let count = min(p.block, p.cols - c0);
  let base = 2u * (r * p.cols + c0);
  var m = LOWEST;
  for (var k = 0u; k < count; k++) {
    m = max(m, x[base + 2u * k]);
  }
  var s = 0.0;
  for (var k = 0u; k < count; k++) {
    s += x[base + 2u * k + 1u] * exp(x[base + 2u * k] - m);
  }
  lse_store(g, m, s);
}

struct LseBackwardParams {
  rows: u32,  // rows of x
  cols: u32,  // columns of x
}

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;  // dx: (rows, cols)
@group(0) @binding(1) var<storage, read> dy: array<f32>;        // dy: (rows) gradient of lse
@group(0) @binding(2) var<storage, read> xin: array<f32>;       // xin: (rows, cols) forward input
@group(0) @binding(3) var<storage, read> lse: array<f32>;       // lse: (rows) forward output
@group(0) @binding(4) var<uniform> bp: LseBackwardParams;

@compute @workgroup_size(WG_X)
fn lse_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (g >= bp.rows * bp.cols) {
    return;
  }
  let r = g / bp.cols;
  // Softmax weight; the min() keeps a rounding excess of x over lse from exceeding 1.
  let w = exp(min(xin[g] - lse[r], 0.0));
  let v = dy[r] * w;
  if (ACCUMULATE) {
    dx[g] = dx[g] + v;
  } else {
    dx[g] = v;
  }
}

// ---- reduce_rows_backward / sumsq_rows_backward ----

struct BroadcastParams {
  rows: u32,   // rows of dx (1 for the backward of a total)
  cols: u32,   // columns of dx
  scale: f32,  // 1 for a sum, 1 / count for a mean
}

@group(0) @binding(3) var<uniform> bcp: BroadcastParams;

fn store_dx(g: u32, v: f32) {
  if (ACCUMULATE) {
    dx[g] = dx[g] + v;
  } else {
    dx[g] = v;
  }
}

@compute @workgroup_size(WG_X)
fn reduce_rows_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (g >= bcp.rows * bcp.cols) {
    return;
  }
  store_dx(g, bcp.scale * dy[g / bcp.cols]);
}

@compute @workgroup_size(WG_X)
fn sumsq_rows_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let g = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (g >= bcp.rows * bcp.cols) {
    return;
  }
  store_dx(g, 2.0 * bcp.scale * xin[g] * dy[g / bcp.cols]);
}
