// The weight gradient of y = x·wᵀ for small f32 weights (LoRA's A and B):
//   dw[n, k] (+)= scale · Σ_t dy[t, dyCol + n] · x[t, xCol + k]        (dw = scale · dyᵀ·x)
// Each invocation sums a block of 4 × 4 elements of dw over the T rows in f32: per row 4 values
// of dy and 4 of x serve 16 multiply-adds (one element per invocation loaded 2 per multiply-add,
// and on lavapipe loads are what cost). Blocks are numbered along k, then n, on a 1D grid of
// workgroups of WG lanes (folded into 2D past the per-dimension limit), so that a shape as thin as
// LoRA's B (out × rank) keeps every lane busy.

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

const WG: u32 = 64u;

fn store(n: u32, k: u32, sum: f32) {
  if (n < p.n && k < p.k) {
    let at = n * p.k + k;
    if (p.accumulate != 0u) {
      dw[at] += p.scale * sum;
    } else {
      dw[at] = p.scale * sum;
    }
  }
}

fn storeRow(n: u32, k0: u32, sums: vec4<f32>) {
  store(n, k0, sums.x);
  store(n, k0 + 1u, sums.y);
  store(n, k0 + 2u, sums.z);
  store(n, k0 + 3u, sums.w);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let kBlocks = (p.k + 3u) / 4u;
  let block = (wid.x + wid.y * nwg.x) * WG + lid;
  if (block >= kBlocks * ((p.n + 3u) / 4u)) {
    return;
  }
  let n0 = block / kBlocks * 4u;
  let k0 = block % kBlocks * 4u;
  // Columns past the end are clamped for loading; their sums are never stored.
  let dn = vec4<u32>(
    min(n0, p.n - 1u),
    min(n0 + 1u, p.n - 1u),
    min(n0 + 2u, p.n - 1u),
    min(n0 + 3u, p.n - 1u),
  ) + p.dyCol;
  let xk = vec4<u32>(
    min(k0, p.k - 1u),
    min(k0 + 1u, p.k - 1u),
    min(k0 + 2u, p.k - 1u),
    min(k0 + 3u, p.k - 1u),
  ) + p.xCol;
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var t = 0u; t < p.rows; t++) {
    let d = t * p.dyStride;
    let e = t * p.xStride;
    let xv = vec4<f32>(x[e + xk.x], x[e + xk.y], x[e + xk.z], x[e + xk.w]);
    s0 = fma(vec4<f32>(dy[d + dn.x]), xv, s0);
    s1 = fma(vec4<f32>(dy[d + dn.y]), xv, s1);
    s2 = fma(vec4<f32>(dy[d + dn.z]), xv, s2);
    s3 = fma(vec4<f32>(dy[d + dn.w]), xv, s3);
  }
  storeRow(n0, k0, s0);
  storeRow(n0 + 1u, k0, s1);
  storeRow(n0 + 2u, k0, s2);
  storeRow(n0 + 3u, k0, s3);
}
