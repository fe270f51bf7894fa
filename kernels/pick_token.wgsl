// out[0] = the token picked from the logits x:
//   argmax (p.sample = 0): the index of the largest x, the lowest such index on ties;
//   sample (p.sample = 1): a draw from softmax(x / T) restricted as HF's warpers restrict it:
//     top-k (the tokens ≥ the k-th largest logit, ties kept), then top-p (the fewest most likely
//     of those whose probabilities reach p), then min-p (probability ≥ minP × the top token's).
//     The draw is the Gumbel-max trick: the argmax of (x − max) / T + G_i over the kept tokens,
//     G_i = −log(−log U_i), U_i uniform from a hash of (seed, draw, i).
//     The noise is a function of those numbers, so no random state lives on the GPU, a draw can
//     be recorded before its logits exist, and the CPU reference reproduces it.
// Before either, a repetition penalty (p.penalty ≠ 1, as HF's and llama.cpp's): the logits of the
// tokens marked in `seen` are divided by it where positive, multiplied where not, in place in x
// (a first pass over the bit set, so the passes over the logits stay plain loads); the picked
// token is then marked too, so that the next step of a decode running ahead on the GPU sees it.
// NaNs are never picked; if nothing can be (all NaN, or +inf logits), the argmax is the answer
// (0 if all are NaN). One workgroup of WG = 256 lanes: lane l scans l, l + WG, … in increasing
// order keeping the first best it meets, then a tree reduction in workgroup memory breaks ties
// by the lower index. Top-k: the least of the lanes' maxima bounds the k-th largest logit from
// below (k ≤ WG); the logits above it, usually a few hundred, are gathered into workgroup memory
// and sorted, and the k-th largest and the top-p bound are read off. When more than CAP are above
// it (flat logits), a radix select over the logits' order-preserving bit patterns (4 passes of 8
// bits, 256-bin histograms: radix_select.wgsl) finds the k-th largest instead; so it does for a
// top-k above WG. Top-p without top-k, or past such a top-k, runs the radix select with the bins
// weighed by probability mass instead of counted: the nucleus of a 256000-token vocabulary is
// often thousands of tokens, too many to sort here. Every pass reads the logits once: 256000 of
// them (1 MiB) take about a millisecond per pass on lavapipe.

struct Params {
  n: u32, // N
  sample: u32, // 0: argmax, 1: sample
  seed: u32,
  draw: u32, // which draw of the sequence (fresh noise per token)
  invTemperature: f32, // 1 / T
  logMinP: f32, // ln(minP); the lowest f32 when min-p is off
  topK: u32, // 0: off
  topP: f32, // 1: off
  penalty: f32, // repetition penalty; 1: off
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // (N) logits, penalized in place
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // (1) the picked token
@group(0) @binding(3) var<storage, read_write> seen: array<atomic<u32>>; // (⌈N / 32⌉) token bits

const WG: u32 = 256u; // also the number of histogram bins
const NONE: u32 = 0xffffffffu;
const CAP: u32 = 2048u; // logits sorted in workgroup memory, at most (≥ 4 × top-k ≤ 256)
var<workgroup> bestValue: array<f32, WG>;
var<workgroup> bestIndex: array<u32, WG>;
// 64-bit bins: low and high words (a carry out of the low word is added to the high one).
var<workgroup> histogram: array<atomic<u32>, WG>;
var<workgroup> histogramHigh: array<atomic<u32>, WG>;
var<workgroup> counter: atomic<u32>;
var<workgroup> broadcast: vec4<u32>; // a result of lane 0 for every lane (workgroupUniformLoad)
var<workgroup> survivors: array<f32, CAP>;
var<workgroup> laneMaxima: array<f32, WG>;

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

// Gumbel noise for token i of this draw: U = (k + 0.5) / 2^23 from the top 23 bits k of the
// hash (exact in f32, and never 0 or 1), G = −log(E), E = −log(U). Near U = 1, E is small and
// log's absolute error (~6e-7 on lavapipe) would swamp it, so E comes from w = 1 − U (exact too)
// by the series −log(1 − w) = w + w²/2 + w³/3 + w⁴/4 + … (w < 1/64: the rest is < 1e-9 of E).
fn gumbel(i: u32) -> f32 {
  let k = lowbias32(lowbias32(lowbias32(p.seed) ^ p.draw) ^ i) >> 9u;
  let w = (f32(8388608u - k) - 0.5) / 8388608.0;
  var e: f32;
  if (w < 1.0 / 64.0) {
    e = w * (1.0 + w * (1.0 / 2.0 + w * (1.0 / 3.0 + w / 4.0)));
  } else {
    e = -log((f32(k) + 0.5) / 8388608.0);
  }
  return -log(e);
}

// Applies the repetition penalty to the logits of the tokens marked in `seen`, in place.
fn applyPenalty(lid: u32) {
  if (p.penalty == 1.0) {
    return;
  }
  for (var word = lid; word < (p.n + 31u) / 32u; word += WG) {
    var bits = atomicLoad(&seen[word]);
    while (bits != 0u) {
      let i = word * 32u + firstTrailingBit(bits);
      bits &= bits - 1u;
      if (i < p.n) {
        let v = x[i];
        x[i] = select(v * p.penalty, v / p.penalty, v > 0.0);
      }
    }
  }
  storageBarrier(); // every lane sees the penalized logits
}

// Writes the pick (lane 0 only), marking it as seen while a penalty is on.
fn finish(id: u32) {
  out[0] = id;
  if (p.penalty != 1.0) {
    atomicOr(&seen[id / 32u], 1u << (id % 32u));
  }
}

// Tokens with a logit below max − CUTOFF·T have probability < e^-30 ≈ 1e-13 of the top one's:
// top-p without top-k leaves them out, as the CPU sampler does (core/sampler.ts).
const CUTOFF: f32 = 30.0;

// The top-p bound of top-p without top-k (lowest: all kept): among the logits within CUTOFF·T of
// the top one, the smallest of the fewest largest whose probabilities reach topP.
fn topPFloor(lid: u32, maxValue: f32) -> f32 {
  let lowest = bitcast<f32>(0xff800000u);
  if (!isFinite(maxValue)) {
    return lowest; // no finite top logit: the draw below falls back to the argmax
  }
  let key = radixSelect(lid, orderKey(maxValue - CUTOFF / p.invTemperature), true, maxValue);
  return select(fromOrderKey(key), lowest, key == 0u);
}

// Sorts survivors[0 … stored) largest first (bitonic, over the next power of two, padded with
// -inf). Only values are kept: equal values are interchangeable.
fn sortSurvivors(lid: u32, stored: u32) {
  let sorted = max(2u, 1u << firstLeadingBit(max(stored, 1u) * 2u - 1u)); // power of two ≥ stored
  for (var j = stored + lid; j < sorted; j += WG) {
    survivors[j] = bitcast<f32>(0xff800000u);
  }
  for (var size = 2u; size <= sorted; size *= 2u) {
    for (var stride = size / 2u; stride > 0u; stride /= 2u) {
      workgroupBarrier();
      for (var t = lid; t < sorted / 2u; t += WG) {
        let a = 2u * stride * (t / stride) + t % stride;
        let b = a + stride;
        let descending = (a & size) == 0u;
        let va = survivors[a];
        let vb = survivors[b];
        if ((va < vb) == descending) {
          survivors[a] = vb;
          survivors[b] = va;
        }
      }
    }
  }
  workgroupBarrier();
}

// The top-p bound from the sorted survivors[0 … stored), which hold every logit ≥ floor but
// `missing` more ties at the floor: the smallest logit of the fewest largest ones whose
// probabilities sum to ≥ topP of those ≥ floor.
fn topPFromSorted(lid: u32, stored: u32, missing: u32, floor: f32, maxValue: f32) -> f32 {
  if (lid == 0u) {
    var total = f32(missing) * exp((floor - maxValue) * p.invTemperature);
    for (var j = 0u; j < stored && survivors[j] >= floor; j++) {
      total += exp((survivors[j] - maxValue) * p.invTemperature);
    }
    var bound = floor;
    var sum = 0.0;
    for (var j = 0u; j < stored; j++) {
      sum += exp((survivors[j] - maxValue) * p.invTemperature);
      if (sum >= p.topP * total) {
        bound = survivors[j];
        break;
      }
    }
    broadcast.x = bitcast<u32>(bound);
  }
  return bitcast<f32>(workgroupUniformLoad(&broadcast).x);
}

// Which logits `gather` takes, against its bound t.
const ABOVE = 0u; // v > t
const AT = 1u; // v == t
const AT_LEAST = 2u; // v ≥ t

// Empties survivors (for `gather`).
fn startGather(lid: u32) {
  if (lid == 0u) {
    atomicStore(&counter, 0u);
  }
  workgroupBarrier();
}

// Appends the logits that `which` takes against t to survivors, while they fit, and returns
// how many have been taken since startGather (those that did not fit included).
fn gather(lid: u32, t: f32, which: u32) -> u32 {
  for (var i = lid; i < p.n; i += WG) {
    let v = x[i];
    let take = select(select(v > t, v == t, which == AT), v >= t, which == AT_LEAST);
    if (take) {
      let slot = atomicAdd(&counter, 1u);
      if (slot < CAP) {
        survivors[slot] = v;
      }
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    broadcast.x = atomicLoad(&counter);
  }
  return workgroupUniformLoad(&broadcast).x;
}

// The top-p bound among the logits ≥ floor (the top-k survivors), when more logits than fit
// lie above the lanes' bound: the ones above the floor are gathered first (fewer than top-k ≤
// 256 < CAP: all fit), then the ties at the floor while they fit; any left out only add their
// mass to the total.
fn topPBound(lid: u32, floor: f32, maxValue: f32) -> f32 {
  startGather(lid);
  gather(lid, floor, ABOVE);
  let count = gather(lid, floor, AT);
  let stored = min(count, CAP);
  sortSurvivors(lid, stored);
  return topPFromSorted(lid, stored, count - stored, floor, maxValue);
}

// The smallest logit kept by top-k and then top-p (lowest: all kept). `low` is ≤ the k-th
// largest logit. Usually few logits are ≥ low: they are gathered, sorted once and read off;
// otherwise (flat logits) a radix select finds the k-th largest.
fn topKTopPFloor(lid: u32, low: f32, maxValue: f32) -> f32 {
  let lowest = bitcast<f32>(0xff800000u);
  startGather(lid);
  let count = gather(lid, low, AT_LEAST);
  if (count <= CAP) {
    sortSurvivors(lid, count);
    // Fewer than k logits in all (low is -inf then): every one is kept.
    let floor = select(survivors[p.topK - 1u], lowest, count < p.topK);
    if (p.topP < 1.0) {
      return topPFromSorted(lid, count, 0u, floor, maxValue);
    }
    return floor;
  }
  let key = radixSelect(lid, orderKey(low), false, maxValue);
  var floor = select(fromOrderKey(key), lowest, key == 0u); // 0: fewer than k logits
  if (p.topP < 1.0) {
    floor = topPBound(lid, floor, maxValue);
  }
  return floor;
}

// The smallest logit kept by top-k and then top-p for a k above WG, which the lanes' maxima do
// not bound: radix selects over every logit, the k-th largest counted, then the top-p bound
// weighed among the logits ≥ it.
fn wideTopKFloor(lid: u32, maxValue: f32) -> f32 {
  // 0 (below every key) when there are fewer than k logits: all are kept, and top-p weighs them.
  let key = radixSelect(lid, 0u, false, maxValue);
  var floor = select(fromOrderKey(key), bitcast<f32>(0xff800000u), key == 0u);
  if (p.topP < 1.0 && isFinite(maxValue)) {
    let bound = radixSelect(lid, key, true, maxValue);
    floor = select(fromOrderKey(bound), floor, bound == 0u);
  }
  return floor;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  applyPenalty(lid);
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
  // The least of the lanes' maxima: WG ≥ top-k distinct logits are ≥ it, so it bounds the k-th
  // largest from below (-inf when a lane had no logits).
  laneMaxima[lid] = value;
  reduceBest(lid, value, index);
  let top = select(bestIndex[0], 0u, bestIndex[0] == NONE);
  if (p.sample == 0u) {
    if (lid == 0u) {
      finish(top);
    }
    return;
  }
  let maxValue = workgroupUniformLoad(&bestValue[0]);

  // The smallest logit kept by top-k and top-p (min-p is applied below, on (x − max) / T).
  var floor = lowest;
  if (p.topK > WG) {
    floor = wideTopKFloor(lid, maxValue);
  } else if (p.topK > 0u) {
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
      if (lid < stride) {
        laneMaxima[lid] = min(laneMaxima[lid], laneMaxima[lid + stride]);
      }
      workgroupBarrier();
    }
    floor = topKTopPFloor(lid, workgroupUniformLoad(&laneMaxima[0]), maxValue);
  } else if (p.topP < 1.0) {
    floor = topPFloor(lid, maxValue);
  }
  workgroupBarrier(); // every lane is done with bestValue before it is reused

  value = lowest;
  index = NONE;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[i];
    // ≤ 0; NaN for NaN logits and for +inf ones (then max is +inf too), which fail the test.
    let scaled = (v - maxValue) * p.invTemperature;
    if (v >= floor && scaled >= p.logMinP) {
      let key = scaled + gumbel(i);
      if (key > value || (key == value && index == NONE)) {
        value = key;
        index = i;
      }
    }
  }
  reduceBest(lid, value, index);
  if (lid == 0u) {
    finish(select(bestIndex[0], top, bestIndex[0] == NONE));
  }
}
