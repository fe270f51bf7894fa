// Rows of one head group between attention's strided tensors and packed (rows, D) matrices, for
// attention_backward_tiled.ts: packed row r is head headBase + r mod G of strided row
// rowBase + ⌊r / G⌋, where a strided row holds `width` heads of D values ((T, H, D) queries:
// width H; (T, H + 2·Hkv, D) gradients: width H + 2·Hkv). With `ring` > 0 the strided rows are a
// KV cache ring: row ⌊r / G⌋ + rowBase (a position) lives at that mod ring.
//   gather   packed ← strided
//   scatter  strided ← packed
// One invocation per value, in a 2D grid of workgroups.

struct Params {
  count: u32, // packed rows
  dim: u32, // D
  group: u32, // G: packed rows per strided row
  width: u32, // heads per strided row
  rowBase: u32,
  headBase: u32,
  ring: u32, // 0: none
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const WG: u32 = 64u;

// Where packed value i lies in the strided tensor.
fn stridedAt(i: u32) -> u32 {
  let r = i / p.dim;
  var row = p.rowBase + r / p.group;
  if (p.ring > 0u) {
    row %= p.ring;
  }
  return (row * p.width + p.headBase + r % p.group) * p.dim + i % p.dim;
}

@compute @workgroup_size(WG)
fn gather(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.count * p.dim) {
    dst[i] = src[stridedAt(i)];
  }
}

@compute @workgroup_size(WG)
fn scatter(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i < p.count * p.dim) {
    dst[stridedAt(i)] = src[i];
  }
}
