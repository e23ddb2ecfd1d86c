// Column blocks of row-major (rows, cols) tensors: concat and slice along features. NCHW channels
// are covered too: channels c0..c1 of (R, C, H, W) are the column block [c0·H·W, c1·H·W) of
// (R, C·H·W).
//   copy_cols:  cc_dst[r, dst_off + c] (=|+=) cc_src[r, src_off + c] for r < rows, c < width.
//               With PAD the invocations cover all of cc_dst (rows, dst_cols) and write 0 outside
//               the block (the slice backward dx = dy padded with zeros; PAD never accumulates).
//   copy_cols4: the same on vec4s, when width, src_cols, dst_cols and both offsets are multiples
//               of 4 (the uniforms are then in vec4 units). Loads are what cost on the CPU
//               adapters, and one vec4 load replaces four scalar ones (about 2x on both).
// Uses: concat forward (one copy per input into its block of the output), concat backward (each
// input's block of dy into its gradient), slice forward (a block of x into y), slice backward (PAD,
// or ACCUMULATE into the block only). One invocation per element, 1-D grid from dispatch1d().

override WG_X: u32 = 64;
override ACCUMULATE: bool = false;
override PAD: bool = false;

struct CopyColsParams {
  rows: u32,      // rows of both tensors
  width: u32,     // columns copied
  src_cols: u32,  // row length of cc_src
  src_off: u32,   // first column read
  dst_cols: u32,  // row length of cc_dst
  dst_off: u32,   // first column written
}

@group(0) @binding(0) var<storage, read_write> cc_dst: array<f32>;  // cc_dst: (rows, dst_cols)
@group(0) @binding(1) var<storage, read> cc_src: array<f32>;        // cc_src: (rows, src_cols)
@group(0) @binding(2) var<uniform> cc: CopyColsParams;

@compute @workgroup_size(WG_X)
fn copy_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let span = select(cc.width, cc.dst_cols, PAD);
  if (i >= cc.rows * span) {
    return;
  }
  let r = i / span;
  let c = i - r * span;
  if (PAD) {
    // c is a column of cc_dst; k its column in the block (wraps to a huge value left of it).
    let k = c - cc.dst_off;
    var v = 0.0;
    if (c >= cc.dst_off && k < cc.width) {
      v = cc_src[r * cc.src_cols + cc.src_off + k];
    }
    cc_dst[i] = v;
    return;
  }
  let d = r * cc.dst_cols + cc.dst_off + c;
  let v = cc_src[r * cc.src_cols + cc.src_off + c];
  if (ACCUMULATE) {
    cc_dst[d] = cc_dst[d] + v;
  } else {
    cc_dst[d] = v;
  }
}

@group(0) @binding(0) var<storage, read_write> cc_dst4: array<vec4<f32>>;  // cc_dst4: (rows, dst_cols / 4)
@group(0) @binding(1) var<storage, read> cc_src4: array<vec4<f32>>;        // cc_src4: (rows, src_cols / 4)

@compute @workgroup_size(WG_X)
fn copy_cols4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  let span = select(cc.width, cc.dst_cols, PAD);
  if (i >= cc.rows * span) {
    return;
  }
  let r = i / span;
  let c = i - r * span;
  if (PAD) {
    let k = c - cc.dst_off;
    var v = vec4<f32>(0.0);
    if (c >= cc.dst_off && k < cc.width) {
      v = cc_src4[r * cc.src_cols + cc.src_off + k];
    }
    cc_dst4[i] = v;
    return;
  }
  let d = r * cc.dst_cols + cc.dst_off + c;
  let v = cc_src4[r * cc.src_cols + cc.src_off + c];
  if (ACCUMULATE) {
    cc_dst4[d] = cc_dst4[d] + v;
  } else {
    cc_dst4[d] = v;
  }
}
