// The EMA codebook update of a vector quantizer (van den Oord et al. 2017, appendix A.1), in two
// entry points around a total (src/kernels/vq-ema.ts):
//   vq_ema_stats:    N_k ← γ·N_k + (1 − γ)·n_k           (K)     n_k: codes assigned this batch
//                    m_k ← γ·m_k + (1 − γ)·s_k           (K, D)  s_k: sum of the vectors assigned
//   (then n = Σ_k N_k by the reduce kernels)
//   vq_ema_codebook: e_k = m_k / N̂_k,  N̂_k = (N_k + ε) / (n + K·ε) · n   (Laplace smoothing: a
//                    code nobody picks keeps a finite vector instead of 0/0)
// The state and the codebook are tensors of the model's flat parameter buffer, bound read_write
// (disjoint ranges of one buffer may all be writable in one dispatch). One invocation per value;
// 1-D grid from dispatch1d().

override WG_X: u32 = 64;

struct EmaParams {
  codes: u32,  // K
  dim: u32,    // D
  decay: f32,  // γ
}

@group(0) @binding(0) var<storage, read_write> ema_count: array<f32>;     // ema_count: N (K)
@group(0) @binding(1) var<storage, read_write> ema_sum: array<f32>;       // ema_sum: m (K, D)
@group(0) @binding(2) var<storage, read> ema_batch_count: array<f32>;     // ema_batch_count: n (K)
@group(0) @binding(3) var<storage, read> ema_batch_sum: array<f32>;       // ema_batch_sum: s (K, D)
@group(0) @binding(4) var<uniform> ema: EmaParams;

@compute @workgroup_size(WG_X)
fn vq_ema_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let kd = ema.codes * ema.dim;
  if (i < kd) {
    ema_sum[i] = ema.decay * ema_sum[i] + (1.0 - ema.decay) * ema_batch_sum[i];
  } else if (i < kd + ema.codes) {
    let k = i - kd;
    ema_count[k] = ema.decay * ema_count[k] + (1.0 - ema.decay) * ema_batch_count[k];
  }
}

struct CodebookParams {
  codes: u32,  // K
  dim: u32,    // D
  eps: f32,    // ε of the Laplace smoothing
}

@group(0) @binding(0) var<storage, read_write> cb_codebook: array<f32>;  // cb_codebook: e (K, D)
@group(0) @binding(1) var<storage, read_write> cb_count: array<f32>;     // cb_count: N (K)
@group(0) @binding(2) var<storage, read_write> cb_sum: array<f32>;       // cb_sum: m (K, D)
@group(0) @binding(3) var<storage, read> cb_total: array<f32>;           // cb_total: n = Σ N (1)
@group(0) @binding(4) var<uniform> cb: CodebookParams;

@compute @workgroup_size(WG_X)
fn vq_ema_codebook(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i >= cb.codes * cb.dim) {
    return;
  }
  let k = i / cb.dim;
  let n = cb_total[0];
  let smoothed = (cb_count[k] + cb.eps) / (n + f32(cb.codes) * cb.eps) * n;
  cb_codebook[i] = cb_sum[i] / smoothed;
}
