// conv2d: 2-D convolution and transposed convolution, forward and backward.
//
// Layout: NCHW activations (B, C, H, W) and weights (Cout, Cin, kh, kw), row-major f32, exactly
// as PyTorch stores them, so checkpoints map onto torch.nn.Conv2d weights without a transpose. A
// transposed convolution keeps PyTorch's ConvTranspose2d weight layout (Cin, Cout, kh, kw). NCHW
// also keeps each channel plane contiguous, so the weight gradient's sums over pixels and the
// bias gradient's sums over (B, H, W) read long contiguous runs.
//
// Geometry, shared by every entry point: a "big" and a "small" tensor linked by
//   big_y = small_y * stride - pad + ky        (same in x)
// For a convolution the big one is its input x and the small one its output y; for a transposed
// convolution it is the other way round. Two output-stationary kernels cover the four data paths:
//   conv2d_direct     writes the small tensor from the big one (gather over taps):
//                     conv2d forward, and conv_transpose2d backward w.r.t. the input.
//   conv2d_transposed writes the big tensor from the small one (scatter as a gather):
//                     conv_transpose2d forward, and conv2d backward w.r.t. the input.
// and conv2d_weight computes dW[c_small, c_big, ky, kx] = Σ_{b,y,x} small[b,c_small,y,x] ·
// big[b,c_big,y*s-p+ky,x*s-p+kx] for both (weight gradients of conv2d and conv_transpose2d).
//
// Algorithm (implicit GEMM, no im2col buffer, no workgroup memory: on the CPU adapters loads are
// the cost and workgroup memory does not pay, see notes): every invocation keeps a register block
// of 8 output channels × 8 output pixels (16 vec4 accumulators, written out by hand: a version
// with function-scope arrays indexed in override-bounded loops ran as fast on llvmpipe but 2–5×
// slower on SwiftShader, which keeps such arrays in memory) and, per input channel and kernel tap,
// loads 8 weights and 8 input values for 64 FMAs. Channels past the end are clamped to the last
// one (computed, not stored), as in matmul_rb.wgsl. The taps are the outer loops, so the padding
// checks are made once per tap and pixel, outside the long loop over channels.
// conv2d_transposed blocks pixels of the same phase (x ≡ r mod stride, y fixed): they share the
// set of contributing taps, only (kh/s)·(kw/s) of them, and read consecutive small pixels.
// Weights are indexed by the roles of the tensors: conv2d_direct reads w[c_out, c_in, ky, kx] and
// conv2d_transposed w[c_in, c_out, ky, kx], c_in/c_out being the channels of the tensor read
// (src) and written (dst) by that kernel.

//!include activation_fns.wgsl

override WG_X: u32 = 64;
override HAS_BIAS: bool = false;   // add bias[c] to every pixel of output channel c
override STORE_PRE: bool = false;  // also write z (before the activation) into cv_pre
override ACT: u32 = 0u;            // activation code (ACT_* in activation_fns.wgsl)
override ACCUMULATE: bool = false; // out += act(z) instead of out = act(z); cv_pre is assigned

struct ConvParams {
  batch: u32,
  src_c: u32,  // channels of the tensor read
  src_h: u32,
  src_w: u32,
  dst_c: u32,  // channels of the tensor written
  dst_h: u32,
  dst_w: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  alpha: f32,  // activation parameter (leaky_relu slope, elu alpha)
}

@group(0) @binding(0) var<storage, read_write> cv_out: array<f32>;  // cv_out: (B, dst_c, dst_h, dst_w)
@group(0) @binding(1) var<storage, read_write> cv_pre: array<f32>;  // cv_pre: like cv_out, or (1) unused
@group(0) @binding(2) var<storage, read> cv_src: array<f32>;        // cv_src: (B, src_c, src_h, src_w)
@group(0) @binding(3) var<storage, read> cv_w: array<f32>;          // cv_w: (dst_c, src_c, kh, kw) direct, (src_c, dst_c, kh, kw) transposed
@group(0) @binding(4) var<storage, read> cv_bias: array<f32>;       // cv_bias: (dst_c), or (1) unused
@group(0) @binding(5) var<uniform> cp: ConvParams;

const LANES_LO = vec4<u32>(0u, 1u, 2u, 3u);
const LANES_HI = vec4<u32>(4u, 5u, 6u, 7u);

// The fused epilogue for one output element at flat index `idx` of channel `ch`.
fn conv_store(idx: u32, ch: u32, acc: f32) {
  var z = acc;
  if (HAS_BIAS) {
    z = z + cv_bias[ch];
  }
  if (STORE_PRE) {
    cv_pre[idx] = z;
  }
  let y = activation_forward(z, ACT, cp.alpha);
  if (ACCUMULATE) {
    cv_out[idx] = cv_out[idx] + y;
  } else {
    cv_out[idx] = y;
  }
}

// Stores four pixels (flat indices idx + channel offset, where `valid`) of output channel ch.
fn conv_store4(idx: vec4<u32>, valid: vec4<bool>, ch: u32, v: vec4<f32>) {
  if (ch >= cp.dst_c) {
    return;
  }
  let o = ch * cp.dst_h * cp.dst_w;
  if (valid.x) { conv_store(idx.x + o, ch, v.x); }
  if (valid.y) { conv_store(idx.y + o, ch, v.y); }
  if (valid.z) { conv_store(idx.z + o, ch, v.z); }
  if (valid.w) { conv_store(idx.w + o, ch, v.w); }
}

// Four values of cv_src at offsets o + so, times the 0/1 mask m.
fn conv_load4(o: vec4<u32>, so: u32, m: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(cv_src[o.x + so], cv_src[o.y + so], cv_src[o.z + so], cv_src[o.w + so]) * m;
}

// Writes the small tensor: dst[b, co, oy, ox] = Σ_{ci,ky,kx} w[co, ci, ky, kx] ·
// src[b, ci, oy*s-p+ky, ox*s-p+kx] (zero outside src). Pixels are numbered over (b, oy, ox)
// together, 8 consecutive ones per invocation; consecutive invocations take consecutive pixel
// blocks, then the next block of 8 channels.
@compute @workgroup_size(WG_X)
fn conv2d_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let dhw = cp.dst_h * cp.dst_w;
  let npix = cp.batch * dhw;
  let pblocks = (npix + 7u) / 8u;
  let cblock = l / pblocks;
  let p0 = (l % pblocks) * 8u;
  if (cblock * 8u >= cp.dst_c) {
    return;
  }
  let shw = cp.src_h * cp.src_w;
  let taps = cp.kh * cp.kw;
  // Per pixel (clamped to the last): its image, its position, the top-left of its window.
  let plo = min(vec4<u32>(p0) + LANES_LO, vec4<u32>(npix - 1u));
  let phi = min(vec4<u32>(p0) + LANES_HI, vec4<u32>(npix - 1u));
  let rlo = plo % dhw;
  let rhi = phi % dhw;
  let base_lo = (plo / dhw) * cp.src_c * shw;
  let base_hi = (phi / dhw) * cp.src_c * shw;
  let iy_lo = vec4<i32>((rlo / cp.dst_w) * cp.stride) - i32(cp.pad);
  let iy_hi = vec4<i32>((rhi / cp.dst_w) * cp.stride) - i32(cp.pad);
  let ix_lo = vec4<i32>((rlo % cp.dst_w) * cp.stride) - i32(cp.pad);
  let ix_hi = vec4<i32>((rhi % cp.dst_w) * cp.stride) - i32(cp.pad);
  let c0 = cblock * 8u;
  let wrow = cp.src_c * taps;
  let w0 = min(c0 + 0u, cp.dst_c - 1u) * wrow;
  let w1 = min(c0 + 1u, cp.dst_c - 1u) * wrow;
  let w2 = min(c0 + 2u, cp.dst_c - 1u) * wrow;
  let w3 = min(c0 + 3u, cp.dst_c - 1u) * wrow;
  let w4 = min(c0 + 4u, cp.dst_c - 1u) * wrow;
  let w5 = min(c0 + 5u, cp.dst_c - 1u) * wrow;
  let w6 = min(c0 + 6u, cp.dst_c - 1u) * wrow;
  let w7 = min(c0 + 7u, cp.dst_c - 1u) * wrow;
  let hv = vec4<u32>(cp.src_h);
  let wv = vec4<u32>(cp.src_w);
  var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0);
  var a40 = vec4<f32>(0.0); var a41 = vec4<f32>(0.0);
  var a50 = vec4<f32>(0.0); var a51 = vec4<f32>(0.0);
  var a60 = vec4<f32>(0.0); var a61 = vec4<f32>(0.0);
  var a70 = vec4<f32>(0.0); var a71 = vec4<f32>(0.0);
  for (var ky = 0u; ky < cp.kh; ky++) {
    for (var kx = 0u; kx < cp.kw; kx++) {
      let ylo = iy_lo + i32(ky);
      let yhi = iy_hi + i32(ky);
      let xlo = ix_lo + i32(kx);
      let xhi = ix_hi + i32(kx);
      let in_lo = (vec4<u32>(ylo) < hv) & (vec4<u32>(xlo) < wv);
      let in_hi = (vec4<u32>(yhi) < hv) & (vec4<u32>(xhi) < wv);
      let o_lo = select(vec4<u32>(0u), base_lo + vec4<u32>(ylo) * cp.src_w + vec4<u32>(xlo), in_lo);
      let o_hi = select(vec4<u32>(0u), base_hi + vec4<u32>(yhi) * cp.src_w + vec4<u32>(xhi), in_hi);
      let m_lo = select(vec4<f32>(0.0), vec4<f32>(1.0), in_lo);
      let m_hi = select(vec4<f32>(0.0), vec4<f32>(1.0), in_hi);
      let tap = ky * cp.kw + kx;
      for (var ci = 0u; ci < cp.src_c; ci++) {
        let so = ci * shw;
        let wo = ci * taps + tap;
        let xl = conv_load4(o_lo, so, m_lo);
        let xh = conv_load4(o_hi, so, m_hi);
        let k0 = cv_w[w0 + wo];
        let k1 = cv_w[w1 + wo];
        let k2 = cv_w[w2 + wo];
        let k3 = cv_w[w3 + wo];
        let k4 = cv_w[w4 + wo];
        let k5 = cv_w[w5 + wo];
        let k6 = cv_w[w6 + wo];
        let k7 = cv_w[w7 + wo];
        a00 = a00 + k0 * xl; a01 = a01 + k0 * xh;
        a10 = a10 + k1 * xl; a11 = a11 + k1 * xh;
        a20 = a20 + k2 * xl; a21 = a21 + k2 * xh;
        a30 = a30 + k3 * xl; a31 = a31 + k3 * xh;
        a40 = a40 + k4 * xl; a41 = a41 + k4 * xh;
        a50 = a50 + k5 * xl; a51 = a51 + k5 * xh;
        a60 = a60 + k6 * xl; a61 = a61 + k6 * xh;
        a70 = a70 + k7 * xl; a71 = a71 + k7 * xh;
      }
    }
  }
  let oc = cp.dst_c * dhw;
  let qlo = vec4<u32>(p0) + LANES_LO;
  let qhi = vec4<u32>(p0) + LANES_HI;
  let vlo = qlo < vec4<u32>(npix);
  let vhi = qhi < vec4<u32>(npix);
  let olo = (plo / dhw) * oc + rlo;
  let ohi = (phi / dhw) * oc + rhi;
  conv_store4(olo, vlo, c0 + 0u, a00); conv_store4(ohi, vhi, c0 + 0u, a01);
  conv_store4(olo, vlo, c0 + 1u, a10); conv_store4(ohi, vhi, c0 + 1u, a11);
  conv_store4(olo, vlo, c0 + 2u, a20); conv_store4(ohi, vhi, c0 + 2u, a21);
  conv_store4(olo, vlo, c0 + 3u, a30); conv_store4(ohi, vhi, c0 + 3u, a31);
  conv_store4(olo, vlo, c0 + 4u, a40); conv_store4(ohi, vhi, c0 + 4u, a41);
  conv_store4(olo, vlo, c0 + 5u, a50); conv_store4(ohi, vhi, c0 + 5u, a51);
  conv_store4(olo, vlo, c0 + 6u, a60); conv_store4(ohi, vhi, c0 + 6u, a61);
  conv_store4(olo, vlo, c0 + 7u, a70); conv_store4(ohi, vhi, c0 + 7u, a71);
}

// Writes the big tensor: dst[b, co, y, x] = Σ_{ci, ky, kx : y = sy*s-p+ky, x = sx*s-p+kx}
// w[ci, co, ky, kx] · src[b, ci, sy, sx]. An invocation owns 8 pixels of one row y with the same
// phase: x = rx + s*(q0 + i). Their contributing taps are ky ≡ y+p, kx ≡ rx+p (mod s), and the
// small pixels they read are consecutive: sx = (rx+p-kx)/s + q0 + i.
@compute @workgroup_size(WG_X)
fn conv2d_transposed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let s = cp.stride;
  let qn = (cp.dst_w + s - 1u) / s;     // pixels per phase and row (at most)
  let qblocks = (qn + 7u) / 8u;
  let rows = cp.batch * cp.dst_h;
  let per_cblock = rows * s * qblocks;
  let cblock = l / per_cblock;
  if (cblock * 8u >= cp.dst_c) {
    return;
  }
  var t = l % per_cblock;
  let qb = t % qblocks;
  t = t / qblocks;
  let rx = t % s;
  let row = t / s;               // b * dst_h + y
  let b = row / cp.dst_h;
  let y = row % cp.dst_h;
  let q0 = qb * 8u;
  let shw = cp.src_h * cp.src_w;
  let taps = cp.kh * cp.kw;
  let src_b = b * cp.src_c * shw;
  let c0 = cblock * 8u;
  let w0 = min(c0 + 0u, cp.dst_c - 1u) * taps;
  let w1 = min(c0 + 1u, cp.dst_c - 1u) * taps;
  let w2 = min(c0 + 2u, cp.dst_c - 1u) * taps;
  let w3 = min(c0 + 3u, cp.dst_c - 1u) * taps;
  let w4 = min(c0 + 4u, cp.dst_c - 1u) * taps;
  let w5 = min(c0 + 5u, cp.dst_c - 1u) * taps;
  let w6 = min(c0 + 6u, cp.dst_c - 1u) * taps;
  let w7 = min(c0 + 7u, cp.dst_c - 1u) * taps;
  let wci = cp.dst_c * taps;
  let wv = vec4<u32>(cp.src_w);
  var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0);
  var a40 = vec4<f32>(0.0); var a41 = vec4<f32>(0.0);
  var a50 = vec4<f32>(0.0); var a51 = vec4<f32>(0.0);
  var a60 = vec4<f32>(0.0); var a61 = vec4<f32>(0.0);
  var a70 = vec4<f32>(0.0); var a71 = vec4<f32>(0.0);
  for (var ky = (y + cp.pad) % s; ky < cp.kh; ky += s) {
    let sy = (i32(y + cp.pad) - i32(ky)) / i32(s);  // exact: y + p - ky ≡ 0 (mod s)
    if (sy < 0 || sy >= i32(cp.src_h)) {
      continue;
    }
    let rowb = src_b + u32(sy) * cp.src_w;
    for (var kx = (rx + cp.pad) % s; kx < cp.kw; kx += s) {
      let sx0 = (i32(rx + cp.pad) - i32(kx)) / i32(s) + i32(q0);
      let xlo = vec4<i32>(sx0) + vec4<i32>(LANES_LO);
      let xhi = vec4<i32>(sx0) + vec4<i32>(LANES_HI);
      let in_lo = vec4<u32>(xlo) < wv;
      let in_hi = vec4<u32>(xhi) < wv;
      let o_lo = select(vec4<u32>(0u), rowb + vec4<u32>(xlo), in_lo);
      let o_hi = select(vec4<u32>(0u), rowb + vec4<u32>(xhi), in_hi);
      let m_lo = select(vec4<f32>(0.0), vec4<f32>(1.0), in_lo);
      let m_hi = select(vec4<f32>(0.0), vec4<f32>(1.0), in_hi);
      let tap = ky * cp.kw + kx;
      for (var ci = 0u; ci < cp.src_c; ci++) {
        let so = ci * shw;
        let wo = ci * wci + tap;
        let xl = conv_load4(o_lo, so, m_lo);
        let xh = conv_load4(o_hi, so, m_hi);
        let k0 = cv_w[w0 + wo];
        let k1 = cv_w[w1 + wo];
        let k2 = cv_w[w2 + wo];
        let k3 = cv_w[w3 + wo];
        let k4 = cv_w[w4 + wo];
        let k5 = cv_w[w5 + wo];
        let k6 = cv_w[w6 + wo];
        let k7 = cv_w[w7 + wo];
        a00 = a00 + k0 * xl; a01 = a01 + k0 * xh;
        a10 = a10 + k1 * xl; a11 = a11 + k1 * xh;
        a20 = a20 + k2 * xl; a21 = a21 + k2 * xh;
        a30 = a30 + k3 * xl; a31 = a31 + k3 * xh;
        a40 = a40 + k4 * xl; a41 = a41 + k4 * xh;
        a50 = a50 + k5 * xl; a51 = a51 + k5 * xh;
        a60 = a60 + k6 * xl; a61 = a61 + k6 * xh;
        a70 = a70 + k7 * xl; a71 = a71 + k7 * xh;
      }
    }
  }
  let dhw = cp.dst_h * cp.dst_w;
  let orow = b * cp.dst_c * dhw + y * cp.dst_w;
  let xlo = rx + s * (vec4<u32>(q0) + LANES_LO);
  let xhi = rx + s * (vec4<u32>(q0) + LANES_HI);
  let vlo = xlo < vec4<u32>(cp.dst_w);
  let vhi = xhi < vec4<u32>(cp.dst_w);
  let olo = orow + xlo;
  let ohi = orow + xhi;
  conv_store4(olo, vlo, c0 + 0u, a00); conv_store4(ohi, vhi, c0 + 0u, a01);
  conv_store4(olo, vlo, c0 + 1u, a10); conv_store4(ohi, vhi, c0 + 1u, a11);
  conv_store4(olo, vlo, c0 + 2u, a20); conv_store4(ohi, vhi, c0 + 2u, a21);
  conv_store4(olo, vlo, c0 + 3u, a30); conv_store4(ohi, vhi, c0 + 3u, a31);
  conv_store4(olo, vlo, c0 + 4u, a40); conv_store4(ohi, vhi, c0 + 4u, a41);
  conv_store4(olo, vlo, c0 + 5u, a50); conv_store4(ohi, vhi, c0 + 5u, a51);
  conv_store4(olo, vlo, c0 + 6u, a60); conv_store4(ohi, vhi, c0 + 6u, a61);
  conv_store4(olo, vlo, c0 + 7u, a70); conv_store4(ohi, vhi, c0 + 7u, a71);
}

struct WeightParams {
  batch: u32,
  big_c: u32,
  big_h: u32,
  big_w: u32,
  small_c: u32,
  small_h: u32,
  small_w: u32,
  kh: u32,
  kw: u32,
  stride: u32,
  pad: u32,
  split_rows: u32,  // rows (b, y) of the small tensor summed per split
}

@group(0) @binding(0) var<storage, read_write> cw_out: array<f32>;  // cw_out: (splits, small_c, big_c, kh, kw)
@group(0) @binding(1) var<storage, read> cw_big: array<f32>;        // cw_big: (B, big_c, big_h, big_w)
@group(0) @binding(2) var<storage, read> cw_small: array<f32>;      // cw_small: (B, small_c, small_h, small_w)
@group(0) @binding(3) var<uniform> wp: WeightParams;

fn cw_load4(o: vec4<u32>, m: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(cw_big[o.x], cw_big[o.y], cw_big[o.z], cw_big[o.w]) * m;
}

// Stores four taps n0..n0+3 (where < ntap) of small channel cs at flat offset `o`.
fn cw_store4(o: u32, cs: u32, n0: u32, ntap: u32, v: vec4<f32>) {
  if (cs >= wp.small_c) {
    return;
  }
  let base = o + cs * ntap + n0;
  for (var i = 0u; i < 4u; i++) {
    if (n0 + i < ntap) {
      if (ACCUMULATE) {
        cw_out[base + i] = cw_out[base + i] + v[i];
      } else {
        cw_out[base + i] = v[i];
      }
    }
  }
}

// dW[cs, cb, ky, kx] = Σ small[b, cs, y, x] · big[b, cb, y*s-p+ky, x*s-p+kx] over the rows (b, y)
// of one split (all of them when there is one split) and all x. An invocation owns 8 small
// channels × 8 flattened (cb, ky, kx) taps. With several splits each writes its partial sums to
// its own slice of cw_out (ACCUMULATE off), summed afterwards by a reduction.
@compute @workgroup_size(WG_X)
fn conv2d_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let l = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let taps = wp.kh * wp.kw;
  let ntap = wp.big_c * taps;
  let tblocks = (ntap + 7u) / 8u;
  let cblocks = (wp.small_c + 7u) / 8u;
  let per_split = tblocks * cblocks;
  let split = l / per_split;
  let rows = wp.batch * wp.small_h;
  let r0 = split * wp.split_rows;
  if (r0 >= rows) {
    return;
  }
  let r1 = min(r0 + wp.split_rows, rows);
  let t = l % per_split;
  let n0 = (t % tblocks) * 8u;
  let c0 = (t / tblocks) * 8u;
  let bhw = wp.big_h * wp.big_w;
  let shw = wp.small_h * wp.small_w;
  // Per tap (clamped to the last): its channel's offset in an image and its (ky - p, kx - p).
  let nlo = min(vec4<u32>(n0) + LANES_LO, vec4<u32>(ntap - 1u));
  let nhi = min(vec4<u32>(n0) + LANES_HI, vec4<u32>(ntap - 1u));
  let toff_lo = (nlo / taps) * bhw;
  let toff_hi = (nhi / taps) * bhw;
  let dy_lo = vec4<i32>((nlo % taps) / wp.kw) - i32(wp.pad);
  let dy_hi = vec4<i32>((nhi % taps) / wp.kw) - i32(wp.pad);
  let dx_lo = vec4<i32>((nlo % taps) % wp.kw) - i32(wp.pad);
  let dx_hi = vec4<i32>((nhi % taps) % wp.kw) - i32(wp.pad);
  let s0 = min(c0 + 0u, wp.small_c - 1u) * shw;
  let s1 = min(c0 + 1u, wp.small_c - 1u) * shw;
  let s2 = min(c0 + 2u, wp.small_c - 1u) * shw;
  let s3 = min(c0 + 3u, wp.small_c - 1u) * shw;
  let s4 = min(c0 + 4u, wp.small_c - 1u) * shw;
  let s5 = min(c0 + 5u, wp.small_c - 1u) * shw;
  let s6 = min(c0 + 6u, wp.small_c - 1u) * shw;
  let s7 = min(c0 + 7u, wp.small_c - 1u) * shw;
  let hv = vec4<u32>(wp.big_h);
  let wv = vec4<u32>(wp.big_w);
  var a00 = vec4<f32>(0.0); var a01 = vec4<f32>(0.0);
  var a10 = vec4<f32>(0.0); var a11 = vec4<f32>(0.0);
  var a20 = vec4<f32>(0.0); var a21 = vec4<f32>(0.0);
  var a30 = vec4<f32>(0.0); var a31 = vec4<f32>(0.0);
  var a40 = vec4<f32>(0.0); var a41 = vec4<f32>(0.0);
  var a50 = vec4<f32>(0.0); var a51 = vec4<f32>(0.0);
  var a60 = vec4<f32>(0.0); var a61 = vec4<f32>(0.0);
  var a70 = vec4<f32>(0.0); var a71 = vec4<f32>(0.0);
  for (var r = r0; r < r1; r++) {
    let b = r / wp.small_h;
    let y = r % wp.small_h;
    let big_b = b * wp.big_c * bhw;
    let srow = b * wp.small_c * shw + y * wp.small_w;
    let by = i32(y * wp.stride);
    let iy_lo = vec4<i32>(by) + dy_lo;
    let iy_hi = vec4<i32>(by) + dy_hi;
    let rok_lo = vec4<u32>(iy_lo) < hv;
    let rok_hi = vec4<u32>(iy_hi) < hv;
    let rb_lo = big_b + toff_lo + select(vec4<u32>(0u), vec4<u32>(iy_lo), rok_lo) * wp.big_w;
    let rb_hi = big_b + toff_hi + select(vec4<u32>(0u), vec4<u32>(iy_hi), rok_hi) * wp.big_w;
    for (var x = 0u; x < wp.small_w; x++) {
      let bx = i32(x * wp.stride);
      let ix_lo = vec4<i32>(bx) + dx_lo;
      let ix_hi = vec4<i32>(bx) + dx_hi;
      let in_lo = rok_lo & (vec4<u32>(ix_lo) < wv);
      let in_hi = rok_hi & (vec4<u32>(ix_hi) < wv);
      let vl = cw_load4(select(vec4<u32>(0u), rb_lo + vec4<u32>(ix_lo), in_lo),
                        select(vec4<f32>(0.0), vec4<f32>(1.0), in_lo));
      let vh = cw_load4(select(vec4<u32>(0u), rb_hi + vec4<u32>(ix_hi), in_hi),
                        select(vec4<f32>(0.0), vec4<f32>(1.0), in_hi));
      let so = srow + x;
      let k0 = cw_small[s0 + so];
      let k1 = cw_small[s1 + so];
      let k2 = cw_small[s2 + so];
      let k3 = cw_small[s3 + so];
      let k4 = cw_small[s4 + so];
      let k5 = cw_small[s5 + so];
      let k6 = cw_small[s6 + so];
      let k7 = cw_small[s7 + so];
      a00 = a00 + k0 * vl; a01 = a01 + k0 * vh;
      a10 = a10 + k1 * vl; a11 = a11 + k1 * vh;
      a20 = a20 + k2 * vl; a21 = a21 + k2 * vh;
      a30 = a30 + k3 * vl; a31 = a31 + k3 * vh;
      a40 = a40 + k4 * vl; a41 = a41 + k4 * vh;
      a50 = a50 + k5 * vl; a51 = a51 + k5 * vh;
      a60 = a60 + k6 * vl; a61 = a61 + k6 * vh;
      a70 = a70 + k7 * vl; a71 = a71 + k7 * vh;
    }
  }
  let o = split * wp.small_c * ntap;
  cw_store4(o, c0 + 0u, n0, ntap, a00); cw_store4(o, c0 + 0u, n0 + 4u, ntap, a01);
  cw_store4(o, c0 + 1u, n0, ntap, a10); cw_store4(o, c0 + 1u, n0 + 4u, ntap, a11);
  cw_store4(o, c0 + 2u, n0, ntap, a20); cw_store4(o, c0 + 2u, n0 + 4u, ntap, a21);
  cw_store4(o, c0 + 3u, n0, ntap, a30); cw_store4(o, c0 + 3u, n0 + 4u, ntap, a31);
  cw_store4(o, c0 + 4u, n0, ntap, a40); cw_store4(o, c0 + 4u, n0 + 4u, ntap, a41);
  cw_store4(o, c0 + 5u, n0, ntap, a50); cw_store4(o, c0 + 5u, n0 + 4u, ntap, a51);
  cw_store4(o, c0 + 6u, n0, ntap, a60); cw_store4(o, c0 + 6u, n0 + 4u, ntap, a61);
  cw_store4(o, c0 + 7u, n0, ntap, a70); cw_store4(o, c0 + 7u, n0 + 4u, ntap, a71);
}
