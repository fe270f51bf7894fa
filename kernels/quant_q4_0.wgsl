// q4_0 (see quant_pairs.wgsl): an f16 scale d per block in wScales, w = d·q − 8d. The two scales
// of a unit are one word of wScales (rows of scales start on even indices).

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  let d = unpack2x16float(wScales[row.s / 2u + u]);
  return Unit(w[at], w[at + 1u], vec2<u32>(0u), d, -8.0 * d);
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

// One weight (the last block of a row with an odd block count).
fn wAt(row: Row, k: u32) -> f32 {
  return scaleAt(row.s + k / 32u) * (f32(nibbleAt(row, k)) - 8.0);
}
