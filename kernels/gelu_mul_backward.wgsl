// The backward of GeGLU's elementwise half y = gelu_tanh(gate)·up (gelu_mul.wgsl):
//   dGate = dy·up·gelu'(gate),  dUp = dy·gelu(gate)
// written as rows of 2F (gate gradients, then up gradients), the layout of the forward's input,
// so that one matmulInputGrad against the stacked [W_gate; W_up] gives the MLP input's gradient.
// One invocation per (row, column) on a 2D grid of workgroups (x + y·65535). geluTanh and
// geluTanhGrad: gelu.wgsl and gelu_grad.wgsl, prepended by gelu_mul_backward.ts.

struct Params {
  rows: u32, // T
  width: u32, // F
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gateUp: array<f32>; //          (T, 2F) forward input
@group(0) @binding(2) var<storage, read> dy: array<f32>; //              (T, F)
@group(0) @binding(3) var<storage, read_write> dGateUp: array<f32>; //   (T, 2F)

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.rows * p.width) {
    let gate = i + (i / p.width) * p.width; // column i % F of row i / F, in rows of 2F
    let g = gateUp[gate];
    let u = gateUp[gate + p.width];
    dGateUp[gate] = dy[i] * u * geluTanhGrad(g);
    dGateUp[gate + p.width] = dy[i] * geluTanh(g);
  }
}
