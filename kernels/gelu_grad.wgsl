// The derivative of gelu_tanh (gelu.wgsl, whose SQRT_2_OVER_PI it uses) for gelu_mul_backward.wgsl.
// gelu(x) = x·σ(2u), u = √(2/π)·(x + 0.044715·x³), so
//   gelu'(x) = σ(2u) + x·2u'·σ(2u)·(1 − σ(2u)),  u' = √(2/π)·(1 + 3·0.044715·x²),
// with σ(2u)·(1 − σ(2u)) = e / (1 + e)², e = e^(-2u) clamped as in the forward (no cancellation).
fn geluTanhGrad(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  let e = exp(min(-2.0 * u, 80.0));
  let s = 1.0 / (1.0 + e);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x);
  return s + x * 2.0 * du * e * s * s;
}
