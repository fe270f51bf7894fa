// y[t, yCol + n] (+)= Σ_k x[t, k] · w[n, k] for one row chunk of a weight matrix (y = x·wᵀ).
//
// Split-K: a workgroup of WG lanes owns R = 8 consecutive rows of w (output columns) and TT
// consecutive rows of x. Lane l walks K in 8-element packets l, l + WG, l + 2·WG, … and keeps the
// TT×R partial dot products in registers, so each weight packet loaded is used TT times and each x
// packet R times; the lanes' partials are then summed through workgroup memory. T = 1 (decode)
// uses TT = 1: a bandwidth-bound GEMV that reads every weight once. On lavapipe WG = 8 (its SIMD
// width: one subgroup, so the barrier is cheap) with 16-byte loads was the fastest shape measured.
//
// Weights arrive as raw 32-bit words, so no shader-f16 is needed: f16 pairs are unpacked with
// unpack2x16float, f32 words are bitcast. matmul.ts picks one of two variants of this file:
// "aligned" (K and the row stride multiples of 8: every row and packet starts on 16 bytes, so x
// and w are read as vec4 arrays) and "unaligned" (the XElem/WElem lines below swapped for scalar
// types; packets are gathered word by word and a tail loop covers K mod 8).

struct Params {
  rows: u32, // T
  k: u32, // K
  n: u32, // rows of w in this chunk
  wStride: u32, // elements between row starts of w (K, or K rounded up to even for f16)
  yStride: u32, // elements between row starts of y
  yCol: u32, // column of y that receives chunk row 0
  accumulate: u32, // 1: y += x·wᵀ; 0: y = x·wᵀ
}

override F16: bool = false; // weight words hold f16 pairs (else one f32 each)
override TT: u32 = 1u; // rows of x per workgroup, 1 … MAX_TT
override WG: u32 = 8u; // lanes per workgroup
const R = 8u; // rows of w per workgroup
const MAX_TT = 8u;

// matmul.ts rewrites these two lines for the unaligned variant (f32 / u32, 1u).
alias XElem = vec4<f32>; const XP = 4u;
alias WElem = vec4<u32>; const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XElem>; // (T, K) f32
@group(0) @binding(2) var<storage, read> w: array<WElem>; // (n, wStride) f32 or f16, as u32 words
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, yStride)

// Per lane: TT rows × R columns of partial sums, as 2 vec4 per row of x.
var<workgroup> partial: array<vec4<f32>, WG * MAX_TT * 2u>;

// x element e, and 4 elements from e (e a multiple of 4 in the aligned variant).
fn xAt(e: u32) -> f32 {
  return vec4<f32>(x[e / XP])[e % XP];
}
fn x4(e: u32) -> vec4<f32> {
  if (XP == 4u) {
    return vec4<f32>(x[e / 4u]);
  }
  return vec4<f32>(xAt(e), xAt(e + 1u), xAt(e + 2u), xAt(e + 3u));
}

// Weight word i, and 4 words from i (i a multiple of 4 in the aligned variant).
fn wordAt(i: u32) -> u32 {
  return vec4<u32>(w[i / WP])[i % WP];
}
fn words4(i: u32) -> vec4<u32> {
  if (WP == 4u) {
    return vec4<u32>(w[i / 4u]);
  }
  return vec4<u32>(wordAt(i), wordAt(i + 1u), wordAt(i + 2u), wordAt(i + 3u));
}

// Weight element e of the chunk (e counts elements, row starts included).
fn wAt(e: u32) -> f32 {
  if (F16) {
    return unpack2x16float(wordAt(e / 2u))[e % 2u];
  }
  return bitcast<f32>(wordAt(e));
}

// 8 weights from element e (e even: row starts are even and packets start at multiples of 8).
struct Packet {
  lo: vec4<f32>,
  hi: vec4<f32>,
}
fn w8(e: u32) -> Packet {
  if (F16) {
    let q = words4(e / 2u);
    return Packet(
      vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)),
      vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)),
    );
  }
  return Packet(bitcast<vec4<f32>>(words4(e)), bitcast<vec4<f32>>(words4(e + 4u)));
}

// The dot products of 8 x values (xa, xb) with four packets.
fn dot4(xa: vec4<f32>, xb: vec4<f32>, a: Packet, b: Packet, c: Packet, d: Packet) -> vec4<f32> {
  return vec4<f32>(
    dot(xa, a.lo) + dot(xb, a.hi),
    dot(xa, b.lo) + dot(xb, b.hi),
    dot(xa, c.lo) + dot(xb, c.hi),
    dot(xa, d.lo) + dot(xb, d.hi),
  );
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Column groups are folded over x and z (a vocab-sized chunk can exceed 65535 groups).
  let n0 = (wid.x + wid.z * nwg.x) * R;
  let t0 = wid.y * TT;
  if (n0 >= p.n) {
    return;
  }
  // Rows past the end are clamped for loading; their results are never stored.
  var wBase: array<u32, R>;
  for (var r = 0u; r < R; r++) {
    wBase[r] = min(n0 + r, p.n - 1u) * p.wStride;
  }
  var xBase: array<u32, MAX_TT>;
  for (var i = 0u; i < TT; i++) {
    xBase[i] = min(t0 + i, p.rows - 1u) * p.k;
  }

  var acc: array<vec4<f32>, MAX_TT * 2u>;
  let k8 = p.k - p.k % 8u;
  for (var k = lid * 8u; k < k8; k += WG * 8u) {
    // Eight named packets rather than an array: llvmpipe keeps them in registers (an indexed
    // private array made the GEMV ~30% slower).
    let w0 = w8(wBase[0] + k);
    let w1 = w8(wBase[1] + k);
    let w2 = w8(wBase[2] + k);
    let w3 = w8(wBase[3] + k);
    let w4 = w8(wBase[4] + k);
    let w5 = w8(wBase[5] + k);
    let w6 = w8(wBase[6] + k);
    let w7 = w8(wBase[7] + k);
    for (var i = 0u; i < TT; i++) {
      let xa = x4(xBase[i] + k);
      let xb = x4(xBase[i] + k + 4u);
      acc[2u * i] += dot4(xa, xb, w0, w1, w2, w3);
      acc[2u * i + 1u] += dot4(xa, xb, w4, w5, w6, w7);
    }
  }
  // The last K mod 8 elements, one per lane (empty in the aligned variant).
  for (var k = k8 + lid; k < p.k; k += WG) {
    var wk: array<f32, R>;
    for (var r = 0u; r < R; r++) {
      wk[r] = wAt(wBase[r] + k);
    }
    for (var i = 0u; i < TT; i++) {
      let xk = xAt(xBase[i] + k);
      acc[2u * i] += xk * vec4<f32>(wk[0], wk[1], wk[2], wk[3]);
      acc[2u * i + 1u] += xk * vec4<f32>(wk[4], wk[5], wk[6], wk[7]);
    }
  }

  let base = lid * MAX_TT * 2u;
  for (var j = 0u; j < TT * 2u; j++) {
    partial[base + j] = acc[j];
  }
  workgroupBarrier();
  // Output o = (row i of x, column r): sum the WG lanes' partials.
  for (var o = lid; o < TT * R; o += WG) {
    let i = o / R;
    let r = o % R;
    var sum = 0.0;
    for (var l = 0u; l < WG; l++) {
      sum += partial[l * MAX_TT * 2u + 2u * i + r / 4u][r % 4u];
    }
    let t = t0 + i;
    let n = n0 + r;
    if (t < p.rows && n < p.n) {
      let at = t * p.yStride + p.yCol + n;
      if (p.accumulate != 0u) {
        y[at] += sum;
      } else {
        y[at] = sum;
      }
    }
  }
}
