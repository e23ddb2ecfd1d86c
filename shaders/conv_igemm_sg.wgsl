enable subgroups;
// conv_igemm_sg: conv_igemm_tex and conv_igemm_weight_tex for adapters with subgroups. On
// SwiftShader a subgroup is 4 invocations run as one SIMD op, and loads are what costs (see
// notes): here the 4 invocations of a quad share one operand through quadBroadcast instead of
// each loading it.
//   conv_igemm_sg:        a quad computes 4 blocks of 8 output channels (32 channels) of the same
//                         16 pixels; each invocation loads the source texels of 4 of the pixels and
//                         the broadcasts share them: per vec4 of source channels 4 + 8 loads
//                         instead of 16 + 8.
//   conv_igemm_weight_sg: a quad computes 4 blocks of 8 big channels of the same tap and 16 small
//                         channels; each invocation loads one of the 4 small texels per pixel:
//                         1 + 2 loads per pixel instead of 4 + 2.
// Quads must not straddle tiles: the channel blocks are padded to a multiple of 4 (the
// invocations of padding blocks load and broadcast but store nothing), and a quad is 4
// consecutive invocations. The subgroup operations run in control flow that is uniform over each
// quad, which WGSL's uniformity analysis cannot see: hence the diagnostic.
diagnostic(off, subgroup_uniformity);

//!include conv_igemm_common.wgsl

@compute @workgroup_size(WG_X)
fn conv_igemm_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32,
                 @builtin(subgroup_invocation_id) sgi: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let ncq = ((ip.dst_c + 7u) / 8u + 3u) & ~3u;
  let nb = ig_block_count(16u);
  let blk = l / ncq;
  let co0 = (l % ncq) * 8u;
  let live = blk < nb;
  let bk = ig_block(min(blk, nb - 1u), 16u);
  let p0 = ig_pixels(bk, 0u);
  let p1 = ig_pixels(bk, 4u);
  let p2 = ig_pixels(bk, 8u);
  let p3 = ig_pixels(bk, 12u);
  let mine = ig_pixels(bk, 4u * (sgi & 3u));
  let c4n = ip.src_c4;
  let dn4 = (ip.dst_c + 3u) / 4u;
  let bc0 = i32(min(co0 / 4u, dn4 - 1u));
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
      let f = ig_fold4(ig_source(mine, ty, tx), c4n, ip.src_shift);
      var k = ig_tap(bk, ty, tx) * 4u * c4n;
      for (var c4 = 0; c4 < i32(c4n); c4++) {
        let m0 = textureLoad(ig_src_tex, vec2<i32>(f.x.x + c4, f.y.x), 0);
        let m1 = textureLoad(ig_src_tex, vec2<i32>(f.x.y + c4, f.y.y), 0);
        let m2 = textureLoad(ig_src_tex, vec2<i32>(f.x.z + c4, f.y.z), 0);
        let m3 = textureLoad(ig_src_tex, vec2<i32>(f.x.w + c4, f.y.w), 0);
        let a0 = quadBroadcast(m0, 0u);
        let a1 = quadBroadcast(m1, 0u);
        let a2 = quadBroadcast(m2, 0u);
        let a3 = quadBroadcast(m3, 0u);
        let a4 = quadBroadcast(m0, 1u);
        let a5 = quadBroadcast(m1, 1u);
        let a6 = quadBroadcast(m2, 1u);
        let a7 = quadBroadcast(m3, 1u);
        let a8 = quadBroadcast(m0, 2u);
        let a9 = quadBroadcast(m1, 2u);
        let a10 = quadBroadcast(m2, 2u);
        let a11 = quadBroadcast(m3, 2u);
        let a12 = quadBroadcast(m0, 3u);
        let a13 = quadBroadcast(m1, 3u);
        let a14 = quadBroadcast(m2, 3u);
        let a15 = quadBroadcast(m3, 3u);
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
  if (!live) {
    return;
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
fn conv_igemm_weight_sg(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32,
                        @builtin(subgroup_invocation_id) sgi: u32) {
  let w = igw_tile((wid.y * nwg.x + wid.x) * WG_X + lid, true);
  if (!w.live) {
    return;
  }
  let sm4 = wq.small_c4;
  let bn4 = wq.big_c4;
  let bhw = wq.big_h * wq.big_w;
  let am = i32(w.am[sgi & 3u]);
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
      let m = textureLoad(igw_small_tex, qa + vec2<i32>(am, 0), 0);
      let a0 = quadBroadcast(m, 0u);
      let a1 = quadBroadcast(m, 1u);
      let a2 = quadBroadcast(m, 2u);
      let a3 = quadBroadcast(m, 3u);
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
