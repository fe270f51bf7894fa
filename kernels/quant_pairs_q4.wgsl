// 4-bit codes, the nibbles (q4_0, q4_1; see quant_pairs.wgsl).

fn loadHigh(at: u32) -> vec2<u32> {
  return vec2<u32>(0u);
}

// The nibbles in place: low ones times 1, 2^8, …; high ones times 2^4, 2^12, ….
fn decode(unit: Unit, i: u32) -> Packet {
  let q = nibbleWord(unit, i);
  return Packet(lowNibbles(q), highNibbles(q));
}

// Slots 8b … 8b + 3 hold low nibbles, 8b + 4 … 8b + 7 high nibbles.
fn xScale(s: u32) -> vec4<f32> {
  return select(PLACE_HI, PLACE_LO, s % 8u < 4u);
}

fn codeAt(row: Row, k: u32) -> f32 {
  return f32(nibbleAt(row, k));
}
