// The backward of RoPE (rotate-half layout, attention_input.wgsl's forward): the rotation of each
// pair (i, i + D/2) by the angle (position0 + t)·invFreq[i] is orthogonal, so the gradient is
// rotated back by the same angle:
//   (g[i], g[i + D/2]) ← (g[i]·cos + g[i + D/2]·sin, g[i + D/2]·cos − g[i]·sin)
// in place on the (T, H, D) gradient of queries or keys, which may be heads inside wider rows. One invocation per pair, 2D grid. The
// angle and its reduction to [-π, π] are attention_input.wgsl's, to the bit, so forward and
// backward use the same cos and sin.

struct Params {
  rows: u32, // T
  heads: u32, // H
  headDim: u32, // D (even)
  position0: u32, // position of row 0
  rowStride: u32, // elements between rows (H·D, or (H + 2·Hkv)·D inside a q, k, v gradient)
  offset: u32, // element of head 0 within a row
  period: u32, // rows per sequence: row t is at position position0 + t mod period
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> grad: array<f32>; // (T, rowStride)
@group(0) @binding(2) var<storage, read> invFreq: array<f32>; // (D/2), see rope.ts

const WG: u32 = 256u;
const TWO_PI_HI: f32 = 6.28318548202514648;
const TWO_PI_LO: f32 = -1.7484555314695172e-7;
const INV_TWO_PI: f32 = 0.15915494309189535;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let half = p.headDim / 2u;
  let pair = (wid.x + wid.y * nwg.x) * WG + lid;
  if (pair >= p.rows * p.heads * half) {
    return;
  }
  let i = pair % half;
  let head = pair / half; // (t, h) flattened
  let t = head / p.heads;
  let h = head % p.heads;
  let angle = f32(p.position0 + t % p.period) * invFreq[i];
  let turns = round(angle * INV_TWO_PI);
  let reduced = fma(-turns, TWO_PI_LO, fma(-turns, TWO_PI_HI, angle));
  let c = cos(reduced);
  let s = sin(reduced);
  let at = t * p.rowStride + p.offset + h * p.headDim + i;
  let a = grad[at];
  let b = grad[at + half];
  grad[at] = a * c + b * s;
  grad[at + half] = b * c - a * s;
}
