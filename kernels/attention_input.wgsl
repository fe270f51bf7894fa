// The attention inputs of T new rows, in one dispatch (it replaces up to two norms, two RoPE
// dispatches and four copies per layer). The input is the q, k, v projection, (T, H + 2·Hkv, D):
// H query heads, Hkv key heads, Hkv value heads per row. One workgroup per (row t, head slot):
//   slots [0, H):               query head: normed (Gemma 3's q_norm, if HEAD_NORM), rotated, to q;
//   slots [H, H + Hkv):         key head: normed (k_norm), rotated, written to the key cache;
//   slots [H + Hkv, H + 2·Hkv): value head: copied to the value cache.
// Cache row of position p: p mod cacheRows (a ring for sliding-window layers).
//
// Norm: v·inverseSqrt(mean(v²) + eps)·w over the head's D values, in f32.
// RoPE, rotate-half (NEOX) layout: for i < D/2, with angle = (position0 + t)·invFreq[i],
//   (v[i], v[i + D/2]) ← (v[i]·cos − v[i + D/2]·sin, v[i + D/2]·cos + v[i]·sin).
// Angles are f32 like the reference implementations (position · inv_freq, both f32, inv_freq
// from a table made on the CPU, linear scaling folded in), so their error grows with the
// position: ~1e-4 rad at 4000. The angle is reduced to [-π, π] with a two-part 2π before sin/cos:
// drivers only promise accurate sin/cos on [-π, π].

struct Params {
  rows: u32, // T
  heads: u32, // H
  kvHeads: u32, // Hkv
  headDim: u32, // D (even)
  position0: u32, // position of row 0
  cacheRows: u32,
  eps: f32,
}

override HEAD_NORM: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>; //          (T, H + 2·Hkv, D)
@group(0) @binding(2) var<storage, read_write> q: array<f32>; //      (T, H, D)
@group(0) @binding(3) var<storage, read_write> keys: array<f32>; //   (cacheRows, Hkv, D)
@group(0) @binding(4) var<storage, read_write> values: array<f32>; // (cacheRows, Hkv, D)
// (D/2) θ^(-2i/D) / factor, rounded to f32 on the CPU exactly as HF transformers computes it, so
// that the angles (f32 position · f32 inv_freq) are bit-identical to a PyTorch run's.
@group(0) @binding(5) var<storage, read> invFreq: array<f32>;
// (D) q_norm and k_norm weights (1 + w folded in). Without HEAD_NORM they are never read.
@group(0) @binding(6) var<storage, read> qNorm: array<f32>;
@group(0) @binding(7) var<storage, read> kNorm: array<f32>;

// Several sequences in one call (row_places.ts): row t's (absolute position, sequence) come from
// rowTable, sequence s owning cache rows s·cacheRows …; else row t is at position0 + t in a cache
// of its own.
override ROW_TABLE: bool = false;
@group(0) @binding(8) var<storage, read> rowTable: array<vec2<u32>>;

fn rowPlace(t: u32) -> vec2<u32> {
  if (ROW_TABLE) {
    return rowTable[t];
  }
  return vec2<u32>(p.position0 + t, 0u);
}

const WG: u32 = 64u;
// Pairs per lane: D ≤ 2·WG·PAIRS = 512 (attention_input.ts checks).
const PAIRS: u32 = 4u;
// 2π = TWO_PI_HI + TWO_PI_LO (TWO_PI_HI is 2π rounded to f32). fma forms angle − k·TWO_PI_HI
// from the exact product, and the small difference is representable, so only the TWO_PI_LO step
// rounds; without a fused fma the extra error is ~angle·2^-24, no worse than the angle's own.
const TWO_PI_HI: f32 = 6.28318548202514648;
const TWO_PI_LO: f32 = -1.7484555314695172e-7;
const INV_TWO_PI: f32 = 0.15915494309189535;

// (cos, sin) of the angle of pair i at `position`.
fn rotation(position: u32, i: u32) -> vec2<f32> {
  let angle = f32(position) * invFreq[i];
  let turns = round(angle * INV_TWO_PI);
  let reduced = fma(-turns, TWO_PI_LO, fma(-turns, TWO_PI_HI, angle));
  return vec2<f32>(cos(reduced), sin(reduced));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let slots = p.heads + 2u * p.kvHeads;
  let index = wid.x + wid.y * nwg.x;
  if (index >= p.rows * slots) {
    return;
  }
  let t = index / slots;
  let slot = index % slots;
  let d = p.headDim;
  let half = d / 2u;
  let place = rowPlace(t);
  let position = place.x;
  let cacheRow = place.y * p.cacheRows + position % p.cacheRows;

  let src = index * d; // (t, slot) of qkv

  if (slot >= p.heads + p.kvHeads) {
    let dst = (cacheRow * p.kvHeads + slot - p.heads - p.kvHeads) * d;
    for (var i = lid; i < d; i += WG) {
      values[dst + i] = qkv[src + i];
    }
    return;
  }

  let isQuery = slot < p.heads;
  let dst = select((cacheRow * p.kvHeads + slot - p.heads) * d, (t * p.heads + slot) * d, isQuery);
  // This lane's pairs (i, i + D/2), i = lid + WG·j.
  var a: array<f32, PAIRS>;
  var b: array<f32, PAIRS>;
  var sum = 0.0;
  for (var j = 0u; j < PAIRS; j++) {
    let i = lid + WG * j;
    if (i < half) {
      a[j] = qkv[src + i];
      b[j] = qkv[src + i + half];
      sum += a[j] * a[j] + b[j] * b[j];
    }
  }
  var scale = 1.0;
  if (HEAD_NORM) {
    // workgroupSum: workgroup_sum.wgsl, which attention_input.ts prepends.
    scale = inverseSqrt(workgroupSum(lid, sum) / f32(d) + p.eps);
  }
  for (var j = 0u; j < PAIRS; j++) {
    let i = lid + WG * j;
    if (i < half) {
      var x = vec2<f32>(a[j], b[j]) * scale;
      if (HEAD_NORM && isQuery) {
        x *= vec2<f32>(qNorm[i], qNorm[i + half]);
      } else if (HEAD_NORM) {
        x *= vec2<f32>(kNorm[i], kNorm[i + half]);
      }
      let r = rotation(position, i);
      let rotated = vec2<f32>(x.x * r.x - x.y * r.y, x.y * r.x + x.x * r.y);
      if (isQuery) {
        q[dst + i] = rotated.x;
        q[dst + i + half] = rotated.y;
      } else {
        keys[dst + i] = rotated.x;
        keys[dst + i + half] = rotated.y;
      }
    }
  }
}
