// q4_k (see quant.wgsl, and quant_scale_min.wgsl for what it shares with q5_k): whole GGUF blocks
// of 256 values, 144 bytes = 9 vec4 words (Row.w counts vec4s): word 0 is f16 d, f16 dmin and
// scale bytes 0 … 11; words 1 … 8 the nibbles. Unit g's codes are nibble bytes 32g … 32g + 31
// (two vec4s), whose low nibbles are sub-block 2g and high nibbles sub-block 2g + 1.

struct Unit {
  lo: vec4<u32>, // nibble bytes 32g … 32g + 15
  hi: vec4<u32>, // nibble bytes 32g + 16 … 32g + 31
  scale: vec2<f32>, // d·scale of sub-blocks 2g, 2g + 1
  min: vec2<f32>, // dmin·min of sub-blocks 2g, 2g + 1
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let block = row.w + (u / 4u) * 9u;
  let g = u % 4u;
  let scales = partScales(wordsAt(block), g);
  return Unit(wordsAt(block + 1u + 2u * g), wordsAt(block + 2u + 2u * g), scales.xy, scales.zw);
}

// Packet i is nibble word i of the unit: low nibbles are values 4i … 4i + 3 of sub-block 2g
// (x slot i), high nibbles the same values of sub-block 2g + 1 (slot i + 8).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.hi, unit.lo, i < 4u)[i % 4u];
  return Packet(lowNibbles(q), highNibbles(q));
}

// Slots 0 … 7 hold low nibbles, 8 … 15 high nibbles.
fn xScale(s: u32) -> vec4<f32> {
  return select(PLACE_HI, PLACE_LO, s < 8u);
}
