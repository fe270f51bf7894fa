// iq4_xs's scales (see quant.ts): blocks of 256 values, eight sub-blocks of 32 coded as iq4_nl
// blocks are (16 bytes of nibbles, each picking one of 16 non-linear levels), each with a signed
// 6-bit scale times the block's f16 d. So iq4_xs is a 32-value pair format whose blocks are the
// sub-blocks: quant_pairs.wgsl, this file's scales and quant_pairs_nl.wgsl's codes. The 128 nibble
// bytes are 8 vec4 words per block in w (Row.w counts vec4s), and d, scales_h and scales_l are
// two words of wScales per block (block b's at words Row.s / 2 + 2b: d | scales_h << 16, then
// scales_l; Row.s counts 16-bit fields). Sub-block s's scale is (nibble s of scales_l | bits 2s,
// 2s + 1 of scales_h << 4) − 32. w = d·scale·level: no bias.

// d·scale of sub-blocks s.x and s.y of the block whose words in wScales start at `side`.
fn subBlockScales(side: u32, s: vec2<u32>) -> vec2<f32> {
  let head = wScales[side]; // d | scales_h << 16
  let low = (vec2<u32>(wScales[side + 1u]) >> (4u * s)) & vec2<u32>(15u);
  let high = (vec2<u32>(head >> 16u) >> (2u * s)) & vec2<u32>(3u);
  return unpack2x16float(head).x * (vec2<f32>(low | (high << vec2<u32>(4u))) - 32.0);
}

// Unit u: sub-blocks 2p and 2p + 1 of block u / 4 (p = u % 4).
fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  let s = vec2<u32>(2u * (u % 4u)) + vec2<u32>(0u, 1u);
  let d = subBlockScales(row.s / 2u + 2u * (u / 4u), s);
  return Unit(wordsAt(at), wordsAt(at + 1u), loadHigh(at), d, vec2<f32>(0.0));
}

// Sub-block b of the row.
fn blockAffine(row: Row, b: u32) -> vec2<f32> {
  return vec2<f32>(subBlockScales(row.s / 2u + 2u * (b / 8u), vec2<u32>(b % 8u)).x, 0.0);
}
