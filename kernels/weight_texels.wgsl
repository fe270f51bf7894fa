// Word i of the weight chunk w, as 16 bytes: texel i of an rgba32uint texture holding the chunk's
// words in rows of TEXELS_PER_ROW texels (weight_texture.ts). Replaces weight_words.wgsl.
const TEXELS_PER_ROW_LOG2 = 13u;
fn wordsAt(i: u32) -> vec4<u32> {
  let row = i >> TEXELS_PER_ROW_LOG2;
  return textureLoad(w, vec2<u32>(i - (row << TEXELS_PER_ROW_LOG2), row), 0);
}
