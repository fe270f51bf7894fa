// RMSNorm over each row: y[r, i] = x[r, i] * inverseSqrt(mean(x[r, :]²) + eps) * w[i].
// One workgroup per row; the sum of squares is a tree reduction in workgroup memory, in f32.
// (Gemma's "1 + w" is folded into w by the loader, so this kernel is plain RMSNorm.)

struct Params {
  rows: u32,
  dim: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;       // (rows, dim)
@group(0) @binding(2) var<storage, read> w: array<f32>;       // (dim)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (rows, dim)

const WG: u32 = 128u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  let base = row * p.dim;
  var sum = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    sum += v * v;
  }
  partial[lid] = sum;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let scale = inverseSqrt(partial[0] / f32(p.dim) + p.eps);
  for (var i = lid; i < p.dim; i += WG) {
    y[base + i] = x[base + i] * scale * w[i];
  }
}
