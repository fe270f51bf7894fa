// RMSNorm over each row: norm(v)[i] = v[i] * inverseSqrt(mean(v²) + eps) * w[i], one workgroup
// per row; sums of squares are tree reductions in workgroup memory, in f32. (Gemma's "1 + w" is
// folded into w by the loader, so this is plain RMSNorm.) Two entry points:
//   main:      y = norm(x)·w
//   residual:  h += norm(x)·w; then y = norm(h)·next
// `residual` is Gemma 2/3's sandwich norm of a block's output added to the residual stream h,
// fused with the input norm of the block that follows, which saves two dispatches per block.

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; //          (rows, dim)
@group(0) @binding(2) var<storage, read> w: array<f32>; //          (dim)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; //    (rows, dim)
@group(0) @binding(4) var<storage, read_write> h: array<f32>; //    (rows, dim), residual only
@group(0) @binding(5) var<storage, read> next: array<f32>; //       (dim), residual only

const WG: u32 = 128u;

// 1 / RMS of a row whose sum of squares is `sum`.
fn inverseRms(sum: f32) -> f32 {
  return inverseSqrt(sum / f32(p.dim) + p.eps);
}

// 1 / RMS of row `base` of x (workgroupSum: workgroup_sum.wgsl, which rms_norm.ts prepends).
fn inverseRmsOfX(base: u32, lid: u32) -> f32 {
  var sum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  return inverseRms(workgroupSum(lid, sum));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.dim;
  let scale = inverseRmsOfX(base, lid);
  for (var i = lid; i < p.dim; i += WG) {
    y[base + i] = x[base + i] * scale * w[i];
  }
}

// Each lane reads back only the elements of h it wrote itself, so no barrier is needed between
// the update of h and its norm.
@compute @workgroup_size(WG)
fn residual(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.dim;
  let scale = inverseRmsOfX(base, lid);
  var hSum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = h[base + i] + x[base + i] * scale * w[i];
    h[base + i] = v;
    hSum += v * v;
  }
  let hScale = inverseRms(workgroupSum(lid, hSum));
  for (var i = lid; i < p.dim; i += WG) {
    y[base + i] = h[base + i] * hScale * next[i];
  }
}
