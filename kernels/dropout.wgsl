// Inverted dropout with a counter-based mask: y (+)= keep(i) · x · factor, keep(i) iff
// hash(key, i) ≥ threshold (P(drop) = threshold / 2³²). The mask is a pure function of the
// 32-bit key and the element index, so a pass that runs again (the backward's recompute, a
// resumed run) draws the same mask without storing it. The hash is hash.wgsl's, prepended.

struct Params {
  count: u32, // n
  key: u32, // the mask's stream (dropoutKey in dropout.ts)
  threshold: u32, // round(p · 2³²)
  factor: f32, // 1 / (1 − p)
  accumulate: u32, // 1: y += …, 0: y = …
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (n)
@group(0) @binding(2) var<storage, read_write> y: array<f32>; // (n)

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.count) {
    return;
  }
  let kept = lowbias32(p.key ^ lowbias32(i)) >= p.threshold;
  let v = select(0.0, x[i] * p.factor, kept);
  if (p.accumulate != 0u) {
    y[i] += v;
  } else {
    y[i] = v;
  }
}
