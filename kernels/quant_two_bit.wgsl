// What q3_k and q2_k share (see quant.wgsl): 256-value blocks whose low bits are 2-bit codes in
// 64 bytes (in half h, value 32j + l, j = 0 … 3, l = 0 … 31, is bits 2j, 2j + 1 of code byte
// 32h + l), with a scale (and q2_k a min) per 16 values. A unit is 64 values, part g = 0 … 3 of a
// block: half h = g / 2 and j = 2·(g % 2) (x slots 0 … 7) and j + 1 (slots 8 … 15), all l. The
// format's loadUnit shifts the unit's 32 code bytes down by 2j, so that a packet's lo codes are
// bits 0, 1 of each byte and its hi codes bits 2, 3: decoded in place, times 4 (xScale). Group
// 2·(j offset) + l / 16 is the block's scale 4g + group.

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 4u;

// Slots 0 … 7 hold codes in bits 0, 1 of each byte, 8 … 15 codes in bits 2, 3 (and up).
fn xScale(s: u32) -> vec4<f32> {
  return select(PLACE_LO / 4.0, PLACE_LO, s < 8u);
}

// The unit is values 64u … 64u + 63 of the row.
fn xCol(u: u32, s: u32) -> u32 {
  return 64u * u + 4u * s;
}

// Packet i: code word i of the unit, values l = 4i … 4i + 3 of j (lo) and j + 1 (hi).
fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(i, i + 8u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(i / 4u, 2u + i / 4u);
}

// The unit's code words of half h (words `at`, at + 1 of 16 bytes), shifted down by 2j for g.
fn codeWords(at: u32, g: u32) -> array<vec4<u32>, 2> {
  let shift = vec4<u32>(4u * (g % 2u));
  return array<vec4<u32>, 2>(wordsAt(at) >> shift, wordsAt(at + 1u) >> shift);
}

// The four bytes of q as values (low byte first).
fn byteValues(q: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
}

// Rows are whole 256-value blocks, a multiple of UNIT: there is no tail.
fn wAt(row: Row, k: u32) -> f32 {
  return 0.0;
}
