// The softmax part of attention's backward for a block of queries of one head group, between the
// tiled products of attention_backward_tiled.ts. Query m of the block is row t0 + ⌊m / G⌋ of its
// sequence (head m mod G of the group); s[m, j] = q·k_j and dp[m, j] = do·v_j for keys j < N. With
//   z_j = cap·tanh(scale·s_j / cap) (or scale·s_j), P = softmax over the visible keys
//   (t − window < j ≤ t), Δ = Σ_j P_j·dp_j, ds_j = scale·P_j·(dp_j − Δ)·(1 − tanh²(scale·s_j / cap)),
// it writes ds over dp, and Pᵀ and dsᵀ (N, M) for the key-side products (0 at invisible keys).
// One workgroup per query. workgroupSum, workgroupMax, tanhPrecise, logSumExp: prepended by the
// .ts file.

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
@group(0) @binding(1) var<storage, read> s: array<f32>; //             (M, N)
@group(0) @binding(2) var<storage, read_write> dp: array<f32>; //      (M, N), becomes ds
@group(0) @binding(3) var<storage, read_write> probsT: array<f32>; //  (N, M)
@group(0) @binding(4) var<storage, read_write> dsT: array<f32>; //     (N, M)

const WG: u32 = 32u;

// The soft-capped score z and the cap's slope dz/d(scale·s).
fn capped(raw: f32) -> vec2<f32> {
  let x = p.scale * raw;
  if (p.cap == 0.0) {
    return vec2<f32>(x, 1.0);
  }
  let th = tanhPrecise(x / p.cap);
  return vec2<f32>(p.cap * th, 1.0 - th * th);
}

fn scoreAt(i: u32) -> f32 {
  return capped(s[i]).x;
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
  let lse = logSumExp(lid, row, first, t);
  var delta = 0.0;
  for (var j = first + lid; j <= t; j += WG) {
    delta += exp(capped(s[row + j]).x - lse) * dp[row + j];
  }
  delta = workgroupSum(lid, delta);
  for (var j = lid; j < p.n; j += WG) {
    var prob = 0.0;
    var ds = 0.0;
    if (j >= first && j <= t) {
      let zs = capped(s[row + j]);
      prob = exp(zs.x - lse);
      ds = p.scale * prob * (dp[row + j] - delta) * zs.y;
    }
    dp[row + j] = ds;
    probsT[j * p.m + m] = prob;
    dsT[j * p.m + m] = ds;
  }
}
