// q6_k (see quant.wgsl): blocks of 256 values, each 208 bytes = 13 vec4 words (Row.w counts vec4s)
// of ql (words 0 … 7), qh (words 8 … 11) and 16 i8 scales (word 12), plus an f16 d in wScales:
// w = d·scale·(q − 32), q = 4 bits from ql | 2 bits from qh << 4, one scale per 16 values.
// In half h of a block, value 32g + l (g = 0 … 3, l = 0 … 31) takes the low (g < 2) or high
// nibble of ql byte 64h + 32·(g & 1) + l, and bits 2g, 2g + 1 of qh byte 32h + l.
// A unit is 64 values: half h, l in 16c … 16c + 15 (c = 0, 1), all four g (group g: 16 values,
// one scale). Its ql bytes are the vec4 words 4h + c (g = 0, 2) and 4h + 2 + c (g = 1, 3), its
// qh bytes word 8 + 2h + c, and its scales numbers 8h + 2g + c.

const UNIT = 64u;
const SPAN = 128u; // units 2m and 2m + 1 interleave over one half block
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 4u;

struct Unit {
  a: vec4<u32>, // ql for g = 0 (low nibbles) and g = 2 (high)
  b: vec4<u32>, // ql for g = 1 (low nibbles) and g = 3 (high)
  h: vec4<u32>, // qh, two bits per g
  scale: vec4<f32>, // d·scale for g = 0 … 3
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let block = row.w + (u / 4u) * 13u;
  let h = (u / 2u) % 2u;
  let c = u % 2u;
  let scales = wordsAt(block + 12u);
  // Scale 8h + 2g + c (an i8) is byte c (g even) or c + 2 (g odd) of word 2h + g / 2.
  let s01 = signedBytes(scales[2u * h]);
  let s23 = signedBytes(scales[2u * h + 1u]);
  let d = scaleAt(row.s + u / 4u);
  return Unit(
    wordsAt(block + 4u * h + c),
    wordsAt(block + 4u * h + 2u + c),
    wordsAt(block + 8u + 2u * h + c),
    d * select(
      vec4<f32>(s01.y, s01.w, s23.y, s23.w),
      vec4<f32>(s01.x, s01.z, s23.x, s23.z),
      c == 0u,
    ),
  );
}

// Packet i: word j = i / 2 of the unit (l = 16c + 4j … 16c + 4j + 3) for g = i % 2 (lo) and
// g + 2 (hi); codes 0 … 63.
fn decode(unit: Unit, i: u32) -> Packet {
  let j = i / 2u;
  let g = i % 2u;
  let ql = select(unit.b, unit.a, g == 0u)[j];
  let qh = unit.h[j];
  let lo = (ql & 0x0f0f0f0fu) | (((qh >> (2u * g)) & 0x03030303u) << 4u);
  let hi = ((ql >> 4u) & 0x0f0f0f0fu) | (((qh >> (2u * g + 4u)) & 0x03030303u) << 4u);
  return Packet(bytesInPlace(lo), bytesInPlace(hi));
}

fn xScale(s: u32) -> vec4<f32> {
  return PLACE_LO;
}

// x slot 4g + j holds the unit's values for that g at l = 16c + 4j … 16c + 4j + 3.
fn xCol(u: u32, s: u32) -> u32 {
  let unitStart = 256u * (u / 4u) + 128u * ((u / 2u) % 2u) + 16u * (u % 2u);
  return unitStart + 32u * (s / 4u) + 4u * (s % 4u);
}

fn packetSlots(i: u32) -> vec2<u32> {
  let lo = 4u * (i % 2u) + i / 2u;
  return vec2<u32>(lo, lo + 8u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(i % 2u, i % 2u + 2u);
}

// w = d·scale·(q − 32).
fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.scale[g], -32.0 * unit.scale[g]);
}

// Rows are whole 256-value blocks, a multiple of UNIT: there is no tail.
fn wAt(row: Row, k: u32) -> f32 {
  return 0.0;
}
