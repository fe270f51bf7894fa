// y[t, yCol + n] (+)= Σ_k x[t, k] · w[n, k] for one row chunk of an f32 or f16 weight matrix: the
// register-tiled GEMM for prefill (T > 1).
//
// A workgroup owns a TM × 8 tile of y: TM rows of x (4, 8 or 16) against 8 rows of w. Its WG
// lanes split K: lane l takes units l, l + WG, … (a unit is 8 consecutive values of a row), loads
// the unit of each of the 8 w rows and of the TM x rows into registers, and adds all TM × 8
// products of 8 values into as many accumulators; the lanes' partial sums are then added through
// workgroup memory. Each weight loaded serves TM rows of x, each x value 8 rows of w.
//
// Why this shape and not tiles of x and w staged in workgroup memory (the textbook GPU GEMM):
// lavapipe, the software driver this project mostly runs on, executes a workgroup as a loop over
// SIMD-8 slices on one CPU thread, loads every per-lane 32-bit component separately (a bounds
// check and a branch each; workgroup memory is no cheaper, and addresses uniform across lanes are
// not loaded once), and switches between the slices' coroutines at each barrier. Staged 32×32 to
// 64×64 tiles (TK 16–64) with a 4×4 block per invocation ran at 2–5 GFLOP/s there, against 14
// for matmul.wgsl; about half of it was the barriers. What counts on lavapipe is components
// loaded per multiply-add and keeping accumulators in registers: this loop loads 8·TM + 32
// components (f16; 8·TM + 64 for f32) per 64·TM multiply-adds. TM = 8 is the sweet spot: 16 rows'
// 128 accumulators spill. Accumulators are named variables (an indexed array stays in memory),
// and the multiply-adds are fma() on transposed operands, free in lavapipe's one-register-per-
// component layout (dot() compiles to separate multiplies and adds).
//
// With K_MAJOR, w is stored the other way round, (K, N) with row k holding column k of every
// output (y = x·w): a decoded head chunk multiplied by the cross-entropy's gradient, without a
// transposed copy. Then the 8 w rows of a unit are 8 consecutive values of each of w's 8 stored
// rows k … k + 7 (n0 a multiple of 8, and N and the stride too), loaded as the same Units and
// added with the x values as the scalars (rowStepK): the same loads and fma() count.
//
// With SPLIT_N (K of a few units, LoRA's rank: lanes along K would mostly idle and the partial
// sums cost more than the products), each lane takes its own 8 rows of w, WG·8 per workgroup,
// walks all of K and stores its sums itself: no workgroup memory, no barrier.
//
// Weights arrive as raw 32-bit words (f16 pairs unpacked with unpack2x16float), so no shader-f16
// is needed. Like matmul.wgsl there are two variants: "aligned" (K and the row stride multiples
// of 8, so that units start on 16 bytes: x and w read as vec4 arrays) and "unaligned" (the XElem
// and WElem lines rewritten to scalars by matmul_tiled.ts). K mod 8 values go to a tail loop.

struct Params {
  rows: u32, // T
  k: u32, // K
  n: u32, // rows of w in this chunk
  wStride: u32, // elements between row starts of w (f16: even)
  yStride: u32, // elements between row starts of y
  yCol: u32, // column of y that receives chunk row 0
  accumulate: u32, // 1: y += x·wᵀ; 0: y = x·wᵀ
  groups: u32, // workgroups along N (the grid may overshoot it when folded into 2D)
  xStride: u32, // elements between row starts of x (K unless x is a column band)
  xCol: u32, // column of x where its K values start
  scale: f32, // multiplies the products (not what accumulate adds to)
}

override TM: u32 = 8u; // rows of x per workgroup: 4, 8 or 16
override K_MAJOR: bool = false; // w is stored (K, N): see the header
override SPLIT_N: bool = false; // lanes take 8 w rows each and all of K: see the header
override WG: u32 = 8u; // lanes per workgroup, splitting K
const R = 8u; // rows of w per workgroup

// matmul_tiled.ts rewrites these two lines for the unaligned variant (f32 / u32, 1u).
alias XElem = vec4<f32>; const XP = 4u;
alias WElem = vec4<u32>; const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XElem>; // (T, K) f32
@group(0) @binding(2) var<storage, read> w: array<WElem>; // (n, wStride) f32 or f16 pairs
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, yStride)

// Per lane: TM × R partial sums, row-major.
var<workgroup> partial: array<f32, WG * TM * R>;

// xAt, x4, words4 (matmul_loads.wgsl) and Unit, weightAt, weightUnit (float_weights.wgsl)
// are prepended by matmul_tiled.ts.

/** One row of x against the 8 rows of w: columns 0–3 and 4–7 of the tile. */
struct Sums {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

// s + Σ_j xv[j] · (w0..w3)[j], as 8 fma() on transposed operands.
fn dotFour(xv: Unit, a: Unit, b: Unit, c: Unit, d: Unit, s: vec4<f32>) -> vec4<f32> {
  var r = fma(vec4<f32>(xv.lo.x), vec4<f32>(a.lo.x, b.lo.x, c.lo.x, d.lo.x), s);
  r = fma(vec4<f32>(xv.lo.y), vec4<f32>(a.lo.y, b.lo.y, c.lo.y, d.lo.y), r);
  r = fma(vec4<f32>(xv.lo.z), vec4<f32>(a.lo.z, b.lo.z, c.lo.z, d.lo.z), r);
  r = fma(vec4<f32>(xv.lo.w), vec4<f32>(a.lo.w, b.lo.w, c.lo.w, d.lo.w), r);
  r = fma(vec4<f32>(xv.hi.x), vec4<f32>(a.hi.x, b.hi.x, c.hi.x, d.hi.x), r);
  r = fma(vec4<f32>(xv.hi.y), vec4<f32>(a.hi.y, b.hi.y, c.hi.y, d.hi.y), r);
  r = fma(vec4<f32>(xv.hi.z), vec4<f32>(a.hi.z, b.hi.z, c.hi.z, d.hi.z), r);
  return fma(vec4<f32>(xv.hi.w), vec4<f32>(a.hi.w, b.hi.w, c.hi.w, d.hi.w), r);
}

/** The unit of 8 w rows. */
struct Units {
  u0: Unit,
  u1: Unit,
  u2: Unit,
  u3: Unit,
  u4: Unit,
  u5: Unit,
  u6: Unit,
  u7: Unit,
}

// acc + the 8 x values from element e against the 8 w rows' units at the same columns.
fn rowStep(acc: Sums, e: u32, u: Units) -> Sums {
  let xv = Unit(x4(e), x4(e + 4u));
  return Sums(
    dotFour(xv, u.u0, u.u1, u.u2, u.u3, acc.lo),
    dotFour(xv, u.u4, u.u5, u.u6, u.u7, acc.hi),
  );
}

// K_MAJOR: acc + Σ_j x[e + j] · u.uj, uj the 8 output columns' weights at column k + j.
fn rowStepK(acc: Sums, e: u32, u: Units) -> Sums {
  let xa = x4(e);
  let xb = x4(e + 4u);
  var lo = fma(vec4<f32>(xa.x), u.u0.lo, acc.lo);
  var hi = fma(vec4<f32>(xa.x), u.u0.hi, acc.hi);
  lo = fma(vec4<f32>(xa.y), u.u1.lo, lo);
  hi = fma(vec4<f32>(xa.y), u.u1.hi, hi);
  lo = fma(vec4<f32>(xa.z), u.u2.lo, lo);
  hi = fma(vec4<f32>(xa.z), u.u2.hi, hi);
  lo = fma(vec4<f32>(xa.w), u.u3.lo, lo);
  hi = fma(vec4<f32>(xa.w), u.u3.hi, hi);
  lo = fma(vec4<f32>(xb.x), u.u4.lo, lo);
  hi = fma(vec4<f32>(xb.x), u.u4.hi, hi);
  lo = fma(vec4<f32>(xb.y), u.u5.lo, lo);
  hi = fma(vec4<f32>(xb.y), u.u5.hi, hi);
  lo = fma(vec4<f32>(xb.z), u.u6.lo, lo);
  hi = fma(vec4<f32>(xb.z), u.u6.hi, hi);
  lo = fma(vec4<f32>(xb.w), u.u7.lo, lo);
  hi = fma(vec4<f32>(xb.w), u.u7.hi, hi);
  return Sums(lo, hi);
}

// One step of a row: rowStep, or rowStepK for K_MAJOR.
fn step(acc: Sums, e: u32, u: Units) -> Sums {
  if (K_MAJOR) {
    return rowStepK(acc, e, u);
  }
  return rowStep(acc, e, u);
}

// The 8 w rows' units at columns k … k + 7 (w0 … w7: where the rows start), or for K_MAJOR the
// stored rows k … k + 7 from output column n0.
fn loadUnits(k: u32, n0: u32, w0: u32, w1: u32, w2: u32, w3: u32, w4: u32, w5: u32, w6: u32,
  w7: u32) -> Units {
  if (K_MAJOR) {
    let at = k * p.wStride + min(n0, p.n - R); // lanes past N (SPLIT_N) load the last 8
    return Units(
      weightUnit(at),
      weightUnit(at + p.wStride),
      weightUnit(at + 2u * p.wStride),
      weightUnit(at + 3u * p.wStride),
      weightUnit(at + 4u * p.wStride),
      weightUnit(at + 5u * p.wStride),
      weightUnit(at + 6u * p.wStride),
      weightUnit(at + 7u * p.wStride),
    );
  }
  return Units(
    weightUnit(w0 + k),
    weightUnit(w1 + k),
    weightUnit(w2 + k),
    weightUnit(w3 + k),
    weightUnit(w4 + k),
    weightUnit(w5 + k),
    weightUnit(w6 + k),
    weightUnit(w7 + k),
  );
}

// The 8 output columns' weights at column k (of the K mod 8 tail).
fn tailWeights(k: u32, n0: u32, w0: u32, w1: u32, w2: u32, w3: u32, w4: u32, w5: u32, w6: u32,
  w7: u32) -> Sums {
  if (K_MAJOR) {
    let u = weightUnit(k * p.wStride + min(n0, p.n - R));
    return Sums(u.lo, u.hi);
  }
  return Sums(
    vec4<f32>(weightAt(w0 + k), weightAt(w1 + k), weightAt(w2 + k), weightAt(w3 + k)),
    vec4<f32>(weightAt(w4 + k), weightAt(w5 + k), weightAt(w6 + k), weightAt(w7 + k)),
  );
}

// acc + xk · wk: one column k of the K mod 8 tail, wk the 8 rows' weights there.
fn rowTail(acc: Sums, xk: f32, wk: Sums) -> Sums {
  return Sums(fma(vec4<f32>(xk), wk.lo, acc.lo), fma(vec4<f32>(xk), wk.hi, acc.hi));
}

fn savePartial(lid: u32, i: u32, s: Sums) {
  let at = (lid * TM + i) * R;
  partial[at] = s.lo.x;
  partial[at + 1u] = s.lo.y;
  partial[at + 2u] = s.lo.z;
  partial[at + 3u] = s.lo.w;
  partial[at + 4u] = s.hi.x;
  partial[at + 5u] = s.hi.y;
  partial[at + 6u] = s.hi.z;
  partial[at + 7u] = s.hi.w;
}

// SPLIT_N: row t of y from column n0 on gets one lane's 8 sums.
fn storeRow(t: u32, n0: u32, s: Sums) {
  if (t >= p.rows) {
    return;
  }
  let sums = array<f32, 8>(s.lo.x, s.lo.y, s.lo.z, s.lo.w, s.hi.x, s.hi.y, s.hi.z, s.hi.w);
  for (var r = 0u; r < R; r++) {
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

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Row tiles of x run along x (neighbouring workgroups reuse the same 8 w rows from cache);
  // groups of w rows along y, folded into z past 65535.
  let group = wid.y + wid.z * groups.y;
  if (group >= p.groups) {
    return; // uniform for the whole workgroup: the barrier below stays uniform
  }
  let n0 = select(group * R, (group * WG + lid) * R, SPLIT_N);
  // SPLIT_N: this lane walks every unit; else units lid, lid + WG, ….
  let firstUnit = select(lid, 0u, SPLIT_N);
  let unitStep = select(WG, 1u, SPLIT_N);
  let t0 = wid.x * TM;
  // Rows past the end are clamped for loading; their results are never stored.
  // (K_MAJOR: unused, N being a multiple of 8.)
  let last = p.n - 1u;
  let w0 = min(n0, last) * p.wStride;
  let w1 = min(n0 + 1u, last) * p.wStride;
  let w2 = min(n0 + 2u, last) * p.wStride;
  let w3 = min(n0 + 3u, last) * p.wStride;
  let w4 = min(n0 + 4u, last) * p.wStride;
  let w5 = min(n0 + 5u, last) * p.wStride;
  let w6 = min(n0 + 6u, last) * p.wStride;
  let w7 = min(n0 + 7u, last) * p.wStride;
  let lastT = p.rows - 1u;
  let xr0 = min(t0, lastT) * p.xStride + p.xCol;
  let xr1 = min(t0 + 1u, lastT) * p.xStride + p.xCol;
  let xr2 = min(t0 + 2u, lastT) * p.xStride + p.xCol;
  let xr3 = min(t0 + 3u, lastT) * p.xStride + p.xCol;
  let xr4 = min(t0 + 4u, lastT) * p.xStride + p.xCol;
  let xr5 = min(t0 + 5u, lastT) * p.xStride + p.xCol;
  let xr6 = min(t0 + 6u, lastT) * p.xStride + p.xCol;
  let xr7 = min(t0 + 7u, lastT) * p.xStride + p.xCol;
  let xr8 = min(t0 + 8u, lastT) * p.xStride + p.xCol;
  let xr9 = min(t0 + 9u, lastT) * p.xStride + p.xCol;
  let xr10 = min(t0 + 10u, lastT) * p.xStride + p.xCol;
  let xr11 = min(t0 + 11u, lastT) * p.xStride + p.xCol;
  let xr12 = min(t0 + 12u, lastT) * p.xStride + p.xCol;
  let xr13 = min(t0 + 13u, lastT) * p.xStride + p.xCol;
  let xr14 = min(t0 + 14u, lastT) * p.xStride + p.xCol;
  let xr15 = min(t0 + 15u, lastT) * p.xStride + p.xCol;

  let zero = Sums(vec4<f32>(0.0), vec4<f32>(0.0));
  var a0 = zero;
  var a1 = zero;
  var a2 = zero;
  var a3 = zero;
  var a4 = zero;
  var a5 = zero;
  var a6 = zero;
  var a7 = zero;
  var a8 = zero;
  var a9 = zero;
  var a10 = zero;
  var a11 = zero;
  var a12 = zero;
  var a13 = zero;
  var a14 = zero;
  var a15 = zero;
  let units = p.k / 8u;
  for (var u = firstUnit; u < units; u += unitStep) {
    let k = 8u * u;
    let ws = loadUnits(k, n0, w0, w1, w2, w3, w4, w5, w6, w7);
    a0 = step(a0, xr0 + k, ws);
    a1 = step(a1, xr1 + k, ws);
    a2 = step(a2, xr2 + k, ws);
    a3 = step(a3, xr3 + k, ws);
    if (TM > 4u) { // a pipeline constant: the compiler drops the branch
      a4 = step(a4, xr4 + k, ws);
      a5 = step(a5, xr5 + k, ws);
      a6 = step(a6, xr6 + k, ws);
      a7 = step(a7, xr7 + k, ws);
    }
    if (TM > 8u) {
      a8 = step(a8, xr8 + k, ws);
      a9 = step(a9, xr9 + k, ws);
      a10 = step(a10, xr10 + k, ws);
      a11 = step(a11, xr11 + k, ws);
      a12 = step(a12, xr12 + k, ws);
      a13 = step(a13, xr13 + k, ws);
      a14 = step(a14, xr14 + k, ws);
      a15 = step(a15, xr15 + k, ws);
    }
  }
  // The last K mod 8 columns, one per lane.
  for (var k = units * 8u + firstUnit; k < p.k; k += unitStep) {
    let wk = tailWeights(k, n0, w0, w1, w2, w3, w4, w5, w6, w7);
    a0 = rowTail(a0, xAt(xr0 + k), wk);
    a1 = rowTail(a1, xAt(xr1 + k), wk);
    a2 = rowTail(a2, xAt(xr2 + k), wk);
    a3 = rowTail(a3, xAt(xr3 + k), wk);
    if (TM > 4u) {
      a4 = rowTail(a4, xAt(xr4 + k), wk);
      a5 = rowTail(a5, xAt(xr5 + k), wk);
      a6 = rowTail(a6, xAt(xr6 + k), wk);
      a7 = rowTail(a7, xAt(xr7 + k), wk);
    }
    if (TM > 8u) {
      a8 = rowTail(a8, xAt(xr8 + k), wk);
      a9 = rowTail(a9, xAt(xr9 + k), wk);
      a10 = rowTail(a10, xAt(xr10 + k), wk);
      a11 = rowTail(a11, xAt(xr11 + k), wk);
      a12 = rowTail(a12, xAt(xr12 + k), wk);
      a13 = rowTail(a13, xAt(xr13 + k), wk);
      a14 = rowTail(a14, xAt(xr14 + k), wk);
      a15 = rowTail(a15, xAt(xr15 + k), wk);
    }
  }

  if (SPLIT_N) {
    storeRow(t0, n0, a0);
    storeRow(t0 + 1u, n0, a1);
    storeRow(t0 + 2u, n0, a2);
    storeRow(t0 + 3u, n0, a3);
    if (TM > 4u) {
      storeRow(t0 + 4u, n0, a4);
      storeRow(t0 + 5u, n0, a5);
      storeRow(t0 + 6u, n0, a6);
      storeRow(t0 + 7u, n0, a7);
    }
    if (TM > 8u) {
      storeRow(t0 + 8u, n0, a8);
      storeRow(t0 + 9u, n0, a9);
      storeRow(t0 + 10u, n0, a10);
      storeRow(t0 + 11u, n0, a11);
      storeRow(t0 + 12u, n0, a12);
      storeRow(t0 + 13u, n0, a13);
      storeRow(t0 + 14u, n0, a14);
      storeRow(t0 + 15u, n0, a15);
    }
    return; // SPLIT_N is a pipeline constant: uniform
  }
  savePartial(lid, 0u, a0);
  savePartial(lid, 1u, a1);
  savePartial(lid, 2u, a2);
  savePartial(lid, 3u, a3);
  if (TM > 4u) {
    savePartial(lid, 4u, a4);
    savePartial(lid, 5u, a5);
    savePartial(lid, 6u, a6);
    savePartial(lid, 7u, a7);
  }
  if (TM > 8u) {
    savePartial(lid, 8u, a8);
    savePartial(lid, 9u, a9);
    savePartial(lid, 10u, a10);
    savePartial(lid, 11u, a11);
    savePartial(lid, 12u, a12);
    savePartial(lid, 13u, a13);
    savePartial(lid, 14u, a14);
    savePartial(lid, 15u, a15);
  }
  workgroupBarrier();
  // Output o = (row i of x, column r): sum the WG lanes' partials.
  for (var o = lid; o < TM * R; o += WG) {
    let i = o / R;
    let r = o % R;
    let t = t0 + i;
    let n = n0 + r;
    if (t < p.rows && n < p.n) {
      var sum = 0.0;
      for (var l = 0u; l < WG; l++) {
        sum += partial[(l * TM + i) * R + r];
      }
      sum *= p.scale;
      let at = t * p.yStride + p.yCol + n;
      if (p.accumulate != 0u) {
        sum += y[at];
      }
      y[at] = sum;
    }
  }
}
