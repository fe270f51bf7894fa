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
var<workgroup> partial: array<f32, WG>;

// 1 / RMS of a row whose lanes' partial sums of squares are `sum`, for every lane.
fn inverseRms(lid: u32, sum: f32) -> f32 {
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  // Before the next row's reduction (in `residual`) overwrites partial[0].
  workgroupBarrier();
  return inverseSqrt(total / f32(p.dim) + p.eps);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.dim;
  var sum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  let scale = inverseRms(lid, sum);
  for (var i = lid; i < p.dim; i += WG) {
    y[base + i] = x[base + i] * scale * w[i];
  }
}

// Each lane reads back only the elements of h it wrote itself, so no barrier is needed between
// the update of h and its norm.
@compute @workgroup_size(WG)
fn residual(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.dim;
  var sum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  let scale = inverseRms(lid, sum);
  var hSum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = h[base + i] + x[base + i] * scale * w[i];
    h[base + i] = v;
    hSum += v * v;
  }
  let hScale = inverseRms(lid, hSum);
  for (var i = lid; i < p.dim; i += WG) {
    y[base + i] = h[base + i] * hScale * next[i];
  }
}
