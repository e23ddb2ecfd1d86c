// Dead-code restart of a vector quantizer's EMA codebook (posterior.restart, after vq_ema): a code
// whose decayed count N_k is below `threshold` is moved onto one of this batch's encoder outputs,
// row r = U(w, rows) of z (w = word 0 of Philox counter (k, 0, step, stream), U(w, n) =
// floor(w·n / 2^32)), and its state starts again as at initialization: e_k = m_k = z_r, N_k = 1.
// Live codes are not touched. One invocation per code: it decides from its own count and writes
// its whole row, so no invocation reads a value another writes. 1-D grid from dispatch1d().
// Forward only (non-parameter state).

//!include prng.wgsl

override WG_X: u32 = 64;

struct RestartParams {
  codes: u32,      // K
  dim: u32,        // D
  rows: u32,       // rows of rs_z (this batch's vectors)
  threshold: f32,  // codes with N_k < threshold restart
  seed: u32,
  step: u32,       // training step (counter word 2): new rows every step
  stream: u32,     // the op's noise stream (counter word 3)
}

@group(0) @binding(0) var<storage, read_write> rs_codebook: array<f32>;  // rs_codebook: e (K, D)
@group(0) @binding(1) var<storage, read_write> rs_count: array<f32>;     // rs_count: N (K)
@group(0) @binding(2) var<storage, read_write> rs_sum: array<f32>;       // rs_sum: m (K, D)
@group(0) @binding(3) var<storage, read> rs_z: array<f32>;               // rs_z: (rows, D)
@group(0) @binding(4) var<uniform> rs: RestartParams;

@compute @workgroup_size(WG_X)
fn vq_restart(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let k = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (k >= rs.codes || !(rs_count[k] < rs.threshold)) {
    return;
  }
  let w = philox4x32_10(vec4<u32>(k, 0u, rs.step, rs.stream), vec2<u32>(rs.seed, PRNG_KEY_HI));
  let r = mulhilo32(w.x, rs.rows).x;
  for (var d = 0u; d < rs.dim; d++) {
    let v = rs_z[r * rs.dim + d];
    rs_codebook[k * rs.dim + d] = v;
    rs_sum[k * rs.dim + d] = v;
  }
  rs_count[k] = 1.0;
}
