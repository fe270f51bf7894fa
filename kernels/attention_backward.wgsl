// The backward of causal attention with Gemma 2's score soft-cap, sliding windows and GQA/MQA,
// recomputing the scores (nothing of the forward is kept but q, k, v). For B sequences of T rows
// each (row r is position r mod T of sequence r / T), queries q (B·T, H, D) after RoPE, keys and
// values k, v (B·T, Hkv, D); query head h reads kv head h / (H / Hkv). With
//   s_j = scale·q·k_j,  z_j = cap·tanh(s_j / cap) (or s_j),  P = softmax over the visible keys
//   (i − window < j ≤ i), o = Σ_j P_j·v_j,
// and dP_j = do·v_j, Δ = Σ_j P_j·dP_j, dz_j = P_j·(dP_j − Δ), ds_j = dz_j·(1 − tanh²(s_j / cap)):
//   dq   = scale·Σ_j ds_j·k_j
//   dk_j = scale·Σ_(i, h in j's group) ds·q_i,h      dv_j = Σ_(i, h) P·do_i,h
// Two entry points, both with WG lanes over keys (or queries) in tiles, then over dimensions:
//   queries  one workgroup per (row, query head): the softmax's log-sum-exp (pass 1), then dq
//            and Δ (pass 2); writes (lse, Δ) to stats for `keys`.
//   keys     one workgroup per (row, kv head): dk and dv over the queries that see it.
// workgroupSum, workgroupMax, tanhPrecise: workgroup_sum.wgsl, workgroup_max.wgsl, tanh.wgsl
// (prepended by attention_backward.ts).

struct Params {
  rows: u32, // T, rows per sequence
  sequences: u32, // B
  heads: u32, // H
  kvHeads: u32, // Hkv
  headDim: u32, // D ≤ 4·WG
  scale: f32,
  cap: f32, // 0: no soft-cap
  window: u32, // 0: none
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>; //                 (B·T, H, D)
@group(0) @binding(2) var<storage, read> k: array<f32>; //                 (B·T, Hkv, D)
@group(0) @binding(3) var<storage, read> v: array<f32>; //                 (B·T, Hkv, D)
@group(0) @binding(4) var<storage, read> dout: array<f32>; //              (B·T, H, D)
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>; // (B·T, H) (lse, Δ)
// (B·T, H + 2·Hkv, D): per row dq's H heads, dk's Hkv heads, dv's Hkv heads: the layout of the
// forward's q, k, v projection, so that one matmulInputGrad per projection matrix follows.
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;

const WG: u32 = 64u;
const DPL: u32 = 4u; // dimensions per lane: D ≤ WG·DPL = 256

var<workgroup> rowA: array<f32, 256>; // q (queries) or k (keys) of the workgroup's own row
var<workgroup> rowB: array<f32, 256>; // do (queries) or v (keys)
var<workgroup> tileA: array<f32, WG>;
var<workgroup> tileB: array<f32, WG>;
var<workgroup> tileRow: array<u32, WG>; // keys: the (row, head) of each tile item

// The soft-capped score z and the cap's slope dz/ds for a raw score s.
fn capped(s: f32) -> vec2<f32> {
  if (p.cap == 0.0) {
    return vec2<f32>(s, 1.0);
  }
  let th = tanhPrecise(s / p.cap);
  return vec2<f32>(p.cap * th, 1.0 - th * th);
}

@compute @workgroup_size(WG)
fn queries(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let index = wid.x + wid.y * nwg.x; // (row, head)
  if (index >= p.sequences * p.rows * p.heads) {
    return;
  }
  let row = index / p.heads;
  let h = index % p.heads;
  let g = h / (p.heads / p.kvHeads);
  let t = row % p.rows;
  let row0 = row - t; // the sequence's first row
  let d = p.headDim;
  for (var i = lid; i < d; i += WG) {
    rowA[i] = q[index * d + i];
    rowB[i] = dout[index * d + i];
  }
  workgroupBarrier();
  let first = select(0u, t + 1u - min(p.window, t + 1u), p.window > 0u);
  // Pass 1: each lane's running max and sum of exponentials over its keys, then merged.
  var m = -3.0e38;
  var l = 0.0;
  for (var j = first + lid; j <= t; j += WG) {
    let base = ((row0 + j) * p.kvHeads + g) * d;
    var s = 0.0;
    for (var i = 0u; i < d; i++) {
      s += rowA[i] * k[base + i];
    }
    let z = capped(p.scale * s).x;
    if (z > m) {
      l = l * exp(m - z) + 1.0;
      m = z;
    } else {
      l += exp(z - m);
    }
  }
  let top = workgroupMax(lid, m);
  let lse = top + log(workgroupSum(lid, l * exp(m - top)));
  // Pass 2: tiles of WG keys; lane per key, then lane per dimension.
  var sumA: array<f32, DPL>;
  var sumB: array<f32, DPL>;
  var delta = 0.0;
  for (var j0 = first; j0 <= t; j0 += WG) {
    let j = j0 + lid;
    var a = 0.0;
    var b = 0.0;
    if (j <= t) {
      let base = ((row0 + j) * p.kvHeads + g) * d;
      var s = 0.0;
      var dp = 0.0;
      for (var i = 0u; i < d; i++) {
        s += rowA[i] * k[base + i];
        dp += rowB[i] * v[base + i];
      }
      let zs = capped(p.scale * s);
      let prob = exp(zs.x - lse);
      delta += prob * dp;
      a = prob * dp * zs.y;
      b = prob * zs.y;
    }
    tileA[lid] = a;
    tileB[lid] = b;
    workgroupBarrier();
    let count = min(WG, t + 1u - j0);
    for (var e = 0u; e < count; e++) {
      let base = ((row0 + j0 + e) * p.kvHeads + g) * d;
      for (var c = 0u; c < DPL; c++) {
        let i = lid + c * WG;
        if (i < d) {
          let kv = k[base + i];
          sumA[c] += tileA[e] * kv;
          sumB[c] += tileB[e] * kv;
        }
      }
    }
    workgroupBarrier();
  }
  let total = workgroupSum(lid, delta);
  for (var c = 0u; c < DPL; c++) {
    let i = lid + c * WG;
    if (i < d) {
      dqkv[(row * (p.heads + 2u * p.kvHeads) + h) * d + i] = p.scale * (sumA[c] - total * sumB[c]);
    }
  }
  if (lid == 0u) {
    stats[index] = vec2<f32>(lse, total);
  }
}

@compute @workgroup_size(WG)
fn keys(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let index = wid.x + wid.y * nwg.x; // (row, kv head)
  if (index >= p.sequences * p.rows * p.kvHeads) {
    return;
  }
  let row = index / p.kvHeads;
  let g = index % p.kvHeads;
  let j = row % p.rows;
  let row0 = row - j;
  let d = p.headDim;
  let group = p.heads / p.kvHeads;
  for (var i = lid; i < d; i += WG) {
    rowA[i] = k[index * d + i];
    rowB[i] = v[index * d + i];
  }
  workgroupBarrier();
  // Queries t with j ≤ t ≤ last see key j; items are (t, head in the group) pairs.
  let last = select(p.rows - 1u, min(p.rows - 1u, j + p.window - 1u), p.window > 0u);
  let items = (last + 1u - j) * group;
  var sumK: array<f32, DPL>;
  var sumV: array<f32, DPL>;
  for (var e0 = 0u; e0 < items; e0 += WG) {
    let e = e0 + lid;
    var a = 0.0;
    var b = 0.0;
    var at = 0u;
    if (e < items) {
      let t = j + e / group;
      let h = g * group + e % group;
      at = (row0 + t) * p.heads + h;
      let base = at * d;
      var s = 0.0;
      var dp = 0.0;
      for (var i = 0u; i < d; i++) {
        s += q[base + i] * rowA[i];
        dp += dout[base + i] * rowB[i];
      }
      let zs = capped(p.scale * s);
      let st = stats[at];
      let prob = exp(zs.x - st.x);
      a = p.scale * prob * (dp - st.y) * zs.y;
      b = prob;
    }
    tileA[lid] = a;
    tileB[lid] = b;
    tileRow[lid] = at;
    workgroupBarrier();
    let count = min(WG, items - e0);
    for (var f = 0u; f < count; f++) {
      let base = tileRow[f] * d;
      for (var c = 0u; c < DPL; c++) {
        let i = lid + c * WG;
        if (i < d) {
          sumK[c] += tileA[f] * q[base + i];
          sumV[c] += tileB[f] * dout[base + i];
        }
      }
    }
    workgroupBarrier();
  }
  for (var c = 0u; c < DPL; c++) {
    let i = lid + c * WG;
    if (i < d) {
      let at = (row * (p.heads + 2u * p.kvHeads) + p.heads + g) * d + i;
      dqkv[at] = sumK[c];
      dqkv[at + p.kvHeads * d] = sumV[c];
    }
  }
}
