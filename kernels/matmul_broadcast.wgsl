// y[t, yCol + n] (+)= scale · Σ_k x[t, k] · w[n, k] for one row chunk of an f32 or f16 weight
// matrix: the float GEMM (and GEMV) for devices with subgroups of 8 or more lanes.
//
// A workgroup is 8 lanes (one subgroup) and owns a TM × 8·RL tile of y: lane l takes RL rows of
// w (n0 + RL·l …) and all of K, for the same TM rows of x. Per unit of 8 columns k … k + 7 a
// lane loads its RL rows' units of w and, from each of the TM rows of x, the one value x[t, k + l];
// subgroupBroadcast then hands every lane the 8 values of each row, lane j's at column k + j. So a
// lane loads 4·RL + TM 32-bit components (f16 w) per 8·TM·RL multiply-adds, where
// matmul_tiled.wgsl, whose lanes each load their own x, loads 32 + 8·TM per 64·TM. TM = 1 makes
// it a decode GEMV (matmul.wgsl's gemm loop, lanes along K: 40 components per 64).
//
// Why it matters on lavapipe: it loads every storage-buffer component per lane in a loop (a bounds
// check and a branch each; Mesa 25 reloads the descriptor per lane too), and a broadcast from a
// fixed lane is one register permute. Measured 128 × 4096 × 2048 (F16): 25–34 GFLOP/s against
// matmul_tiled's 18 (Mesa 22.3) and 12 (Mesa 25). No workgroup memory, no barrier: every lane
// sums its own outputs over all of K and stores them.
//
// Needs K and the row stride of w multiples of 8 (units start on 16 bytes: w is read as vec4
// words); x is read by element, so any stride or column offset. Rows of x past T and of w past
// the chunk are clamped for loading, their results never stored.

struct Params {
  rows: u32, // T
  k: u32, // K
  n: u32, // rows of w in this chunk
  wStride: u32, // elements between row starts of w (a multiple of 8)
  yStride: u32, // elements between row starts of y
  yCol: u32, // column of y that receives chunk row 0
  accumulate: u32, // 1: y += x·wᵀ; 0: y = x·wᵀ
  groups: u32, // workgroups along N (the grid may overshoot it when folded into 2D)
  xStride: u32, // elements between row starts of x
  xCol: u32, // column of x where its K values start
  scale: f32, // multiplies the products (not what accumulate adds to)
}

override TM: u32 = 8u; // rows of x per workgroup: 1 (a decode GEMV), 4 or 8
override RL: u32 = 4u; // rows of w per lane: 4 or 8
const LANES = 8u;

alias XElem = f32;
const XP = 1u;
alias WElem = vec4<u32>;
const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XElem>; // (T, xStride) f32
@group(0) @binding(2) var<storage, read> w: array<WElem>; // (n, wStride) f32 or f16 pairs
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, yStride)

// xAt (matmul_loads.wgsl) and Unit, weightUnit (float_weights.wgsl) are prepended by
// matmul_broadcast.ts.

/** Column j of 4 rows' units, j = 0 … 7: the 4 weights that multiply x[t, k + j]. */
struct Columns {
  c0: vec4<f32>,
  c1: vec4<f32>,
  c2: vec4<f32>,
  c3: vec4<f32>,
  c4: vec4<f32>,
  c5: vec4<f32>,
  c6: vec4<f32>,
  c7: vec4<f32>,
}

// The units of 4 rows transposed (free in lavapipe's one-register-per-component layout).
fn columns(a: Unit, b: Unit, c: Unit, d: Unit) -> Columns {
  return Columns(
    vec4<f32>(a.lo.x, b.lo.x, c.lo.x, d.lo.x),
    vec4<f32>(a.lo.y, b.lo.y, c.lo.y, d.lo.y),
    vec4<f32>(a.lo.z, b.lo.z, c.lo.z, d.lo.z),
    vec4<f32>(a.lo.w, b.lo.w, c.lo.w, d.lo.w),
    vec4<f32>(a.hi.x, b.hi.x, c.hi.x, d.hi.x),
    vec4<f32>(a.hi.y, b.hi.y, c.hi.y, d.hi.y),
    vec4<f32>(a.hi.z, b.hi.z, c.hi.z, d.hi.z),
    vec4<f32>(a.hi.w, b.hi.w, c.hi.w, d.hi.w),
  );
}

// acc + Σ_j x[t, k + j] · c.cj, where lane j holds x[t, k + j] in xl.
fn rowStep(acc: vec4<f32>, xl: f32, c: Columns) -> vec4<f32> {
  var r = fma(vec4<f32>(subgroupBroadcast(xl, 0u)), c.c0, acc);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 1u)), c.c1, r);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 2u)), c.c2, r);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 3u)), c.c3, r);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 4u)), c.c4, r);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 5u)), c.c5, r);
  r = fma(vec4<f32>(subgroupBroadcast(xl, 6u)), c.c6, r);
  return fma(vec4<f32>(subgroupBroadcast(xl, 7u)), c.c7, r);
}

// Row t of y, columns n0 … n0 + 3, gets `sums` (those past the chunk are skipped).
fn store(t: u32, n0: u32, sums: vec4<f32>) {
  if (t >= p.rows) {
    return;
  }
  for (var r = 0u; r < 4u; r++) {
    let n = n0 + r;
    if (n < p.n) {
      let at = t * p.yStride + p.yCol + n;
      var sum = p.scale * sums[r];
      if (p.accumulate != 0u) {
        sum += y[at];
      }
      y[at] = sum;
    }
  }
}

@compute @workgroup_size(LANES)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lane: u32,
  @builtin(subgroup_invocation_id) sid: u32,
) {
  // Row tiles of x run along x (neighbouring workgroups reuse the same rows of w from cache);
  // groups of w rows along y, folded into z past 65535.
  let group = wid.y + wid.z * groups.y;
  if (group >= p.groups) {
    return; // uniform for the whole subgroup: the broadcasts below stay uniform
  }
  let n0 = (group * LANES + lane) * RL;
  let last = p.n - 1u;
  let w0 = min(n0, last) * p.wStride;
  let w1 = min(n0 + 1u, last) * p.wStride;
  let w2 = min(n0 + 2u, last) * p.wStride;
  let w3 = min(n0 + 3u, last) * p.wStride;
  let w4 = min(n0 + 4u, last) * p.wStride;
  let w5 = min(n0 + 5u, last) * p.wStride;
  let w6 = min(n0 + 6u, last) * p.wStride;
  let w7 = min(n0 + 7u, last) * p.wStride;
  let t0 = wid.x * TM;
  let lastT = p.rows - 1u;
  // Where this lane's value of each row of x is: column k + sid, sid being the lane that
  // subgroupBroadcast(·, sid) reads (the same as `lane` on lavapipe).
  let x0 = min(t0, lastT) * p.xStride + p.xCol + sid;
  let x1 = min(t0 + 1u, lastT) * p.xStride + p.xCol + sid;
  let x2 = min(t0 + 2u, lastT) * p.xStride + p.xCol + sid;
  let x3 = min(t0 + 3u, lastT) * p.xStride + p.xCol + sid;
  let x4 = min(t0 + 4u, lastT) * p.xStride + p.xCol + sid;
  let x5 = min(t0 + 5u, lastT) * p.xStride + p.xCol + sid;
  let x6 = min(t0 + 6u, lastT) * p.xStride + p.xCol + sid;
  let x7 = min(t0 + 7u, lastT) * p.xStride + p.xCol + sid;

  // aI: row t0 + I against rows n0 … n0 + 3 of w; bI: against n0 + 4 … n0 + 7 (RL = 8).
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  var b4 = vec4<f32>(0.0);
  var b5 = vec4<f32>(0.0);
  var b6 = vec4<f32>(0.0);
  var b7 = vec4<f32>(0.0);
  for (var k = 0u; k < p.k; k += 8u) {
    let u0 = weightUnit(w0 + k);
    let u1 = weightUnit(w1 + k);
    let u2 = weightUnit(w2 + k);
    let u3 = weightUnit(w3 + k);
    let lo = columns(u0, u1, u2, u3);
    let xl0 = xAt(x0 + k);
    a0 = rowStep(a0, xl0, lo);
    // TM and RL are pipeline constants: the compiler drops these branches.
    var xl1 = 0.0;
    var xl2 = 0.0;
    var xl3 = 0.0;
    if (TM > 1u) {
      xl1 = xAt(x1 + k);
      xl2 = xAt(x2 + k);
      xl3 = xAt(x3 + k);
      a1 = rowStep(a1, xl1, lo);
      a2 = rowStep(a2, xl2, lo);
      a3 = rowStep(a3, xl3, lo);
    }
    var xl4 = 0.0;
    var xl5 = 0.0;
    var xl6 = 0.0;
    var xl7 = 0.0;
    if (TM > 4u) {
      xl4 = xAt(x4 + k);
      xl5 = xAt(x5 + k);
      xl6 = xAt(x6 + k);
      xl7 = xAt(x7 + k);
      a4 = rowStep(a4, xl4, lo);
      a5 = rowStep(a5, xl5, lo);
      a6 = rowStep(a6, xl6, lo);
      a7 = rowStep(a7, xl7, lo);
    }
    if (RL > 4u) {
      let u4 = weightUnit(w4 + k);
      let u5 = weightUnit(w5 + k);
      let u6 = weightUnit(w6 + k);
      let u7 = weightUnit(w7 + k);
      let hi = columns(u4, u5, u6, u7);
      b0 = rowStep(b0, xl0, hi);
      if (TM > 1u) {
        b1 = rowStep(b1, xl1, hi);
        b2 = rowStep(b2, xl2, hi);
        b3 = rowStep(b3, xl3, hi);
      }
      if (TM > 4u) {
        b4 = rowStep(b4, xl4, hi);
        b5 = rowStep(b5, xl5, hi);
        b6 = rowStep(b6, xl6, hi);
        b7 = rowStep(b7, xl7, hi);
      }
    }
  }

  store(t0, n0, a0);
  if (TM > 1u) {
    store(t0 + 1u, n0, a1);
    store(t0 + 2u, n0, a2);
    store(t0 + 3u, n0, a3);
  }
  if (TM > 4u) {
    store(t0 + 4u, n0, a4);
    store(t0 + 5u, n0, a5);
    store(t0 + 6u, n0, a6);
    store(t0 + 7u, n0, a7);
  }
  if (RL > 4u) {
    store(t0, n0 + 4u, b0);
    if (TM > 1u) {
      store(t0 + 1u, n0 + 4u, b1);
      store(t0 + 2u, n0 + 4u, b2);
      store(t0 + 3u, n0 + 4u, b3);
    }
    if (TM > 4u) {
      store(t0 + 4u, n0 + 4u, b4);
      store(t0 + 5u, n0 + 4u, b5);
      store(t0 + 6u, n0 + 4u, b6);
      store(t0 + 7u, n0 + 4u, b7);
    }
  }
}
