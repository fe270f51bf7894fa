// q3_k (see quant.wgsl, and quant_two_bit.wgsl for its codes and units): blocks of 256 values,
// 110 bytes padded to 112 = 7 vec4 words (Row.w counts vec4s): words 0, 1 hmask, words 2 … 5
// the 2-bit codes, word 6 the 12 scale bytes (.x, .y, .z) and f16 d (low half of .w).
// w = d·scale·(q − 4 + 4·hbit), with the signed 6-bit scale of 16 values (stored plus 32: low 4
// bits in nibble s / 8 of byte s % 8, top 2 bits at bit 2·(s / 4) of byte 8 + s % 4) and hbit
// bit 4h + j of hmask byte l. Codes c = q + 4·hbit (0 … 7) give w = d·scale·c − 4·d·scale.

struct Unit {
  lo: vec4<u32>, // code bytes 32h … 32h + 15, shifted down by 2j
  hi: vec4<u32>, // code bytes 32h + 16 … 32h + 31, likewise
  m0: vec4<u32>, // hmask bytes 0 … 15 shifted down by 4h + j: bit 0 for j, bit 1 for j + 1
  m1: vec4<u32>, // hmask bytes 16 … 31, likewise
  scale: vec4<f32>, // d·scale of groups 0 … 3 (scales 4g … 4g + 3)
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let block = row.w + (u / 4u) * 7u;
  let g = u % 4u;
  let h = g / 2u;
  let tail = wordsAt(block + 6u);
  // Scale 4g + c: low bits in nibble h of byte 4·(g % 2) + c, top bits 2g, 2g + 1 of byte 8 + c.
  let low = (select(tail.y, tail.x, g % 2u == 0u) >> (4u * h)) & 0x0f0f0f0fu;
  let high = (tail.z >> (2u * g)) & 0x03030303u;
  let scales = byteValues(low | (high << 4u)) - 32.0;
  let codes = codeWords(block + 2u + 2u * h, g);
  let maskShift = vec4<u32>(4u * h + 2u * (g % 2u));
  return Unit(
    codes[0],
    codes[1],
    wordsAt(block) >> maskShift,
    wordsAt(block + 1u) >> maskShift,
    unpack2x16float(tail.w).x * scales,
  );
}

// Packet i: 3-bit codes c = q | hbit << 2, one per byte: lo in bits 0 … 2, hi in bits 2 … 4.
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.hi, unit.lo, i < 4u)[i % 4u];
  let m = select(unit.m1, unit.m0, i < 4u)[i % 4u];
  let lo = (q & 0x03030303u) | ((m & 0x01010101u) << 2u);
  let hi = (q & 0x0c0c0c0cu) | ((m & 0x02020202u) << 3u);
  return Packet(bytesInPlace(lo), bytesInPlace(hi));
}

// w = d·scale·c − 4·d·scale.
fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.scale[g], -4.0 * unit.scale[g]);
}
