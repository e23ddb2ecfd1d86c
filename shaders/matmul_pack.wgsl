// matmul_pack: copies op(X) of a matmul operand into an rgba32float texture for matmul_tex.wgsl.
// Texel (c4, r) holds elements 4·c4 .. 4·c4+3 of row r of op(X) (zeros past the last column), so
// one textureLoad brings four consecutive k (for A) or n (for B) to each invocation.
//   element (r, c) of op(X) = src[offset + r * row_stride + c * col_stride]
// (offset: a matmul split along K packs each chunk of its operands from where the chunk starts)

struct PackParams {
  rows: u32,        // rows of op(X) (texture height)
  cols: u32,        // columns of op(X); the texture is ceil(cols / 4) texels wide
  row_stride: u32,  // elements between consecutive rows of op(X) in src
  col_stride: u32,  // elements between consecutive columns of op(X) in src
  offset: u32,      // element of src where op(X) starts
}

override WG_X: u32 = 8;
override WG_Y: u32 = 8;

@group(0) @binding(0) var dst: texture_storage_2d<rgba32float, write>;  // dst: (rows, ceil(cols/4)) texels
@group(0) @binding(1) var<storage, read> src: array<f32>;                // src: offset + rows·cols elements
@group(0) @binding(2) var<uniform> params: PackParams;

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_pack(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c4 = gid.x;
  let r = gid.y;
  if (r >= params.rows || 4u * c4 >= params.cols) {
    return;
  }
  var v = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let c = 4u * c4 + i;
    if (c < params.cols) {
      v[i] = src[params.offset + r * params.row_stride + c * params.col_stride];
    }
  }
  textureStore(dst, vec2<u32>(c4, r), v);
}
