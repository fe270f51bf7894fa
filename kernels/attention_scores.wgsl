// The softmax of attention's forward for a block of queries of one head group, between the tiled
// products of attention_tiled.ts. Query m of the block sits at position t = t0 + ⌊m / G⌋, key j
// (j < N) at position k0 + j; s[m, j] = q·k_j becomes P_j = softmax_j(z) over the visible keys
// (t − window < k0 + j ≤ t), z_j = cap·tanh(scale·s_j / cap) (or scale·s_j), and 0 at the
// others. One workgroup per query. workgroupSum, workgroupMax, tanhPrecise, logSumExp: prepended
// by the .ts file.

struct Params {
  m: u32, // M: queries in the block
  n: u32, // N: keys
  group: u32, // G
  t0: u32, // the position of the block's first row
  scale: f32,
  cap: f32, // 0: no soft-cap
  window: u32, // 0: none
  k0: u32, // the position of key 0 (≤ t0)
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

fn scoreAt(i: u32) -> f32 {
  return capped(s[i]);
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
  // Visible keys j: first ≤ j ≤ last (as indices from key 0).
  let t = p.t0 + m / p.group;
  let firstPosition = select(0u, t + 1u - min(p.window, t + 1u), p.window > 0u);
  let first = max(firstPosition, p.k0) - p.k0;
  let last = t - p.k0;
  let row = m * p.n;
  let lse = logSumExp(lid, row, first, last);
  for (var j = lid; j < p.n; j += WG) {
    var prob = 0.0;
    if (j >= first && j <= last) {
      prob = exp(capped(s[row + j]) - lse);
    }
    s[row + j] = prob;
  }
}
