// Embedding lookup from a quantized table, one row chunk: y[t, :] = table[ids[t], :] · scale for
// every t whose id falls in this chunk (like embedding.wgsl, which handles f32/f16 tables).
// embedding.ts puts one quantized format (QUANT_SHADERS, quant_shader.ts) in front of this file;
// one invocation decodes one unit (UNIT values) of one row of y in registers and writes it, and
// one more per row writes the last D mod UNIT values (if any) one by one.

struct Params {
  rows: u32, // T
  dim: u32, // D
  units: u32, // D / UNIT, rounded down
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
@group(0) @binding(5) var<storage, read> wHigh: array<u32>; // one word per block, if used

const WG: u32 = 64u;

// y[at], y[at + 1] (at even). For f16 output embedding.ts rewrites y as array<u32> and this body
// as one packed store.
fn store2(at: u32, v: vec2<f32>) {
  y[at] = v.x;
  y[at + 1u] = v.y;
}

fn store4(at: u32, v: vec4<f32>) {
  store2(at, v.xy);
  store2(at + 2u, v.zw);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let perRow = p.units + select(0u, 1u, p.dim % UNIT != 0u);
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * perRow) {
    return;
  }
  let t = i / perRow;
  let u = i % perRow;
  let id = ids[t];
  if (id < p.rowStart || id - p.rowStart >= p.chunkRows) {
    return;
  }
  let r = id - p.rowStart;
  let row = Row(r * p.wStride, r * p.sStride);
  if (u == p.units) {
    // D and the units are whole 32-value blocks: the rest comes in pairs.
    for (var k = u * UNIT; k < p.dim; k += 2u) {
      store2(t * p.dim + k, vec2<f32>(wAt(row, k), wAt(row, k + 1u)) * p.scale);
    }
    return;
  }
  let unit = loadUnit(row, u);
  for (var j = 0u; j < PACKETS; j++) {
    // w = code·scale + bias per group (quant.wgsl), then the embedding scale.
    let codes = decode(unit, j);
    let slots = packetSlots(j);
    let g = packetGroups(j);
    let a = affine(unit, g.x);
    let b = affine(unit, g.y);
    store4(t * p.dim + xCol(u, slots.x), (codes.lo * (xScale(slots.x) * a.x) + a.y) * p.scale);
    store4(t * p.dim + xCol(u, slots.y), (codes.hi * (xScale(slots.y) * b.x) + b.y) * p.scale);
  }
}
