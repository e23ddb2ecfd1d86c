// matmul_tiled: the classic GPU kernel. A workgroup of 8×8 invocations computes a 32×32 tile of C,
// staging 32×16 slices of op(A) and op(B) in workgroup memory (zero-padded at the edges); each
// invocation accumulates a 4×4 block. Barriers and shared loads do not pay on CPU adapters (see
// /work/shared/notes/cpu-webgpu.md) but this is what real GPUs want. Correct for every shape.
// Layouts by override constants, as in matmul_naive.wgsl:
//   NN: a: (M, K), b: (K, N)   TN (TRANS_A): a: (K, M)   NT (TRANS_B): b: (N, K)

//!include matmul_common.wgsl

override WG_X: u32 = 8;  // fixed: 8×8 invocations × 4×4 outputs = the 32×32 tile
override WG_Y: u32 = 8;
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const TILE: u32 = 32u;  // rows and columns of C per workgroup
const TK: u32 = 16u;    // k per stage

@group(0) @binding(2) var<storage, read> a: array<f32>;  // a: (M, K), or (K, M) with TRANS_A
@group(0) @binding(3) var<storage, read> b: array<f32>;  // b: (K, N), or (N, K) with TRANS_B

var<workgroup> a_tile: array<f32, 512>;  // a_tile[k * TILE + m] = op(A)[m0 + m, k0 + k]
var<workgroup> b_tile: array<f32, 512>;  // b_tile[k * TILE + n] = op(B)[k0 + k, n0 + n]

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
  let M = params.M;
  let N = params.N;
  let K = params.K;
  let tile = matmul_tile(wid, nwg, (N + TILE - 1u) / TILE);
  if (tile.x >= (M + TILE - 1u) / TILE) {
    return;  // a spare workgroup of the folded grid (uniform across the workgroup)
  }
  let m0 = tile.x * TILE;
  let n0 = tile.y * TILE;
  let a_m = select(K, 1u, TRANS_A);
  let a_k = select(1u, M, TRANS_A);
  let b_k = select(N, 1u, TRANS_B);
  let b_n = select(1u, K, TRANS_B);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  let tm = lid.y * 4u;
  let tn = lid.x * 4u;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var r = 0u; r < 8u; r++) {
      let e = r * 64u + li;  // 0..511
      // op(A) slice: along k for NN (rows of a are contiguous), along m for TN.
      let am = select(e / TK, e % TILE, TRANS_A);
      let ak = select(e % TK, e / TILE, TRANS_A);
      var av = 0.0;
      if (m0 + am < M && k0 + ak < K) {
        av = a[(m0 + am) * a_m + (k0 + ak) * a_k];
      }
      a_tile[ak * TILE + am] = av;
      // op(B) slice: along n for NN/TN, along k for NT.
      let bn = select(e % TILE, e / TK, TRANS_B);
      let bk = select(e / TILE, e % TK, TRANS_B);
      var bv = 0.0;
      if (n0 + bn < N && k0 + bk < K) {
        bv = b[(k0 + bk) * b_k + (n0 + bn) * b_n];
      }
      b_tile[bk * TILE + bn] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let bo = kk * TILE + tn;
      let bv = vec4<f32>(b_tile[bo], b_tile[bo + 1u], b_tile[bo + 2u], b_tile[bo + 3u]);
      let ao = kk * TILE + tm;
      c0 = c0 + a_tile[ao] * bv;
      c1 = c1 + a_tile[ao + 1u] * bv;
      c2 = c2 + a_tile[ao + 2u] * bv;
      c3 = c3 + a_tile[ao + 3u] * bv;
    }
    workgroupBarrier();
  }
  store_vec4(m0 + tm, n0 + tn, c0);
  store_vec4(m0 + tm + 1u, n0 + tn, c1);
  store_vec4(m0 + tm + 2u, n0 + tn, c2);
  store_vec4(m0 + tm + 3u, n0 + tn, c3);
}
