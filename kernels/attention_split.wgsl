// Split-K attention, pass 1 of 2 (flash-decoding): partial softmax sums over one split of keys.
//
// Query row t (absolute position i = position0 + t) sees keys first … i, with first = 0, or
// i − window + 1 under a sliding window. That visible range is cut into splits of splitKeys
// (≤ MAX_SPLIT) keys: split n covers keys first + n·splitKeys …
// min(i, first + (n+1)·splitKeys − 1).
// One workgroup per (split n, query head h, row t), so a decode step (T = 1) launches
// heads × ⌈keys / splitKeys⌉ workgroups instead of only `heads`.
//
// A split fits in workgroup memory, so no online softmax is needed inside it:
//   A. lane l scores keys l, l + WG, … of the split into `probs`: s = (q · k) · scale, soft-capped
//      (cap·tanh(s / cap)) if set, and the workgroup reduces their maximum m;
//   B. each lane turns its own scores into p = exp(s − m) and the workgroup reduces ℓ = Σ p;
//   C. lane l owns output vec4 l (D/4 ≤ WG) and sums acc = Σ_j p_j·v_j over the split.
// The split's slot in `scratch` receives acc (D/4 vec4s) followed by one vec4 (m, ℓ, 0, 0);
// pass 2 (attention_split_combine.wgsl) rescales and adds the slots of each (h, t).
// Splits past a row's visible range (rows see different key counts) write nothing.
// Query head h reads kv head h / (H / KVH); key position j lives at cache row j mod cacheRows.
// attention_split.ts prepends tanh.wgsl (tanhPrecise).

struct Params {
  rows: u32, // T
  heads: u32, // H
  kvHeads: u32, // KVH (divides H)
  headDim: u32, // D: a multiple of 4, ≤ 4·MAX_D4
  position0: u32, // absolute position of query row 0
  scale: f32, // multiplies q·k
  softcap: f32, // 0: none; else s ← softcap·tanh(s / softcap)
  window: u32, // 0: none; else key j is visible from query i iff i − window < j ≤ i
  cacheRows: u32, // rows of the cache; key position j lives at row j % cacheRows
  splitKeys: u32, // keys per split, 1 … MAX_SPLIT
  splits: u32, // slots per (row, head) in scratch (the dispatch's x size)
}

@group(0) @binding(0) var<uniform> p: Params;
// q, k, v as vec4 along D: index (row, head, d / 4).
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>; // (T, H, D)
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>; // (cacheRows, KVH, D)
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>; // (cacheRows, KVH, D)
// Slot (t, h, n) at vec4 ((t·H + h)·splits + n)·(D/4 + 1): acc (D/4 vec4s), then (m, ℓ, 0, 0).
@group(0) @binding(4) var<storage, read_write> scratch: array<vec4<f32>>; // (T, H, splits, D/4 + 1)

// Several sequences in one call (row_places.ts): row t's (absolute position, sequence) come from
// rowTable, sequence s owning cache rows s·cacheRows …; else row t is at position0 + t in a cache
// of its own.
override ROW_TABLE: bool = false;
@group(0) @binding(5) var<storage, read> rowTable: array<vec2<u32>>;

fn rowPlace(t: u32) -> vec2<u32> {
  if (ROW_TABLE) {
    return rowTable[t];
  }
  return vec2<u32>(p.position0 + t, 0u);
}

const WG: u32 = 64u; // lanes; a power of two for the tree reductions
const MAX_SPLIT: u32 = 256u; // keys per split at most
const MAX_D4: u32 = 64u; // D ≤ 256: one output vec4 per lane

var<workgroup> qs: array<vec4<f32>, MAX_D4>; // this query row, read by every lane
var<workgroup> probs: array<f32, MAX_SPLIT>; // the split's scores, then exp(s − m)
var<workgroup> partial: array<f32, WG>; // one value per lane for the reductions

// The maximum (isMax) or sum of `value` over the workgroup's lanes, returned to every lane.
// Its barriers also publish everything lanes wrote to workgroup memory before the call.
fn reduce(lid: u32, value: f32, isMax: bool) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid < half) {
      let a = partial[lid];
      let b = partial[lid + half];
      partial[lid] = select(a + b, max(a, b), isMax);
    }
    workgroupBarrier();
  }
  let result = partial[0];
  workgroupBarrier(); // nobody overwrites partial before everyone has read it
  return result;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let h = wid.y;
  let t = wid.z;
  let place = rowPlace(t);
  let last = place.x; // the query's own position: the last visible key
  let base = place.y * p.cacheRows; // the sequence's first cache row
  var first = 0u;
  if (p.window > 0u && last + 1u > p.window) {
    first = last + 1u - p.window;
  }
  let start = first + split * p.splitKeys;
  if (start > last) {
    return; // uniform per workgroup: this row has fewer splits than the dispatch
  }
  let count = min(p.splitKeys, last + 1u - start); // keys in this split (≥ 1)

  let D4 = p.headDim / 4u;
  let kvh = h / (p.heads / p.kvHeads);
  let kvStride = p.kvHeads * D4; // vec4s between consecutive cache rows
  let qBase = (t * p.heads + h) * D4;
  for (var d = lid; d < D4; d += WG) {
    qs[d] = q[qBase + d];
  }
  workgroupBarrier();

  // A. Scores of this lane's keys, and their maximum over the split.
  var laneMax = bitcast<f32>(0xff800000u); // -inf
  for (var j = lid; j < count; j += WG) {
    let kBase = (base + (start + j) % p.cacheRows) * kvStride + kvh * D4;
    var dot4 = vec4<f32>();
    for (var d = 0u; d < D4; d++) {
      dot4 += qs[d] * k[kBase + d];
    }
    var s = (dot4.x + dot4.y + dot4.z + dot4.w) * p.scale;
    if (p.softcap > 0.0) {
      s = p.softcap * tanhPrecise(s / p.softcap);
    }
    probs[j] = s;
    laneMax = max(laneMax, s);
  }
  let m = reduce(lid, laneMax, true);

  // B. Probabilities relative to the split's maximum (each lane rewrites only its own keys).
  var laneSum = 0.0;
  for (var j = lid; j < count; j += WG) {
    let e = exp(probs[j] - m);
    probs[j] = e;
    laneSum += e;
  }
  let l = reduce(lid, laneSum, false); // also publishes probs

  // C. Unnormalized output: lane l sums column vec4 l of the split's values (reads coalesce).
  let slot = ((t * p.heads + h) * p.splits + split) * (D4 + 1u);
  for (var d = lid; d < D4; d += WG) {
    let vBase = kvh * D4 + d;
    var acc = vec4<f32>();
    for (var j = 0u; j < count; j++) {
      acc += probs[j] * v[(base + (start + j) % p.cacheRows) * kvStride + vBase];
    }
    scratch[slot + d] = acc;
  }
  if (lid == 0u) {
    scratch[slot + D4] = vec4<f32>(m, l, 0.0, 0.0);
  }
}
