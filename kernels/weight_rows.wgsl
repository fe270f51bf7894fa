// The types of the weight formats' interface (see matmul.wgsl's header), put in front of every
// format: QUANT_SHADERS' sources and weight_formats.ts's f32 / f16 one.

/** Where a row of w starts: in w's units (vec4 words, or f32 / f16 elements) and in f16 scales. */
struct Row {
  w: u32,
  s: u32,
}

/** 8 weights (or codes): lo and hi go with the x values of slots packetSlots(i) (columns xCol). */
struct Packet {
  lo: vec4<f32>,
  hi: vec4<f32>,
}
