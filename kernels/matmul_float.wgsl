// The f32 / f16 weight format of matmul.wgsl: a unit is 8 consecutive elements of a row, one
// packet, and its "codes" are the weights themselves (AFFINE false). Row.w counts elements (the
// row stride is K, or K rounded up to even for f16); f16 pairs are unpacked with
// unpack2x16float, f32 words are bitcast.

const UNIT = 8u;
const SPAN = 8u; // values of the fewest whole units that cover a run of columns
const PACKETS = 1u;
const XSLOTS = 2u;
const GROUPS = 1u;
const AFFINE = false;

// Unit, weightAt and weightUnit come from float_weights.wgsl, in front of this file.

fn wAt(row: Row, k: u32) -> f32 {
  return weightAt(row.w + k);
}

// 8 weights from element e (e even: row starts are even and units start at multiples of 8).
fn loadUnit(row: Row, u: u32) -> Unit {
  return weightUnit(row.w + u * 8u);
}

fn decode(unit: Unit, i: u32) -> Packet {
  return Packet(unit.lo, unit.hi);
}

fn xCol(u: u32, s: u32) -> u32 {
  return 8u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 1u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 0u);
}

fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(1.0, 0.0);
}

fn xScale(s: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
