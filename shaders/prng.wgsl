// Counter-based PRNG shared by the kernels that sample: Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011), pulled in with `//!include prng.wgsl`.
// No bindings and no entry points here, only functions and constants.
//
// Philox is a keyed bijection of a 128-bit counter: every (counter, key) gives 4 independent u32
// words, so any invocation can draw its own numbers without state and the same inputs always give
// the same numbers, on every device. WGSL has no 64-bit integers, so the 32x32 -> 64-bit product
// is built from 16-bit halves (mulhilo32). Checked against the Random123 known-answer vectors and a
// BigInt reference in test/prng.test.ts; src/kernels/reparam.ts has the same generator on the CPU.
//
// Stream layout used by this project (philox_normal4):
//   key     = (seed, PRNG_KEY_HI)
//   counter = (index, sample, step, stream)
// `index` is the element index divided by 4 (one call gives 4 normals, for elements 4i..4i+3),
// `sample` the sample number (IWAE's k), `step` the training step, `stream` the noise stream of the
// op that samples (0 by default; every stochastic op of a graph gets its own) so that two ops
// sampling with the same seed and step do not reuse numbers.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;  // golden ratio
const PHILOX_W1: u32 = 0xBB67AE85u;  // sqrt(3) - 1
// Second key word: a fixed constant ("VAE!") so that a seed of 0 still has a non-trivial key.
const PRNG_KEY_HI: u32 = 0x56414521u;

// Full 64-bit product of two u32 as (hi, lo), from 16-bit halves (no partial sum overflows).
fn mulhilo32(a: u32, b: u32) -> vec2<u32> {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  // Bits 16..47 of the product: at most 3 * 0xffff, fits in a u32.
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);  // u32 multiplication wraps: the low word
}

fn philox4x32_round(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  let p0 = mulhilo32(PHILOX_M0, ctr.x);
  let p1 = mulhilo32(PHILOX_M1, ctr.z);
  return vec4<u32>(p1.x ^ ctr.y ^ key.x, p1.y, p0.x ^ ctr.w ^ key.y, p0.y);
}

// Philox4x32-10: ten rounds, the key bumped by the Weyl constants between rounds.
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    c = philox4x32_round(c, k);
  }
  return c;
}

// A u32 to a float uniform in (0, 1]: (top 24 bits + 1) / 2^24. Exact in f32, never 0, so the
// logarithm in Box-Muller is always finite (at most sqrt(-2 log 2^-24) = 5.77 in magnitude).
fn prng_u01(w: u32) -> f32 {
  return f32((w >> 8u) + 1u) * 5.9604644775390625e-8;
}

// -log(prng_u01(w)), accurate to a few ulp everywhere (also near u = 1, where log(u) loses its
// relative accuracy, and on devices whose built-in log is coarse: WGSL allows 2^-21 absolute error,
// SwiftShader's is ~1e-4 relative). With k = (w >> 8) + 1 = 2^e * f, f in [sqrt(1/2), sqrt(2)):
// -log(k / 2^24) = (24 - e) ln 2 - log f, log f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.172.
fn prng_neg_log_u01(w: u32) -> f32 {
  let k = (w >> 8u) + 1u;  // 1 .. 2^24
  var e = i32(firstLeadingBit(k));
  var f = ldexp(f32(k), -e);  // exact, in [1, 2)
  if (f > 1.4142135623730951) {
    f = 0.5 * f;
    e = e + 1;
  }
  let s = (f - 1.0) / (f + 1.0);
  let s2 = s * s;
  let log_f = 2.0 * s * (1.0 + s2 * (0.3333333333 + s2 * (0.2 + s2 * (0.1428571429 + s2 * 0.1111111111))));
  return f32(24 - e) * 0.6931471805599453 - log_f;
}

// (cos, sin) of 2 pi t for t in [0, 1], by quadrant reduction (exact: 4 t - round(4 t)) and Taylor
// polynomials on [-pi/4, pi/4] (error < 2e-9), so the normals do not depend on the device's sin/cos
// (WGSL allows 2^-11 absolute error there).
fn prng_cos_sin_turns(t: f32) -> vec2<f32> {
  let x = 4.0 * t;
  let q = round(x);
  let a = (x - q) * 1.5707963267948966;
  let a2 = a * a;
  let s = a * (1.0 - a2 * (0.16666666666666666 - a2 * (0.008333333333333333 - a2 * (1.984126984126984e-4 - a2 * 2.7557319223985893e-6))));
  let c = 1.0 - a2 * (0.5 - a2 * (0.041666666666666664 - a2 * (0.001388888888888889 - a2 * (2.48015873015873e-5 - a2 * 2.755731922398589e-7))));
  switch (u32(q) & 3u) {
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    case 3u: { return vec2<f32>(s, -c); }
    default: { return vec2<f32>(c, s); }
  }
}

// Two standard normals from two words (Box-Muller): radius sqrt(-2 log u0), angle 2 pi u1.
fn prng_box_muller(w0: u32, w1: u32) -> vec2<f32> {
  let r = sqrt(2.0 * prng_neg_log_u01(w0));
  return r * prng_cos_sin_turns(prng_u01(w1));
}

// Four standard normals from one Philox call (words 0,1 and 2,3 each make a Box-Muller pair).
fn prng_normal4_words(w: vec4<u32>) -> vec4<f32> {
  let a = prng_box_muller(w.x, w.y);
  let b = prng_box_muller(w.z, w.w);
  return vec4<f32>(a.x, a.y, b.x, b.y);
}

// The project's stream layout (see the top of the file): normals for elements 4*index .. 4*index+3.
fn philox_normal4(seed: u32, step: u32, index: u32, sample: u32, stream: u32) -> vec4<f32> {
  let w = philox4x32_10(vec4<u32>(index, sample, step, stream), vec2<u32>(seed, PRNG_KEY_HI));
  return prng_normal4_words(w);
}
