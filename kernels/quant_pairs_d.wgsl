// Scales of q4_0, q5_0 and iq4_nl (see quant_pairs.wgsl): an f16 d per block in wScales, and
// w = d·code − ZERO·d with the format's ZERO (quant_shader.ts declares it). The two scales of a
// unit are one word of wScales (rows of scales start on even indices).

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  let d = unpack2x16float(wScales[row.s / 2u + u]);
  return Unit(wordsAt(at), wordsAt(at + 1u), loadHigh(at), d, -ZERO * d);
}

fn blockAffine(row: Row, b: u32) -> vec2<f32> {
  let d = scaleAt(row.s + b);
  return vec2<f32>(d, -ZERO * d);
}
