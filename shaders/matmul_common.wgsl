// Shared part of the matmul family, included by every shaders/matmul_*.wgsl variant: the output,
// pre-activation, bias and uniform bindings, the grid folding and the fused epilogue
// (bias add, pre-activation store, activation, assign or accumulate).
//
//   z = op(A)·op(B) [+ bias]   pre = z (STORE_PRE)   c = act(z)  or  c += act(z) (ACCUMULATE)
//
// Every variant binds the same names: c, pre (outputs), a, b, bias (inputs), params (uniforms).
// `pre` and `bias` are referenced by every entry point, so they must always be bound; when
// STORE_PRE / HAS_BIAS is false a 1-element placeholder buffer is bound and never touched.

//!include activation_fns.wgsl

// The epilogue's switches are override constants, so each epilogue is its own pipeline with the
// unused branches compiled out. Uniform switches (one pipeline per layout, fewer to compile at
// start-up) cost 12-60 % of a register-blocked kernel's time on the CPU adapters, most at the
// short-K weight-gradient shapes (the epilogue's per-element branches and activation switch).
override HAS_BIAS: bool = false;    // add bias[n] to every column n
override STORE_PRE: bool = false;   // also write z (before the activation) into `pre`
override ACT: u32 = 0u;             // activation code (ACT_* in activation_fns.wgsl)
override ACCUMULATE: bool = false;  // c += act(z) instead of c = act(z); `pre` is always assigned

struct MatmulParams {
  M: u32,      // rows of C
  N: u32,      // columns of C
  K: u32,      // inner dimension
  alpha: f32,  // activation parameter (leaky_relu slope, elu alpha)
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>;    // c: (M, N)
@group(0) @binding(1) var<storage, read_write> pre: array<f32>;  // pre: (M, N), or (1) unused
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // bias: (N), or (1) unused
@group(0) @binding(5) var<uniform> params: MatmulParams;

// The workgroups form a 2-D grid from dispatch1d() (at most 65535 per dimension); the linear
// workgroup index is split into (tile row, tile column), consecutive workgroups taking consecutive
// column tiles. A tile row >= the number of tile rows marks a spare workgroup of the fold.
fn matmul_tile(wid: vec3<u32>, nwg: vec3<u32>, tile_cols: u32) -> vec2<u32> {
  let l = wid.y * nwg.x + wid.x;
  return vec2<u32>(l / tile_cols, l % tile_cols);
}

// The fused epilogue for one element of C; the caller checks m < M and n < N.
fn store_output(m: u32, n: u32, acc: f32) {
  let idx = m * params.N + n;
  var z = acc;
  if (HAS_BIAS) {
    z = z + bias[n];
  }
  if (STORE_PRE) {
    pre[idx] = z;
  }
  let y = activation_forward(z, ACT, params.alpha);
  if (ACCUMULATE) {
    c[idx] = c[idx] + y;
  } else {
    c[idx] = y;
  }
}

// Stores four consecutive elements of row m starting at column n0, skipping those outside C.
fn store_vec4(m: u32, n0: u32, v: vec4<f32>) {
  let N = params.N;
  if (m >= params.M) {
    return;
  }
  if (n0 < N) { store_output(m, n0, v.x); }
  if (n0 + 1u < N) { store_output(m, n0 + 1u, v.y); }
  if (n0 + 2u < N) { store_output(m, n0 + 2u, v.z); }
  if (n0 + 3u < N) { store_output(m, n0 + 3u, v.w); }
}

// Stores a register block: rows row0.. of two vec4 columns (col0, col0 + 4) each, acc[2·r + j]
// holding row r, columns col0 + 4j ..; one loop, so the epilogue is compiled once per kernel.
fn store_block16(row0: u32, col0: u32, acc: array<vec4<f32>, 32>) {
  for (var i = 0u; i < 32u; i++) {
    store_vec4(row0 + i / 2u, col0 + 4u * (i % 2u), acc[i]);
  }
}

fn store_block8(row0: u32, col0: u32, acc: array<vec4<f32>, 16>) {
  for (var i = 0u; i < 16u; i++) {
    store_vec4(row0 + i / 2u, col0 + 4u * (i % 2u), acc[i]);
  }
}
