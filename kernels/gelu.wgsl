// gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Gemma's "gelu_pytorch_tanh"), for
// gelu_mul.wgsl and matmul.wgsl's GeGLU output, prepended to both.

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

// Computed as x·σ(2u) = x / (1 + e^(-2u)), which equals 0.5·x·(1 + tanh(u)) but keeps its relative
// precision for negative x, where 1 + tanh(u) cancels; and avoids drivers' tanh, which may be NaN
// for large |u|. The exponent is clamped so e^(-2u) stays finite (e^80 ≈ 5.5e34).
fn geluTanh(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(min(-2.0 * u, 80.0)));
}
