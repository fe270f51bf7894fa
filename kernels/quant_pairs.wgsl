// The 32-value nibble formats (q4_0, q5_0, q4_1, q5_1, iq4_nl; see quant_formats32.ts) in units
// of two blocks, after quant.wgsl. A format is this file, one way of storing scales and one way of
// coding values (quant_shader.ts joins them):
//   scales  quant_pairs_d.wgsl   an f16 d per block, w = d·code − ZERO·d (q4_0, q5_0, iq4_nl)
//           quant_pairs_dm.wgsl  f16 d and m per block, w = d·code + m (q4_1, q5_1)
//           quant_iq4_xs.wgsl    iq4_xs's, whose 32-value sub-blocks are the blocks here
//   codes   quant_pairs_q4.wgsl  the nibbles (q4_0, q4_1)
//           quant_pairs_q5.wgsl  the nibbles and a fifth bit from wHigh (q5_0, q5_1)
//           quant_pairs_nl.wgsl  iq4_nl's table at the nibbles
// The scales file defines loadUnit and blockAffine(row, b) (block b's (d, m)); the codes file
// decode, xScale, codeAt(row, k) (value k's code, for wAt) and loadHigh (a unit's fifth bits).
// A block is one vec4 word of nibbles in w (Row.w counts vec4s): byte j holds value j in its low
// nibble and value j + 16 in its high nibble. A unit is blocks 2u and 2u + 1 of a row (64
// values; group b is block b of the pair); a row with an odd number of blocks leaves its last one
// to wAt.

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

struct Unit {
  a: vec4<u32>, // block 0's nibbles
  b: vec4<u32>, // block 1's nibbles
  h: vec2<u32>, // each block's fifth bits (qh), for the 5-bit codes
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

// The 4-bit code of value k of a row.
fn nibbleAt(row: Row, k: u32) -> u32 {
  let j = k % 32u;
  let q = wordsAt(row.w + k / 32u)[(j % 16u) / 4u];
  return (q >> (8u * (j % 4u) + 4u * (j / 16u))) & 15u;
}

// One weight (the last block of a row with an odd block count).
fn wAt(row: Row, k: u32) -> f32 {
  let a = blockAffine(row, k / 32u);
  return a.x * codeAt(row, k) + a.y;
}
