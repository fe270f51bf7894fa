// What q4_k and q5_k share (see quant.wgsl): their blocks begin with the same head word (f16 d,
// f16 dmin, 12 bytes of packed 6-bit (scale, min) pairs: quant.ts) and split into eight
// sub-blocks of 32 values, w = d·scale_s·q − dmin·min_s. A unit is 64 values, part g = 0 … 3 of a
// block: sub-block 2g (group 0, the low nibbles of the codes, x slots 0 … 7) and sub-block 2g + 1
// (group 1, high nibbles, slots 8 … 15). The format's Unit has the fields scale and min.

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

// The 6-bit (scale, min) of sub-block s from the scale bytes in words 1 … 3 of the block head:
// s < 4: low 6 bits of bytes s and s + 4; s ≥ 4: low and high nibble of byte s + 4, with top
// bits from bytes s − 4 and s.
fn scaleMin(head: vec4<u32>, s: u32) -> vec2<f32> {
  if (s < 4u) {
    return vec2<f32>(f32(byteOf(head.y, s) & 63u), f32(byteOf(head.z, s) & 63u));
  }
  let packed = byteOf(head.w, s - 4u);
  return vec2<f32>(
    f32((packed & 15u) | ((byteOf(head.y, s - 4u) >> 6u) << 4u)),
    f32((packed >> 4u) | ((byteOf(head.z, s - 4u) >> 6u) << 4u)),
  );
}

// (d·scale, dmin·min) of sub-blocks 2g, 2g + 1: .xy the scales, .zw the mins.
fn partScales(head: vec4<u32>, g: u32) -> vec4<f32> {
  let dd = unpack2x16float(head.x); // (d, dmin)
  let s0 = scaleMin(head, 2u * g);
  let s1 = scaleMin(head, 2u * g + 1u);
  return vec4<f32>(dd.x * vec2<f32>(s0.x, s1.x), dd.y * vec2<f32>(s0.y, s1.y));
}

fn xCol(u: u32, s: u32) -> u32 {
  return 64u * u + 4u * s;
}

// Packet i: the codes of values 4i … 4i + 3 of both sub-blocks.
fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(i, i + 8u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 1u);
}

// w = d·scale·q − dmin·min.
fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.scale[g], -unit.min[g]);
}

// Rows are whole 256-value blocks, a multiple of UNIT: there is no tail.
fn wAt(row: Row, k: u32) -> f32 {
  return 0.0;
}
