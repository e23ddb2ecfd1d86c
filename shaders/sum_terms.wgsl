// A linear combination of 2–7 tensors of n elements in one dispatch, and its backward in one
// dispatch: what a chain of adds and subtracts does with one dispatch per term (two per term
// backward), for the small per-row terms a flow's log q(z_K|x) sums (a base density and K
// log-determinants).
//   sum_terms:          st_y[i] = Σ_k c_k · t_k[i]                  k < TERMS
//   sum_terms_backward: d_k[i] (=|+=) c_k · st_dy[i]                every k < TERMS with HAS_k
// Terms k >= TERMS (and, backward, terms without HAS_k) are bound to a placeholder and never
// touched. ACC_k: d_k accumulates instead of being assigned (shaders/README.md). The bindings of
// the d_k must not alias (two terms of one tensor are one term: src/graph/ops/sum-terms.ts merges
// them). Seven terms and the output are eight storage buffers, WebGPU's default limit per stage.
// One invocation per element, 1-D grid from dispatch1d().

override WG_X: u32 = 64;
override TERMS: u32 = 2;
override HAS0: bool = true;
override HAS1: bool = true;
override HAS2: bool = true;
override HAS3: bool = true;
override HAS4: bool = true;
override HAS5: bool = true;
override HAS6: bool = true;
override ACC0: bool = false;
override ACC1: bool = false;
override ACC2: bool = false;
override ACC3: bool = false;
override ACC4: bool = false;
override ACC5: bool = false;
override ACC6: bool = false;

struct SumTermsParams {
  n: u32,   // elements of every tensor
  c0: f32,  // the coefficients: uniforms, changeable without recompiling
  c1: f32,
  c2: f32,
  c3: f32,
  c4: f32,
  c5: f32,
  c6: f32,
}

// ---- sum_terms ----

@group(0) @binding(0) var<storage, read_write> st_y: array<f32>;  // st_y: (n)
@group(0) @binding(1) var<storage, read> t0: array<f32>;          // t0: (n)
@group(0) @binding(2) var<storage, read> t1: array<f32>;          // t1: (n)
@group(0) @binding(3) var<storage, read> t2: array<f32>;          // t2: (n), or a placeholder
@group(0) @binding(4) var<storage, read> t3: array<f32>;          // t3: (n), or a placeholder
@group(0) @binding(5) var<storage, read> t4: array<f32>;          // t4: (n), or a placeholder
@group(0) @binding(6) var<storage, read> t5: array<f32>;          // t5: (n), or a placeholder
@group(0) @binding(7) var<storage, read> t6: array<f32>;          // t6: (n), or a placeholder
@group(0) @binding(8) var<uniform> fwd: SumTermsParams;

@compute @workgroup_size(WG_X)
fn sum_terms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= fwd.n) {
    return;
  }
  var s = fwd.c0 * t0[i] + fwd.c1 * t1[i];
  if (TERMS > 2u) { s += fwd.c2 * t2[i]; }
  if (TERMS > 3u) { s += fwd.c3 * t3[i]; }
  if (TERMS > 4u) { s += fwd.c4 * t4[i]; }
  if (TERMS > 5u) { s += fwd.c5 * t5[i]; }
  if (TERMS > 6u) { s += fwd.c6 * t6[i]; }
  st_y[i] = s;
}

// ---- sum_terms_backward ----

@group(0) @binding(0) var<storage, read> st_dy: array<f32>;     // st_dy: (n)
@group(0) @binding(1) var<storage, read_write> d0: array<f32>;  // d0: (n), or a placeholder
@group(0) @binding(2) var<storage, read_write> d1: array<f32>;  // d1: (n), or a placeholder
@group(0) @binding(3) var<storage, read_write> d2: array<f32>;  // d2: (n), or a placeholder
@group(0) @binding(4) var<storage, read_write> d3: array<f32>;  // d3: (n), or a placeholder
@group(0) @binding(5) var<storage, read_write> d4: array<f32>;  // d4: (n), or a placeholder
@group(0) @binding(6) var<storage, read_write> d5: array<f32>;  // d5: (n), or a placeholder
@group(0) @binding(7) var<storage, read_write> d6: array<f32>;  // d6: (n), or a placeholder
@group(0) @binding(8) var<uniform> bwd: SumTermsParams;

@compute @workgroup_size(WG_X)
fn sum_terms_backward(@builtin(workgroup_id) wid: vec3<u32>,
                      @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= bwd.n) {
    return;
  }
  let v = st_dy[i];
  if (HAS0) { d0[i] = select(bwd.c0 * v, d0[i] + bwd.c0 * v, ACC0); }
  if (HAS1) { d1[i] = select(bwd.c1 * v, d1[i] + bwd.c1 * v, ACC1); }
  if (TERMS > 2u && HAS2) { d2[i] = select(bwd.c2 * v, d2[i] + bwd.c2 * v, ACC2); }
  if (TERMS > 3u && HAS3) { d3[i] = select(bwd.c3 * v, d3[i] + bwd.c3 * v, ACC3); }
  if (TERMS > 4u && HAS4) { d4[i] = select(bwd.c4 * v, d4[i] + bwd.c4 * v, ACC4); }
  if (TERMS > 5u && HAS5) { d5[i] = select(bwd.c5 * v, d5[i] + bwd.c5 * v, ACC5); }
  if (TERMS > 6u && HAS6) { d6[i] = select(bwd.c6 * v, d6[i] + bwd.c6 * v, ACC6); }
}
