// Helpers shared by the quantized weight formats (quant_shader.ts), after weight_rows.wgsl (the
// structs Row and Packet). A format is joined to a host shader (matmul.wgsl, matmul_blocked.wgsl,
// embedding_quant.wgsl) that declares `w: array<vec4<u32>>` (the blocks' quant bytes, 16-byte
// aligned per block), `wScales: array<u32>` (the f16 fields of each block, two per word, for
// the formats that keep them apart) and `wHigh: array<u32>` (the 5-bit formats' fifth bits, one
// word per block). See matrix.ts (QUANT_LAYOUTS) for what the upload puts where, quant.ts for
// the block formats.

// Quantized formats decode integer codes; w = code·scale + bias per group (affine).
const AFFINE = true;

// f16 scale number i of the chunk (two per word, low half first).
fn scaleAt(i: u32) -> f32 {
  return unpack2x16float(wScales[i / 2u])[i % 2u];
}

// Codes are decoded "in place": a field of q masked but not shifted down, as a float, is the
// field's value times 2^shift, exactly (few significant bits). Its x slot is multiplied by
// 2^-shift instead (xScale), once per unit for all the rows that share x: one operation per value
// saved. PLACE_LO / PLACE_HI are those multipliers for bytes and for their high nibbles.
const PLACE_LO = vec4<f32>(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0 / 16777216.0);
const PLACE_HI = PLACE_LO / 16.0;

// The low nibbles of q's four bytes, low byte first, in place (times 1, 2^8, 2^16, 2^24).
fn lowNibbles(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q) & vec4<u32>(0xfu, 0xf00u, 0xf0000u, 0xf000000u));
}

// The high nibbles, in place (times 2^4, 2^12, 2^20, 2^28).
fn highNibbles(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q) & vec4<u32>(0xf0u, 0xf000u, 0xf00000u, 0xf0000000u));
}

// q's four bytes, low byte first, in place (times 1, 2^8, 2^16, 2^24).
fn bytesInPlace(q: u32) -> vec4<f32> {
  return vec4<f32>(vec4<u32>(q) & vec4<u32>(0xffu, 0xff00u, 0xff0000u, 0xff000000u));
}

// q's four bytes as signed (i8) values, low byte first.
fn signedBytes(q: u32) -> vec4<f32> {
  return vec4<f32>((vec4<i32>(bitcast<i32>(q)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Byte b (0 … 3) of q.
fn byteOf(q: u32, b: u32) -> u32 {
  return (q >> (8u * b)) & 255u;
}

