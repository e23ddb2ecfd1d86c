// matmul_tex: register-blocked 16×8 per invocation with both operands read from rgba32float
// textures (one textureLoad brings a vec4 per lane: +25–60 % on CPU adapters, see
// /work/shared/notes/cpu-webgpu.md). The textures are filled by matmul_pack.wgsl from the operand
// buffers in the same pass, in a layout-independent form, so one entry point serves NN, TN and NT
// and every shape (within maxTextureDimension2D):
//   a_tex texel (k4, m) = op(A)[m, 4·k4 .. 4·k4+3]    (M high, ceil(K/4) wide, zero-padded)
//   b_tex texel (n4, k) = op(B)[k, 4·n4 .. 4·n4+3]    (K4·4 high, ceil(N/4) wide, zero-padded)

//!include matmul_common.wgsl

override WG_X: u32 = 8;  // column blocks per workgroup (8 columns each)
override WG_Y: u32 = 4;  // row blocks per workgroup (16 rows each)

@group(0) @binding(2) var a_tex: texture_2d<f32>;  // a_tex: (M, ceil(K/4)) texels
@group(0) @binding(3) var b_tex: texture_2d<f32>;  // b_tex: (4·ceil(K/4), ceil(N/4)) texels

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
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
  let K4 = i32((K + 3u) / 4u);
  let N4 = (N + 3u) / 4u;
  let r0 = i32(min(row0 + 0u, M - 1u));
  let r1 = i32(min(row0 + 1u, M - 1u));
  let r2 = i32(min(row0 + 2u, M - 1u));
  let r3 = i32(min(row0 + 3u, M - 1u));
  let r4 = i32(min(row0 + 4u, M - 1u));
  let r5 = i32(min(row0 + 5u, M - 1u));
  let r6 = i32(min(row0 + 6u, M - 1u));
  let r7 = i32(min(row0 + 7u, M - 1u));
  let r8 = i32(min(row0 + 8u, M - 1u));
  let r9 = i32(min(row0 + 9u, M - 1u));
  let r10 = i32(min(row0 + 10u, M - 1u));
  let r11 = i32(min(row0 + 11u, M - 1u));
  let r12 = i32(min(row0 + 12u, M - 1u));
  let r13 = i32(min(row0 + 13u, M - 1u));
  let r14 = i32(min(row0 + 14u, M - 1u));
  let r15 = i32(min(row0 + 15u, M - 1u));
  let bc0 = i32(col0 / 4u);
  let bc1 = i32(min(col0 / 4u + 1u, N4 - 1u));
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
  for (var k4 = 0; k4 < K4; k4++) {
    let k = 4 * k4;
    let a0 = textureLoad(a_tex, vec2<i32>(k4, r0), 0);
    let a1 = textureLoad(a_tex, vec2<i32>(k4, r1), 0);
    let a2 = textureLoad(a_tex, vec2<i32>(k4, r2), 0);
    let a3 = textureLoad(a_tex, vec2<i32>(k4, r3), 0);
    let a4 = textureLoad(a_tex, vec2<i32>(k4, r4), 0);
    let a5 = textureLoad(a_tex, vec2<i32>(k4, r5), 0);
    let a6 = textureLoad(a_tex, vec2<i32>(k4, r6), 0);
    let a7 = textureLoad(a_tex, vec2<i32>(k4, r7), 0);
    let a8 = textureLoad(a_tex, vec2<i32>(k4, r8), 0);
    let a9 = textureLoad(a_tex, vec2<i32>(k4, r9), 0);
    let a10 = textureLoad(a_tex, vec2<i32>(k4, r10), 0);
    let a11 = textureLoad(a_tex, vec2<i32>(k4, r11), 0);
    let a12 = textureLoad(a_tex, vec2<i32>(k4, r12), 0);
    let a13 = textureLoad(a_tex, vec2<i32>(k4, r13), 0);
    let a14 = textureLoad(a_tex, vec2<i32>(k4, r14), 0);
    let a15 = textureLoad(a_tex, vec2<i32>(k4, r15), 0);
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
  store_block16(row0, col0, array<vec4<f32>, 32>(
    c00, c01, c10, c11, c20, c21, c30, c31,
    c40, c41, c50, c51, c60, c61, c70, c71,
    c80, c81, c90, c91, c100, c101, c110, c111,
    c120, c121, c130, c131, c140, c141, c150, c151,
  ));
}
