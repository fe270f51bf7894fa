// q4_k (see quant.wgsl): whole GGUF blocks of 256 values, 144 bytes = 9 vec4 words (Row.w counts
// vec4s): word 0 is f16 d, f16 dmin and scale bytes 0 … 11; words 1 … 8 the nibbles. Sub-block s
// (32 values) is w = d·scale_s·q − dmin·min_s with 6-bit scale_s, min_s packed as in quant.ts.
// A unit is 64 values, part g = 0 … 3 of a block: nibble bytes 32g … 32g + 31 (two vec4s), whose
// low nibbles are sub-block 2g (group 0) and high nibbles sub-block 2g + 1 (group 1).

const UNIT = 64u;
const SPAN = 64u;
const PACKETS = 8u;
const XSLOTS = 16u;
const GROUPS = 2u;

struct Unit {
  lo: vec4<u32>, // nibble bytes 32g … 32g + 15
  hi: vec4<u32>, // nibble bytes 32g + 16 … 32g + 31
  scale: vec2<f32>, // d·scale of sub-blocks 2g, 2g + 1
  min: vec2<f32>, // dmin·min of sub-blocks 2g, 2g + 1
}

// The 6-bit (scale, min) of sub-block s from the scale bytes in words 1 … 3 of the block head:
// s < 4: low 6 bits of bytes s and s + 4; s ≥ 4: low and high nibble of byte s + 4, with top
// bits from bytes s − 4 and s.
fn scaleMin(head: vec4<u32>, s: u32) -> vec2<f32> {
  if (s < 4u) {
    return vec2<f32>(f32(byteOf(head.y, s) & 63u), f32(byteOf(head.z, s) & 63u));
  }
  let packed = byteOf(head.w, s - 4u);
  return vec2<f32>(
    f32((packed & 15u) | ((byteOf(head.y, s - 4u) >> 6u) << 4u)),
    f32((packed >> 4u) | ((byteOf(head.z, s - 4u) >> 6u) << 4u)),
  );
}

fn loadUnit(row: Row, u: u32) -> Unit {
  let block = row.w + (u / 4u) * 9u;
  let g = u % 4u;
  let head = w[block];
  let dd = unpack2x16float(head.x); // (d, dmin)
  let s0 = scaleMin(head, 2u * g);
  let s1 = scaleMin(head, 2u * g + 1u);
  return Unit(
    w[block + 1u + 2u * g],
    w[block + 2u + 2u * g],
    dd.x * vec2<f32>(s0.x, s1.x),
    dd.y * vec2<f32>(s0.y, s1.y),
  );
}

// Packet i is nibble word i of the unit: low nibbles are values 4i … 4i + 3 of sub-block 2g
// (x slot i), high nibbles the same values of sub-block 2g + 1 (slot i + 8).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = select(unit.hi, unit.lo, i < 4u)[i % 4u];
  return Packet(lowNibbles(q), highNibbles(q));
}

// Slots 0 … 7 hold low nibbles, 8 … 15 high nibbles.
fn xScale(s: u32) -> vec4<f32> {
  return select(PLACE_HI, PLACE_LO, s < 8u);
}

fn xCol(u: u32, s: u32) -> u32 {
  return 64u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(i, i + 8u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 1u);
}

// w = d·scale·q − dmin·min.
fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(unit.scale[g], -unit.min[g]);
}

// Rows are whole 256-value blocks, a multiple of UNIT: there is no tail.
fn wAt(row: Row, k: u32) -> f32 {
  return 0.0;
}
