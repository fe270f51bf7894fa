// Decodes one row chunk of a weight matrix w (n, K), any weight format, into its transpose:
//   out[k, n] = w[n, k]        out: (K, n) f32, row-major
// so that the input gradient dx = dy·w can run as the forward matmul against wᵀ (matmul.ts's
// register-tiled kernels, several times faster than matmul_input_grad.wgsl's on lavapipe). One
// invocation per (row, unit) of w on a 2D grid (x + y·65535); the unit u = units covers the
// last K mod UNIT columns one weight at a time (wAt).
//
// A template joined like matmul.wgsl (weight_formats.ts): the format's Row, Packet, loadUnit,
// packetSlots, xCol, wAt and weights come in front. The alias lines type the `w` words; `x` is
// declared for matmul_loads.wgsl's accessors and never read.

struct Params {
  n: u32, // rows of w in this chunk
  k: u32, // K
  wStride: u32, // w's units between row starts
  sStride: u32, // f16 scales between row starts of wScales (quantized formats)
  units: u32, // K / UNIT, rounded down
}

alias XElem = vec4<f32>; const XP = 4u;
alias WElem = vec4<u32>; const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<WElem>; // (n, wStride) as u32 words
@group(0) @binding(2) var<storage, read_write> out: array<f32>; // (K, n)
@group(0) @binding(3) var<storage, read> wScales: array<u32>; // (n, sStride) f16 pairs, if used
@group(0) @binding(4) var<storage, read> wHigh: array<u32>; // one word per block, if used
@group(0) @binding(8) var<storage, read> x: array<f32>; // unused

const WG: u32 = 64u;

fn put(col: u32, n: u32, values: vec4<f32>) {
  for (var c = 0u; c < 4u; c++) {
    out[(col + c) * p.n + n] = values[c];
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let perRow = p.units + select(0u, 1u, p.k % UNIT != 0u);
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.n * perRow) {
    return;
  }
  let n = i / perRow;
  let u = i % perRow;
  let row = Row(n * p.wStride, n * p.sStride);
  if (u == p.units) {
    for (var k = u * UNIT; k < p.k; k++) {
      out[k * p.n + n] = wAt(row, k);
    }
    return;
  }
  let unit = loadUnit(row, u);
  for (var j = 0u; j < PACKETS; j++) {
    let wj = weights(unit, j);
    let slots = packetSlots(j);
    put(xCol(u, slots.x), n, wj.lo);
    put(xCol(u, slots.y), n, wj.hi);
  }
}
