// GeGLU's elementwise half: y = gelu_tanh(gate) * up (geluTanh: gelu.wgsl, which gelu_mul.ts
// prepends). Each row of the input holds the row's gate projection, then its up projection (one
// matmul makes both). One invocation per output element; the workgroups form a 2D grid
// (x + y·65535) because T·F can exceed 65535·256 (T = 512, F = 16384).

struct Params {
  rows: u32, // T
  width: u32, // F
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gateUp: array<f32>; // (T, 2F)
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // (T, F)

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
    y[i] = geluTanh(gateUp[gate]) * gateUp[gate + p.width];
  }
}
