// fill_forward: writes one value into every element of a buffer (zeroing gradients, test poison).

struct FillParams {
  n: u32,      // number of elements
  value: f32,  // value to write
}

override WG_X: u32 = 256;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // out: (n)
@group(0) @binding(1) var<uniform> params: FillParams;

@compute @workgroup_size(WG_X)
fn fill_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  // 2-D grid of workgroups so more than 65535 * WG_X elements can be covered.
  let i = (wid.y * nwg.x + wid.x) * WG_X + lid;
  if (i < params.n) {
    out[i] = params.value;
  }
}
