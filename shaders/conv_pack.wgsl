// conv_pack: copies conv operands into the packed layouts that conv_igemm.wgsl reads (one
// dispatch per operand and run; see that file for why). Every entry writes one vec4 per
// invocation, zeros where the source has nothing.
//   conv_pack_nhwc4:         x (B, C, H, W) -> (B·H·W + 1, ceil(C/4)) vec4: per pixel its
//                            channels, zero-padded to a multiple of 4; then one all-zero pixel.
//   conv_pack_im2col:        x (B, C, H, W) -> (B·OH·OW + 1, ceil(C·kh·kw/4)) vec4: per output
//                            pixel of a convolution its window in (c, ky, kx) order, zeros in the
//                            padding; then one all-zero row. For sources with few channels.
//   conv_pack_weight:        w -> (kh·kw, 4·ceil(Cs/4), ceil(Cd/4)) vec4 over Cd (conv_igemm).
//   conv_pack_weight_narrow: w -> (kh·kw, Cd, ceil(Cs/4)) vec4 over Cs (conv_igemm_narrow).
// Lanes take consecutive pixels, so the NCHW reads of a channel are contiguous.

override WG_X: u32 = 64;

struct PackParams {
  batch: u32,
  c: u32,
  h: u32,
  w: u32,
  c4: u32,  // vec4s per packed pixel
}

@group(0) @binding(0) var<storage, read_write> pk_out: array<vec4<f32>>;  // pk_out: (B·H·W + 1, c4)
@group(0) @binding(1) var<storage, read> pk_src: array<f32>;              // pk_src: (B, C, H, W)
@group(0) @binding(2) var<uniform> pk: PackParams;

@compute @workgroup_size(WG_X)
fn conv_pack_nhwc4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let hw = pk.h * pk.w;
  let npix = pk.batch * hw;
  let rows = npix + 1u;
  if (l >= rows * pk.c4) {
    return;
  }
  let pix = l % rows;
  let c4 = l / rows;
  var v = vec4<f32>(0.0);
  if (pix < npix) {
    let ch = 4u * c4;
    let base = ((pix / hw) * pk.c + ch) * hw + pix % hw;
    if (ch < pk.c) { v.x = pk_src[base]; }
    if (ch + 1u < pk.c) { v.y = pk_src[base + hw]; }
    if (ch + 2u < pk.c) { v.z = pk_src[base + 2u * hw]; }
    if (ch + 3u < pk.c) { v.w = pk_src[base + 3u * hw]; }
  }
  pk_out[pix * pk.c4 + c4] = v;
}

struct Im2colParams {
  batch: u32,
  c: u32,
  h: u32,
  w: u32,
  oh: u32,  // output size of the convolution
  ow: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  k4: u32,  // vec4s per row: ceil(C·kh·kw / 4)
}

@group(0) @binding(0) var<storage, read_write> pi_out: array<vec4<f32>>;  // pi_out: (B·OH·OW + 1, k4)
@group(0) @binding(1) var<storage, read> pi_src: array<f32>;              // pi_src: (B, C, H, W)
@group(0) @binding(2) var<uniform> pi: Im2colParams;

// Element k = (c, ky, kx) of output pixel (b, oy, ox)'s window, 0 outside the source.
fn pi_elem(b: u32, oy: u32, ox: u32, k: u32) -> f32 {
  let taps = pi.kh * pi.kw;
  if (k >= pi.c * taps) {
    return 0.0;
  }
  let t = k % taps;
  let y = i32(oy * pi.stride + t / pi.kw) - i32(pi.pad);
  let x = i32(ox * pi.stride + t % pi.kw) - i32(pi.pad);
  if (u32(y) >= pi.h || u32(x) >= pi.w) {
    return 0.0;
  }
  return pi_src[((b * pi.c + k / taps) * pi.h + u32(y)) * pi.w + u32(x)];
}

@compute @workgroup_size(WG_X)
fn conv_pack_im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let ohw = pi.oh * pi.ow;
  let npix = pi.batch * ohw;
  let rows = npix + 1u;
  if (l >= rows * pi.k4) {
    return;
  }
  let pix = l % rows;
  let k4 = l / rows;
  var v = vec4<f32>(0.0);
  if (pix < npix) {
    let b = pix / ohw;
    let oy = (pix % ohw) / pi.ow;
    let ox = pix % pi.ow;
    v = vec4<f32>(pi_elem(b, oy, ox, 4u * k4), pi_elem(b, oy, ox, 4u * k4 + 1u),
                  pi_elem(b, oy, ox, 4u * k4 + 2u), pi_elem(b, oy, ox, 4u * k4 + 3u));
  }
  pi_out[pix * pi.k4 + k4] = v;
}

struct WeightPackParams {
  src_c: u32,       // source channels (Cs) of the kernel that reads the packed weight
  dst_c: u32,       // its output channels (Cd)
  taps: u32,        // kh·kw
  src_c4: u32,      // ceil(Cs / 4)
  dst_n4: u32,      // ceil(Cd / 4)
  src_stride: u32,  // element (tap, cs, cd) of the weight is pw_w[cs·src_stride + cd·dst_stride + tap]
  dst_stride: u32,
}

@group(0) @binding(0) var<storage, read_write> pw_out: array<vec4<f32>>;  // pw_out: see the entries
@group(0) @binding(1) var<storage, read> pw_w: array<f32>;                // pw_w: (Cd, Cs, kh, kw) or (Cs, Cd, kh, kw)
@group(0) @binding(2) var<uniform> pw: WeightPackParams;

fn pw_elem(t: u32, cs: u32, cd: u32) -> f32 {
  if (cs >= pw.src_c || cd >= pw.dst_c) {
    return 0.0;
  }
  return pw_w[cs * pw.src_stride + cd * pw.dst_stride + t];
}

// pw_out: (taps, 4·src_c4, dst_n4) vec4 over output channels.
@compute @workgroup_size(WG_X)
fn conv_pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let rows = 4u * pw.src_c4;
  if (l >= pw.taps * rows * pw.dst_n4) {
    return;
  }
  let cd = 4u * (l % pw.dst_n4);
  let cs = (l / pw.dst_n4) % rows;
  let t = l / (pw.dst_n4 * rows);
  pw_out[l] = vec4<f32>(pw_elem(t, cs, cd), pw_elem(t, cs, cd + 1u), pw_elem(t, cs, cd + 2u),
                        pw_elem(t, cs, cd + 3u));
}

// pw_out: (taps, dst_c, src_c4) vec4 over source channels.
@compute @workgroup_size(WG_X)
fn conv_pack_weight_narrow(@builtin(workgroup_id) wid: vec3<u32>,
                           @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (l >= pw.taps * pw.dst_c * pw.src_c4) {
    return;
  }
  let cs = 4u * (l % pw.src_c4);
  let cd = (l / pw.src_c4) % pw.dst_c;
  let t = l / (pw.src_c4 * pw.dst_c);
  pw_out[l] = vec4<f32>(pw_elem(t, cs, cd), pw_elem(t, cs + 1u, cd), pw_elem(t, cs + 2u, cd),
                        pw_elem(t, cs + 3u, cd));
}
