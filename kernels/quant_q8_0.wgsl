// q8_0 (see quant.wgsl): a unit is one block of 32 values, 32 i8 quants (two vec4 words; Row.w
// counts vec4s) and an f16 scale d in wScales: w = d·q.

const UNIT = 32u;
const PACKETS = 4u;

struct Unit {
  a: vec4<u32>, // quants 0 … 15
  b: vec4<u32>, // quants 16 … 31
  d: f32,
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let at = row.w + 2u * u;
  return Unit(w[at], w[at + 1u], scaleAt(row.s + u));
}

// Packet i is values 8i … 8i + 7: words 2i and 2i + 1.
fn decode(unit: Unit, i: u32) -> Packet {
  let words = select(unit.b, unit.a, i < 2u);
  let pair = select(words.zw, words.xy, i % 2u == 0u);
  return Packet(signedBytes(pair.x) * unit.d, signedBytes(pair.y) * unit.d);
}

const XSLOTS = 8u;

fn xCol(u: u32, s: u32) -> u32 {
  return 32u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(2u * i, 2u * i + 1u);
}
