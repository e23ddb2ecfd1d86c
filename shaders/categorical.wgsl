// Ancestral sampling from categorical distributions: one draw per row from softmax(logits / T),
// by the inverse CDF of one uniform. Forward only: a draw has no gradient.
//
//   categorical_sample: row r of cs_out (rows, P) gets column p = cs_position[0] (an
//     integer-valued f32 < P, read on the GPU so that one recorded program can advance it between
//     replays), the index of a draw from softmax(cs_logits[r, p, :] / T), T = cs_temperature[0]:
//       T > 0:  m = max_k l_k, w_k = exp((l_k − m) / T), S = Σ w_k; the draw is the first k with
//               w_0 + … + w_k >= u·S (the last k with w_k > 0 when rounding leaves none)
//       T = 0:  the argmax (the lowest index among ties): the limit T → 0 of the above
//     The other columns of cs_out are left as they are. With P = 1 it is a plain draw per row.
//   u = prng_u01(word) in (0, 1]: word e % 4 of the Philox call with counter (e / 4, sample, step,
//   stream) and key (seed, PRNG_KEY_HI), e = r·P + p the output element, as random_normal numbers
//   its elements. `stream` is the op's own, so no other stochastic op of a graph shares its
//   numbers; a pass of ancestral sampling (a new p) draws new numbers without a new step.
// NaN logits are skipped (weight 0); a row with no finite weight gives index 0. One invocation per
// row, scanning the row three times (max, sum, walk): no workgroup memory, rows are many.

//!include prng.wgsl

override WG_X: u32 = 64;

struct CategoricalParams {
  rows: u32,       // rows of cs_out
  cols: u32,       // K: classes per draw
  positions: u32,  // P: draws per row of cs_out (cs_logits holds P·K per row)
  seed: u32,
  step: u32,       // counter word 2 (a call counter: new numbers each call)
  sample: u32,     // counter word 1 (chunks of one call)
  stream: u32,     // counter word 3: the op's own noise stream
}

@group(0) @binding(0) var<storage, read_write> cs_out: array<f32>;        // cs_out: (rows, P)
@group(0) @binding(1) var<storage, read> cs_logits: array<f32>;           // cs_logits: (rows, P·K)
@group(0) @binding(2) var<storage, read> cs_temperature: array<f32>;      // cs_temperature: (1)
@group(0) @binding(3) var<storage, read> cs_position: array<f32>;         // cs_position: (1)
@group(0) @binding(4) var<uniform> cs: CategoricalParams;

@compute @workgroup_size(WG_X)
fn categorical_sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let r = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (r >= cs.rows) {
    return;
  }
  let p = min(u32(max(cs_position[0], 0.0)), cs.positions - 1u);
  let e = r * cs.positions + p;
  let base = e * cs.cols;
  let t = cs_temperature[0];
  // The maximum (and, for T = 0, its lowest index).
  var best = 0u;
  var m = 0.0;  // set by the first non-NaN logit (found)
  var found = false;
  for (var k = 0u; k < cs.cols; k++) {
    let v = cs_logits[base + k];
    if (v == v && (!found || v > m)) {
      m = v;
      best = k;
      found = true;
    }
  }
  if (!(t > 0.0) || !found) {
    cs_out[e] = f32(best);
    return;
  }
  var total = 0.0;
  for (var k = 0u; k < cs.cols; k++) {
    let v = cs_logits[base + k];
    if (v == v) {
      total += exp((v - m) / t);
    }
  }
  let words = philox4x32_10(vec4<u32>(e / 4u, cs.sample, cs.step, cs.stream),
                            vec2<u32>(cs.seed, PRNG_KEY_HI));
  let thresh = prng_u01(words[e % 4u]) * total;
  var cum = 0.0;
  var pick = best;
  var last = best;
  var picked = false;
  for (var k = 0u; k < cs.cols; k++) {
    let v = cs_logits[base + k];
    if (v == v) {
      let w = exp((v - m) / t);
      cum += w;
      if (w > 0.0) {
        last = k;
      }
      if (!picked && w > 0.0 && cum >= thresh) {
        pick = k;
        picked = true;
      }
    }
  }
  cs_out[e] = f32(select(last, pick, picked));
}
