// q2_k (see quant.wgsl, and quant_two_bit.wgsl for its codes and units): blocks of 256 values
// whose 16 scale bytes and 64 code bytes are 80 bytes = 5 vec4 words (Row.w counts vec4s), and
// whose f16 d and dmin are one word of wScales (block b's at word Row.s / 2 + b: Row.s counts
// f16s). Scale byte s (one per 16 values, s = 4g + group for unit part g) holds the scale in its
// low nibble and the min in its high nibble: w = d·scale·q − dmin·min.

struct Unit {
  lo: vec4<u32>, // code bytes 32h … 32h + 15, shifted down by 2j
  hi: vec4<u32>, // code bytes 32h + 16 … 32h + 31, likewise
  scale: vec4<f32>, // d·scale of groups 0 … 3
  min: vec4<f32>, // dmin·min of groups 0 … 3
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let b = u / 4u;
  let g = u % 4u;
  let block = row.w + b * 5u;
  let codes = codeWords(block + 1u + 2u * (g / 2u), g);
  let pairs = wordsAt(block)[g]; // scale bytes 4g … 4g + 3
  let dd = unpack2x16float(wScales[row.s / 2u + b]); // (d, dmin)
  return Unit(
    codes[0],
    codes[1],
    dd.x * byteValues(pairs & 0x0f0f0f0fu),
    dd.y * byteValues((pairs >> 4u) & 0x0f0f0f0fu),
  );
}

// Packet i: the lo codes in bits 0, 1 of each byte, the hi codes in bits 2, 3 (in place).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.hi, unit.lo, i < 4u)[i % 4u];
  return Packet(bytesInPlace(q & 0x03030303u), bytesInPlace(q & 0x0c0c0c0cu));
}

// w = d·scale·q − dmin·min.
fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.scale[g], -unit.min[g]);
}
