// The input gradient of RMSNorm, y = x·r·w with r = inverseSqrt(mean(x²) + eps) over each row
// of D values (w holds Gemma's 1 + w):
//   dx[i] (+)= r·w[i]·dy[i] − x[i]·r³·(Σ_j w[j]·dy[j]·x[j]) / D
// One workgroup per row; the two row sums are tree reductions in workgroup memory, in f32
// (workgroupSum: workgroup_sum.wgsl, prepended by rms_norm_backward.ts). A row is D values from
// (r / heads)·rowStride + offset + (r % heads)·D of x, dy and dx alike: whole hidden rows
// (heads = 1, rowStride = D), or the q or k heads of the forward's (T, H + 2·Hkv, D) q, k, v
// projection (Gemma 3's q/k norms). Entry points: main writes dx; inPlace overwrites dy.

struct Params {
  rows: u32,
  dim: u32, // D
  eps: f32,
  accumulate: u32, // main: 1: dx += …; 0: dx = …
  heads: u32, // rows per group of rowStride
  rowStride: u32,
  offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; //             forward input
@group(0) @binding(2) var<storage, read> w: array<f32>; //             (D)
@group(0) @binding(3) var<storage, read_write> dy: array<f32>; //      (inPlace: dx out)
@group(0) @binding(4) var<storage, read_write> dx: array<f32>; //      main only

const WG: u32 = 128u;

// Where row r starts.
fn rowBase(r: u32) -> u32 {
  return (r / p.heads) * p.rowStride + p.offset + (r % p.heads) * p.dim;
}

// The row's r and the coefficient c of dx = r·w·dy − c·x.
fn coefficients(base: u32, lid: u32) -> vec2<f32> {
  var squares = 0.0;
  var dots = 0.0;
  for (var i = lid; i < p.dim; i += WG) {
    let v = x[base + i];
    squares += v * v;
    dots += w[i] * dy[base + i] * v;
  }
  let r = inverseSqrt(workgroupSum(lid, squares) / f32(p.dim) + p.eps);
  return vec2<f32>(r, r * r * r * workgroupSum(lid, dots) / f32(p.dim));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = rowBase(wid.x);
  let k = coefficients(base, lid);
  for (var i = lid; i < p.dim; i += WG) {
    let g = k.x * w[i] * dy[base + i] - k.y * x[base + i];
    if (p.accumulate != 0u) {
      dx[base + i] += g;
    } else {
      dx[base + i] = g;
    }
  }
}

// Each lane rewrites only the elements it read itself, so dy can be overwritten in place.
@compute @workgroup_size(WG)
fn inPlace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let base = rowBase(wid.x);
  let k = coefficients(base, lid);
  for (var i = lid; i < p.dim; i += WG) {
    dy[base + i] = k.x * w[i] * dy[base + i] - k.y * x[base + i];
  }
}
