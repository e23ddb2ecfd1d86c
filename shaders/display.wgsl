// GPU-direct display: a batch of single-channel images (N, H, W) tiled into an RGBA8 picture,
// colour-mapped through a 256-entry LUT, written as packed u32 texels into a buffer whose rows are
// padded to row_stride texels (256-byte aligned), ready for copyBufferToTexture into a canvas
// texture. Nothing is read back to the CPU.
//
// Tiling (as imageGrid in src/image/grid.ts): image i sits at column i % cols, row i / cols, its
// top-left texel at (padding + col (W + padding), padding + row (H + padding)); everything else,
// and cells past the last image, is the background.
// Value -> LUT index: v' = (v - vmin) * inv_range; 0 when v' <= 0, 255 when v' >= 1, else
// floor(255 v' + 0.5); NaN -> 128 (NAN_MARKER of grid.ts). The LUT holds packed texels (byte 0 is
// the first channel of the target format, so BGRA targets get a swizzled LUT from the CPU).

override WG_X: u32 = 64;

struct DisplayTilesParams {
  n: u32,           // images
  img_h: u32,       // image height
  img_w: u32,       // image width
  cols: u32,        // tiles per row
  padding: u32,     // background texels between and around tiles
  out_w: u32,       // picture width
  out_h: u32,       // picture height
  row_stride: u32,  // texels per row of the pixel buffer (>= out_w)
  background: u32,  // LUT index of the background
  vmin: f32,        // value mapped to LUT index 0
  inv_range: f32,   // 1 / (vmax - vmin)
}

@group(0) @binding(0) var<storage, read_write> disp_pixels: array<u32>;  // disp_pixels: (out_h, row_stride)
@group(0) @binding(1) var<storage, read> disp_images: array<f32>;        // disp_images: (n, img_h, img_w)
@group(0) @binding(2) var<storage, read> disp_lut: array<u32>;           // disp_lut: (256)
@group(0) @binding(3) var<uniform> dp: DisplayTilesParams;

fn lut_index(v: f32) -> u32 {
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) {
    return 128u;
  }
  let s = (v - dp.vmin) * dp.inv_range;
  if (s <= 0.0) {
    return 0u;
  }
  if (s >= 1.0) {
    return 255u;
  }
  return min(u32(floor(s * 255.0 + 0.5)), 255u);
}

// One invocation per picture row and tile column: it writes that row's texels of the cell (the
// image row and the padding right of it; column 0 also the left padding, the last column the rest
// of the row). The cell arithmetic (divisions) is done once per invocation rather than per texel,
// which on the CPU adapters was most of the kernel's time. 1-D grid from dispatch1d().
@compute @workgroup_size(WG_X)
fn display_tiles(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (t >= dp.out_h * dp.cols) {
    return;
  }
  let py = t / dp.cols;
  let col = t - py * dp.cols;
  let cell_w = dp.img_w + dp.padding;
  let cell_h = dp.img_h + dp.padding;
  let left = dp.padding + col * cell_w;  // the image's first texel in this row
  let x0 = select(left, 0u, col == 0u);
  let x1 = select(left + cell_w, dp.out_w, col + 1u == dp.cols);
  var in_image = false;
  var src = 0u;  // index of the image row's first value
  if (py >= dp.padding) {
    let row = (py - dp.padding) / cell_h;
    let iy = (py - dp.padding) - row * cell_h;
    let img = row * dp.cols + col;
    in_image = iy < dp.img_h && img < dp.n;
    src = (img * dp.img_h + iy) * dp.img_w;
  }
  let bg = disp_lut[dp.background];
  let base = py * dp.row_stride;
  for (var px = x0; px < min(x1, dp.out_w); px++) {
    var texel = bg;
    if (in_image && px >= left && px < left + dp.img_w) {
      texel = disp_lut[lut_index(disp_images[src + (px - left)])];
    }
    disp_pixels[base + px] = texel;
  }
}

// ---- display_blit: the tiled texture drawn into a render target of the same size ----
// (a canvas texture may only allow RENDER_ATTACHMENT usage, so the copy goes through a texture
// and a full-screen triangle; textureLoad keeps texels exact, the target format converts.)

@group(0) @binding(0) var blit_src: texture_2d<f32>;

@vertex
fn display_blit_vs(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
  let corner = vec2<f32>(f32((vi << 1u) & 2u), f32(vi & 2u));
  return vec4<f32>(corner * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn display_blit_fs(@builtin(position) frag: vec4<f32>) -> @location(0) vec4<f32> {
  return textureLoad(blit_src, vec2<i32>(frag.xy), 0);
}
