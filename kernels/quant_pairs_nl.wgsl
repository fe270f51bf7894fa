// iq4_nl's codes (see quant_pairs.wgsl): each nibble picks one of 16 levels (quant_formats32.ts,
// IQ4_NL_VALUES). A lookup, so the values cannot stay in place: xScale is 1.

// The levels as i8 bytes, four per word: level n is byte n % 4 of word n / 4. Picking a word with
// two selects and shifting the byte out is register arithmetic; an indexed array (a constant or a
// private one) was 3 to 60 times slower on lavapipe, and slow to compile.
const LEVELS_0 = 0xbfad9881u; // −127, −104, −83, −65
const LEVELS_1 = 0xf6eaddcfu; // −49, −35, −22, −10
const LEVELS_2 = 0x26190d01u; // 1, 13, 25, 38
const LEVELS_3 = 0x71594535u; // 53, 69, 89, 113

fn loadHigh(at: u32) -> vec2<u32> {
  return vec2<u32>(0u);
}

// The levels of codes n (each 0 … 15).
fn levels(n: vec4<u32>) -> vec4<f32> {
  let odd = (n & vec4<u32>(4u)) != vec4<u32>(0u);
  let low = select(vec4<u32>(LEVELS_0), vec4<u32>(LEVELS_1), odd);
  let high = select(vec4<u32>(LEVELS_2), vec4<u32>(LEVELS_3), odd);
  let word = select(low, high, n >= vec4<u32>(8u));
  // Byte n % 4 moved to the top, then shifted back down with its sign.
  let top = bitcast<vec4<i32>>(word << (vec4<u32>(24u) - 8u * (n & vec4<u32>(3u))));
  return vec4<f32>(top >> vec4<u32>(24u));
}

// The levels of the nibbles of q's four bytes, low byte first: low nibbles (lo), high (hi).
fn decode(unit: Unit, i: u32) -> Packet {
  let q = vec4<u32>(nibbleWord(unit, i)) >> vec4<u32>(0u, 8u, 16u, 24u);
  return Packet(levels(q & vec4<u32>(15u)), levels((q >> vec4<u32>(4u)) & vec4<u32>(15u)));
}

fn xScale(s: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}

fn codeAt(row: Row, k: u32) -> f32 {
  return levels(vec4<u32>(nibbleAt(row, k))).x;
}
