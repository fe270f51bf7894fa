// Cross-entropy over a vocabulary too large for T × V logits, one chunk of C vocabulary rows at a
// time (cross_entropy.ts computes each chunk's logits a = h·E[v0 : v0 + C]ᵀ with matmul). With
// Gemma 2's final soft-cap z = cap·tanh(a / cap) (cap = 0: z = a), and targets[t] = −1 for rows
// without a loss. Per row, stats[t] = (running max m, running Σ exp(z − m), z of the target, w)
// in f32, where w is the factor exp(m_before − m) by which the chunk's update moved the running
// max, until `finish` makes it the log-sum-exp. Entry points:
//   update   (one workgroup per row): merges the chunk's max and sum into stats, picks the target;
//   finish   (one invocation per row): lse = m + log(sum); loss[t] = lse − z_target (0 if masked);
// and for the gradient dL/dh = gradScale · Σ_v (softmax(z)_v − [v = target])·(dz/da)_v·E_v, made
// in the same pass over the chunks as the loss (the logits are not computed twice): dh first
// accumulates A = Σ_v exp(z_v − m)·(dz/da)_v·E_v against the running max m, then
//   weights  (one invocation per logit, 2D grid): logits[t, j] becomes exp(z − m)·dz/da in place
//            (0 if masked), with dz/da = 1 − tanh²(a / cap); matmulInputGrad adds it · E to dh;
//   rescale  (one invocation per value of dh): dh[t] ·= w (rows with a target), before a later chunk's product is added;
//   combine  (one invocation per value of dh): dh[t] = gradScale · (A / sum − (dz/da)_target ·
//            E[target]), E[target] gathered into targetRows by cross_entropy.ts; 0 if masked.
// tanhPrecise, workgroupSum, workgroupMax: tanh.wgsl, workgroup_sum.wgsl, workgroup_max.wgsl
// (prepended by cross_entropy.ts).

struct Params {
  rows: u32, // T
  width: u32, // C: vocabulary rows in this chunk
  v0: u32, // first vocabulary row of the chunk
  first: u32, // 1 for the first chunk (stats start fresh)
  cap: f32, // 0: no soft-cap
  gradScale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> targets: array<i32>; // (T)
@group(0) @binding(2) var<storage, read_write> stats: array<vec4<f32>>; // (T)
// update, weights: the chunk's (T, C) logits; finish: the (T) losses; rescale, combine: dh (T, D),
// with C = D. One binding for all, as every entry point's bindings are numbered from 1 without
// gaps.
@group(0) @binding(3) var<storage, read_write> work: array<f32>;
// combine: (T, D) E[target], f32 words or with TARGETS_F16 f16 pairs.
@group(0) @binding(4) var<storage, read> targetRows: array<u32>;
override TARGETS_F16: bool = false;

fn targetRow(i: u32) -> f32 {
  if (TARGETS_F16) {
    return unpack2x16float(targetRows[i / 2u])[i % 2u];
  }
  return bitcast<f32>(targetRows[i]);
}

const WG: u32 = 64u;

// z, the soft-capped logit.
fn capped(a: f32) -> f32 {
  if (p.cap == 0.0) {
    return a;
  }
  return p.cap * tanhPrecise(a / p.cap);
}

@compute @workgroup_size(WG)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let base = t * p.width;
  var m = -3.0e38;
  for (var j = lid; j < p.width; j += WG) {
    m = max(m, capped(work[base + j]));
  }
  let chunkMax = workgroupMax(lid, m);
  var sum = 0.0;
  for (var j = lid; j < p.width; j += WG) {
    sum += exp(capped(work[base + j]) - chunkMax);
  }
  let chunkSum = workgroupSum(lid, sum);
  if (lid == 0u) {
    var s = vec4<f32>(chunkMax, chunkSum, 0.0, 1.0);
    if (p.first == 0u) {
      let old = stats[t];
      let top = max(old.x, chunkMax);
      let moved = exp(old.x - top);
      s = vec4<f32>(top, old.y * moved + chunkSum * exp(chunkMax - top), old.z, moved);
    }
    let wanted = targets[t];
    if (wanted >= i32(p.v0) && wanted < i32(p.v0 + p.width)) {
      s.z = capped(work[base + u32(wanted) - p.v0]);
    }
    stats[t] = s;
  }
}

@compute @workgroup_size(WG)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= p.rows) {
    return;
  }
  var s = stats[t];
  s.w = s.x + log(s.y);
  stats[t] = s;
  work[t] = select(s.w - s.z, 0.0, targets[t] < 0);
}

// The flat index of this invocation in a 2D grid of workgroups.
fn flatIndex(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn weights(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.rows * p.width) {
    return;
  }
  let t = i / p.width;
  if (targets[t] < 0) {
    work[i] = 0.0;
    return;
  }
  let a = work[i];
  var slope = 1.0;
  var z = a;
  if (p.cap != 0.0) {
    let th = tanhPrecise(a / p.cap);
    z = p.cap * th;
    slope = 1.0 - th * th;
  }
  work[i] = exp(z - stats[t].x) * slope;
}

@compute @workgroup_size(WG)
fn rescale(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flatIndex(wid, nwg, lid);
  if (i < p.rows * p.width && targets[i / p.width] >= 0) {
    work[i] *= stats[i / p.width].w;
  }
}

@compute @workgroup_size(WG)
fn combine(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = flatIndex(wid, nwg, lid);
  if (i >= p.rows * p.width) {
    return;
  }
  let t = i / p.width;
  let s = stats[t];
  var slope = 1.0;
  if (p.cap != 0.0) {
    let th = s.z / p.cap;
    slope = 1.0 - th * th;
  }
  let value = p.gradScale * (work[i] / s.y - slope * targetRow(i));
  work[i] = select(value, 0.0, targets[t] < 0);
}
