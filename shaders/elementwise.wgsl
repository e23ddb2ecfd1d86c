// Elementwise ops on row-major (rows, cols) tensors, n = rows * cols elements, with a second operand
// (or a mask) broadcast over rows and/or columns. BCAST gives its shape:
//   0: (R, C) as a, 1: (1, C) one row used by every row, 2: (R, 1) one value per row, 3: (1, 1).
//   binary_forward:    ew_out = ew_a OP ew_b                          OP: 0 add, 1 sub, 2 mul
//   binary_backward_a: ew_grad (=|+=) ew_dout * (OP == mul ? b : 1)       da, (R, C); ew_other = b
//   binary_backward_b: ew_grad (=|+=) ew_dout * (mul ? a : sub ? -1 : 1)  (R, C); ew_other = a.
//                      That is db when b is (R, C), otherwise the terms that src/kernels/elementwise.ts
//                      sums over the broadcast axes with the reduce passes of reduce.wgsl.
//   binary_forward4 / binary_backward_a4 / binary_backward_b4: the same on vec4s, when n (and for
//                      BCAST 1 the row length) is a multiple of 4; n and cols are then in vec4 units.
//                      One vec4 load replaces four scalar ones (about 2x on both CPU adapters).
//                      binary_forward4 and binary_backward_a4 take BCAST 0 or 1 only.
//   scale_values(4):   sc_out (=|+=) scale * sc_in  (the scale op; its backward is the same kernel:
//                      dx (=|+=) scale * dy).
//   masked_fill_forward:  mf_out = (mask != 0) ? value : mf_x            (mask broadcast by BCAST)
//   masked_fill_backward: mf_grad (=|+=) (mask != 0) ? 0 : mf_dout
// ACCUMULATE (gradients, see shaders/README.md): false assigns, true adds. One invocation per
// element (or vec4); 1-D grid from dispatch1d().

override WG_X: u32 = 64;
override ACCUMULATE: bool = false;
override OP: u32 = 0u;
override BCAST: u32 = 0u;

const OP_ADD: u32 = 0u;
const OP_SUB: u32 = 1u;
const OP_MUL: u32 = 2u;

struct EwParams {
  n: u32,     // elements of a (vec4s in the *4 entry points)
  cols: u32,  // row length of a (vec4s in the *4 entry points)
}

// Index into the broadcast operand for element i of a (R, C) tensor with rows of `cols`.
fn bcast_index(i: u32, cols: u32) -> u32 {
  switch BCAST {
    case 0u: { return i; }
    case 1u: { return i % cols; }
    case 2u: { return i / cols; }
    default: { return 0u; }
  }
}

fn apply_op(u: f32, v: f32) -> f32 {
  switch OP {
    case OP_ADD: { return u + v; }
    case OP_SUB: { return u - v; }
    default: { return u * v; }
  }
}

fn apply_op4(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
  switch OP {
    case OP_ADD: { return u + v; }
    case OP_SUB: { return u - v; }
    default: { return u * v; }
  }
}

// d(a OP b)/db for add and sub (mul reads a instead).
fn sign_b() -> f32 {
  return select(1.0, -1.0, OP == OP_SUB);
}

fn linear_index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG_X + lid;
}

// ---- binary_forward ----

@group(0) @binding(0) var<storage, read_write> ew_out: array<f32>;  // ew_out: (R, C)
@group(0) @binding(1) var<storage, read> ew_a: array<f32>;          // ew_a: (R, C)
@group(0) @binding(2) var<storage, read> ew_b: array<f32>;          // ew_b: shape by BCAST
@group(0) @binding(3) var<uniform> ew: EwParams;

@compute @workgroup_size(WG_X)
fn binary_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i < ew.n) {
    ew_out[i] = apply_op(ew_a[i], ew_b[bcast_index(i, ew.cols)]);
  }
}

// ---- binary_backward_a / binary_backward_b ----

@group(0) @binding(0) var<storage, read_write> ew_grad: array<f32>;  // ew_grad: (R, C)
@group(0) @binding(1) var<storage, read> ew_dout: array<f32>;        // ew_dout: (R, C)
@group(0) @binding(2) var<storage, read> ew_other: array<f32>;       // ew_other: b (by BCAST) / a (R, C)

fn store_grad(i: u32, g: f32) {
  if (ACCUMULATE) {
    ew_grad[i] = ew_grad[i] + g;
  } else {
    ew_grad[i] = g;
  }
}

@compute @workgroup_size(WG_X)
fn binary_backward_a(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= ew.n) {
    return;
  }
  var g = ew_dout[i];
  if (OP == OP_MUL) {
    g = g * ew_other[bcast_index(i, ew.cols)];
  }
  store_grad(i, g);
}

@compute @workgroup_size(WG_X)
fn binary_backward_b(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= ew.n) {
    return;
  }
  var g = ew_dout[i];
  if (OP == OP_MUL) {
    g = g * ew_other[i];
  } else {
    g = g * sign_b();
  }
  store_grad(i, g);
}

// ---- vec4 versions ----

@group(0) @binding(0) var<storage, read_write> ew_out4: array<vec4<f32>>;   // ew_out4: (R, C / 4)
@group(0) @binding(1) var<storage, read> ew_a4: array<vec4<f32>>;           // ew_a4: (R, C / 4)
@group(0) @binding(2) var<storage, read> ew_b4: array<vec4<f32>>;           // ew_b4: (R, C / 4) or (1, C / 4)

@compute @workgroup_size(WG_X)
fn binary_forward4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i < ew.n) {
    ew_out4[i] = apply_op4(ew_a4[i], ew_b4[bcast_index(i, ew.cols)]);
  }
}

@group(0) @binding(0) var<storage, read_write> ew_grad4: array<vec4<f32>>;  // ew_grad4: (R, C / 4)
@group(0) @binding(1) var<storage, read> ew_dout4: array<vec4<f32>>;        // ew_dout4: (R, C / 4)
@group(0) @binding(2) var<storage, read> ew_other4: array<vec4<f32>>;       // ew_other4: b / a

fn store_grad4(i: u32, g: vec4<f32>) {
  if (ACCUMULATE) {
    ew_grad4[i] = ew_grad4[i] + g;
  } else {
    ew_grad4[i] = g;
  }
}

@compute @workgroup_size(WG_X)
fn binary_backward_a4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= ew.n) {
    return;
  }
  var g = ew_dout4[i];
  if (OP == OP_MUL) {
    g = g * ew_other4[bcast_index(i, ew.cols)];
  }
  store_grad4(i, g);
}

@compute @workgroup_size(WG_X)
fn binary_backward_b4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= ew.n) {
    return;
  }
  var g = ew_dout4[i];
  if (OP == OP_MUL) {
    g = g * ew_other4[i];
  } else {
    g = g * sign_b();
  }
  store_grad4(i, g);
}

// ---- scale_values ----

struct ScaleParams {
  n: u32,      // elements (vec4s in scale_values4)
  scale: f32,  // the constant factor (a uniform: setUniforms({ scale }) changes it per step)
}

@group(0) @binding(0) var<storage, read_write> sc_out: array<f32>;  // sc_out: (n)
@group(0) @binding(1) var<storage, read> sc_in: array<f32>;         // sc_in: (n)
@group(0) @binding(2) var<uniform> sc: ScaleParams;

@compute @workgroup_size(WG_X)
fn scale_values(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= sc.n) {
    return;
  }
  let v = sc.scale * sc_in[i];
  if (ACCUMULATE) {
    sc_out[i] = sc_out[i] + v;
  } else {
    sc_out[i] = v;
  }
}

@group(0) @binding(0) var<storage, read_write> sc_out4: array<vec4<f32>>;  // sc_out4: (n / 4)
@group(0) @binding(1) var<storage, read> sc_in4: array<vec4<f32>>;         // sc_in4: (n / 4)

@compute @workgroup_size(WG_X)
fn scale_values4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= sc.n) {
    return;
  }
  let v = sc.scale * sc_in4[i];
  if (ACCUMULATE) {
    sc_out4[i] = sc_out4[i] + v;
  } else {
    sc_out4[i] = v;
  }
}

// ---- masked_fill ----

struct MaskParams {
  n: u32,      // elements of x
  cols: u32,   // row length of x
  value: f32,  // written where the mask is non-zero (forward only)
}

@group(0) @binding(0) var<storage, read_write> mf_out: array<f32>;  // mf_out: (R, C)
@group(0) @binding(1) var<storage, read> mf_x: array<f32>;          // mf_x: (R, C)
@group(0) @binding(2) var<storage, read> mf_mask: array<f32>;       // mf_mask: shape by BCAST, 0 / non-zero
@group(0) @binding(3) var<uniform> mf: MaskParams;

@compute @workgroup_size(WG_X)
fn masked_fill_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i < mf.n) {
    mf_out[i] = select(mf_x[i], mf.value, mf_mask[bcast_index(i, mf.cols)] != 0.0);
  }
}

@group(0) @binding(0) var<storage, read_write> mf_grad: array<f32>;  // mf_grad: (R, C) dx
@group(0) @binding(1) var<storage, read> mf_dout: array<f32>;        // mf_dout: (R, C)

@compute @workgroup_size(WG_X)
fn masked_fill_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= mf.n) {
    return;
  }
  let g = select(mf_dout[i], 0.0, mf_mask[bcast_index(i, mf.cols)] != 0.0);
  if (ACCUMULATE) {
    mf_grad[i] = mf_grad[i] + g;
  } else {
    mf_grad[i] = g;
  }
}

// ---- unary ----
// unary_forward:  un_out = f(un_x + shift)                   FN: 0 identity, 1 log|·|, 2 1/·
// unary_backward: un_grad (=|+=) un_dout * f'(un_x + shift)  (identity 1, log|·| 1/v, 1/· −1/v²)
// The shift folds a constant into the op (1 + a, a − 1), which the binary ops have no operand for.

override FN: u32 = 0u;

const FN_IDENTITY: u32 = 0u;
const FN_LOG_ABS: u32 = 1u;

struct UnaryParams {
  n: u32,      // elements
  shift: f32,  // added before f
}

@group(0) @binding(0) var<storage, read_write> un_out: array<f32>;  // un_out: (n)
@group(0) @binding(1) var<storage, read> un_x: array<f32>;          // un_x: (n)
@group(0) @binding(2) var<uniform> un: UnaryParams;

@compute @workgroup_size(WG_X)
fn unary_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= un.n) {
    return;
  }
  let v = un_x[i] + un.shift;
  switch FN {
    case FN_IDENTITY: { un_out[i] = v; }
    case FN_LOG_ABS: { un_out[i] = log(abs(v)); }
    default: { un_out[i] = 1.0 / v; }
  }
}

@group(0) @binding(0) var<storage, read_write> un_grad: array<f32>;  // un_grad: (n)
@group(0) @binding(1) var<storage, read> un_dout: array<f32>;        // un_dout: (n)
@group(0) @binding(2) var<storage, read> un_xin: array<f32>;         // un_xin: (n)
@group(0) @binding(3) var<uniform> unb: UnaryParams;

@compute @workgroup_size(WG_X)
fn unary_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg, lid);
  if (i >= unb.n) {
    return;
  }
  let v = un_xin[i] + unb.shift;
  var g = un_dout[i];
  switch FN {
    case FN_IDENTITY: { }
    case FN_LOG_ABS: { g = g / v; }
    default: { g = -g / (v * v); }
  }
  if (ACCUMULATE) {
    un_grad[i] = un_grad[i] + g;
  } else {
    un_grad[i] = g;
  }
}
