// matmul_naive: the reference variant, one output element per invocation, scalar loads, no
// workgroup memory. Correct for every shape and layout; slow. Layouts by override constants:
//   NN: TRANS_A = false, TRANS_B = false   C = A·B     a: (M, K), b: (K, N)
//   TN: TRANS_A = true                     C = Aᵀ·B    a: (K, M), b: (K, N)
//   NT: TRANS_B = true                     C = A·Bᵀ    a: (M, K), b: (N, K)

//!include matmul_common.wgsl

override WG_X: u32 = 16;  // columns per workgroup
override WG_Y: u32 = 4;   // rows per workgroup
override TRANS_A: bool = false;
override TRANS_B: bool = false;

@group(0) @binding(2) var<storage, read> a: array<f32>;  // a: (M, K), or (K, M) with TRANS_A
@group(0) @binding(3) var<storage, read> b: array<f32>;  // b: (K, N), or (N, K) with TRANS_B

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_naive(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + WG_X - 1u) / WG_X);
  let m = tile.x * WG_Y + lid.y;
  let n = tile.y * WG_X + lid.x;
  if (m >= M || n >= N) {
    return;
  }
  // Element (m, k) of op(A) is a[m * a_m + k * a_k]; element (k, n) of op(B) is b[k * b_k + n * b_n].
  let a_m = select(K, 1u, TRANS_A);
  let a_k = select(1u, M, TRANS_A);
  let b_k = select(N, 1u, TRANS_B);
  let b_n = select(1u, K, TRANS_B);
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    acc = acc + a[m * a_m + k * a_k] * b[k * b_k + n * b_n];
  }
  store_output(m, n, acc);
}
