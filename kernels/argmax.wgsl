// out[0] = the index of the largest x (the lowest such index on ties), for greedy sampling over a
// vocabulary of up to a few hundred thousand logits. One workgroup: lane l scans l, l + WG, … in
// increasing order keeping the first maximum it meets, then a tree reduction in workgroup memory
// picks the largest value, breaking ties by the lower index. NaNs are never chosen (unless all
// are NaN, then 0). N = 262144 is 1 MiB read once, which one workgroup does in about a millisecond
// on lavapipe (next to ~100 ms for the vocabulary-wide matmul that produced the logits).

struct Params {
  n: u32, // N
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (N) logits
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (1) argmax

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> bestValue: array<f32, WG>;
var<workgroup> bestIndex: array<u32, WG>;

// Whether (v, i) beats (w, j): larger value, or equal value and lower index.
fn beats(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  // Start at -inf (WGSL has no infinity literal) with no index: the first value that is not NaN
  // takes the place, even -inf.
  var value = bitcast<f32>(0xff800000u);
  var index = NONE;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[i];
    if (v > value || (v == value && index == NONE)) {
      value = v;
      index = i;
    }
  }
  bestValue[lid] = value;
  bestIndex[lid] = index;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let other = lid + stride;
      if (beats(bestValue[other], bestIndex[other], bestValue[lid], bestIndex[lid])) {
        bestValue[lid] = bestValue[other];
        bestIndex[lid] = bestIndex[other];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[0] = select(bestIndex[0], 0u, bestIndex[0] == NONE);
  }
}
