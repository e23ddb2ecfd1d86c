// Random inpainting masks, drawn on the GPU (training with missing pixels): mask (B, C·H·W), 1 where
// a pixel is missing and 0 where it is observed, the same pattern in every channel (NCHW rows).
// No backward: the mask is data, not a function of anything trainable.
//
//   random_mask, KIND (uniform `kind`):
//     0 pixels    pixel (h, w) of row b is missing when (word >> 8) < threshold, threshold =
//                 round(p · 2^24): probability exactly threshold / 2^24. word = Philox word
//                 (h·W + w) % 4 of the call with counter ((h·W + w) / 4, b, step, stream).
//     1 block     one rectangle per row from the words of counter (0, b, step, stream):
//                 height = lo + U(w0, hi − lo + 1), width = lo + U(w1, hi − lo + 1),
//                 top = U(w2, H − height + 1), left = U(w3, W − width + 1).
//     2 quadrant  one of the four quadrants per row, q = U(w0, 4): 0 top-left, 1 top-right,
//                 2 bottom-left, 3 bottom-right; the top half is rows h < H / 2 (floor), the left
//                 half columns w < W / 2 (an odd side gives its extra line to the bottom / right).
//     3 quadrants the same quadrants in every row: quadrant q (numbered as for 2) is missing when
//                 bit q of `quadrants` is set. No draw.
//   U(w, n) = floor(w · n / 2^32), the high word of the 64-bit product: an exact integer in [0, n).
// Key (seed, PRNG_KEY_HI) as every sampler (prng.wgsl); `stream` is the op's own noise stream, so
// the masks never share numbers with the reparameterization noise of the same graph and step.

//!include prng.wgsl

override WG_X: u32 = 256;

struct RandomMaskParams {
  B: u32,          // rows
  C: u32,          // channels (the pattern repeats in each)
  H: u32,          // image height
  W: u32,          // image width
  kind: u32,       // 0 pixels, 1 block, 2 quadrant, 3 quadrants
  threshold: u32,  // pixels: round(p · 2^24)
  lo: u32,         // block: smallest side
  hi: u32,         // block: largest side (<= min(H, W))
  quadrants: u32,  // quadrants: bit q set = quadrant q missing
  seed: u32,
  step: u32,       // training step (part of the counter): new masks every step
  stream: u32,     // noise stream of this op (counter word 3)
}

@group(0) @binding(0) var<storage, read_write> mask_out: array<f32>;  // mask_out: (B, C·H·W)
@group(0) @binding(1) var<uniform> rm: RandomMaskParams;

fn uniform_below(w: u32, n: u32) -> u32 {
  return mulhilo32(w, n).x;
}

fn mask_words(index: u32, row: u32) -> vec4<u32> {
  return philox4x32_10(vec4<u32>(index, row, rm.step, rm.stream), vec2<u32>(rm.seed, PRNG_KEY_HI));
}

@compute @workgroup_size(WG_X)
fn random_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let plane = rm.H * rm.W;
  let cols = rm.C * plane;
  if (i >= rm.B * cols) {
    return;
  }
  let b = i / cols;
  let p = (i - b * cols) % plane;  // pixel index within the plane
  let h = p / rm.W;
  let col = p - h * rm.W;
  var missing = false;
  if (rm.kind == 0u) {
    let w = mask_words(p / 4u, b);
    missing = (w[p % 4u] >> 8u) < rm.threshold;
  } else if (rm.kind == 1u) {
    let w = mask_words(0u, b);
    let span = rm.hi - rm.lo + 1u;
    let bh = rm.lo + uniform_below(w.x, span);
    let bw = rm.lo + uniform_below(w.y, span);
    let top = uniform_below(w.z, rm.H - bh + 1u);
    let left = uniform_below(w.w, rm.W - bw + 1u);
    missing = h >= top && h < top + bh && col >= left && col < left + bw;
  } else if (rm.kind == 2u) {
    let q = uniform_below(mask_words(0u, b).x, 4u);
    missing = (h >= rm.H / 2u) == (q >= 2u) && (col >= rm.W / 2u) == ((q & 1u) == 1u);
  } else {
    let q = select(0u, 2u, h >= rm.H / 2u) + select(0u, 1u, col >= rm.W / 2u);
    missing = ((rm.quadrants >> q) & 1u) == 1u;
  }
  mask_out[i] = select(0.0, 1.0, missing);
}
