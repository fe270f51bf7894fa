// XOR-folds a buffer of 32-bit words: the plainest possible read of memory, used to measure how
// fast this device reads (the ceiling for a decode GEMV, which reads each weight once).
//
// Workgroup g owns SPAN·WG consecutive vec4s; lane l reads vec4s base + i·WG + l (lanes side by
// side, as the GEMVs read), four per step so that several loads are in flight, and writes the
// XOR of everything it read to out[g·WG + l].

struct Params {
  count: u32, // vec4s in `words`
}

override WG: u32 = 8u; // lanes per workgroup
const SPAN = 1024u; // vec4s per lane

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> words: array<vec4<u32>>; // (count)
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (workgroups · WG)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let base = g.x * SPAN * WG + lane;
  var acc = vec4<u32>(0u);
  for (var i = 0u; i < SPAN; i += 4u) {
    let at = base + i * WG;
    if (at + 3u * WG < p.count) {
      acc ^= words[at] ^ words[at + WG] ^ words[at + 2u * WG] ^ words[at + 3u * WG];
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (at + j * WG < p.count) {
          acc ^= words[at + j * WG];
        }
      }
    }
  }
  out[g.x * WG + lane] = acc.x ^ acc.y ^ acc.z ^ acc.w;
}
