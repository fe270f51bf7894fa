// The input gradient of y = x·wᵀ for one row chunk of w (N, K):
//   dx[t, k] (+)= scale · Σ_n dy[t, dyCol + n] · w[n, k]        (dx = dy·w)
// w stays in its storage format (f32, f16 or GGUF blocks decoded in registers): a workgroup owns
// one unit of w's columns (UNIT values: 8 for f32/f16, 64 for the quantized formats; which
// columns a unit covers is the format's xCol) and TT rows of dy; its WG lanes split the N rows of
// the chunk, each decoding unit u of its rows and adding dy[t, n]·w into TT × UNIT registers,
// then the lanes' sums are added in workgroup memory. The workgroup with u = units covers the
// last K mod UNIT columns (32-value formats with an odd block count, unaligned f32/f16) one
// weight at a time (wAt).
//
// This file is a template, joined like matmul.wgsl (weight_formats.ts): the format's Row,
// Packet, loadUnit, packetSlots, xCol, wAt and weights (packet_weights.wgsl) come in front, then
// these bindings, whose two alias lines the unaligned f32/f16 variant rewrites (they type the
// `w` words; `x`, here dy, is read one f32 at a time in either variant).

struct Params {
  rows: u32, // T
  k: u32, // K
  n: u32, // rows of w in this chunk
  wStride: u32, // w's units (f32/f16 elements, or vec4 words) between row starts
  sStride: u32, // f16 scales between row starts of wScales (quantized formats)
  dyStride: u32, // elements between row starts of dy
  dyCol: u32, // column of dy that goes with chunk row 0
  accumulate: u32, // 1: dx += …; 0: dx = …
  units: u32, // K / UNIT, rounded down
  scale: f32,
}

alias XElem = vec4<f32>; const XP = 4u;
alias WElem = vec4<u32>; const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // dy: (T, dyStride) f32
@group(0) @binding(2) var<storage, read> w: array<WElem>; // (n, wStride) as u32 words
@group(0) @binding(3) var<storage, read_write> dx: array<f32>; // (T, K) f32
@group(0) @binding(4) var<storage, read> wScales: array<u32>; // (n, sStride) f16 pairs, if used
@group(0) @binding(5) var<storage, read> wHigh: array<u32>; // one word per block, if used

override WG: u32 = 8u; // lanes per workgroup, splitting the rows of w
override TT: u32 = 2u; // rows of dy per workgroup, 1 … MAX_TT
const MAX_TT = 4u;

var<workgroup> partial: array<vec4<f32>, WG * MAX_TT * XSLOTS>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Units are folded over x and z (K / UNIT can exceed 65535 only for huge K; kept general).
  let u = wid.x + wid.z * nwg.x;
  if (u > p.units) {
    return;
  }
  let t0 = wid.y * TT;
  let tail = u == p.units;
  let tailStart = p.units * UNIT;
  var acc: array<vec4<f32>, MAX_TT * XSLOTS>;
  for (var s = 0u; s < MAX_TT * XSLOTS; s++) {
    acc[s] = vec4<f32>(0.0);
  }
  for (var n = lid; n < p.n; n += WG) {
    let row = Row(n * p.wStride, n * p.sStride);
    var g: array<f32, MAX_TT>;
    for (var i = 0u; i < TT; i++) {
      g[i] = x[min(t0 + i, p.rows - 1u) * p.dyStride + p.dyCol + n];
    }
    if (!tail) {
      let unit = loadUnit(row, u);
      for (var j = 0u; j < PACKETS; j++) {
        let wj = weights(unit, j);
        let slots = packetSlots(j);
        for (var i = 0u; i < TT; i++) {
          acc[i * XSLOTS + slots.x] += g[i] * wj.lo;
          acc[i * XSLOTS + slots.y] += g[i] * wj.hi;
        }
      }
    } else {
      for (var c = 0u; tailStart + c < p.k; c++) {
        let wk = wAt(row, tailStart + c);
        for (var i = 0u; i < TT; i++) {
          acc[i * XSLOTS + c / 4u][c % 4u] += g[i] * wk;
        }
      }
    }
  }
  for (var i = 0u; i < TT; i++) {
    for (var s = 0u; s < XSLOTS; s++) {
      partial[(lid * MAX_TT + i) * XSLOTS + s] = acc[i * XSLOTS + s];
    }
  }
  workgroupBarrier();
  for (var o = lid; o < TT * XSLOTS; o += WG) {
    let i = o / XSLOTS;
    let s = o % XSLOTS;
    let t = t0 + i;
    if (t >= p.rows) {
      continue;
    }
    var sum = vec4<f32>(0.0);
    for (var l = 0u; l < WG; l++) {
      sum += partial[(l * MAX_TT + i) * XSLOTS + s];
    }
    let col0 = select(xCol(u, s), tailStart + 4u * s, tail);
    for (var c = 0u; c < 4u; c++) {
      let col = col0 + c;
      if (col < p.k) {
        let at = t * p.k + col;
        let value = p.scale * sum[c];
        if (p.accumulate != 0u) {
          dx[at] += value;
        } else {
          dx[at] = value;
        }
      }
    }
  }
}
