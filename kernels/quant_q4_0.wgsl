// q4_0 (see quant.wgsl): a unit is one block of 32 values, 16 bytes of nibbles (one vec4 word;
// Row.w counts vec4s) and an f16 scale d in wScales: w = d·(q − 8). Byte j holds value j in its
// low nibble and value j + 16 in its high nibble.

const UNIT = 32u;
const PACKETS = 4u;

struct Unit {
  q: vec4<u32>,
  d: f32,
  m: f32, // −8·d
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let d = scaleAt(row.s + u);
  return Unit(w[row.w + u], d, -8.0 * d);
}

// Packet i is word i: its low nibbles are values 4i … 4i + 3, its high nibbles 16 + 4i ….
fn decode(unit: Unit, i: u32) -> Packet {
  let q = unit.q[i];
  return Packet(nibbles(q, 0u) * unit.d + unit.m, nibbles(q, 4u) * unit.d + unit.m);
}

const XSLOTS = 8u;

fn xCol(u: u32, s: u32) -> u32 {
  return 32u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(i, i + 4u);
}
