// Shared activation functions, pulled into other shaders with `//!include activation_fns.wgsl`.
// Codes (also in src/kernels/activation-codes.ts):
//   0 identity, 1 relu, 2 leaky_relu(alpha), 3 elu(alpha), 4 tanh, 5 sigmoid, 6 softplus, 7 gelu (erf form, as PyTorch's default)
// Everything is written to stay finite for any finite input: exponentials are clamped.

const ACT_IDENTITY: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_ELU: u32 = 3u;
const ACT_TANH: u32 = 4u;
const ACT_SIGMOID: u32 = 5u;
const ACT_SOFTPLUS: u32 = 6u;
const ACT_GELU: u32 = 7u;

// exp() of an argument clamped to where f32 stays finite.
fn exp_clamped(x: f32) -> f32 {
  return exp(clamp(x, -87.0, 88.0));
}

fn sigmoid_stable(x: f32) -> f32 {
  // Never exponentiates a positive number, so no overflow for large |x|.
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(e * s, s, x >= 0.0);
}

// log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).
fn softplus_stable(x: f32) -> f32 {
  let e = exp(-abs(x));
  // log1p(e) for small e: e - e^2/2 keeps precision where log(1 + e) rounds to 0.
  let l = select(log(1.0 + e), e * (1.0 - 0.5 * e), e < 1e-4);
  return max(x, 0.0) + l;
}

fn tanh_stable(x: f32) -> f32 {
  // tanh(x) = sign(x) * (1 - e) / (1 + e), e = exp(-2|x|): finite for all x.
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// erf(x), Abramowitz & Stegun 7.1.26 refined: |error| < 1.5e-7.
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let y = 1.0 - poly * exp(-a * a);
  return sign(x) * y;
}

fn activation_forward(x: f32, act: u32, alpha: f32) -> f32 {
  switch act {
    case 1u: { return max(x, 0.0); }
    case 2u: { return select(alpha * x, x, x > 0.0); }
    case 3u: { return select(alpha * (exp_clamped(x) - 1.0), x, x > 0.0); }
    case 4u: { return tanh_stable(x); }
    case 5u: { return sigmoid_stable(x); }
    case 6u: { return softplus_stable(x); }
    case 7u: { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
    default: { return x; }
  }
}

// d activation / dx at the pre-activation x.
fn activation_derivative(x: f32, act: u32, alpha: f32) -> f32 {
  switch act {
    case 1u: { return select(0.0, 1.0, x > 0.0); }
    case 2u: { return select(alpha, 1.0, x > 0.0); }
    case 3u: { return select(alpha * exp_clamped(x), 1.0, x > 0.0); }
    case 4u: { let t = tanh_stable(x); return 1.0 - t * t; }
    case 5u: { let s = sigmoid_stable(x); return s * (1.0 - s); }
    case 6u: { return sigmoid_stable(x); }
    case 7u: {
      let cdf = 0.5 * (1.0 + erf_approx(x * 0.70710678118654752));
      let pdf = 0.3989422804014327 * exp(-0.5 * x * x);
      return cdf + x * pdf;
    }
    default: { return 1.0; }
  }
}
