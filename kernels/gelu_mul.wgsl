// GeGLU's elementwise half: y = gelu_tanh(gate) * up, with
// gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Gemma's "gelu_pytorch_tanh"). Each
// row of the input holds the row's gate projection, then its up projection (one matmul makes
// both). One invocation per output element; the workgroups form a 2D grid (x + y·65535) because
// T·F can exceed 65535·256 (T = 512, F = 16384).

struct Params {
  rows: u32, // T
  width: u32, // F
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gateUp: array<f32>; // (T, 2F)
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // (T, F)

const WG: u32 = 256u;
const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

// Computed as x·σ(2u) = x / (1 + e^(-2u)), which equals 0.5·x·(1 + tanh(u)) but keeps its relative
// precision for negative x, where 1 + tanh(u) cancels; and avoids drivers' tanh, which may be NaN
// for large |u|. The exponent is clamped so e^(-2u) stays finite (e^80 ≈ 5.5e34).
fn geluTanh(x: f32) -> f32 {
  let u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(min(-2.0 * u, 80.0)));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.rows * p.width) {
    let gate = i + (i / p.width) * p.width; // column i % F of row i / F, in rows of 2F
    y[i] = geluTanh(gateUp[gate]) * gateUp[gate + p.width];
  }
}
