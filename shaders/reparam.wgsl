// Reparameterized sampling of the encoder's diagonal Gaussian q = N(mu, diag(exp(logvar))), with
// K samples per example (K = 1 for a plain VAE, K > 1 for IWAE):
//   reparam_forward:  z[b,s,j] = mu[b,j] + exp(0.5 * lv[b,j]) * eps[b,s,j],  eps ~ N(0, 1)
//                     eps is written out too, for the backward.
//   reparam_backward: dmu[b,j]     = sum_s dz[b,s,j]
//                     dlogvar[b,j] = sum_s 0.5 * dz[b,s,j] * eps[b,s,j] * exp(0.5 * lv[b,j])
// plus two utility/test entry points:
//   random_normal:    out[e] = the same standard normal stream (fills, sampling from the prior)
//   prng_philox_raw:  raw Philox4x32-10 words for given counters and keys (known-answer tests)
//   prng_transform:   words -> the (0,1] uniforms and the Box-Muller normals (edge-case tests)
//
// Noise: eps[b,s,j] = philox_normal4(seed, step, e / 4, s, stream)[e % 4] with e = b * Z + j (see
// prng.wgsl), so sample 0 of a K-sample draw equals the K = 1 draw, and random_normal(n = B*Z,
// sample = s, stream) equals eps[:, s, :]. `stream` (counter word 3) is the op's own noise stream:
// two stochastic ops with the same seed and step draw independent noise when their streams differ
// (0, PRNG_STREAM_REPARAM in src/kernels/reparam.ts, by default). Each invocation computes one Philox call and writes the
// 4 elements it gives.
//
// logvar clamp: exp() is evaluated at clamp(lv, LOGVAR_MIN, LOGVAR_MAX) (default [-30, 20], the
// range diffusers' DiagonalGaussianDistribution uses), so z stays finite for any finite logvar.
// The backward uses the same clamped exp but is straight-through: it does not zero the gradient
// outside the range (the KL kernels follow the same rule), so a logvar that left the range is
// still pulled back instead of being stuck. Inside the range it is the exact gradient.
//
// Gradient rule: reparam_backward writes dmu/dlogvar, which the KL backward also contributes to.
// Run one of them with ACCUMULATE = false and the other with ACCUMULATE = true (either order).

//!include prng.wgsl

override WG_X: u32 = 256;
override ACCUMULATE: bool = false;
override LOGVAR_MIN: f32 = -30.0;
override LOGVAR_MAX: f32 = 20.0;
// GIVEN_NOISE: reparam_forward reads eps instead of drawing it (golden tests against a PyTorch
// twin, and callers that bring their own noise).
override GIVEN_NOISE: bool = false;

fn std_of(lv: f32) -> f32 {
  return exp(0.5 * clamp(lv, LOGVAR_MIN, LOGVAR_MAX));
}

// ---- reparam_forward ----

struct ReparamForwardParams {
  B: u32,     // batch size
  Z: u32,     // latent size
  K: u32,     // samples per example
  seed: u32,    // PRNG key
  step: u32,    // training step (part of the counter): new noise every step
  stream: u32,  // noise stream of this op (counter word 3)
}

@group(0) @binding(0) var<storage, read_write> z: array<f32>;      // z: (B, K, Z)
@group(0) @binding(1) var<storage, read_write> eps: array<f32>;    // eps: (B, K, Z)
@group(0) @binding(2) var<storage, read> mu: array<f32>;           // mu: (B, Z)
@group(0) @binding(3) var<storage, read> logvar: array<f32>;       // logvar: (B, Z)
@group(0) @binding(4) var<uniform> fwd: ReparamForwardParams;

@compute @workgroup_size(WG_X)
fn reparam_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let n = fwd.B * fwd.Z;
  let quads = (n + 3u) / 4u;
  if (t >= quads * fwd.K) {
    return;
  }
  let s = t / quads;
  let q = t - s * quads;
  var normals = vec4<f32>(0.0);
  if (!GIVEN_NOISE) {
    normals = philox_normal4(fwd.seed, fwd.step, q, s, fwd.stream);
  }
  for (var c = 0u; c < 4u; c++) {
    let e = 4u * q + c;
    if (e < n) {
      let b = e / fwd.Z;
      let j = e - b * fwd.Z;
      let o = (b * fwd.K + s) * fwd.Z + j;
      var noise = normals[c];
      if (GIVEN_NOISE) {
        noise = eps[o];
      } else {
        eps[o] = noise;
      }
      z[o] = mu[e] + std_of(logvar[e]) * noise;
    }
  }
}

// ---- reparam_backward ----

struct ReparamBackwardParams {
  B: u32,  // batch size
  Z: u32,  // latent size
  K: u32,  // samples per example
}

@group(0) @binding(0) var<storage, read_write> dmu: array<f32>;      // dmu: (B, Z)
@group(0) @binding(1) var<storage, read_write> dlogvar: array<f32>;  // dlogvar: (B, Z)
@group(0) @binding(2) var<storage, read> dz: array<f32>;             // dz: (B, K, Z)
@group(0) @binding(3) var<storage, read> eps_in: array<f32>;         // eps_in: (B, K, Z)
@group(0) @binding(4) var<storage, read> logvar_in: array<f32>;      // logvar_in: (B, Z)
@group(0) @binding(5) var<uniform> bwd: ReparamBackwardParams;

@compute @workgroup_size(WG_X)
fn reparam_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let e = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (e >= bwd.B * bwd.Z) {
    return;
  }
  let b = e / bwd.Z;
  let j = e - b * bwd.Z;
  var gmu = 0.0;
  var geps = 0.0;
  for (var s = 0u; s < bwd.K; s++) {
    let o = (b * bwd.K + s) * bwd.Z + j;
    let g = dz[o];
    gmu += g;
    geps += g * eps_in[o];
  }
  let glv = 0.5 * geps * std_of(logvar_in[e]);
  if (ACCUMULATE) {
    dmu[e] = dmu[e] + gmu;
    dlogvar[e] = dlogvar[e] + glv;
  } else {
    dmu[e] = gmu;
    dlogvar[e] = glv;
  }
}

// ---- random_normal ----

struct RandomNormalParams {
  n: u32,       // number of values
  seed: u32,
  step: u32,
  sample: u32,
  stream: u32,  // noise stream (reparam_forward's stream reproduces its eps)
  mean: f32,
  stddev: f32,
}

@group(0) @binding(0) var<storage, read_write> normals_out: array<f32>;  // normals_out: (n)
@group(0) @binding(1) var<uniform> rn: RandomNormalParams;

@compute @workgroup_size(WG_X)
fn random_normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (q >= (rn.n + 3u) / 4u) {
    return;
  }
  let v = philox_normal4(rn.seed, rn.step, q, rn.sample, rn.stream);
  for (var c = 0u; c < 4u; c++) {
    let e = 4u * q + c;
    if (e < rn.n) {
      normals_out[e] = rn.mean + rn.stddev * v[c];
    }
  }
}

// ---- prng_philox_raw (tests) ----

struct PhiloxRawParams {
  n: u32,  // number of (counter, key) pairs
}

@group(0) @binding(0) var<storage, read_write> words: array<u32>;    // words: (n, 4)
@group(0) @binding(1) var<storage, read> counters: array<u32>;       // counters: (n, 4)
@group(0) @binding(2) var<storage, read> keys: array<u32>;           // keys: (n, 2)
@group(0) @binding(3) var<uniform> raw: PhiloxRawParams;

@compute @workgroup_size(WG_X)
fn prng_philox_raw(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= raw.n) {
    return;
  }
  let ctr = vec4<u32>(counters[4u * i], counters[4u * i + 1u], counters[4u * i + 2u], counters[4u * i + 3u]);
  let key = vec2<u32>(keys[2u * i], keys[2u * i + 1u]);
  let w = philox4x32_10(ctr, key);
  words[4u * i] = w.x;
  words[4u * i + 1u] = w.y;
  words[4u * i + 2u] = w.z;
  words[4u * i + 3u] = w.w;
}

// ---- prng_transform (tests) ----

struct PrngTransformParams {
  n: u32,  // number of word quadruples
}

@group(0) @binding(0) var<storage, read_write> uniforms_out: array<f32>;  // uniforms_out: (n, 4)
@group(0) @binding(1) var<storage, read_write> gauss_out: array<f32>;     // gauss_out: (n, 4)
@group(0) @binding(2) var<storage, read> words_in: array<u32>;            // words_in: (n, 4)
@group(0) @binding(3) var<uniform> tr: PrngTransformParams;

@compute @workgroup_size(WG_X)
fn prng_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= tr.n) {
    return;
  }
  let w = vec4<u32>(words_in[4u * i], words_in[4u * i + 1u], words_in[4u * i + 2u], words_in[4u * i + 3u]);
  let g = prng_normal4_words(w);
  for (var c = 0u; c < 4u; c++) {
    uniforms_out[4u * i + c] = prng_u01(w[c]);
    gauss_out[4u * i + c] = g[c];
  }
}
