// conv_igemm: 2-D convolutions and transposed convolutions as implicit GEMMs over channel-packed
// operands, register-blocked like matmul_rb4x16.wgsl (the fast conv kernels on the CPU adapters;
// conv2d.wgsl stays as the reference-checked baseline). Same geometry and roles as conv2d.wgsl:
// a "big" and a "small" tensor linked by big_y = small_y * stride - pad + ky (same in x); the
// kernel reads `src` and writes `dst`, in either direction:
//   direct mode     (TRANSPOSED = false) dst is the small tensor: conv2d forward and
//                   conv_transpose2d backward w.r.t. the input;
//   transposed mode (TRANSPOSED = true)  dst is the big tensor: conv_transpose2d forward and
//                   conv2d backward w.r.t. the input.
//
// Why packed operands: loads are what costs on the CPU adapters (see notes), and the only way to
// load a vec4 per lane from NCHW activations is along a row of pixels, which the window gathers
// break up. conv_pack.wgsl copies the source once per run into "NHWC4": per pixel, its channels
// zero-padded to a multiple of 4, as vec4s, followed by one all-zero pixel. Then for every
// (output pixel, kernel tap) the channels it needs are consecutive vec4s, and a tap that falls
// into the padding (or a pixel past the end) reads the zero pixel instead of being masked.
// Weights are packed too (once per run; they are small), with the output channels as vec4s.
//
// conv_igemm (16 pixels × 8 output channels per invocation, 32 vec4 accumulators): the GEMM
// C[pixel, c_dst] = Σ_{tap, c_src} src[pixel's source for tap, c_src] · w[tap, c_src, c_dst],
// per tap and vec4 of source channels 16 vec4 loads of src and 8 of w for 512 FMAs, as
// matmul_rb4x16_nn. Consecutive invocations take consecutive blocks of 8 output channels of the
// same pixels (their w loads are contiguous, their src loads the same).
// In transposed mode an invocation's pixels share a phase (y ≡ ry, x ≡ rx mod stride): only the
// taps ky ≡ ry + pad, kx ≡ rx + pad (mod stride) reach them, the same for all 16, and each reads
// source pixel (qy + dy0 - jy, qx + dx0 - jx) for its jy-th / jx-th such tap.
//
// conv_igemm_narrow (8 pixels × NCOL ≤ 4 output channels): for layers with few output channels,
// where an 8-channel block would be mostly idle: dot products over the source channels (vec4
// accumulators summed at the end), weights packed per output channel.
//
// The fused epilogue is conv2d.wgsl's: bias, pre-activation store, activation, assign or
// accumulate, NCHW output. The results are stored by one loop over an array rather than by 128
// inlined epilogues: it runs as fast, and the kernels compile about twice as fast (seconds each on
// SwiftShader). (Switches of the epilogue as uniforms instead of override constants, for fewer
// pipelines, made the enc1 layer 1.5-2× slower on llvmpipe.)

//!include conv_igemm_common.wgsl

@compute @workgroup_size(WG_X)
fn conv_igemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let ncb = (ip.dst_c + 7u) / 8u;
  let blk = l / ncb;
  let co0 = (l % ncb) * 8u;
  if (blk >= ig_block_count(16u)) {
    return;
  }
  let bk = ig_block(blk, 16u);
  let p0 = ig_pixels(bk, 0u);
  let p1 = ig_pixels(bk, 4u);
  let p2 = ig_pixels(bk, 8u);
  let p3 = ig_pixels(bk, 12u);
  let c4n = ip.src_c4;
  let dn4 = (ip.dst_c + 3u) / 4u;
  let bc0 = co0 / 4u;
  let bc1 = min(bc0 + 1u, dn4 - 1u);
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  var c80 = vec4<f32>(0.0); var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0); var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0); var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0); var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0); var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0); var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0); var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0); var c151 = vec4<f32>(0.0);
  for (var ty = 0u; ty < bk.nty; ty++) {
    for (var tx = 0u; tx < bk.ntx; tx++) {
      let o0 = ig_source(p0, ty, tx) * c4n;
      let o1 = ig_source(p1, ty, tx) * c4n;
      let o2 = ig_source(p2, ty, tx) * c4n;
      let o3 = ig_source(p3, ty, tx) * c4n;
      var wk = ig_tap(bk, ty, tx) * 4u * c4n * dn4;
      for (var c4 = 0u; c4 < c4n; c4++) {
        let a0 = ig_src[o0.x + c4];
        let a1 = ig_src[o0.y + c4];
        let a2 = ig_src[o0.z + c4];
        let a3 = ig_src[o0.w + c4];
        let a4 = ig_src[o1.x + c4];
        let a5 = ig_src[o1.y + c4];
        let a6 = ig_src[o1.z + c4];
        let a7 = ig_src[o1.w + c4];
        let a8 = ig_src[o2.x + c4];
        let a9 = ig_src[o2.y + c4];
        let a10 = ig_src[o2.z + c4];
        let a11 = ig_src[o2.w + c4];
        let a12 = ig_src[o3.x + c4];
        let a13 = ig_src[o3.y + c4];
        let a14 = ig_src[o3.z + c4];
        let a15 = ig_src[o3.w + c4];
        let b00 = ig_w[wk + bc0]; let b01 = ig_w[wk + bc1];
        let b10 = ig_w[wk + 1u * dn4 + bc0]; let b11 = ig_w[wk + 1u * dn4 + bc1];
        let b20 = ig_w[wk + 2u * dn4 + bc0]; let b21 = ig_w[wk + 2u * dn4 + bc1];
        let b30 = ig_w[wk + 3u * dn4 + bc0]; let b31 = ig_w[wk + 3u * dn4 + bc1];
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
        wk += 4u * dn4;
      }
    }
  }
  // One store loop (not 128 inlined epilogues): much faster pipeline compilation.
  let acc = array<vec4<f32>, 32>(
    c00, c01, c10, c11,
    c20, c21, c30, c31,
    c40, c41, c50, c51,
    c60, c61, c70, c71,
    c80, c81, c90, c91,
    c100, c101, c110, c111,
    c120, c121, c130, c131,
    c140, c141, c150, c151,
  );
  let dst = array<vec4<u32>, 4>(p0.dst, p1.dst, p2.dst, p3.dst);
  let ok = array<vec4<bool>, 4>(p0.ok, p1.ok, p2.ok, p3.ok);
  for (var i = 0u; i < 16u; i++) {
    if (ok[i / 4u][i % 4u]) {
      ig_store4(dst[i / 4u][i % 4u], co0, acc[2u * i]);
      ig_store4(dst[i / 4u][i % 4u], co0 + 4u, acc[2u * i + 1u]);
    }
  }
}

// conv_igemm with both operands read from textures.
@compute @workgroup_size(WG_X)
fn conv_igemm_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let ncb = (ip.dst_c + 7u) / 8u;
  let blk = l / ncb;
  let co0 = (l % ncb) * 8u;
  if (blk >= ig_block_count(16u)) {
    return;
  }
  let bk = ig_block(blk, 16u);
  let p0 = ig_pixels(bk, 0u);
  let p1 = ig_pixels(bk, 4u);
  let p2 = ig_pixels(bk, 8u);
  let p3 = ig_pixels(bk, 12u);
  let c4n = ip.src_c4;
  let dn4 = (ip.dst_c + 3u) / 4u;
  let bc0 = i32(co0 / 4u);
  let bc1 = i32(min(co0 / 4u + 1u, dn4 - 1u));
  let dn = i32(dn4);
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  var c80 = vec4<f32>(0.0); var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0); var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0); var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0); var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0); var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0); var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0); var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0); var c151 = vec4<f32>(0.0);
  for (var ty = 0u; ty < bk.nty; ty++) {
    for (var tx = 0u; tx < bk.ntx; tx++) {
      let f0 = ig_fold4(ig_source(p0, ty, tx), c4n, ip.src_shift);
      let f1 = ig_fold4(ig_source(p1, ty, tx), c4n, ip.src_shift);
      let f2 = ig_fold4(ig_source(p2, ty, tx), c4n, ip.src_shift);
      let f3 = ig_fold4(ig_source(p3, ty, tx), c4n, ip.src_shift);
      // Rows k .. k+3 (c_src = 4·c4 .. 4·c4+3) share a texture row: 2^w_shift is a multiple of 4.
      var k = ig_tap(bk, ty, tx) * 4u * c4n;
      for (var c4 = 0; c4 < i32(c4n); c4++) {
        let a0 = textureLoad(ig_src_tex, vec2<i32>(f0.x.x + c4, f0.y.x), 0);
        let a1 = textureLoad(ig_src_tex, vec2<i32>(f0.x.y + c4, f0.y.y), 0);
        let a2 = textureLoad(ig_src_tex, vec2<i32>(f0.x.z + c4, f0.y.z), 0);
        let a3 = textureLoad(ig_src_tex, vec2<i32>(f0.x.w + c4, f0.y.w), 0);
        let a4 = textureLoad(ig_src_tex, vec2<i32>(f1.x.x + c4, f1.y.x), 0);
        let a5 = textureLoad(ig_src_tex, vec2<i32>(f1.x.y + c4, f1.y.y), 0);
        let a6 = textureLoad(ig_src_tex, vec2<i32>(f1.x.z + c4, f1.y.z), 0);
        let a7 = textureLoad(ig_src_tex, vec2<i32>(f1.x.w + c4, f1.y.w), 0);
        let a8 = textureLoad(ig_src_tex, vec2<i32>(f2.x.x + c4, f2.y.x), 0);
        let a9 = textureLoad(ig_src_tex, vec2<i32>(f2.x.y + c4, f2.y.y), 0);
        let a10 = textureLoad(ig_src_tex, vec2<i32>(f2.x.z + c4, f2.y.z), 0);
        let a11 = textureLoad(ig_src_tex, vec2<i32>(f2.x.w + c4, f2.y.w), 0);
        let a12 = textureLoad(ig_src_tex, vec2<i32>(f3.x.x + c4, f3.y.x), 0);
        let a13 = textureLoad(ig_src_tex, vec2<i32>(f3.x.y + c4, f3.y.y), 0);
        let a14 = textureLoad(ig_src_tex, vec2<i32>(f3.x.z + c4, f3.y.z), 0);
        let a15 = textureLoad(ig_src_tex, vec2<i32>(f3.x.w + c4, f3.y.w), 0);
        let kt = ig_fold(k, dn4, ip.w_shift);
        let b00 = textureLoad(ig_w_tex, kt + vec2<i32>(bc0, 0), 0); let b01 = textureLoad(ig_w_tex, kt + vec2<i32>(bc1, 0), 0);
        let b10 = textureLoad(ig_w_tex, kt + vec2<i32>(bc0 + 1 * dn, 0), 0); let b11 = textureLoad(ig_w_tex, kt + vec2<i32>(bc1 + 1 * dn, 0), 0);
        let b20 = textureLoad(ig_w_tex, kt + vec2<i32>(bc0 + 2 * dn, 0), 0); let b21 = textureLoad(ig_w_tex, kt + vec2<i32>(bc1 + 2 * dn, 0), 0);
        let b30 = textureLoad(ig_w_tex, kt + vec2<i32>(bc0 + 3 * dn, 0), 0); let b31 = textureLoad(ig_w_tex, kt + vec2<i32>(bc1 + 3 * dn, 0), 0);
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
        k += 4u;
      }
    }
  }
  // One store loop (not 128 inlined epilogues): much faster pipeline compilation.
  let acc = array<vec4<f32>, 32>(
    c00, c01, c10, c11,
    c20, c21, c30, c31,
    c40, c41, c50, c51,
    c60, c61, c70, c71,
    c80, c81, c90, c91,
    c100, c101, c110, c111,
    c120, c121, c130, c131,
    c140, c141, c150, c151,
  );
  let dst = array<vec4<u32>, 4>(p0.dst, p1.dst, p2.dst, p3.dst);
  let ok = array<vec4<bool>, 4>(p0.ok, p1.ok, p2.ok, p3.ok);
  for (var i = 0u; i < 16u; i++) {
    if (ok[i / 4u][i % 4u]) {
      ig_store4(dst[i / 4u][i % 4u], co0, acc[2u * i]);
      ig_store4(dst[i / 4u][i % 4u], co0 + 4u, acc[2u * i + 1u]);
    }
  }
}

@compute @workgroup_size(WG_X)
fn conv_igemm_narrow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let blk = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (blk >= ig_block_count(8u)) {
    return;
  }
  let bk = ig_block(blk, 8u);
  let p0 = ig_pixels(bk, 0u);
  let p1 = ig_pixels(bk, 4u);
  let c4n = ip.src_c4;
  var n00 = vec4<f32>(0.0); var n01 = vec4<f32>(0.0); var n02 = vec4<f32>(0.0); var n03 = vec4<f32>(0.0);
  var n10 = vec4<f32>(0.0); var n11 = vec4<f32>(0.0); var n12 = vec4<f32>(0.0); var n13 = vec4<f32>(0.0);
  var n20 = vec4<f32>(0.0); var n21 = vec4<f32>(0.0); var n22 = vec4<f32>(0.0); var n23 = vec4<f32>(0.0);
  var n30 = vec4<f32>(0.0); var n31 = vec4<f32>(0.0); var n32 = vec4<f32>(0.0); var n33 = vec4<f32>(0.0);
  var n40 = vec4<f32>(0.0); var n41 = vec4<f32>(0.0); var n42 = vec4<f32>(0.0); var n43 = vec4<f32>(0.0);
  var n50 = vec4<f32>(0.0); var n51 = vec4<f32>(0.0); var n52 = vec4<f32>(0.0); var n53 = vec4<f32>(0.0);
  var n60 = vec4<f32>(0.0); var n61 = vec4<f32>(0.0); var n62 = vec4<f32>(0.0); var n63 = vec4<f32>(0.0);
  var n70 = vec4<f32>(0.0); var n71 = vec4<f32>(0.0); var n72 = vec4<f32>(0.0); var n73 = vec4<f32>(0.0);
  for (var ty = 0u; ty < bk.nty; ty++) {
    for (var tx = 0u; tx < bk.ntx; tx++) {
      let o0 = ig_source(p0, ty, tx) * c4n;
      let o1 = ig_source(p1, ty, tx) * c4n;
      let wk = ig_tap(bk, ty, tx) * ip.dst_c * c4n;
      for (var c4 = 0u; c4 < c4n; c4++) {
        let a0 = ig_src[o0.x + c4];
        let a1 = ig_src[o0.y + c4];
        let a2 = ig_src[o0.z + c4];
        let a3 = ig_src[o0.w + c4];
        let a4 = ig_src[o1.x + c4];
        let a5 = ig_src[o1.y + c4];
        let a6 = ig_src[o1.z + c4];
        let a7 = ig_src[o1.w + c4];
        let w0 = ig_w[wk + c4];
        n00 = n00 + a0 * w0; n10 = n10 + a1 * w0; n20 = n20 + a2 * w0; n30 = n30 + a3 * w0;
        n40 = n40 + a4 * w0; n50 = n50 + a5 * w0; n60 = n60 + a6 * w0; n70 = n70 + a7 * w0;
        if (NCOL > 1u) {
          let w1 = ig_w[wk + 1u * c4n + c4];
          n01 = n01 + a0 * w1; n11 = n11 + a1 * w1; n21 = n21 + a2 * w1; n31 = n31 + a3 * w1;
          n41 = n41 + a4 * w1; n51 = n51 + a5 * w1; n61 = n61 + a6 * w1; n71 = n71 + a7 * w1;
        }
        if (NCOL > 2u) {
          let w2 = ig_w[wk + 2u * c4n + c4];
          n02 = n02 + a0 * w2; n12 = n12 + a1 * w2; n22 = n22 + a2 * w2; n32 = n32 + a3 * w2;
          n42 = n42 + a4 * w2; n52 = n52 + a5 * w2; n62 = n62 + a6 * w2; n72 = n72 + a7 * w2;
        }
        if (NCOL > 3u) {
          let w3 = ig_w[wk + 3u * c4n + c4];
          n03 = n03 + a0 * w3; n13 = n13 + a1 * w3; n23 = n23 + a2 * w3; n33 = n33 + a3 * w3;
          n43 = n43 + a4 * w3; n53 = n53 + a5 * w3; n63 = n63 + a6 * w3; n73 = n73 + a7 * w3;
        }
      }
    }
  }
  let one = vec4<f32>(1.0);
  let acc = array<vec4<f32>, 8>(
    vec4<f32>(dot(n00, one), dot(n01, one), dot(n02, one), dot(n03, one)),
    vec4<f32>(dot(n10, one), dot(n11, one), dot(n12, one), dot(n13, one)),
    vec4<f32>(dot(n20, one), dot(n21, one), dot(n22, one), dot(n23, one)),
    vec4<f32>(dot(n30, one), dot(n31, one), dot(n32, one), dot(n33, one)),
    vec4<f32>(dot(n40, one), dot(n41, one), dot(n42, one), dot(n43, one)),
    vec4<f32>(dot(n50, one), dot(n51, one), dot(n52, one), dot(n53, one)),
    vec4<f32>(dot(n60, one), dot(n61, one), dot(n62, one), dot(n63, one)),
    vec4<f32>(dot(n70, one), dot(n71, one), dot(n72, one), dot(n73, one)),
  );
  let dst = array<vec4<u32>, 2>(p0.dst, p1.dst);
  let ok = array<vec4<bool>, 2>(p0.ok, p1.ok);
  for (var i = 0u; i < 8u; i++) {
    if (ok[i / 4u][i % 4u]) {
      ig_store4(dst[i / 4u][i % 4u], 0u, acc[i]);
    }
  }
}

@compute @workgroup_size(WG_X)
fn conv_igemm_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let w = igw_tile((wid.y * nwg.x + wid.x) * WG_X + lid, false);
  if (!w.live) {
    return;
  }
  let sm4 = wq.small_c4;
  let bn4 = wq.big_c4;
  let bhw = wq.big_h * wq.big_w;
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  var c80 = vec4<f32>(0.0); var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0); var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0); var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0); var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0); var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0); var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0); var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0); var c151 = vec4<f32>(0.0);
  for (var r = w.r0; r < w.r1; r++) {
    let b = r / wq.small_h;
    let iy = i32((r % wq.small_h) * wq.stride) + w.ky;
    if (u32(iy) >= wq.big_h) {
      continue;
    }
    var q = (r * wq.small_w + w.sx0) * sm4;
    var off = (b * bhw + u32(iy) * wq.big_w + u32(w.kx + i32(w.sx0 * wq.stride))) * bn4;
    for (var sx = w.sx0; sx < w.sx1; sx++) {
      let a0 = igw_small[q + w.am.x];
      let a1 = igw_small[q + w.am.y];
      let a2 = igw_small[q + w.am.z];
      let a3 = igw_small[q + w.am.w];
      let b0 = igw_big[off + w.bn0];
      let b1 = igw_big[off + w.bn1];
      c00 = c00 + a0.x * b0; c01 = c01 + a0.x * b1;
      c10 = c10 + a0.y * b0; c11 = c11 + a0.y * b1;
      c20 = c20 + a0.z * b0; c21 = c21 + a0.z * b1;
      c30 = c30 + a0.w * b0; c31 = c31 + a0.w * b1;
      c40 = c40 + a1.x * b0; c41 = c41 + a1.x * b1;
      c50 = c50 + a1.y * b0; c51 = c51 + a1.y * b1;
      c60 = c60 + a1.z * b0; c61 = c61 + a1.z * b1;
      c70 = c70 + a1.w * b0; c71 = c71 + a1.w * b1;
      c80 = c80 + a2.x * b0; c81 = c81 + a2.x * b1;
      c90 = c90 + a2.y * b0; c91 = c91 + a2.y * b1;
      c100 = c100 + a2.z * b0; c101 = c101 + a2.z * b1;
      c110 = c110 + a2.w * b0; c111 = c111 + a2.w * b1;
      c120 = c120 + a3.x * b0; c121 = c121 + a3.x * b1;
      c130 = c130 + a3.y * b0; c131 = c131 + a3.y * b1;
      c140 = c140 + a3.z * b0; c141 = c141 + a3.z * b1;
      c150 = c150 + a3.w * b0; c151 = c151 + a3.w * b1;
      q += sm4;
      off += wq.stride * bn4;
    }
  }
  let o = w.split * wq.small_c * wq.big_c * wq.kh * wq.kw;
  igw_store8(o, w.m0 + 0u, w.n0, w.tap, c00, c01);
  igw_store8(o, w.m0 + 1u, w.n0, w.tap, c10, c11);
  igw_store8(o, w.m0 + 2u, w.n0, w.tap, c20, c21);
  igw_store8(o, w.m0 + 3u, w.n0, w.tap, c30, c31);
  igw_store8(o, w.m0 + 4u, w.n0, w.tap, c40, c41);
  igw_store8(o, w.m0 + 5u, w.n0, w.tap, c50, c51);
  igw_store8(o, w.m0 + 6u, w.n0, w.tap, c60, c61);
  igw_store8(o, w.m0 + 7u, w.n0, w.tap, c70, c71);
  igw_store8(o, w.m0 + 8u, w.n0, w.tap, c80, c81);
  igw_store8(o, w.m0 + 9u, w.n0, w.tap, c90, c91);
  igw_store8(o, w.m0 + 10u, w.n0, w.tap, c100, c101);
  igw_store8(o, w.m0 + 11u, w.n0, w.tap, c110, c111);
  igw_store8(o, w.m0 + 12u, w.n0, w.tap, c120, c121);
  igw_store8(o, w.m0 + 13u, w.n0, w.tap, c130, c131);
  igw_store8(o, w.m0 + 14u, w.n0, w.tap, c140, c141);
  igw_store8(o, w.m0 + 15u, w.n0, w.tap, c150, c151);
}

// conv_igemm_weight with both packed tensors read from textures.
@compute @workgroup_size(WG_X)
fn conv_igemm_weight_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
  let w = igw_tile((wid.y * nwg.x + wid.x) * WG_X + lid, false);
  if (!w.live) {
    return;
  }
  let sm4 = wq.small_c4;
  let bn4 = wq.big_c4;
  let bhw = wq.big_h * wq.big_w;
  let am = vec4<i32>(w.am);
  let bn0 = vec2<i32>(i32(w.bn0), 0);
  let bn1 = vec2<i32>(i32(w.bn1), 0);
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  var c80 = vec4<f32>(0.0); var c81 = vec4<f32>(0.0);
  var c90 = vec4<f32>(0.0); var c91 = vec4<f32>(0.0);
  var c100 = vec4<f32>(0.0); var c101 = vec4<f32>(0.0);
  var c110 = vec4<f32>(0.0); var c111 = vec4<f32>(0.0);
  var c120 = vec4<f32>(0.0); var c121 = vec4<f32>(0.0);
  var c130 = vec4<f32>(0.0); var c131 = vec4<f32>(0.0);
  var c140 = vec4<f32>(0.0); var c141 = vec4<f32>(0.0);
  var c150 = vec4<f32>(0.0); var c151 = vec4<f32>(0.0);
  for (var r = w.r0; r < w.r1; r++) {
    let b = r / wq.small_h;
    let iy = i32((r % wq.small_h) * wq.stride) + w.ky;
    if (u32(iy) >= wq.big_h) {
      continue;
    }
    var q = r * wq.small_w + w.sx0;
    var p = b * bhw + u32(iy) * wq.big_w + u32(w.kx + i32(w.sx0 * wq.stride));
    for (var sx = w.sx0; sx < w.sx1; sx++) {
      let qa = ig_fold(q, sm4, wq.small_shift);
      let pb = ig_fold(p, bn4, wq.big_shift);
      let a0 = textureLoad(igw_small_tex, qa + vec2<i32>(am.x, 0), 0);
      let a1 = textureLoad(igw_small_tex, qa + vec2<i32>(am.y, 0), 0);
      let a2 = textureLoad(igw_small_tex, qa + vec2<i32>(am.z, 0), 0);
      let a3 = textureLoad(igw_small_tex, qa + vec2<i32>(am.w, 0), 0);
      let b0 = textureLoad(igw_big_tex, pb + bn0, 0);
      let b1 = textureLoad(igw_big_tex, pb + bn1, 0);
      c00 = c00 + a0.x * b0; c01 = c01 + a0.x * b1;
      c10 = c10 + a0.y * b0; c11 = c11 + a0.y * b1;
      c20 = c20 + a0.z * b0; c21 = c21 + a0.z * b1;
      c30 = c30 + a0.w * b0; c31 = c31 + a0.w * b1;
      c40 = c40 + a1.x * b0; c41 = c41 + a1.x * b1;
      c50 = c50 + a1.y * b0; c51 = c51 + a1.y * b1;
      c60 = c60 + a1.z * b0; c61 = c61 + a1.z * b1;
      c70 = c70 + a1.w * b0; c71 = c71 + a1.w * b1;
      c80 = c80 + a2.x * b0; c81 = c81 + a2.x * b1;
      c90 = c90 + a2.y * b0; c91 = c91 + a2.y * b1;
      c100 = c100 + a2.z * b0; c101 = c101 + a2.z * b1;
      c110 = c110 + a2.w * b0; c111 = c111 + a2.w * b1;
      c120 = c120 + a3.x * b0; c121 = c121 + a3.x * b1;
      c130 = c130 + a3.y * b0; c131 = c131 + a3.y * b1;
      c140 = c140 + a3.z * b0; c141 = c141 + a3.z * b1;
      c150 = c150 + a3.w * b0; c151 = c151 + a3.w * b1;
      q += 1u;
      p += wq.stride;
    }
  }
  let o = w.split * wq.small_c * wq.big_c * wq.kh * wq.kw;
  igw_store8(o, w.m0 + 0u, w.n0, w.tap, c00, c01);
  igw_store8(o, w.m0 + 1u, w.n0, w.tap, c10, c11);
  igw_store8(o, w.m0 + 2u, w.n0, w.tap, c20, c21);
  igw_store8(o, w.m0 + 3u, w.n0, w.tap, c30, c31);
  igw_store8(o, w.m0 + 4u, w.n0, w.tap, c40, c41);
  igw_store8(o, w.m0 + 5u, w.n0, w.tap, c50, c51);
  igw_store8(o, w.m0 + 6u, w.n0, w.tap, c60, c61);
  igw_store8(o, w.m0 + 7u, w.n0, w.tap, c70, c71);
  igw_store8(o, w.m0 + 8u, w.n0, w.tap, c80, c81);
  igw_store8(o, w.m0 + 9u, w.n0, w.tap, c90, c91);
  igw_store8(o, w.m0 + 10u, w.n0, w.tap, c100, c101);
  igw_store8(o, w.m0 + 11u, w.n0, w.tap, c110, c111);
  igw_store8(o, w.m0 + 12u, w.n0, w.tap, c120, c121);
  igw_store8(o, w.m0 + 13u, w.n0, w.tap, c130, c131);
  igw_store8(o, w.m0 + 14u, w.n0, w.tap, c140, c141);
  igw_store8(o, w.m0 + 15u, w.n0, w.tap, c150, c151);
}
