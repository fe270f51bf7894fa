// Logit soft-capping in place: x = cap·tanh(x / cap) (Gemma 2's final logits, cap = 30).
// One invocation per element on a 2D grid of workgroups (x + y·65535). softcap.ts prepends
// tanh.wgsl (tanhPrecise).

struct Params {
  count: u32, // n
  cap: f32,
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
    x[i] = p.cap * tanhPrecise(x[i] / p.cap);
  }
}
