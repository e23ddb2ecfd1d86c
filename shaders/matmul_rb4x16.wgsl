// matmul_rb4x16: register-blocked with vec4 loads, no workgroup memory (the fast variant on CPU
// adapters). Each invocation computes a 16×8 block of C in 32 vec4 accumulators; loads past the
// edge of C are clamped to the last row/column (results not stored), so inner loops have no
// branches; the _tn loop takes two k per iteration (faster on SwiftShader). One entry point per
// layout; each needs the strides it reads as vec4 to be multiples of 4 (matmulEligible() in
// src/kernels/matmul.ts):
//   matmul_rb4x16_nn: C = A·B     a: (M, K), b: (K, N)   K % 4 == 0, N % 4 == 0
//   matmul_rb4x16_tn: C = Aᵀ·B    a: (K, M), b: (K, N)   M % 4 == 0, N % 4 == 0
//   matmul_rb4x16_nt: C = A·Bᵀ    a: (M, K), b: (N, K)   K % 4 == 0

//!include matmul_common.wgsl

override WG_X: u32 = 8;  // column blocks per workgroup (8 columns each)
override WG_Y: u32 = 8;  // row blocks per workgroup (16 rows each)

// a, b: row-major f32 data viewed as vec4 (4 consecutive elements of a row).
@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;  // a: (M, K) or (K, M) for _tn
@group(0) @binding(3) var<storage, read> b: array<vec4<f32>>;  // b: (K, N) or (N, K) for _nt

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_rb4x16_nn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + 8u * WG_X - 1u) / (8u * WG_X));
  let row0 = (tile.x * WG_Y + lid.y) * 16u;
  let col0 = (tile.y * WG_X + lid.x) * 8u;
  if (row0 >= M || col0 >= N) {
    return;
  }
  let K4 = K / 4u;
  let N4 = N / 4u;
  let ar0 = min(row0 + 0u, M - 1u) * K4;
  let ar1 = min(row0 + 1u, M - 1u) * K4;
  let ar2 = min(row0 + 2u, M - 1u) * K4;
  let ar3 = min(row0 + 3u, M - 1u) * K4;
  let ar4 = min(row0 + 4u, M - 1u) * K4;
  let ar5 = min(row0 + 5u, M - 1u) * K4;
  let ar6 = min(row0 + 6u, M - 1u) * K4;
  let ar7 = min(row0 + 7u, M - 1u) * K4;
  let ar8 = min(row0 + 8u, M - 1u) * K4;
  let ar9 = min(row0 + 9u, M - 1u) * K4;
  let ar10 = min(row0 + 10u, M - 1u) * K4;
  let ar11 = min(row0 + 11u, M - 1u) * K4;
  let ar12 = min(row0 + 12u, M - 1u) * K4;
  let ar13 = min(row0 + 13u, M - 1u) * K4;
  let ar14 = min(row0 + 14u, M - 1u) * K4;
  let ar15 = min(row0 + 15u, M - 1u) * K4;
  let bc0 = col0 / 4u;
  let bc1 = min(bc0 + 1u, N4 - 1u);
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
  var c80 = vec4<f32>(0.0);
  var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0);
  var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0);
  var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0);
  var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0);
  var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0);
  var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0);
  var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0);
  var c151 = vec4<f32>(0.0);
  for (var k4 = 0u; k4 < K4; k4++) {
    let a0 = a[ar0 + k4];
    let a1 = a[ar1 + k4];
    let a2 = a[ar2 + k4];
    let a3 = a[ar3 + k4];
    let a4 = a[ar4 + k4];
    let a5 = a[ar5 + k4];
    let a6 = a[ar6 + k4];
    let a7 = a[ar7 + k4];
    let a8 = a[ar8 + k4];
    let a9 = a[ar9 + k4];
    let a10 = a[ar10 + k4];
    let a11 = a[ar11 + k4];
    let a12 = a[ar12 + k4];
    let a13 = a[ar13 + k4];
    let a14 = a[ar14 + k4];
    let a15 = a[ar15 + k4];
    let b00 = b[(4u * k4 + 0u) * N4 + bc0];
    let b01 = b[(4u * k4 + 0u) * N4 + bc1];
    let b10 = b[(4u * k4 + 1u) * N4 + bc0];
    let b11 = b[(4u * k4 + 1u) * N4 + bc1];
    let b20 = b[(4u * k4 + 2u) * N4 + bc0];
    let b21 = b[(4u * k4 + 2u) * N4 + bc1];
    let b30 = b[(4u * k4 + 3u) * N4 + bc0];
    let b31 = b[(4u * k4 + 3u) * N4 + bc1];
    c00 = c00 + a0.x * b00 + a0.y * b10 + a0.z * b20 + a0.w * b30;
    c01 = c01 + a0.x * b01 + a0.y * b11 + a0.z * b21 + a0.w * b31;
    c10 = c10 + a1.x * b00 + a1.y * b10 + a1.z * b20 + a1.w * b30;
    c11 = c11 + a1.x * b01 + a1.y * b11 + a1.z * b21 + a1.w * b31;
    c20 = c20 + a2.x * b00 + a2.y * b10 + a2.z * b20 + a2.w * b30;
    c21 = c21 + a2.x * b01 + a2.y * b11 + a2.z * b21 + a2.w * b31;
    c30 = c30 + a3.x * b00 + a3.y * b10 + a3.z * b20 + a3.w * b30;
    c31 = c31 + a3.x * b01 + a3.y * b11 + a3.z * b21 + a3.w * b31;
    c40 = c40 + a4.x * b00 + a4.y * b10 + a4.z * b20 + a4.w * b30;
    c41 = c41 + a4.x * b01 + a4.y * b11 + a4.z * b21 + a4.w * b31;
    c50 = c50 + a5.x * b00 + a5.y * b10 + a5.z * b20 + a5.w * b30;
    c51 = c51 + a5.x * b01 + a5.y * b11 + a5.z * b21 + a5.w * b31;
    c60 = c60 + a6.x * b00 + a6.y * b10 + a6.z * b20 + a6.w * b30;
    c61 = c61 + a6.x * b01 + a6.y * b11 + a6.z * b21 + a6.w * b31;
    c70 = c70 + a7.x * b00 + a7.y * b10 + a7.z * b20 + a7.w * b30;
    c71 = c71 + a7.x * b01 + a7.y * b11 + a7.z * b21 + a7.w * b31;
    c80 = c80 + a8.x * b00 + a8.y * b10 + a8.z * b20 + a8.w * b30;
    c81 = c81 + a8.x * b01 + a8.y * b11 + a8.z * b21 + a8.w * b31;
    c90 = c90 + a9.x * b00 + a9.y * b10 + a9.z * b20 + a9.w * b30;
    c91 = c91 + a9.x * b01 + a9.y * b11 + a9.z * b21 + a9.w * b31;
    c100 = c100 + a10.x * b00 + a10.y * b10 + a10.z * b20 + a10.w * b30;
    c101 = c101 + a10.x * b01 + a10.y * b11 + a10.z * b21 + a10.w * b31;
    c110 = c110 + a11.x * b00 + a11.y * b10 + a11.z * b20 + a11.w * b30;
    c111 = c111 + a11.x * b01 + a11.y * b11 + a11.z * b21 + a11.w * b31;
    c120 = c120 + a12.x * b00 + a12.y * b10 + a12.z * b20 + a12.w * b30;
    c121 = c121 + a12.x * b01 + a12.y * b11 + a12.z * b21 + a12.w * b31;
    c130 = c130 + a13.x * b00 + a13.y * b10 + a13.z * b20 + a13.w * b30;
    c131 = c131 + a13.x * b01 + a13.y * b11 + a13.z * b21 + a13.w * b31;
    c140 = c140 + a14.x * b00 + a14.y * b10 + a14.z * b20 + a14.w * b30;
    c141 = c141 + a14.x * b01 + a14.y * b11 + a14.z * b21 + a14.w * b31;
    c150 = c150 + a15.x * b00 + a15.y * b10 + a15.z * b20 + a15.w * b30;
    c151 = c151 + a15.x * b01 + a15.y * b11 + a15.z * b21 + a15.w * b31;
  }
  store_block16(row0, col0, array<vec4<f32>, 32>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
    c80, c81, c90, c91, c100, c101, c110, c111,
    c120, c121, c130, c131, c140, c141, c150, c151,
  ));
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_rb4x16_tn(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + 8u * WG_X - 1u) / (8u * WG_X));
  let row0 = (tile.x * WG_Y + lid.y) * 16u;
  let col0 = (tile.y * WG_X + lid.x) * 8u;
  if (row0 >= M || col0 >= N) {
    return;
  }
  let M4 = M / 4u;
  let N4 = N / 4u;
  let ac0 = min(row0 / 4u + 0u, M4 - 1u);
  let ac1 = min(row0 / 4u + 1u, M4 - 1u);
  let ac2 = min(row0 / 4u + 2u, M4 - 1u);
  let ac3 = min(row0 / 4u + 3u, M4 - 1u);
  let bc0 = col0 / 4u;
  let bc1 = min(bc0 + 1u, N4 - 1u);
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
  var c80 = vec4<f32>(0.0);
  var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0);
  var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0);
  var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0);
  var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0);
  var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0);
  var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0);
  var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0);
  var c151 = vec4<f32>(0.0);
  let K_main = K - K % 2u;
  var k = 0u;
  for (; k < K_main; k += 2u) {
    {
      let a0 = a[(k + 0u) * M4 + ac0];
      let a1 = a[(k + 0u) * M4 + ac1];
      let a2 = a[(k + 0u) * M4 + ac2];
      let a3 = a[(k + 0u) * M4 + ac3];
      let b0 = b[(k + 0u) * N4 + bc0];
      let b1 = b[(k + 0u) * N4 + bc1];
      c00 = c00 + a0.x * b0;
      c01 = c01 + a0.x * b1;
      c10 = c10 + a0.y * b0;
      c11 = c11 + a0.y * b1;
      c20 = c20 + a0.z * b0;
      c21 = c21 + a0.z * b1;
      c30 = c30 + a0.w * b0;
      c31 = c31 + a0.w * b1;
      c40 = c40 + a1.x * b0;
      c41 = c41 + a1.x * b1;
      c50 = c50 + a1.y * b0;
      c51 = c51 + a1.y * b1;
      c60 = c60 + a1.z * b0;
      c61 = c61 + a1.z * b1;
      c70 = c70 + a1.w * b0;
      c71 = c71 + a1.w * b1;
      c80 = c80 + a2.x * b0;
      c81 = c81 + a2.x * b1;
      c90 = c90 + a2.y * b0;
      c91 = c91 + a2.y * b1;
      c100 = c100 + a2.z * b0;
      c101 = c101 + a2.z * b1;
      c110 = c110 + a2.w * b0;
      c111 = c111 + a2.w * b1;
      c120 = c120 + a3.x * b0;
      c121 = c121 + a3.x * b1;
      c130 = c130 + a3.y * b0;
      c131 = c131 + a3.y * b1;
      c140 = c140 + a3.z * b0;
      c141 = c141 + a3.z * b1;
      c150 = c150 + a3.w * b0;
      c151 = c151 + a3.w * b1;
    }
    {
      let a0 = a[(k + 1u) * M4 + ac0];
      let a1 = a[(k + 1u) * M4 + ac1];
      let a2 = a[(k + 1u) * M4 + ac2];
      let a3 = a[(k + 1u) * M4 + ac3];
      let b0 = b[(k + 1u) * N4 + bc0];
      let b1 = b[(k + 1u) * N4 + bc1];
      c00 = c00 + a0.x * b0;
      c01 = c01 + a0.x * b1;
      c10 = c10 + a0.y * b0;
      c11 = c11 + a0.y * b1;
      c20 = c20 + a0.z * b0;
      c21 = c21 + a0.z * b1;
      c30 = c30 + a0.w * b0;
      c31 = c31 + a0.w * b1;
      c40 = c40 + a1.x * b0;
      c41 = c41 + a1.x * b1;
      c50 = c50 + a1.y * b0;
      c51 = c51 + a1.y * b1;
      c60 = c60 + a1.z * b0;
      c61 = c61 + a1.z * b1;
      c70 = c70 + a1.w * b0;
      c71 = c71 + a1.w * b1;
      c80 = c80 + a2.x * b0;
      c81 = c81 + a2.x * b1;
      c90 = c90 + a2.y * b0;
      c91 = c91 + a2.y * b1;
      c100 = c100 + a2.z * b0;
      c101 = c101 + a2.z * b1;
      c110 = c110 + a2.w * b0;
      c111 = c111 + a2.w * b1;
      c120 = c120 + a3.x * b0;
      c121 = c121 + a3.x * b1;
      c130 = c130 + a3.y * b0;
      c131 = c131 + a3.y * b1;
      c140 = c140 + a3.z * b0;
      c141 = c141 + a3.z * b1;
      c150 = c150 + a3.w * b0;
      c151 = c151 + a3.w * b1;
    }
  }
  for (; k < K; k++) {
    let a0 = a[(k) * M4 + ac0];
    let a1 = a[(k) * M4 + ac1];
    let a2 = a[(k) * M4 + ac2];
    let a3 = a[(k) * M4 + ac3];
    let b0 = b[(k) * N4 + bc0];
    let b1 = b[(k) * N4 + bc1];
    c00 = c00 + a0.x * b0;
    c01 = c01 + a0.x * b1;
    c10 = c10 + a0.y * b0;
    c11 = c11 + a0.y * b1;
    c20 = c20 + a0.z * b0;
    c21 = c21 + a0.z * b1;
    c30 = c30 + a0.w * b0;
    c31 = c31 + a0.w * b1;
    c40 = c40 + a1.x * b0;
    c41 = c41 + a1.x * b1;
    c50 = c50 + a1.y * b0;
    c51 = c51 + a1.y * b1;
    c60 = c60 + a1.z * b0;
    c61 = c61 + a1.z * b1;
    c70 = c70 + a1.w * b0;
    c71 = c71 + a1.w * b1;
    c80 = c80 + a2.x * b0;
    c81 = c81 + a2.x * b1;
    c90 = c90 + a2.y * b0;
    c91 = c91 + a2.y * b1;
    c100 = c100 + a2.z * b0;
    c101 = c101 + a2.z * b1;
    c110 = c110 + a2.w * b0;
    c111 = c111 + a2.w * b1;
    c120 = c120 + a3.x * b0;
    c121 = c121 + a3.x * b1;
    c130 = c130 + a3.y * b0;
    c131 = c131 + a3.y * b1;
    c140 = c140 + a3.z * b0;
    c141 = c141 + a3.z * b1;
    c150 = c150 + a3.w * b0;
    c151 = c151 + a3.w * b1;
  }
  store_block16(row0, col0, array<vec4<f32>, 32>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
    c80, c81, c90, c91, c100, c101, c110, c111,
    c120, c121, c130, c131, c140, c141, c150, c151,
  ));
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_rb4x16_nt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + 8u * WG_X - 1u) / (8u * WG_X));
  let row0 = (tile.x * WG_Y + lid.y) * 16u;
  let col0 = (tile.y * WG_X + lid.x) * 8u;
  if (row0 >= M || col0 >= N) {
    return;
  }
  let K4 = K / 4u;
  let ar0 = min(row0 + 0u, M - 1u) * K4;
  let ar1 = min(row0 + 1u, M - 1u) * K4;
  let ar2 = min(row0 + 2u, M - 1u) * K4;
  let ar3 = min(row0 + 3u, M - 1u) * K4;
  let ar4 = min(row0 + 4u, M - 1u) * K4;
  let ar5 = min(row0 + 5u, M - 1u) * K4;
  let ar6 = min(row0 + 6u, M - 1u) * K4;
  let ar7 = min(row0 + 7u, M - 1u) * K4;
  let ar8 = min(row0 + 8u, M - 1u) * K4;
  let ar9 = min(row0 + 9u, M - 1u) * K4;
  let ar10 = min(row0 + 10u, M - 1u) * K4;
  let ar11 = min(row0 + 11u, M - 1u) * K4;
  let ar12 = min(row0 + 12u, M - 1u) * K4;
  let ar13 = min(row0 + 13u, M - 1u) * K4;
  let ar14 = min(row0 + 14u, M - 1u) * K4;
  let ar15 = min(row0 + 15u, M - 1u) * K4;
  let br0 = min(col0 + 0u, N - 1u) * K4;
  let br1 = min(col0 + 1u, N - 1u) * K4;
  let br2 = min(col0 + 2u, N - 1u) * K4;
  let br3 = min(col0 + 3u, N - 1u) * K4;
  let br4 = min(col0 + 4u, N - 1u) * K4;
  let br5 = min(col0 + 5u, N - 1u) * K4;
  let br6 = min(col0 + 6u, N - 1u) * K4;
  let br7 = min(col0 + 7u, N - 1u) * K4;
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
  var c80 = vec4<f32>(0.0);
  var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0);
  var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0);
  var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0);
  var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0);
  var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0);
  var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0);
  var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0);
  var c151 = vec4<f32>(0.0);
  for (var k4 = 0u; k4 < K4; k4++) {
    let a0 = a[ar0 + k4];
    let a1 = a[ar1 + k4];
    let a2 = a[ar2 + k4];
    let a3 = a[ar3 + k4];
    let a4 = a[ar4 + k4];
    let a5 = a[ar5 + k4];
    let a6 = a[ar6 + k4];
    let a7 = a[ar7 + k4];
    let a8 = a[ar8 + k4];
    let a9 = a[ar9 + k4];
    let a10 = a[ar10 + k4];
    let a11 = a[ar11 + k4];
    let a12 = a[ar12 + k4];
    let a13 = a[ar13 + k4];
    let a14 = a[ar14 + k4];
    let a15 = a[ar15 + k4];
    let b0 = b[br0 + k4];
    let b1 = b[br1 + k4];
    let b2 = b[br2 + k4];
    let b3 = b[br3 + k4];
    let b4 = b[br4 + k4];
    let b5 = b[br5 + k4];
    let b6 = b[br6 + k4];
    let b7 = b[br7 + k4];
    c00 = c00 + vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    c01 = c01 + vec4<f32>(dot(a0, b4), dot(a0, b5), dot(a0, b6), dot(a0, b7));
    c10 = c10 + vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    c11 = c11 + vec4<f32>(dot(a1, b4), dot(a1, b5), dot(a1, b6), dot(a1, b7));
    c20 = c20 + vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    c21 = c21 + vec4<f32>(dot(a2, b4), dot(a2, b5), dot(a2, b6), dot(a2, b7));
    c30 = c30 + vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
    c31 = c31 + vec4<f32>(dot(a3, b4), dot(a3, b5), dot(a3, b6), dot(a3, b7));
    c40 = c40 + vec4<f32>(dot(a4, b0), dot(a4, b1), dot(a4, b2), dot(a4, b3));
    c41 = c41 + vec4<f32>(dot(a4, b4), dot(a4, b5), dot(a4, b6), dot(a4, b7));
    c50 = c50 + vec4<f32>(dot(a5, b0), dot(a5, b1), dot(a5, b2), dot(a5, b3));
    c51 = c51 + vec4<f32>(dot(a5, b4), dot(a5, b5), dot(a5, b6), dot(a5, b7));
    c60 = c60 + vec4<f32>(dot(a6, b0), dot(a6, b1), dot(a6, b2), dot(a6, b3));
    c61 = c61 + vec4<f32>(dot(a6, b4), dot(a6, b5), dot(a6, b6), dot(a6, b7));
    c70 = c70 + vec4<f32>(dot(a7, b0), dot(a7, b1), dot(a7, b2), dot(a7, b3));
    c71 = c71 + vec4<f32>(dot(a7, b4), dot(a7, b5), dot(a7, b6), dot(a7, b7));
    c80 = c80 + vec4<f32>(dot(a8, b0), dot(a8, b1), dot(a8, b2), dot(a8, b3));
    c81 = c81 + vec4<f32>(dot(a8, b4), dot(a8, b5), dot(a8, b6), dot(a8, b7));
    c90 = c90 + vec4<f32>(dot(a9, b0), dot(a9, b1), dot(a9, b2), dot(a9, b3));
    c91 = c91 + vec4<f32>(dot(a9, b4), dot(a9, b5), dot(a9, b6), dot(a9, b7));
    c100 = c100 + vec4<f32>(dot(a10, b0), dot(a10, b1), dot(a10, b2), dot(a10, b3));
    c101 = c101 + vec4<f32>(dot(a10, b4), dot(a10, b5), dot(a10, b6), dot(a10, b7));
    c110 = c110 + vec4<f32>(dot(a11, b0), dot(a11, b1), dot(a11, b2), dot(a11, b3));
    c111 = c111 + vec4<f32>(dot(a11, b4), dot(a11, b5), dot(a11, b6), dot(a11, b7));
    c120 = c120 + vec4<f32>(dot(a12, b0), dot(a12, b1), dot(a12, b2), dot(a12, b3));
    c121 = c121 + vec4<f32>(dot(a12, b4), dot(a12, b5), dot(a12, b6), dot(a12, b7));
    c130 = c130 + vec4<f32>(dot(a13, b0), dot(a13, b1), dot(a13, b2), dot(a13, b3));
    c131 = c131 + vec4<f32>(dot(a13, b4), dot(a13, b5), dot(a13, b6), dot(a13, b7));
    c140 = c140 + vec4<f32>(dot(a14, b0), dot(a14, b1), dot(a14, b2), dot(a14, b3));
    c141 = c141 + vec4<f32>(dot(a14, b4), dot(a14, b5), dot(a14, b6), dot(a14, b7));
    c150 = c150 + vec4<f32>(dot(a15, b0), dot(a15, b1), dot(a15, b2), dot(a15, b3));
    c151 = c151 + vec4<f32>(dot(a15, b4), dot(a15, b5), dot(a15, b6), dot(a15, b7));
  }
  store_block16(row0, col0, array<vec4<f32>, 32>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
    c80, c81, c90, c91, c100, c101, c110, c111,
    c120, c121, c130, c131, c140, c141, c150, c151,
  ));
}
