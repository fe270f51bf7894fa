// Causal attention of T query rows over a KV cache, with optional score soft-capping and a
// sliding window. The cache may be a ring of `cacheRows` rows (key position j at row
// j mod cacheRows), which lets sliding-window layers keep only the window. Query row t sits at
// absolute position i = position0 + t and sees keys j with lo ≤ j ≤ i (lo = 0, or i − window + 1
// with a window). Query head h reads kv head h / (H / KVH) (MHA, GQA and MQA alike).
//
// One workgroup per (query head h, row t). Keys are taken in tiles of WG with an online softmax,
// so workgroup memory stays O(D + WG) whatever the sequence length:
//   1. lane l scores key start + l: s = (q · k) · scale, soft-capped (cap·tanh(s / cap)) if set;
//   2. every lane reads the tile's WG scores to get the tile maximum m' = max(m, max s), and
//      lane l turns its own score into p_l = exp(s_l − m');
//   3. lane l owns output vec4s l, l + WG, … (≤ DPT of them) and updates
//      acc ← acc·exp(m − m') + Σ_l p_l·v[start + l], and the running sum ℓ likewise.
// out = acc / ℓ at the end. Two barriers per tile separate writing and reading scores and probs.
// Everything is f32 and read as vec4 (D is a multiple of 4): that halved the time on lavapipe,
// and WG = 16 rather than 64 saved another ~15% (fewer lanes to switch between at barriers).
// attention.ts prepends tanh.wgsl (tanhPrecise).

struct Params {
  rows: u32, // T
  heads: u32, // H
  kvHeads: u32, // KVH (divides H)
  headDim: u32, // D: a multiple of 4, ≤ 4·WG·DPT
  position0: u32, // absolute position of query row 0
  scale: f32, // multiplies q·k
  softcap: f32, // 0: none; else s ← softcap·tanh(s / softcap)
  window: u32, // 0: none; else key j is visible from query i iff i − window < j ≤ i
  cacheRows: u32, // rows of the cache; key position j lives at row j % cacheRows
}

@group(0) @binding(0) var<uniform> p: Params;
// All four as vec4 along D: index (row, head, d / 4).
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>; // (T, H, D)
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>; // (cacheRows, KVH, D)
@group(0) @binding(3) var<storage, read> v: array<vec4<f32>>; // (cacheRows, KVH, D)
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>; // (T, H, D)

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

const WG: u32 = 16u; // keys per tile = lanes
const DPT: u32 = 4u; // output vec4s per lane: D ≤ 4·16·4 = 256
const MAX_D4: u32 = WG * DPT;

var<workgroup> qs: array<vec4<f32>, MAX_D4>; // this query row, read by every lane
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let D4 = p.headDim / 4u;
  let kvh = h / (p.heads / p.kvHeads);
  let qBase = (t * p.heads + h) * D4;
  for (var d = lid; d < D4; d += WG) {
    qs[d] = q[qBase + d];
  }
  workgroupBarrier();

  let place = rowPlace(t);
  let last = place.x; // the query's own position: the last visible key
  let base = place.y * p.cacheRows; // the sequence's first cache row
  var first = 0u;
  if (p.window > 0u && last + 1u > p.window) {
    first = last + 1u - p.window;
  }
  let kvStride = p.kvHeads * D4; // vec4s between consecutive keys

  var m = bitcast<f32>(0xff800000u); // running max, -inf
  var l = 0.0; // running Σ exp(s − m)
  var acc: array<vec4<f32>, DPT>;
  for (var start = first; start <= last; start += WG) {
    // 1. Score this lane's key (keys past `last` get -inf and probability 0).
    let j = start + lid;
    var s = bitcast<f32>(0xff800000u);
    if (j <= last) {
      let kBase = (base + j % p.cacheRows) * kvStride + kvh * D4;
      var dot4 = vec4<f32>();
      for (var d = 0u; d < D4; d++) {
        dot4 += qs[d] * k[kBase + d];
      }
      s = (dot4.x + dot4.y + dot4.z + dot4.w) * p.scale;
      if (p.softcap > 0.0) {
        s = p.softcap * tanhPrecise(s / p.softcap);
      }
    }
    scores[lid] = s;
    workgroupBarrier();

    // 2. New running max (same in every lane) and this lane's probability.
    let count = min(WG, last + 1u - start); // valid keys in the tile (≥ 1)
    var tileMax = scores[0];
    for (var i = 1u; i < count; i++) {
      tileMax = max(tileMax, scores[i]);
    }
    let mNew = max(m, tileMax);
    // Rescales the old sums (nothing to rescale on the first tile, where m is still -inf).
    let alpha = select(exp(m - mNew), 0.0, start == first);
    probs[lid] = select(0.0, exp(s - mNew), lid < count);
    workgroupBarrier();

    // 3. Fold the tile into the running sum and this lane's output vec4s.
    var tileSum = 0.0;
    for (var i = 0u; i < count; i++) {
      tileSum += probs[i];
    }
    l = l * alpha + tileSum;
    for (var c = 0u; c < DPT; c++) {
      let d = lid + c * WG;
      if (d < D4) {
        var a = acc[c] * alpha;
        let vBase = kvh * D4 + d;
        for (var i = 0u; i < count; i++) {
          a += probs[i] * v[(base + (start + i) % p.cacheRows) * kvStride + vBase];
        }
        acc[c] = a;
      }
    }
    m = mNew;
  }

  for (var c = 0u; c < DPT; c++) {
    let d = lid + c * WG;
    if (d < D4) {
      out[qBase + d] = acc[c] / l;
    }
  }
}
