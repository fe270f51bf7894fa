// Scaling in place: x = s·x (LoRA's α/r on the rank-r product x·Aᵀ). One invocation per element
// on a 2D grid of workgroups (x + y·65535).

struct Params {
  count: u32, // n
  factor: f32, // s
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // (n), updated in place

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.count) {
    x[i] = p.factor * x[i];
  }
}
