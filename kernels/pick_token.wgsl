// out[0] = the token picked from the logits x:
//   argmax (p.sample = 0): the index of the largest x, the lowest such index on ties;
//   sample (p.sample = 1): a draw from softmax(x / T) restricted to the tokens whose probability
//     is at least minP times the top token's (HF's min-p), by the Gumbel-max trick: the argmax of
//     (x − max) / T + G_i, G_i = −log(−log U_i), with U_i uniform from a hash of (seed, draw, i).
//     The noise is a function of those numbers, so no random state lives on the GPU, a draw can
//     be recorded before the logits exist, and the CPU reference reproduces it.
// NaNs are never picked; if nothing can be (all NaN, or +inf logits), the argmax is the answer
// (0 if all are NaN). One workgroup: lane l scans l, l + WG, … in increasing order keeping the
// first best it meets, then a tree reduction in workgroup memory breaks ties by the lower
// index. 256000 logits (1 MiB) take about a millisecond per pass on lavapipe.

struct Params {
  n: u32, // N
  sample: u32, // 0: argmax, 1: sample
  seed: u32,
  draw: u32, // which draw of the sequence (fresh noise per token)
  invTemperature: f32, // 1 / T
  logMinP: f32, // ln(minP); the lowest f32 when min-p is off
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (N) logits
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (1) the picked token

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> bestValue: array<f32, WG>;
var<workgroup> bestIndex: array<u32, WG>;

// Whether (v, i) beats (w, j): larger value, or equal value and lower index.
fn beats(v: f32, i: u32, w: f32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

// The workgroup's best (value, index) of the lanes' candidates, in bestValue[0], bestIndex[0].
fn reduceBest(lid: u32, value: f32, index: u32) {
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
}

// lowbias32 (Chris Wellons): a 32-bit integer hash with good avalanche.
fn mix(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// Gumbel noise for token i of this draw: U = (k + 0.5) / 2^23 from the top 23 bits k of the
// hash (exact in f32, and never 0 or 1), G = −log(E), E = −log(U). Near U = 1, E is small and
// log's absolute error (~6e-7 on lavapipe) would swamp it, so E comes from w = 1 − U (exact too)
// by the series −log(1 − w) = w + w²/2 + w³/3 + w⁴/4 + … (w < 1/64: the rest is < 1e-9 of E).
fn gumbel(i: u32) -> f32 {
  let k = mix(mix(mix(p.seed) ^ p.draw) ^ i) >> 9u;
  let w = (f32(8388608u - k) - 0.5) / 8388608.0;
  var e: f32;
  if (w < 1.0 / 64.0) {
    e = w * (1.0 + w * (1.0 / 2.0 + w * (1.0 / 3.0 + w / 4.0)));
  } else {
    e = -log((f32(k) + 0.5) / 8388608.0);
  }
  return -log(e);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  // Start at -inf (WGSL has no infinity literal) with no index: the first value that is not NaN
  // takes the place, even -inf.
  let lowest = bitcast<f32>(0xff800000u);
  var value = lowest;
  var index = NONE;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[i];
    if (v > value || (v == value && index == NONE)) {
      value = v;
      index = i;
    }
  }
  reduceBest(lid, value, index);
  let top = select(bestIndex[0], 0u, bestIndex[0] == NONE);
  if (p.sample == 0u) {
    if (lid == 0u) {
      out[0] = top;
    }
    return;
  }
  let maxValue = bestValue[0];
  workgroupBarrier(); // every lane has read the maximum before the arrays are reused

  value = lowest;
  index = NONE;
  for (var i = lid; i < p.n; i += WG) {
    // ≤ 0; NaN for NaN logits and for +inf ones (then max is +inf too), which fail the test.
    let scaled = (x[i] - maxValue) * p.invTemperature;
    if (scaled >= p.logMinP) {
      let key = scaled + gumbel(i);
      if (key > value || (key == value && index == NONE)) {
        value = key;
        index = i;
      }
    }
  }
  reduceBest(lid, value, index);
  if (lid == 0u) {
    out[0] = select(bestIndex[0], top, bestIndex[0] == NONE);
  }
}
