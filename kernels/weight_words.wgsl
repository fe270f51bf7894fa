// Word i of the weight chunk w, as 16 bytes (a vec4 of u32; the unaligned float variant's scalar
// word splat): every weight read of the weight templates goes through here, so that a matrix can
// be read from a texture instead (weight_texels.wgsl, swapped in by weight_texture.ts).
fn wordsAt(i: u32) -> vec4<u32> {
  return vec4<u32>(w[i]);
}
