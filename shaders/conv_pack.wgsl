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
//   conv_pack_nhwc4_tex, conv_pack_weight_tex: the same into an rgba32float texture, folded as
//                            conv_igemm.wgsl reads it: element (row r, vec4 v) of an operand with
//                            n4 vec4s per row is texel ((r mod 2^shift)·n4 + v, r >> shift).
// Lanes take consecutive pixels, so the NCHW reads of a channel are contiguous. Indices are
// decoded with conv_index.wgsl's f32 division (integer division runs per lane on the CPU adapters
// and dominated these copies).

//!include conv_index.wgsl

override WG_X: u32 = 64;

struct PackParams {
  batch: u32,
  c: u32,
  h: u32,
  w: u32,
  c4: u32,     // vec4s per packed pixel
  shift: u32,  // _tex: log2 of the pixels per texture row
}

@group(0) @binding(0) var<storage, read_write> pk_out: array<vec4<f32>>;           // pk_out: (B·H·W + 1, c4)
@group(0) @binding(0) var pkt_out: texture_storage_2d<rgba32float, write>;           // pkt_out: pk_out folded
@group(0) @binding(1) var<storage, read> pk_src: array<f32>;                       // pk_src: (B, C, H, W)
@group(0) @binding(2) var<uniform> pk: PackParams;

// Invocation l's packed pixel and vec4 (pixels fastest), and its value; pix > B·H·W: none.
struct Packed {
  pix: u32,
  c4: u32,
  v: vec4<f32>,
}

fn pk_value(l: u32) -> Packed {
  let hw = pk.h * pk.w;
  let npix = pk.batch * hw;
  let rows = npix + 1u;
  var p: Packed;
  p.c4 = conv_udiv(l, rows);
  p.pix = select(l - p.c4 * rows, rows, p.c4 >= pk.c4);
  p.v = vec4<f32>(0.0);
  if (p.pix < npix) {
    let ch = 4u * p.c4;
    let b = conv_udiv(p.pix, hw);
    let base = (b * pk.c + ch) * hw + p.pix - b * hw;
    if (ch < pk.c) { p.v.x = pk_src[base]; }
    if (ch + 1u < pk.c) { p.v.y = pk_src[base + hw]; }
    if (ch + 2u < pk.c) { p.v.z = pk_src[base + 2u * hw]; }
    if (ch + 3u < pk.c) { p.v.w = pk_src[base + 3u * hw]; }
  }
  return p;
}

@compute @workgroup_size(WG_X)
fn conv_pack_nhwc4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let p = pk_value((wid.y * nwg.x + wid.x) * WG_X + lid);
  if (p.pix <= pk.batch * pk.h * pk.w) {
    pk_out[p.pix * pk.c4 + p.c4] = p.v;
  }
}

@compute @workgroup_size(WG_X)
fn conv_pack_nhwc4_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let p = pk_value((wid.y * nwg.x + wid.x) * WG_X + lid);
  if (p.pix <= pk.batch * pk.h * pk.w) {
    let x = (p.pix & ((1u << pk.shift) - 1u)) * pk.c4 + p.c4;
    textureStore(pkt_out, vec2<u32>(x, p.pix >> pk.shift), p.v);
  }
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
  let k4 = conv_udiv(l, rows);
  let pix = l - k4 * rows;
  var v = vec4<f32>(0.0);
  if (pix < npix) {
    let b = conv_udiv(pix, ohw);
    let oy = conv_udiv(pix - b * ohw, pi.ow);
    let ox = pix - b * ohw - oy * pi.ow;
    // Elements k = (c, ky, kx) of the window; zero past C·kh·kw and outside the source.
    let taps = pi.kh * pi.kw;
    let k = vec4<u32>(4u * k4) + vec4<u32>(0u, 1u, 2u, 3u);
    let c = conv_udiv4(k, taps);
    let t = k - c * taps;
    let ky = conv_udiv4(t, pi.kw);
    let y = vec4<i32>(oy * pi.stride + ky) - i32(pi.pad);
    let x = vec4<i32>(ox * pi.stride + t - ky * pi.kw) - i32(pi.pad);
    let inside = (c < vec4<u32>(pi.c)) & (vec4<u32>(y) < vec4<u32>(pi.h)) &
                 (vec4<u32>(x) < vec4<u32>(pi.w));
    let o = select(vec4<u32>(0u), ((b * pi.c + c) * pi.h + vec4<u32>(y)) * pi.w + vec4<u32>(x), inside);
    let m = select(vec4<f32>(0.0), vec4<f32>(1.0), inside);
    v = vec4<f32>(pi_src[o.x], pi_src[o.y], pi_src[o.z], pi_src[o.w]) * m;
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
  shift: u32,       // conv_pack_weight_tex: log2 of the rows per texture row
}

@group(0) @binding(0) var<storage, read_write> pw_out: array<vec4<f32>>;  // pw_out: see the entries
@group(0) @binding(0) var pwt_out: texture_storage_2d<rgba32float, write>;  // pwt_out: conv_pack_weight's pw_out folded
@group(0) @binding(1) var<storage, read> pw_w: array<f32>;                // pw_w: (Cd, Cs, kh, kw) or (Cs, Cd, kh, kw)
@group(0) @binding(2) var<uniform> pw: WeightPackParams;

fn pw_elem(t: u32, cs: u32, cd: u32) -> f32 {
  if (cs >= pw.src_c || cd >= pw.dst_c) {
    return 0.0;
  }
  return pw_w[cs * pw.src_stride + cd * pw.dst_stride + t];
}

// Row r = (tap, cs) of (taps, 4·src_c4, dst_n4), vec4 cd4 over output channels.
fn pw_wide(r: u32, cd4: u32) -> vec4<f32> {
  let rows = 4u * pw.src_c4;
  let t = r / rows;
  let cs = r % rows;
  let cd = 4u * cd4;
  return vec4<f32>(pw_elem(t, cs, cd), pw_elem(t, cs, cd + 1u), pw_elem(t, cs, cd + 2u),
                   pw_elem(t, cs, cd + 3u));
}

// pw_out: (taps, 4·src_c4, dst_n4) vec4 over output channels.
@compute @workgroup_size(WG_X)
fn conv_pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (l >= pw.taps * 4u * pw.src_c4 * pw.dst_n4) {
    return;
  }
  pw_out[l] = pw_wide(l / pw.dst_n4, l % pw.dst_n4);
}

// pwt_out: conv_pack_weight's layout folded into a texture.
@compute @workgroup_size(WG_X)
fn conv_pack_weight_tex(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (l >= pw.taps * 4u * pw.src_c4 * pw.dst_n4) {
    return;
  }
  let r = l / pw.dst_n4;
  let cd4 = l % pw.dst_n4;
  let x = (r & ((1u << pw.shift) - 1u)) * pw.dst_n4 + cd4;
  textureStore(pwt_out, vec2<u32>(x, r >> pw.shift), pw_wide(r, cd4));
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
