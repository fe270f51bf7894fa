// Split-K attention, pass 2 of 2: combines the per-split partial sums of attention_split.wgsl.
//
// Split n of (head h, row t) left its maximum score m_n, its sum ℓ_n = Σ exp(s − m_n) and its
// unnormalized output acc_n = Σ exp(s − m_n)·v. With M = max_n m_n the exact softmax output is
//   out = Σ_n acc_n·exp(m_n − M) / Σ_n ℓ_n·exp(m_n − M).
// One workgroup per (h, t); lane l owns output vec4s l, l + WG, …. The row's split count is
// recomputed from its visible key range exactly as pass 1 cut it, so unused slots are never read.

struct Params {
  heads: u32, // H
  headDim: u32, // D: a multiple of 4
  position0: u32, // absolute position of query row 0
  window: u32, // 0: none; else row t sees keys position0 + t − window + 1 … position0 + t
  splitKeys: u32, // keys per split, as in pass 1
  splits: u32, // slots per (row, head) in scratch
}

@group(0) @binding(0) var<uniform> p: Params;
// Slot (t, h, n) at vec4 ((t·H + h)·splits + n)·(D/4 + 1): acc (D/4 vec4s), then (m, ℓ, 0, 0).
@group(0) @binding(1) var<storage, read> scratch: array<vec4<f32>>; // (T, H, splits, D/4 + 1)
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>; // (T, H, D)

// Several sequences in one call (row_places.ts): row t's (absolute position, sequence) come from
// rowTable, sequence s owning cache rows s·cacheRows …; else row t is at position0 + t in a cache
// of its own.
override ROW_TABLE: bool = false;
@group(0) @binding(3) var<storage, read> rowTable: array<vec2<u32>>;

fn rowPlace(t: u32) -> vec2<u32> {
  if (ROW_TABLE) {
    return rowTable[t];
  }
  return vec2<u32>(p.position0 + t, 0u);
}

const WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let D4 = p.headDim / 4u;
  let last = rowPlace(t).x;
  var first = 0u;
  if (p.window > 0u && last + 1u > p.window) {
    first = last + 1u - p.window;
  }
  let used = (last - first) / p.splitKeys + 1u; // splits pass 1 filled for this row
  let stride = D4 + 1u;
  let base = (t * p.heads + h) * p.splits * stride;

  var mMax = bitcast<f32>(0xff800000u); // -inf
  for (var n = 0u; n < used; n++) {
    mMax = max(mMax, scratch[base + n * stride + D4].x);
  }
  for (var d = lid; d < D4; d += WG) {
    var acc = vec4<f32>();
    var l = 0.0;
    for (var n = 0u; n < used; n++) {
      let stats = scratch[base + n * stride + D4];
      let w = exp(stats.x - mMax);
      l += stats.y * w;
      acc += scratch[base + n * stride + d] * w;
    }
    out[(t * p.heads + h) * D4 + d] = acc / l;
  }
}
