// Element access to x and w for matmul.wgsl and matmul_tiled.wgsl, prepended to both. The host
// declares x: array<XElem> and w: array<WElem> with XP / WP elements per array entry: 4 in the
// aligned variant (vec4 loads), 1 in the unaligned one (the hosts' .ts files rewrite the lines).

// x element e, and 4 elements from e (e a multiple of 4 in the aligned variant).
fn xAt(e: u32) -> f32 {
  return vec4<f32>(x[e / XP])[e % XP];
}
fn x4(e: u32) -> vec4<f32> {
  if (XP == 4u) {
    return vec4<f32>(x[e / 4u]);
  }
  return vec4<f32>(xAt(e), xAt(e + 1u), xAt(e + 2u), xAt(e + 3u));
}

// Weight word i, and 4 words from i (i a multiple of 4 in the aligned variant).
fn wordAt(i: u32) -> u32 {
  return wordsAt(i / WP)[i % WP];
}
fn words4(i: u32) -> vec4<u32> {
  if (WP == 4u) {
    return wordsAt(i / 4u);
  }
  return vec4<u32>(wordAt(i), wordAt(i + 1u), wordAt(i + 2u), wordAt(i + 3u));
}
