// Embedding lookup from a quantized table, one row chunk: y[t, :] = table[ids[t], :] · scale for
// every t whose id falls in this chunk (like embedding.wgsl, which handles f32/f16 tables).
// embedding.ts puts one quantized format (quant.wgsl + quant_<type>.wgsl) in front of this file;
// one invocation decodes one unit (UNIT values) of one row of y in registers and writes it.

struct Params {
  rows: u32, // T
  dim: u32, // D
  units: u32, // D / UNIT
  wStride: u32, // vec4 words between table rows
  sStride: u32, // f16 scales between table rows
  rowStart: u32, // first table row held by this chunk
  chunkRows: u32, // table rows in this chunk
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>; // (T) token ids
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>; // (chunkRows, wStride) quant bytes
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, D)
@group(0) @binding(4) var<storage, read> wScales: array<u32>; // (chunkRows, sStride) f16, if used

/** Where a table row starts: in vec4 words and in f16 scales. */
struct Row {
  w: u32,
  s: u32,
}

/** 8 values: lo and hi at the columns of x slots packetSlots(i) (xCol). */
struct Packet {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

const WG: u32 = 64u;

fn store4(at: u32, v: vec4<f32>) {
  y[at] = v.x;
  y[at + 1u] = v.y;
  y[at + 2u] = v.z;
  y[at + 3u] = v.w;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.units) {
    return;
  }
  let t = i / p.units;
  let u = i % p.units;
  let id = ids[t];
  if (id < p.rowStart || id - p.rowStart >= p.chunkRows) {
    return;
  }
  let r = id - p.rowStart;
  let unit = loadUnit(Row(r * p.wStride, r * p.sStride), u);
  for (var j = 0u; j < PACKETS; j++) {
    let packet = decode(unit, j);
    let slots = packetSlots(j);
    store4(t * p.dim + xCol(u, slots.x), packet.lo * p.scale);
    store4(t * p.dim + xCol(u, slots.y), packet.hi * p.scale);
  }
}
