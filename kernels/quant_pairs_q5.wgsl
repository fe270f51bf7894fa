// 5-bit codes (q5_0, q5_1; see quant_pairs.wgsl): the nibbles, and bit j of the block's qh as the
// fifth bit of value j. qh is in wHigh, at word Row.w + b for block b of a row (one vec4 of
// nibbles and one word of qh per block).

fn loadHigh(at: u32) -> vec2<u32> {
  return vec2<u32>(wHigh[at], wHigh[at + 1u]);
}

// The codes of packet i, one per byte (in place: xScale is PLACE_LO): the nibbles with their
// fifth bits, bits 4j … 4j + 3 (lo) and 16 + 4j … (hi) of the block's qh, each moved to bit 4 of
// its byte (the multiply copies 4 bits to 4 places 7 apart, the mask keeps one each).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = nibbleWord(unit, i);
  let h = select(unit.h.y, unit.h.x, i < 4u) >> (4u * (i % 4u));
  let lo = (q & 0x0f0f0f0fu) | (((h & 15u) * 0x02040810u) & 0x10101010u);
  let hi = ((q >> 4u) & 0x0f0f0f0fu) | ((((h >> 16u) & 15u) * 0x02040810u) & 0x10101010u);
  return Packet(bytesInPlace(lo), bytesInPlace(hi));
}

fn xScale(s: u32) -> vec4<f32> {
  return PLACE_LO;
}

fn codeAt(row: Row, k: u32) -> f32 {
  let high = (wHigh[row.w + k / 32u] >> (k % 32u)) & 1u;
  return f32(nibbleAt(row, k) | (high << 4u));
}
