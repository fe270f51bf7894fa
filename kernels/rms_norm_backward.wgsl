// The input gradient of RMSNorm, y = x·r·w with r = inverseSqrt(mean(x²) + eps) over each row
// of D values (w holds Gemma's 1 + w):
//   dx[i] (+)= r·w[i]·dy[i] − x[i]·r³·(Σ_j w[j]·dy[j]·x[j]) / D
// One workgroup per row; the two row sums are tree reductions in workgroup memory, in f32
// (workgroupSum: workgroup_sum.wgsl, prepended by rms_norm_backward.ts). Rows may be whole
// hidden rows (D = hidden) or heads (Gemma 3's q/k norms: T·H rows of head_dim).

struct Params {
  rows: u32,
  dim: u32, // D
  eps: f32,
  accumulate: u32, // 1: dx += …; 0: dx = …
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; //             (rows, D) forward input
@group(0) @binding(2) var<storage, read> w: array<f32>; //             (D)
@group(0) @binding(3) var<storage, read> dy: array<f32>; //            (rows, D)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>; //      (rows, D)

const WG: u32 = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * p.dim;
  var squares = 0.0;
  var dots = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    squares += v * v;
    dots += w[i] * dy[base + i] * v;
  }
  let r = inverseSqrt(workgroupSum(lid, squares) / f32(p.dim) + p.eps);
  let c = r * r * r * workgroupSum(lid, dots) / f32(p.dim);
  for (var i = lid; i < p.dim; i += WG) {
    let g = r * w[i] * dy[base + i] - c * x[base + i];
    if (p.accumulate != 0u) {
      dx[base + i] += g;
    } else {
      dx[base + i] = g;
    }
  }
}
