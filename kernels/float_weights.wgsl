// f32 / f16 weights read from raw 32-bit words (f16 pairs unpacked with unpack2x16float, f32
// words bitcast), for matmul_float.wgsl and matmul_tiled.wgsl: prepended in front of them (and of
// the host's overrides: naga panics when this override follows an override-sized array).

override F16: bool = false; // weight words hold f16 pairs (else one f32 each)

/** 8 consecutive values of one row. */
struct Unit {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// Weight element e of the chunk (e counts elements, row starts included).
fn weightAt(e: u32) -> f32 {
  if (F16) {
    return unpack2x16float(wordAt(e / 2u))[e % 2u];
  }
  return bitcast<f32>(wordAt(e));
}

// The 8 weights from element e (e a multiple of 8 from an even row start).
fn weightUnit(e: u32) -> Unit {
  if (F16) {
    let q = words4(e / 2u);
    return Unit(
      vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
      vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)),
    );
  }
  return Unit(bitcast<vec4<f32>>(words4(e)), bitcast<vec4<f32>>(words4(e + 4u)));
}
