// Class labels stored as f32 (integers are exact below 2^24), shared by the kernels that read them
// (softmax.wgsl, gather.wgsl) through `//!include label_fns.wgsl`.

// The class a label value names, or -1 when it is not an integer in [0, classes) (NaN included).
fn class_of(label: f32, classes: u32) -> i32 {
  if (label >= 0.0 && label < f32(classes) && floor(label) == label) {
    return i32(label);
  }
  return -1;
}
