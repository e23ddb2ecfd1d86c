// Index arithmetic shared by the packed conv kernels (conv_igemm.wgsl, conv_pack.wgsl).
//
// Integer division runs one lane at a time on the CPU adapters (there is no vector integer
// divide), and decoding pixel indices takes several per pixel; these divide in f32 and correct
// the quotient by one step. Exact for quotients below 2^22 with n + d < 2^32 (conv-igemm.ts
// checks the sizes): the f32 estimate is then within one of the true quotient.

fn conv_ceil_div(n: u32, d: u32) -> u32 {
  return (n + d - 1u) / d;
}

fn conv_udiv4(n: vec4<u32>, d: u32) -> vec4<u32> {
  var q = vec4<u32>(vec4<f32>(n) * (1.0 / f32(d)));
  q = select(q, q - 1u, q * d > n);
  return select(q, q + 1u, n - q * d >= vec4<u32>(d));
}

fn conv_udiv(n: u32, d: u32) -> u32 {
  return conv_udiv4(vec4<u32>(n), d).x;
}
