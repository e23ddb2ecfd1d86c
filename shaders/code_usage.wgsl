// Codebook usage of one batch, the vector quantizer's metrics: from the code counts n (K),
//   cu_perplexity = scale · exp(−Σ_k p_k log p_k),  p_k = n_k / Σ n   (the effective codes used)
//   cu_used       = scale · #{k : n_k > 0} / K                         (the fraction in use)
// `scale` is the batch's example count, so the metrics accumulator's per-example average is the
// example-weighted mean over steps. K values: one invocation reads them all (a metric, once per
// step; no workgroup memory or barriers). Forward only.

override WG_X: u32 = 1;

struct UsageParams {
  codes: u32,  // K
  scale: f32,  // multiplies both results (the batch's examples)
}

@group(0) @binding(0) var<storage, read_write> cu_perplexity: array<f32>;  // cu_perplexity: (1)
@group(0) @binding(1) var<storage, read_write> cu_used: array<f32>;        // cu_used: (1)
@group(0) @binding(2) var<storage, read> cu_counts: array<f32>;            // cu_counts: (K)
@group(0) @binding(3) var<uniform> cu: UsageParams;

@compute @workgroup_size(WG_X)
fn code_usage(@builtin(local_invocation_index) lid: u32) {
  if (lid != 0u) {
    return;
  }
  var total = 0.0;
  var used = 0u;
  for (var k = 0u; k < cu.codes; k++) {
    total += cu_counts[k];
    used += select(0u, 1u, cu_counts[k] > 0.0);
  }
  var entropy = 0.0;
  for (var k = 0u; k < cu.codes; k++) {
    let p = cu_counts[k] / total;
    if (p > 0.0) {
      entropy -= p * log(p);
    }
  }
  cu_perplexity[0] = cu.scale * exp(entropy);
  cu_used[0] = cu.scale * f32(used) / f32(cu.codes);
}
