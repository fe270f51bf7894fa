// The 32-value nibble formats (q4_0, q5_0, see quant.ts) in units of two blocks, after quant.wgsl:
// what they share, in front of each format's own file (quant_<type>.wgsl: loadUnit, decode,
// xScale, wAt). A block is one vec4 word of nibbles in w (Row.w counts vec4s): byte j holds value
// j in its low nibble and value j + 16 in its high nibble. A unit is blocks 2u and 2u + 1 of a
// row (64 values; group b is block b of the pair); a row with an odd number of blocks leaves its
// last one to the format's wAt. Each group's weights are w = d·code + m (affine).

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

struct Unit {
  a: vec4<u32>, // block 0's nibbles
  b: vec4<u32>, // block 1's nibbles
  h: vec2<u32>, // the 5-bit formats: each block's fifth bits (qh), else unused
  d: vec2<f32>, // each block's scale
  m: vec2<f32>, // each block's bias
}

// Packet i is word i % 4 of block i / 4: its low nibbles are values 4j … 4j + 3 of the block
// (j = i % 4), its high nibbles values 16 + 4j …; x slots 8b + j and 8b + j + 4.
fn nibbleWord(unit: Unit, i: u32) -> u32 {
  return select(unit.b, unit.a, i < 4u)[i % 4u];
}

fn xCol(u: u32, s: u32) -> u32 {
  return 64u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  let lo = 8u * (i / 4u) + i % 4u;
  return vec2<u32>(lo, lo + 4u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(i / 4u, i / 4u);
}

fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.d[g], unit.m[g]);
}

// The 5-bit codes of packet i, one per byte (in place: xScale is PLACE_LO): the nibbles with
// their fifth bits, bits 4j … 4j + 3 (lo) and 16 + 4j … (hi) of the block's qh, each moved to
// bit 4 of its byte (the multiply copies 4 bits to 4 places 7 apart, the mask keeps one each).
fn fiveBitCodes(unit: Unit, i: u32) -> Packet {
  let q = nibbleWord(unit, i);
  let h = select(unit.h.y, unit.h.x, i < 4u) >> (4u * (i % 4u));
  let lo = (q & 0x0f0f0f0fu) | (((h & 15u) * 0x02040810u) & 0x10101010u);
  let hi = ((q >> 4u) & 0x0f0f0f0fu) | ((((h >> 16u) & 15u) * 0x02040810u) & 0x10101010u);
  return Packet(bytesInPlace(lo), bytesInPlace(hi));
}

// The 4-bit code of value k of a row (for wAt).
fn nibbleAt(row: Row, k: u32) -> u32 {
  let j = k % 32u;
  let q = w[row.w + k / 32u][(j % 16u) / 4u];
  return (q >> (8u * (j % 4u) + 4u * (j / 16u))) & 15u;
}
