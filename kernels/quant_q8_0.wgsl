// q8_0 (see quant.wgsl): blocks of 32 values, 32 i8 codes (two vec4 words per block; Row.w
// counts vec4s) and an f16 scale d in wScales: w = d·q = d·(q + 128) − 128d. A unit is two
// blocks (64 values; group b is block b of the pair), so one word of wScales holds both scales
// (rows of scales start on even indices); a row with an odd number of blocks leaves its last
// block to wAt.

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

struct Unit {
  a0: vec4<u32>, // block 0, codes 0 … 15
  a1: vec4<u32>, // block 0, codes 16 … 31
  b0: vec4<u32>, // block 1, codes 0 … 15
  b1: vec4<u32>, // block 1, codes 16 … 31
  d: vec2<f32>,
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 4u * u;
  return Unit(wordsAt(at), wordsAt(at + 1u), wordsAt(at + 2u), wordsAt(at + 3u), unpack2x16float(wScales[row.s / 2u + u]));
}

// Packet i is values 8i … 8i + 7 of the unit (x slots 2i, 2i + 1): words 2i, 2i + 1. The codes
// are q + 128 (the sign bits flipped: unsigned bytes, decoded in place); the bias takes the 128
// back off.
fn decode(unit: Unit, i: u32) -> Packet {
  let words = select(select(unit.b1, unit.b0, i < 6u), select(unit.a1, unit.a0, i < 2u), i < 4u);
  let pair = select(words.zw, words.xy, i % 2u == 0u) ^ vec2<u32>(0x80808080u);
  return Packet(bytesInPlace(pair.x), bytesInPlace(pair.y));
}

fn xScale(s: u32) -> vec4<f32> {
  return PLACE_LO;
}

fn xCol(u: u32, s: u32) -> u32 {
  return 64u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(2u * i, 2u * i + 1u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(i / 4u, i / 4u);
}

fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.d[g], -128.0 * unit.d[g]);
}

// One weight (the last block of a row with an odd block count).
fn wAt(row: Row, k: u32) -> f32 {
  let b = k / 32u;
  let j = k % 32u;
  let q = wordsAt(row.w + 2u * b + j / 16u)[(j % 16u) / 4u];
  return scaleAt(row.s + b) * signedBytes(q)[j % 4u];
}
