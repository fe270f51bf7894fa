// q4_0 (see quant.wgsl): blocks of 32 values, 16 bytes of nibbles (one vec4 word per block; Row.w
// counts vec4s) and an f16 scale d in wScales: w = d·q − 8d. Byte j holds value j in its low
// nibble and value j + 16 in its high nibble. A unit is two blocks (64 values; group b is block b
// of the pair), so one word of wScales holds both scales (rows of scales start on even indices);
// a row with an odd number of blocks leaves its last block to wAt.

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

struct Unit {
  a: vec4<u32>, // block 0
  b: vec4<u32>, // block 1
  d: vec2<f32>,
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  return Unit(w[at], w[at + 1u], unpack2x16float(wScales[row.s / 2u + u]));
}

// Packet i is word i % 4 of block i / 4: its low nibbles are values 4j … 4j + 3 of the block
// (j = i % 4), its high nibbles values 16 + 4j …; x slots 8b + j and 8b + j + 4.
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.b, unit.a, i < 4u)[i % 4u];
  return Packet(lowNibbles(q), highNibbles(q));
}

// Slots 8b … 8b + 3 hold low nibbles, 8b + 4 … 8b + 7 high nibbles.
fn xScale(s: u32) -> vec4<f32> {
  return select(PLACE_HI, PLACE_LO, s % 8u < 4u);
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
  return vec2<f32>(unit.d[g], -8.0 * unit.d[g]);
}

// One weight (the last block of a row with an odd block count).
fn wAt(row: Row, k: u32) -> f32 {
  let b = k / 32u;
  let j = k % 32u;
  let q = w[row.w + b][(j % 16u) / 4u];
  let code = (q >> (8u * (j % 4u) + 4u * (j / 16u))) & 15u;
  return scaleAt(row.s + b) * (f32(code) - 8.0);
}
