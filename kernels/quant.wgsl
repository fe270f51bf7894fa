// Helpers shared by the quantized weight formats (quant_<type>.wgsl). A format is joined to a
// host shader (matmul.wgsl, embedding_quant.wgsl) that declares `w: array<vec4<u32>>` (the
// blocks' quant bytes, 16-byte aligned per block), `wScales: array<u32>` (one f16 per block,
// for the formats that keep their scale apart), and the structs Row and Packet. See matrix.ts
// (QUANT_LAYOUTS) for what the upload puts where, quant.ts for the block formats.

// f16 scale number i of the chunk (two per word, low half first).
fn scaleAt(i: u32) -> f32 {
  return unpack2x16float(wScales[i / 2u])[i % 2u];
}

// The low (shift 0) or high (shift 4) nibbles of q's four bytes, low byte first.
fn nibbles(q: u32, shift: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(q) >> vec4<u32>(shift, shift + 8u, shift + 16u, shift + 24u)) & vec4<u32>(15u));
}

// q's four bytes as unsigned values (each < 128 here: 6-bit codes), low byte first.
fn bytes(q: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
}

// q's four bytes as signed (i8) values, low byte first.
fn signedBytes(q: u32) -> vec4<f32> {
  return vec4<f32>((vec4<i32>(bitcast<i32>(q)) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Byte b (0 … 3) of q.
fn byteOf(q: u32, b: u32) -> u32 {
  return (q >> (8u * b)) & 255u;
}

// matmul.wgsl's tail loop covers K mod UNIT, which is 0 for quantized rows (whole blocks).
fn wAt(row: Row, k: u32) -> f32 {
  return 0.0;
}
