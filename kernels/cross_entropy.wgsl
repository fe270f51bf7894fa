// Cross-entropy over a vocabulary too large for T × V logits, one chunk of C vocabulary rows at a
// time (cross_entropy.ts computes each chunk's logits a = h·E[v0 : v0 + C]ᵀ with matmul). With
// Gemma 2's final soft-cap z = cap·tanh(a / cap) (cap = 0: z = a), and targets[t] = −1 for rows
// without a loss. Per row, stats[t] = (running max m, running Σ exp(z − m), z of the target,
// log-sum-exp) in f32. Three entry points:
//   update  (one workgroup per row): merges the chunk's max and sum into stats, picks the target;
//   finish  (one invocation per row): lse = m + log(sum); loss[t] = lse − z_target (0 if masked);
//   grad    (one invocation per logit, 2D grid): logits[t, j] becomes
//           dL/da = gradScale · (exp(z − lse) − [v0 + j == target]) · dz/da, 0 if masked,
//           with dz/da = 1 − tanh²(a / cap), in place; matmulInputGrad then adds it · E to dh.
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
// update, grad: the chunk's (T, C) logits; finish: the (T) losses. One binding for both, as
// every entry point's bindings are numbered from 1 without gaps.
@group(0) @binding(3) var<storage, read_write> work: array<f32>;

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
    var s = vec4<f32>(chunkMax, chunkSum, 0.0, 0.0);
    if (p.first == 0u) {
      let old = stats[t];
      let top = max(old.x, chunkMax);
      s = vec4<f32>(top, old.y * exp(old.x - top) + chunkSum * exp(chunkMax - top), old.z, 0.0);
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

@compute @workgroup_size(WG)
fn grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.width) {
    return;
  }
  let t = i / p.width;
  let wanted = targets[t];
  if (wanted < 0) {
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
  let hit = select(0.0, 1.0, u32(wanted) == p.v0 + i % p.width);
  work[i] = p.gradScale * (exp(z - stats[t].w) - hit) * slope;
}
