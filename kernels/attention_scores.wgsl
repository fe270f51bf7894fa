// The softmax of attention's forward for a block of queries of one head group, between the tiled
// products of attention_tiled.ts (training: every sequence's keys are its own rows). Query m of
// the block is row t0 + ⌊m / G⌋ of its sequence; s[m, j] = q·k_j for keys j < N becomes
// P_j = softmax_j(z) over the visible keys (t − window < j ≤ t), z_j = cap·tanh(scale·s_j / cap)
// (or scale·s_j), and 0 at the others. One workgroup per query. workgroupSum, workgroupMax,
// tanhPrecise: prepended by the .ts file.

struct Params {
  m: u32, // M: queries in the block
  n: u32, // N: keys
  group: u32, // G
  t0: u32, // the block's first row in its sequence
  scale: f32,
  cap: f32, // 0: no soft-cap
  window: u32, // 0: none
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> s: array<f32>; // (M, N), becomes P

const WG: u32 = 32u;

fn capped(raw: f32) -> f32 {
  let x = p.scale * raw;
  if (p.cap == 0.0) {
    return x;
  }
  return p.cap * tanhPrecise(x / p.cap);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= p.m) {
    return; // uniform for the workgroup
  }
  let t = p.t0 + m / p.group;
  let first = select(0u, t + 1u - min(p.window, t + 1u), p.window > 0u);
  let row = m * p.n;
  var top = -3.0e38;
  for (var j = first + lid; j <= t; j += WG) {
    top = max(top, capped(s[row + j]));
  }
  top = workgroupMax(lid, top);
  var sum = 0.0;
  for (var j = first + lid; j <= t; j += WG) {
    sum += exp(capped(s[row + j]) - top);
  }
  let lse = top + log(workgroupSum(lid, sum));
  for (var j = lid; j < p.n; j += WG) {
    var prob = 0.0;
    if (j >= first && j <= t) {
      prob = exp(capped(s[row + j]) - lse);
    }
    s[row + j] = prob;
  }
}
