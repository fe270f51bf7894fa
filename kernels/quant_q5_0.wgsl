// q5_0 (see quant_pairs.wgsl): an f16 scale d per block in wScales and its u32 of fifth bits qh
// in wHigh (word Row.w + b for block b of a row: one vec4 of nibbles per block), w = d·q − 16d.
// The two scales of a unit are one word of wScales (rows of scales start on even indices).

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  let d = unpack2x16float(wScales[row.s / 2u + u]);
  return Unit(w[at], w[at + 1u], vec2<u32>(wHigh[at], wHigh[at + 1u]), d, -16.0 * d);
}

fn decode(unit: Unit, i: u32) -> Packet {
  return fiveBitCodes(unit, i);
}

fn xScale(s: u32) -> vec4<f32> {
  return PLACE_LO;
}

// One weight (the last block of a row with an odd block count).
fn wAt(row: Row, k: u32) -> f32 {
  let b = k / 32u;
  let code = nibbleAt(row, k) | (((wHigh[row.w + b] >> (k % 32u)) & 1u) << 4u);
  return scaleAt(row.s + b) * (f32(code) - 16.0);
}
