// Inference helpers on the GPU: latent code generation (interpolation, traversal grids, the 2-D
// manifold) and the decoder's output transform. Codes are made where they are decoded, so a
// traversal redrawn every frame only uploads a base code (Z floats) and a few uniforms.
//
// latent_codes: one invocation per row r < R writes codes_out[r, 0..Z) from the anchors
// (2, Z): row 0 is a (or the base code), row 1 is b. LATENT_MODE (override):
//   0 lerp:     t = r / (R - 1) (0 when R = 1), z = (1 - t) a + t b
//   1 slerp:    omega = the angle between a and b (atan2(sqrt(|a|^2 |b|^2 - (a.b)^2), a.b)),
//               z = sin((1 - t) omega) / sin(omega) a + sin(t omega) / sin(omega) b,
//               falling back to lerp when sin(omega) < 1e-6 (parallel, antiparallel or zero codes)
//   2 traverse: a grid of R / cols rows by cols columns; row i traverses dimension dim_a + i,
//               column j takes v = lo + (hi - lo) j / (cols - 1) (lo when cols = 1):
//               z = a, z[dim_a + i] = a[dim_a + i] + v (relative = 1) or v (relative = 0).
//               Rows whose dimension is >= Z are copies of a.
//   3 manifold: the 2-D manifold of Kingma & Welling: column j gives p_x, row i gives
//               p_y = the same spacing from the top (hi) down, p = lo + (hi - lo) k / (n - 1);
//               z = a, z[dim_a] = Phi^-1(p_x), z[dim_b] = Phi^-1(p_y) (inverse normal CDF).
//
//               The angle and the sines are computed with polynomials (precise_atan2 here and
//               prng_cos_sin_turns of prng.wgsl), not the built-ins, whose error WGSL allows to be
//               ~1e-3 (SwiftShader's is ~1e-4).
//
// decode_output_sigma: a learned-sigma decoder's output as an image, mean + alpha * exp(clamp(
//   log_sigma, -6, 6)). (A Bernoulli decoder's sigmoid runs in its last layer's epilogue, a
//   fixed-sigma decoder's output is its image: neither needs a pass of its own.)

//!include prng.wgsl

override WG_X: u32 = 64;
override LATENT_MODE: u32 = 0u;
override LOGSIGMA_MIN: f32 = -6.0;
override LOGSIGMA_MAX: f32 = 6.0;

// ---- latent_codes ----

struct LatentCodesParams {
  R: u32,         // rows to write
  Z: u32,         // latent size
  cols: u32,      // grid columns (traverse, manifold)
  dim_a: u32,     // traverse: first dimension; manifold: x dimension
  dim_b: u32,     // manifold: y dimension
  relative: u32,  // traverse: 1 adds v to the base value, 0 replaces it
  lo: f32,        // traverse: first value; manifold: first probability
  hi: f32,        // traverse: last value; manifold: last probability
}

@group(0) @binding(0) var<storage, read_write> codes_out: array<f32>;  // codes_out: (R, Z)
@group(0) @binding(1) var<storage, read> anchors: array<f32>;          // anchors: (2, Z)
@group(0) @binding(2) var<uniform> lc: LatentCodesParams;

// Inverse standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9 in exact
// arithmetic; a few 1e-7 in f32). p is clamped to [1e-7, 1 - 1e-7].
fn inv_normal_cdf(p_in: f32) -> f32 {
  let p = clamp(p_in, 1e-7, 1.0 - 1e-7);
  let p_low = 0.02425;
  if (p < p_low || p > 1.0 - p_low) {
    let q = sqrt(-2.0 * log(select(1.0 - p, p, p < p_low)));
    let num = ((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838) * q
      - 2.549732539343734) * q + 4.374664141464968) * q + 2.938163982698783;
    let den = (((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996) * q
      + 3.754408661907416) * q + 1.0;
    return select(-num / den, num / den, p < p_low);
  }
  let q = p - 0.5;
  let r = q * q;
  let num = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
    + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239) * q;
  let den = ((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
    + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0;
  return num / den;
}

// atan2(y, x) for y >= 0, in [0, pi]: reduced to |u| <= tan(pi / 12) and a Taylor series (error
// < 1e-10 before rounding).
fn precise_atan2(y: f32, x: f32) -> f32 {
  let ax = abs(x);
  if (ax == 0.0 && y == 0.0) {
    return 0.0;
  }
  var a = min(ax, y) / max(ax, y);
  var base = 0.0;
  if (a > 0.2679491924311227) {
    a = (a - 0.5773502691896258) / (1.0 + 0.5773502691896258 * a);
    base = 0.5235987755982988;
  }
  let u2 = a * a;
  let series = a * (1.0 - u2 * (0.3333333333333333 - u2 * (0.2 - u2 * (0.14285714285714285
    - u2 * (0.1111111111111111 - u2 * (0.09090909090909091 - u2 * (0.07692307692307693
    - u2 * 0.06666666666666667)))))));
  var r = base + series;
  if (y > ax) {
    r = 1.5707963267948966 - r;
  }
  if (x < 0.0) {
    r = 3.141592653589793 - r;
  }
  return r;
}

// sin(angle) for angle in [0, pi], through the PRNG's polynomial cos/sin of turns.
fn precise_sin(angle: f32) -> f32 {
  return prng_cos_sin_turns(angle * 0.15915494309189535).y;
}

fn spacing(k: u32, count: u32) -> f32 {
  if (count <= 1u) {
    return lc.lo;
  }
  return lc.lo + (lc.hi - lc.lo) * f32(k) / f32(count - 1u);
}

@compute @workgroup_size(WG_X)
fn latent_codes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (r >= lc.R) {
    return;
  }
  let zs = lc.Z;
  let o = r * zs;
  var t = 0.0;
  if (lc.R > 1u) {
    t = f32(r) / f32(lc.R - 1u);
  }
  if (LATENT_MODE == 0u) {
    for (var j = 0u; j < zs; j++) {
      codes_out[o + j] = (1.0 - t) * anchors[j] + t * anchors[zs + j];
    }
    return;
  }
  if (LATENT_MODE == 1u) {
    var ab = 0.0;
    var aa = 0.0;
    var bb = 0.0;
    for (var j = 0u; j < zs; j++) {
      let va = anchors[j];
      let vb = anchors[zs + j];
      ab += va * vb;
      aa += va * va;
      bb += vb * vb;
    }
    let denom = sqrt(aa) * sqrt(bb);
    var wa = 1.0 - t;
    var wb = t;
    if (denom > 0.0) {
      let perp = sqrt(max(aa * bb - ab * ab, 0.0));
      let omega = precise_atan2(perp, ab);
      let so = precise_sin(omega);
      if (so >= 1e-6) {
        wa = precise_sin((1.0 - t) * omega) / so;
        wb = precise_sin(t * omega) / so;
      }
    }
    for (var j = 0u; j < zs; j++) {
      codes_out[o + j] = wa * anchors[j] + wb * anchors[zs + j];
    }
    return;
  }
  for (var j = 0u; j < zs; j++) {
    codes_out[o + j] = anchors[j];
  }
  let cols = max(lc.cols, 1u);
  let row = r / cols;
  let col = r - row * cols;
  if (LATENT_MODE == 2u) {
    let d = lc.dim_a + row;
    if (d < zs) {
      let v = spacing(col, cols);
      codes_out[o + d] = select(v, anchors[d] + v, lc.relative != 0u);
    }
    return;
  }
  let rows = (lc.R + cols - 1u) / cols;
  if (lc.dim_a < zs) {
    codes_out[o + lc.dim_a] = inv_normal_cdf(spacing(col, cols));
  }
  if (lc.dim_b < zs) {
    codes_out[o + lc.dim_b] = inv_normal_cdf(spacing(rows - 1u - row, rows));
  }
}

// ---- decode_output_sigma ----

struct DecodeSigmaParams {
  n: u32,
  alpha: f32,
}

@group(0) @binding(0) var<storage, read_write> image_sigma_out: array<f32>;  // image_sigma_out: (n)
@group(0) @binding(1) var<storage, read> sig_mean: array<f32>;               // sig_mean: (n)
@group(0) @binding(2) var<storage, read> sig_log_sigma: array<f32>;          // sig_log_sigma: (n)
@group(0) @binding(3) var<uniform> dsig: DecodeSigmaParams;

@compute @workgroup_size(WG_X)
fn decode_output_sigma(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= dsig.n) {
    return;
  }
  let c = clamp(sig_log_sigma[i], LOGSIGMA_MIN, LOGSIGMA_MAX);
  image_sigma_out[i] = sig_mean[i] + dsig.alpha * exp(c);
}
