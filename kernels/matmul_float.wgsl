// The f32 / f16 weight format of matmul.wgsl: a unit is 8 consecutive elements of a row, one
// packet, and its "codes" are the weights themselves (AFFINE false). Row.w counts elements (the
// row stride is K, or K rounded up to even for f16); f16 pairs are unpacked with
// unpack2x16float, f32 words are bitcast.

override F16: bool = false; // weight words hold f16 pairs (else one f32 each)

const UNIT = 8u;
const PACKETS = 1u;
const XSLOTS = 2u;
const GROUPS = 1u;
const AFFINE = false;

struct Unit {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// Weight element e of the chunk (e counts elements, row starts included).
fn wAtElement(e: u32) -> f32 {
  if (F16) {
    return unpack2x16float(wordAt(e / 2u))[e % 2u];
  }
  return bitcast<f32>(wordAt(e));
}

fn wAt(row: Row, k: u32) -> f32 {
  return wAtElement(row.w + k);
}

// 8 weights from element e (e even: row starts are even and units start at multiples of 8).
fn loadUnit(row: Row, u: u32) -> Unit {
  let e = row.w + u * 8u;
  if (F16) {
    let q = words4(e / 2u);
    return Unit(
      vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
      vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)),
    );
  }
  return Unit(bitcast<vec4<f32>>(words4(e)), bitcast<vec4<f32>>(words4(e + 4u)));
}

fn decode(unit: Unit, i: u32) -> Packet {
  return Packet(unit.lo, unit.hi);
}

fn xCol(u: u32, s: u32) -> u32 {
  return 8u * u + 4u * s;
}

fn packetSlots(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 1u);
}

fn packetGroups(i: u32) -> vec2<u32> {
  return vec2<u32>(0u, 0u);
}

fn affine(unit: Unit, g: u32) -> vec2<f32> {
  return vec2<f32>(1.0, 0.0);
}

fn xScale(s: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
