// matmul_sgtex: register-blocked 16×8 per invocation, A read from its buffer with the rows shared
// across a subgroup, B read from an rgba32float texture (packed by matmul_pack.wgsl: once per change
// for a weight, see src/kernels/matmul-pack.ts). On SwiftShader (subgroups of 4, SIMD width 4) this
// is the fastest matmul measured (/work/shared/notes/cpu-webgpu.md): a lane loads 4 of the block's
// 16 rows of A and subgroupBroadcast hands them to the 3 lanes that need the same rows, so A costs a
// quarter of the loads; B's texels bring a vec4 per textureLoad.
//   layouts NN and NT: a: (M, K) row-major, K % 4 == 0 (read as vec4)
//   b_tex texel (n4, k) = op(B)[k, 4·n4 .. 4·n4+3]    (4·ceil(K/4) high, ceil(N/4) wide)
// The four lanes of a subgroup must own the same rows (WG_X = 8 consecutive invocations in x share
// lid.y): the kernel checks that, and that the subgroup has 4 lanes, and otherwise (other GPUs)
// takes a plain loop. In the fast loop no lane returns early: every lane takes part in the
// broadcasts, and only lanes inside C store.
enable subgroups;
diagnostic(off, subgroup_uniformity);

//!include matmul_common.wgsl

override WG_X: u32 = 8;  // column blocks per workgroup (8 columns each); a multiple of 4
override WG_Y: u32 = 4;  // row blocks per workgroup (16 rows each)
override PLAIN: bool = false;  // take the plain loop everywhere (tests: the path other GPUs take)

@group(0) @binding(2) var<storage, read> a: array<vec4<f32>>;  // a: (M, K) as vec4, K % 4 == 0
@group(0) @binding(3) var b_tex: texture_2d<f32>;  // b_tex: (4·ceil(K/4), ceil(N/4)) texels

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_sgtex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>,
                @builtin(subgroup_size) sg_size: u32,
                @builtin(subgroup_invocation_id) sg_lane: u32) {
  let M = params.M;
  let N = params.N;
  let K4 = params.K / 4u;
  let N4 = (N + 3u) / 4u;
  let tile = matmul_tile(wid, nwg, (N + 8u * WG_X - 1u) / (8u * WG_X));
  let row0 = (tile.x * WG_Y + lid.y) * 16u;
  let col0 = (tile.y * WG_X + lid.x) * 8u;
  let bc0 = i32(min(col0 / 4u, N4 - 1u));
  let bc1 = i32(min(col0 / 4u + 1u, N4 - 1u));
  // Share only where lanes 0..3 of this subgroup hold the same 16 rows (always on SwiftShader).
  // Elsewhere a plain loop, correct and slow, so that the fast loop below has no branch.
  let sharing = !PLAIN && sg_size == 4u && subgroupAll(subgroupBroadcast(row0, 0u) == row0);
  if (!sharing) {
    if (col0 < N) {
      for (var r = 0u; r < 16u; r++) {
        let ar = min(row0 + r, M - 1u) * K4;
        var s0 = vec4<f32>(0.0);
        var s1 = vec4<f32>(0.0);
        for (var k4 = 0u; k4 < K4; k4++) {
          let av = a[ar + k4];
          let k = i32(4u * k4);
          for (var j = 0; j < 4; j++) {
            s0 = s0 + av[j] * textureLoad(b_tex, vec2<i32>(bc0, k + j), 0);
            s1 = s1 + av[j] * textureLoad(b_tex, vec2<i32>(bc1, k + j), 0);
          }
        }
        store_vec4(row0 + r, col0, s0);
        store_vec4(row0 + r, col0 + 4u, s1);
      }
    }
    return;
  }
  // This lane loads rows 4·lane .. 4·lane+3 of the block; subgroupBroadcast shares them.
  let mine = row0 + 4u * (sg_lane & 3u);
  let sr0 = min(mine + 0u, M - 1u) * K4;
  let sr1 = min(mine + 1u, M - 1u) * K4;
  let sr2 = min(mine + 2u, M - 1u) * K4;
  let sr3 = min(mine + 3u, M - 1u) * K4;
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
    let k = i32(4u * k4);
    let s0 = a[sr0 + k4];
    let s1 = a[sr1 + k4];
    let s2 = a[sr2 + k4];
    let s3 = a[sr3 + k4];
    let a0 = subgroupBroadcast(s0, 0u);
    let a1 = subgroupBroadcast(s1, 0u);
    let a2 = subgroupBroadcast(s2, 0u);
    let a3 = subgroupBroadcast(s3, 0u);
    let a4 = subgroupBroadcast(s0, 1u);
    let a5 = subgroupBroadcast(s1, 1u);
    let a6 = subgroupBroadcast(s2, 1u);
    let a7 = subgroupBroadcast(s3, 1u);
    let a8 = subgroupBroadcast(s0, 2u);
    let a9 = subgroupBroadcast(s1, 2u);
    let a10 = subgroupBroadcast(s2, 2u);
    let a11 = subgroupBroadcast(s3, 2u);
    let a12 = subgroupBroadcast(s0, 3u);
    let a13 = subgroupBroadcast(s1, 3u);
    let a14 = subgroupBroadcast(s2, 3u);
    let a15 = subgroupBroadcast(s3, 3u);
    let b00 = textureLoad(b_tex, vec2<i32>(bc0, k + 0), 0);
    let b01 = textureLoad(b_tex, vec2<i32>(bc1, k + 0), 0);
    let b10 = textureLoad(b_tex, vec2<i32>(bc0, k + 1), 0);
    let b11 = textureLoad(b_tex, vec2<i32>(bc1, k + 1), 0);
    let b20 = textureLoad(b_tex, vec2<i32>(bc0, k + 2), 0);
    let b21 = textureLoad(b_tex, vec2<i32>(bc1, k + 2), 0);
    let b30 = textureLoad(b_tex, vec2<i32>(bc0, k + 3), 0);
    let b31 = textureLoad(b_tex, vec2<i32>(bc1, k + 3), 0);
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
  if (col0 >= N) {
    return;
  }
  store_block16(row0, col0, array<vec4<f32>, 32>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
    c80, c81, c90, c91, c100, c101, c110, c111,
    c120, c121, c130, c131, c140, c141, c150, c151,
  ));
}
