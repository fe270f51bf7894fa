// q5_k (see quant.wgsl, and quant_scale_min.wgsl for what it shares with q4_k): whole GGUF blocks
// of 256 values, 176 bytes = 11 vec4 words (Row.w counts vec4s): word 0 as q4_k's (f16 d, f16
// dmin, scale bytes 0 … 11), words 1, 2 the 32 qh bytes, words 3 … 10 the nibbles as q4_k's.
// Value l of sub-block s has its fifth bit at bit s of qh byte l, so unit g (sub-blocks 2g,
// 2g + 1) reads all of qh for bits 2g and 2g + 1, and nibble words 3 + 2g, 4 + 2g.

struct Unit {
  lo: vec4<u32>, // nibble bytes 32g … 32g + 15
  hi: vec4<u32>, // nibble bytes 32g + 16 … 32g + 31
  h0: vec4<u32>, // qh bytes 0 … 15, shifted down by 2g: bits 0 and 1 of each byte are this unit's
  h1: vec4<u32>, // qh bytes 16 … 31, likewise
  scale: vec2<f32>, // d·scale of sub-blocks 2g, 2g + 1
  min: vec2<f32>, // dmin·min of sub-blocks 2g, 2g + 1
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let block = row.w + (u / 4u) * 11u;
  let g = u % 4u;
  let scales = partScales(wordsAt(block), g);
  let shift = vec4<u32>(2u * g);
  return Unit(
    wordsAt(block + 3u + 2u * g),
    wordsAt(block + 4u + 2u * g),
    wordsAt(block + 1u) >> shift,
    wordsAt(block + 2u) >> shift,
    scales.xy,
    scales.zw,
  );
}

// Packet i is nibble word i of the unit and qh word i (values 4i … 4i + 3 of sub-blocks 2g, 2g + 1):
// 5-bit codes, one per byte (decoded in place as bytes).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.hi, unit.lo, i < 4u)[i % 4u];
  let h = select(unit.h1, unit.h0, i < 4u)[i % 4u];
  let lo = (q & 0x0f0f0f0fu) | ((h & 0x01010101u) << 4u);
  let hi = ((q >> 4u) & 0x0f0f0f0fu) | ((h & 0x02020202u) << 3u);
  return Packet(bytesInPlace(lo), bytesInPlace(hi));
}

fn xScale(s: u32) -> vec4<f32> {
  return PLACE_LO;
}
