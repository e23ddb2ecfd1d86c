// conv_igemm_common: what the packed implicit-GEMM conv kernels share (conv_igemm.wgsl and
// conv_igemm_sg.wgsl): overrides, bindings and uniforms, the decoding of pixel blocks and taps,
// the texture folds, the fused epilogue, and the weight gradient's tiles and stores. See
// conv_igemm.wgsl for the algorithm and the packed layouts (conv_pack.wgsl writes them).

//!include activation_fns.wgsl
//!include conv_index.wgsl

override WG_X: u32 = 32;
override TRANSPOSED: bool = false; // see above
override NCOL: u32 = 4u;           // conv_igemm_narrow: output channels (1..4)
override HAS_BIAS: bool = false;   // add bias[c] to every pixel of output channel c
override STORE_PRE: bool = false;  // also write z (before the activation) into ig_pre
override ACT: u32 = 0u;            // activation code (ACT_* in activation_fns.wgsl)
override ACCUMULATE: bool = false; // out += act(z) (or dW) instead of out = ...; ig_pre is assigned

struct IgemmParams {
  batch: u32,
  src_c4: u32,  // vec4s per packed source pixel (source channels / 4, rounded up)
  src_h: u32,
  src_w: u32,
  dst_c: u32,   // channels of the tensor written
  dst_h: u32,
  dst_w: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  src_shift: u32,  // conv_igemm_tex: log2 of the source pixels per texture row
  w_shift: u32,    // conv_igemm_tex: log2 of the weight rows per texture row
  alpha: f32,      // activation parameter (leaky_relu slope, elu alpha)
}

@group(0) @binding(0) var<storage, read_write> ig_out: array<f32>;  // ig_out: (B, dst_c, dst_h, dst_w)
@group(0) @binding(1) var<storage, read_write> ig_pre: array<f32>;  // ig_pre: like ig_out, or (1) unused
@group(0) @binding(2) var<storage, read> ig_src: array<vec4<f32>>;  // ig_src: (B·src_h·src_w + 1, src_c4) packed NHWC4
@group(0) @binding(3) var<storage, read> ig_w: array<vec4<f32>>;    // ig_w: (kh·kw, 4·src_c4, ceil(dst_c/4)); narrow: (kh·kw, dst_c, src_c4)
@group(0) @binding(4) var<storage, read> ig_bias: array<f32>;       // ig_bias: (dst_c), or (1) unused
@group(0) @binding(5) var<uniform> ip: IgemmParams;
// conv_igemm_tex reads the same packed operands from rgba32float textures (one textureLoad brings
// a vec4 per lane: faster than a vec4 from a buffer on the CPU adapters), folded to fit the
// texture size limit: element (row r, vec4 v) of an operand with n4 vec4s per row is texel
// ((r mod 2^shift)·n4 + v, r >> shift).
@group(0) @binding(2) var ig_src_tex: texture_2d<f32>;  // ig_src_tex: ig_src folded (src_shift)
@group(0) @binding(3) var ig_w_tex: texture_2d<f32>;    // ig_w_tex: ig_w folded (w_shift), rows (tap, c_src)

const LANES = vec4<u32>(0u, 1u, 2u, 3u);

// A block of output pixels, decoded once per invocation: in direct mode the pixels first ..
// first+pb-1 of all B·dst_h·dst_w; in transposed mode those of phase (ry, rx) among the
// B·qh·qw pixels (b, y = ry + s·qy, x = rx + s·qx) of that phase, and the phase's taps
// (ky0 + s·ty, kx0 + s·tx), ty < nty, tx < ntx, which read source pixel (y0 - ty, x0 - tx) with
// (y0, x0) = (qy, qx) + ((ry + pad) / s, (rx + pad) / s).
struct Block {
  first: u32,
  n: u32,    // pixels to number (past n: not stored)
  ry: u32,
  rx: u32,
  ky0: u32,
  kx0: u32,
  nty: u32,
  ntx: u32,
}

// Four output pixels of a block: the source position of their first tap, their image's first
// source pixel and their flat index in ig_out (channel 0); `ok` is false past the end (such a
// pixel reads the zero pixel and is never stored).
struct Pix4 {
  y: vec4<i32>,
  x: vec4<i32>,
  img: vec4<u32>,
  dst: vec4<u32>,
  ok: vec4<bool>,
}

// Blocks of `pb` pixels (in transposed mode: per phase, times the phases); block `blk`.
fn ig_block_count(pb: u32) -> u32 {
  if (TRANSPOSED) {
    let s = ip.stride;
    return s * s * ((ip.batch * conv_ceil_div(ip.dst_h, s) * conv_ceil_div(ip.dst_w, s) + pb - 1u) / pb);
  }
  return (ip.batch * ip.dst_h * ip.dst_w + pb - 1u) / pb;
}

fn ig_block(blk: u32, pb: u32) -> Block {
  if (TRANSPOSED) {
    let s = ip.stride;
    let n = ip.batch * conv_ceil_div(ip.dst_h, s) * conv_ceil_div(ip.dst_w, s);
    let per_phase = (n + pb - 1u) / pb;
    let phase = blk / per_phase;
    let ry = phase / s;
    let rx = phase % s;
    let ky0 = (ry + ip.pad) % s;
    let kx0 = (rx + ip.pad) % s;
    // No tap at all when the phase's first tap is past the kernel (stride > kernel).
    let nty = select(0u, (ip.kh - ky0 + s - 1u) / s, ky0 < ip.kh);
    let ntx = select(0u, (ip.kw - kx0 + s - 1u) / s, kx0 < ip.kw);
    return Block((blk % per_phase) * pb, n, ry, rx, ky0, kx0, nty, ntx);
  }
  return Block(blk * pb, ip.batch * ip.dst_h * ip.dst_w, 0u, 0u, 0u, 0u, ip.kh, ip.kw);
}

// Pixels j .. j+3 of a block. Divisions in f32 (conv_udiv4): integer division is per lane on the
// CPU adapters, and 64 of them per invocation cost as much as the main loop of a small layer.
fn ig_pixels(bk: Block, j: u32) -> Pix4 {
  let s = ip.stride;
  let shw = ip.src_h * ip.src_w;
  let dhw = ip.dst_h * ip.dst_w;
  let q = vec4<u32>(bk.first + j) + LANES;
  let qc = min(q, vec4<u32>(bk.n - 1u));
  var px: Pix4;
  if (TRANSPOSED) {
    let qw = conv_ceil_div(ip.dst_w, s);
    let qhw = conv_ceil_div(ip.dst_h, s) * qw;
    let b = conv_udiv4(qc, qhw);
    let r = qc - b * qhw;
    let qy = conv_udiv4(r, qw);
    let qx = r - qy * qw;
    let y = bk.ry + s * qy;
    let x = bk.rx + s * qx;
    px.ok = (q < vec4<u32>(bk.n)) & (y < vec4<u32>(ip.dst_h)) & (x < vec4<u32>(ip.dst_w));
    px.y = vec4<i32>(qy + (bk.ry + ip.pad) / s);
    px.x = vec4<i32>(qx + (bk.rx + ip.pad) / s);
    px.img = b * shw;
    px.dst = b * ip.dst_c * dhw + min(y, vec4<u32>(ip.dst_h - 1u)) * ip.dst_w +
             min(x, vec4<u32>(ip.dst_w - 1u));
  } else {
    let b = conv_udiv4(qc, dhw);
    let r = qc - b * dhw;
    let oy = conv_udiv4(r, ip.dst_w);
    let ox = r - oy * ip.dst_w;
    px.ok = q < vec4<u32>(bk.n);
    px.y = vec4<i32>(oy * s) - i32(ip.pad);
    px.x = vec4<i32>(ox * s) - i32(ip.pad);
    px.img = b * shw;
    px.dst = b * ip.dst_c * dhw + r;
  }
  return px;
}

// The packed source pixels that four pixels read for tap (ty, tx): the zero pixel where the tap
// falls outside the source or the pixel is past the end.
fn ig_source(px: Pix4, ty: u32, tx: u32) -> vec4<u32> {
  var y: vec4<i32>;
  var x: vec4<i32>;
  if (TRANSPOSED) {
    y = px.y - vec4<i32>(i32(ty));
    x = px.x - vec4<i32>(i32(tx));
  } else {
    y = px.y + vec4<i32>(i32(ty));
    x = px.x + vec4<i32>(i32(tx));
  }
  let inside = px.ok & (vec4<u32>(y) < vec4<u32>(ip.src_h)) & (vec4<u32>(x) < vec4<u32>(ip.src_w));
  let pix = px.img + vec4<u32>(y) * ip.src_w + vec4<u32>(x);
  let zero = ip.batch * ip.src_h * ip.src_w;
  return select(vec4<u32>(zero), pix, inside);
}

// Texel x (of vec4 0) and y of folded rows r, n4 vec4s per row, 2^shift rows per texture row.
struct Fold4 {
  x: vec4<i32>,
  y: vec4<i32>,
}
fn ig_fold4(r: vec4<u32>, n4: u32, shift: u32) -> Fold4 {
  return Fold4(vec4<i32>((r & vec4<u32>((1u << shift) - 1u)) * n4), vec4<i32>(r >> vec4<u32>(shift)));
}
fn ig_fold(r: u32, n4: u32, shift: u32) -> vec2<i32> {
  return vec2<i32>(i32((r & ((1u << shift) - 1u)) * n4), i32(r >> shift));
}

// Packed weight row of tap (ty, tx) of a block.
fn ig_tap(bk: Block, ty: u32, tx: u32) -> u32 {
  let step = select(1u, ip.stride, TRANSPOSED);
  return (bk.ky0 + step * ty) * ip.kw + bk.kx0 + step * tx;
}

// The fused epilogue for one output element at flat index `idx` of channel `ch`.
fn ig_store1(idx: u32, ch: u32, acc: f32) {
  var z = acc;
  if (HAS_BIAS) {
    z = z + ig_bias[ch];
  }
  if (STORE_PRE) {
    ig_pre[idx] = z;
  }
  let y = activation_forward(z, ACT, ip.alpha);
  if (ACCUMULATE) {
    ig_out[idx] = ig_out[idx] + y;
  } else {
    ig_out[idx] = y;
  }
}

// Stores channels co .. co+3 (those < dst_c) of the pixel at flat index `dst` (channel 0).
fn ig_store4(dst: u32, co: u32, v: vec4<f32>) {
  let dhw = ip.dst_h * ip.dst_w;
  if (co < ip.dst_c) { ig_store1(dst + co * dhw, co, v.x); }
  if (co + 1u < ip.dst_c) { ig_store1(dst + (co + 1u) * dhw, co + 1u, v.y); }
  if (co + 2u < ip.dst_c) { ig_store1(dst + (co + 2u) * dhw, co + 2u, v.z); }
  if (co + 3u < ip.dst_c) { ig_store1(dst + (co + 3u) * dhw, co + 3u, v.w); }
}

// ---- weight gradient ----
//
// dW[c_small, c_big, ky, kx] = Σ_{b, sy, sx} small[b, c_small, sy, sx] · big[b, c_big, sy·s - p + ky,
// sx·s - p + kx] for conv2d (small = dy, big = x) and conv_transpose2d (small = x, big = dy), both
// packed NHWC4: per tap a GEMM C[c_small, c_big] = Σ_q small[q, :]ᵀ · big[q's tap pixel, :] over
// the small pixels q, like matmul_rb4x16_tn: an invocation owns 16 small × 8 big channels of one
// tap, and per pixel loads 4 + 2 vec4s for 128 FMAs. The rows and columns whose tap falls into
// the padding add nothing and are skipped. With an
// im2col-packed big tensor (kernel 1×1, big_c = C·kh·kw) the same kernel is a plain TN GEMM.
// The sum over pixels can be split over rows (b, sy), each split writing its own slice of
// igw_out (summed afterwards by a reduction), as in conv2d_weight.

struct IgwParams {
  batch: u32,
  small_c: u32,
  small_c4: u32,
  small_h: u32,
  small_w: u32,
  big_c: u32,
  big_c4: u32,
  big_h: u32,
  big_w: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  split_rows: u32,   // rows (b, sy) of the small tensor summed per split
  small_shift: u32,  // conv_igemm_weight_tex: log2 of the small pixels per texture row
  big_shift: u32,    // conv_igemm_weight_tex: log2 of the big pixels per texture row
}

@group(0) @binding(0) var<storage, read_write> igw_out: array<f32>;    // igw_out: (splits, small_c, big_c, kh, kw)
@group(0) @binding(1) var<storage, read> igw_small: array<vec4<f32>>;  // igw_small: (B·small_h·small_w (+ 1), small_c4) packed NHWC4
@group(0) @binding(2) var<storage, read> igw_big: array<vec4<f32>>;    // igw_big: (B·big_h·big_w + 1, big_c4) packed NHWC4
@group(0) @binding(3) var<uniform> wq: IgwParams;
@group(0) @binding(1) var igw_small_tex: texture_2d<f32>;  // igw_small_tex: igw_small folded (small_shift)
@group(0) @binding(2) var igw_big_tex: texture_2d<f32>;    // igw_big_tex: igw_big folded (big_shift)

// What one invocation sums: rows r0 .. r1-1 of its split, big channels n0 .. n0+7 (vec4s bn0, bn1,
// clamped), small channels m0 .. m0+15 (vec4s am, clamped) of tap `tap` at offset (ky, kx) - pad,
// over the small columns sx0 .. sx1-1 whose tap falls inside the big tensor (the others add 0).
struct WTile {
  live: bool,
  split: u32,
  r0: u32,
  r1: u32,
  tap: u32,
  ky: i32,
  kx: i32,
  sx0: u32,
  sx1: u32,
  m0: u32,
  am: vec4<u32>,
  n0: u32,
  bn0: u32,
  bn1: u32,
}

// The tile of invocation l; with `quads`, the big-channel blocks are padded to a multiple of 4
// (conv_igemm_weight_sg: a quad shares everything but its big channels).
fn igw_tile(l: u32, quads: bool) -> WTile {
  var w: WTile;
  let taps = wq.kh * wq.kw;
  var nnb = (wq.big_c + 7u) / 8u;
  if (quads) {
    nnb = (nnb + 3u) & ~3u;
  }
  let nmb = (wq.small_c + 15u) / 16u;
  let per_split = nnb * taps * nmb;
  w.split = l / per_split;
  let rows = wq.batch * wq.small_h;
  w.r0 = w.split * wq.split_rows;
  w.live = w.r0 < rows;
  w.r1 = min(w.r0 + wq.split_rows, rows);
  var t = l % per_split;
  w.n0 = (t % nnb) * 8u;
  t = t / nnb;
  w.tap = t % taps;
  w.m0 = (t / taps) * 16u;
  w.ky = i32(w.tap / wq.kw) - i32(wq.pad);
  w.kx = i32(w.tap % wq.kw) - i32(wq.pad);
  let s = i32(wq.stride);
  let last = i32(wq.big_w) - 1 - w.kx;  // sx·s <= last keeps sx·s + kx inside
  w.sx0 = select(0u, u32((s - 1 - w.kx) / s), w.kx < 0);
  w.sx1 = select(0u, min(wq.small_w, u32(last / s) + 1u), last >= 0);
  w.am = min(vec4<u32>(w.m0 / 4u) + LANES, vec4<u32>(wq.small_c4 - 1u));
  w.bn0 = min(w.n0 / 4u, wq.big_c4 - 1u);
  w.bn1 = min(w.n0 / 4u + 1u, wq.big_c4 - 1u);
  return w;
}

// Stores big channels n .. n+7 (those < big_c) of small channel m, tap `tap`, at slice offset o.
fn igw_store8(o: u32, m: u32, n: u32, tap: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= wq.small_c) {
    return;
  }
  let taps = wq.kh * wq.kw;
  let base = o + (m * wq.big_c + n) * taps + tap;
  let v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < 8u; j++) {
    if (n + j < wq.big_c) {
      let idx = base + j * taps;
      if (ACCUMULATE) {
        igw_out[idx] = igw_out[idx] + v[j];
      } else {
        igw_out[idx] = v[j];
      }
    }
  }
}
