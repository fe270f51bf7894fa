// The weight gradient of y = x·wᵀ for small f32 weights (LoRA's A and B):
//   dw[n, k] (+)= scale · Σ_t dy[t, dyCol + n] · x[t, xCol + k]        (dw = scale · dyᵀ·x)
// One invocation per element of dw, summing over the T rows in f32; workgroups of 8 × 8 elements
// (n along y, k along x) on a grid folded over z when K / 8 exceeds the per-dimension limit.

struct Params {
  rows: u32, // T
  n: u32, // N
  k: u32, // K
  dyStride: u32,
  dyCol: u32,
  xStride: u32,
  xCol: u32,
  accumulate: u32, // 1: dw += …; 0: dw = …
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>; // (T, dyStride)
@group(0) @binding(2) var<storage, read> x: array<f32>; // (T, xStride)
@group(0) @binding(3) var<storage, read_write> dw: array<f32>; // (N, K)

@compute @workgroup_size(8, 8)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let k = (wid.x + wid.z * nwg.x) * 8u + lid.x;
  let n = wid.y * 8u + lid.y;
  if (k >= p.k || n >= p.n) {
    return;
  }
  var sum = 0.0;
  for (var t = 0u; t < p.rows; t++) {
    sum += dy[t * p.dyStride + p.dyCol + n] * x[t * p.xStride + p.xCol + k];
  }
  let at = n * p.k + k;
  if (p.accumulate != 0u) {
    dw[at] += p.scale * sum;
  } else {
    dw[at] = p.scale * sum;
  }
}
