// Embedding lookup for one row chunk of the table: y[t, :] = table[ids[t], :] · scale for every t
// whose id falls in this chunk (rows rowStart … rowStart + chunkRows - 1); other rows of y are left
// alone, so one dispatch per chunk fills all of y. One invocation per element of y, on a 2D grid
// of workgroups (x + y·65535). The table arrives as raw 32-bit words (f16 pairs or f32), like the
// weights of matmul.wgsl.

struct Params {
  rows: u32, // T
  dim: u32, // D
  stride: u32, // elements between table rows (D, or D rounded up to even for f16)
  rowStart: u32, // first table row held by this chunk
  chunkRows: u32, // table rows in this chunk
  scale: f32,
}

override F16: bool = false; // words hold f16 pairs (else one f32 each)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>; // (T) token ids
@group(0) @binding(2) var<storage, read> table: array<u32>; // (chunkRows, stride) f32 or f16 words
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, D)

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
  let id = ids[i / p.dim];
  if (id < p.rowStart || id - p.rowStart >= p.chunkRows) {
    return;
  }
  let e = (id - p.rowStart) * p.stride + i % p.dim; // element of the chunk
  var value: f32;
  if (F16) {
    value = unpack2x16float(table[e / 2u])[e % 2u];
  } else {
    value = bitcast<f32>(table[e]);
  }
  y[i] = value * p.scale;
}
