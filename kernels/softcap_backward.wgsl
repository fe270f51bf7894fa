// The backward of soft-capping y = cap·tanh(x / cap) (softcap.wgsl), from its output:
//   dx = dy·(1 − tanh²(x / cap)) = dy·(1 − (y / cap)²), in place on dy.
// One invocation per element on a 2D grid of workgroups (x + y·65535).

struct Params {
  count: u32, // n
  cap: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>; //            (n) forward output
@group(0) @binding(2) var<storage, read_write> grad: array<f32>; //   (n) dy in, dx out

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.count) {
    let r = y[i] / p.cap;
    grad[i] *= 1.0 - r * r;
  }
}
