// Row gather with zero fill: y[r, :] = x[index[r], :], or zeros where index[r] < 0. One kernel
// serves both directions of the training loss's compaction (gather_rows.ts): gathering the K rows
// that carry a target into a compact (K, D) buffer, and scattering their gradient back to (T, D)
// (index[t] = the row's compact slot, or −1 for a row without a target). One invocation per
// element of y, on a 2D grid of workgroups (x + y·65535).

struct Params {
  rows: u32, // R: rows of y
  dim: u32, // D
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<i32>; // (R) source row of x, or −1
@group(0) @binding(2) var<storage, read> x: array<f32>; // (any, D)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (R, D)

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.dim) {
    return;
  }
  let source = index[i / p.dim];
  if (source < 0) {
    y[i] = 0.0;
  } else {
    y[i] = x[u32(source) * p.dim + i % p.dim];
  }
}
