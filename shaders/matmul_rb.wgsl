// matmul_rb: register-blocked, scalar loads, no workgroup memory. Each invocation computes an
// 8×8 block of C (16 vec4 accumulators): per k it loads 8 values of op(A) and 8 of op(B) for 64
// FMAs. Loads of rows/columns past the edge are clamped to the last one (results not stored), so
// the inner loop has no branches. Correct for every shape and layout (the fallback where the vec4
// variant is not eligible). Layouts by override constants, as in matmul_naive.wgsl:
//   NN: a: (M, K), b: (K, N)   TN (TRANS_A): a: (K, M)   NT (TRANS_B): b: (N, K)

//!include matmul_common.wgsl

override WG_X: u32 = 8;  // column blocks per workgroup (8 columns each)
override WG_Y: u32 = 8;  // row blocks per workgroup (8 rows each)
override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(2) var<storage, read> a: array<f32>;  // a: (M, K), or (K, M) with TRANS_A
@group(0) @binding(3) var<storage, read> b: array<f32>;  // b: (K, N), or (N, K) with TRANS_B

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_rb(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + 8u * WG_X - 1u) / (8u * WG_X));
  let row0 = (tile.x * WG_Y + lid.y) * 8u;
  let col0 = (tile.y * WG_X + lid.x) * 8u;
  if (row0 >= M || col0 >= N) {
    return;
  }
  // Element (m, k) of op(A) is a[m * a_m + k * a_k]; element (k, n) of op(B) is b[k * b_k + n * b_n].
  let a_m = select(K, 1u, TRANS_A);
  let a_k = select(1u, M, TRANS_A);
  let b_k = select(N, 1u, TRANS_B);
  let b_n = select(1u, K, TRANS_B);
  let ar0 = min(row0 + 0u, M - 1u) * a_m;
  let ar1 = min(row0 + 1u, M - 1u) * a_m;
  let ar2 = min(row0 + 2u, M - 1u) * a_m;
  let ar3 = min(row0 + 3u, M - 1u) * a_m;
  let ar4 = min(row0 + 4u, M - 1u) * a_m;
  let ar5 = min(row0 + 5u, M - 1u) * a_m;
  let ar6 = min(row0 + 6u, M - 1u) * a_m;
  let ar7 = min(row0 + 7u, M - 1u) * a_m;
  let bc0 = min(col0 + 0u, N - 1u) * b_n;
  let bc1 = min(col0 + 1u, N - 1u) * b_n;
  let bc2 = min(col0 + 2u, N - 1u) * b_n;
  let bc3 = min(col0 + 3u, N - 1u) * b_n;
  let bc4 = min(col0 + 4u, N - 1u) * b_n;
  let bc5 = min(col0 + 5u, N - 1u) * b_n;
  let bc6 = min(col0 + 6u, N - 1u) * b_n;
  let bc7 = min(col0 + 7u, N - 1u) * b_n;
  var c00 = vec4<f32>(0.0);
  var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0);
  var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0);
  var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0);
  var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0);
  var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0);
  var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0);
  var c71 = vec4<f32>(0.0);
  for (var k = 0u; k < K; k++) {
    let ka = k * a_k;
    let kb = k * b_k;
    let a0 = a[ar0 + ka];
    let a1 = a[ar1 + ka];
    let a2 = a[ar2 + ka];
    let a3 = a[ar3 + ka];
    let a4 = a[ar4 + ka];
    let a5 = a[ar5 + ka];
    let a6 = a[ar6 + ka];
    let a7 = a[ar7 + ka];
    let b0 = b[kb + bc0];
    let b1 = b[kb + bc1];
    let b2 = b[kb + bc2];
    let b3 = b[kb + bc3];
    let b4 = b[kb + bc4];
    let b5 = b[kb + bc5];
    let b6 = b[kb + bc6];
    let b7 = b[kb + bc7];
    let blo = vec4<f32>(b0, b1, b2, b3);
    let bhi = vec4<f32>(b4, b5, b6, b7);
    c00 = c00 + a0 * blo;
    c01 = c01 + a0 * bhi;
    c10 = c10 + a1 * blo;
    c11 = c11 + a1 * bhi;
    c20 = c20 + a2 * blo;
    c21 = c21 + a2 * bhi;
    c30 = c30 + a3 * blo;
    c31 = c31 + a3 * bhi;
    c40 = c40 + a4 * blo;
    c41 = c41 + a4 * bhi;
    c50 = c50 + a5 * blo;
    c51 = c51 + a5 * bhi;
    c60 = c60 + a6 * blo;
    c61 = c61 + a6 * bhi;
    c70 = c70 + a7 * blo;
    c71 = c71 + a7 * bhi;
  }
  store_block8(row0, col0, array<vec4<f32>, 16>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
  ));
}
