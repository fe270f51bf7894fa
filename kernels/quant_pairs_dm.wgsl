// Scales of q4_1 and q5_1 (see quant_pairs.wgsl): f16 d and m per block, one word of wScales
// (rows of scales start on even indices), and w = d·code + m.

fn blockAffine(row: Row, b: u32) -> vec2<f32> {
  return unpack2x16float(wScales[row.s / 2u + b]);
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  let a = blockAffine(row, 2u * u);
  let b = blockAffine(row, 2u * u + 1u);
  return Unit(wordsAt(at), wordsAt(at + 1u), loadHigh(at), vec2<f32>(a.x, b.x), vec2<f32>(a.y, b.y));
}
