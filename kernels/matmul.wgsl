// y[t, yCol + n] (+)= Σ_k x[t, k] · w[n, k] for one row chunk of a weight matrix (y = x·wᵀ).
//
// Split-K: a workgroup of WG lanes owns a few consecutive rows of w (output columns), in WG / KL
// blocks of rows with KL lanes each; lane l of a block walks K in units l, l + KL, l + 2·KL, … (a
// unit is UNIT values of a row: 8 for f32/f16, 64 for the quantized formats) and keeps its
// partial dot products in registers; the lanes' partials are then summed through workgroup
// memory. On lavapipe WG = 8 (its SIMD width: one subgroup, so the barrier is cheap), and its
// lanes run in step: KL = WG unless K's units do not spread evenly over them (Gemma 3 270M's 640
// columns are 10 quantized units; over 8 lanes, 2 would take a second step while 6 wait, so 2
// lanes walk 5 units each, for 4 blocks: the 8-row gemm 1.8× faster, matmul.ts's lanesAlongK).
// lavapipe loads storage buffers one 32-bit component per lane at a time (a bounds check and a
// branch each) and compiles dot() to separate multiplies and adds, so both count: words loaded
// (weights once, x as rarely as possible) and operations per weight. Loops:
//   gemm (T > 1, and f32/f16 decode): R = 8 rows of w per block and TT rows of x per workgroup;
//     each unit of weights loaded and decoded is used TT times, each x value R times.
//   gemv (T = 1, GEMV): RV rows of w per block; a lane loads the x of a unit into registers
//     once and streams that unit of all RV rows past it, dotting the integer codes with x and
//     applying each group's scale and bias once per group (see rowDot).
//     With KL = 1 every lane of a subgroup walks the same units, and the broadcast variant
//     (gemv_slots_broadcast.wgsl) loads each x value once per 8 lanes: the lanes own whole rows.
// For T = 1 the loop (GEMV), RV and WG are pipeline constants that tune.ts measures per device
// (matmul.ts holds the defaults: on lavapipe the gemm loop for f32/f16, gemv with RV = 8 and x
// broadcast for the quantized formats, and WG = 8).
//
// This file is a template: weight_formats.ts puts one weight format in front of it (the structs
// Row and Packet of weight_rows.wgsl, then float_weights.wgsl + matmul_float.wgsl for f32/f16, or
// quant.wgsl + the format's files (quant_shader.ts) for GGUF blocks, which stay quantized in
// memory and are decoded in registers), then matmul_loads.wgsl (xAt, x4, wordAt, words4),
// packet_weights.wgsl (weights), gelu.wgsl (geluTanh) and gemv_slots.wgsl (loadSlots, x's slots
// of a unit; gemv_slots_broadcast.wgsl in the broadcast variant). A format reads `w` (and
// `wScales`, `wHigh`) and defines
//   const UNIT, PACKETS, XSLOTS, GROUPS: u32   values per unit; packets of 8 values per unit;
//                                     vec4 slots of x per unit (UNIT / 4); scale groups per unit
//   const SPAN: u32                    values of the fewest whole units whose columns form one
//                                      run (UNIT, but 2 units for q6_k, whose units interleave)
//   const AFFINE: bool                false when the codes are the weights (f32/f16)
//   struct Unit; fn loadUnit(row: Row, u: u32) -> Unit      unit u of a row: all its memory reads
//   fn decode(unit: Unit, i: u32) -> Packet                 packet i's 8 codes as f32 (no reads)
//   fn packetSlots(i: u32) -> vec2<u32>                     the x slots of its lo and hi halves
//   fn packetGroups(i: u32) -> vec2<u32>                    the groups of its lo and hi halves
//   fn affine(unit: Unit, g: u32) -> vec2<f32>              group g's (scale, bias): w = q·s + b
//   fn xCol(u: u32, s: u32) -> u32                          the column of slot s of unit u
//   fn xScale(s: u32) -> vec4<f32>     what slot s's x is multiplied by to match codes decoded
//                                      in place (powers of 2, see quant.wgsl; 1 for f32/f16)
//   fn wAt(row: Row, k: u32) -> f32                         one weight, for K mod UNIT columns
//
// Weights arrive as raw 32-bit words, so no shader-f16 is needed. weight_formats.ts picks one of
// two variants of the f32/f16 format: "aligned" (K and the row stride multiples of 8: every row
// and packet starts on 16 bytes, so x and w are read as vec4 arrays) and "unaligned" (the
// XElem/WElem lines of matmul_params.wgsl swapped for scalar types; packets are gathered word by
// word and a tail loop covers K mod 8). Quantized formats are always aligned (K is a whole number
// of 32-value blocks); rows of the 32-value formats with an odd number of blocks leave the last
// one to the tail loop.

// Params and the bindings p, x, w, y, wScales and wHigh: matmul_params.wgsl.

override GEMV: bool = false; // the gemv loop (T = 1), else gemm
override TT: u32 = 1u; // gemm: rows of x per workgroup, 1 … MAX_TT
override WG: u32 = 8u; // lanes per workgroup
override RV: u32 = 32u; // gemv: rows of w per block: 4, 8, 16 or MAX_RV
override KL: u32 = 8u; // lanes along K per block of rows: a divisor of WG
const R = 8u; // gemm: rows of w per block
const MAX_TT = 8u;
const MAX_RV = 32u; // ≤ MAX_TT * R: gemv shares gemm's workgroup memory

// Per lane: TT rows × R columns (gemm) or RV columns (gemv) of partial sums.
var<workgroup> partial: array<f32, WG * MAX_TT * R>;

// xAt, x4, wordAt and words4 (matmul_loads.wgsl) and weights (packet_weights.wgsl): put in
// front by weight_formats.ts.

// The dot products of 8 x values (xa, xb) with four packets.
fn dot4(xa: vec4<f32>, xb: vec4<f32>, a: Packet, b: Packet, c: Packet, d: Packet) -> vec4<f32> {
  return vec4<f32>(
    dot(xa, a.lo) + dot(xb, a.hi),
    dot(xa, b.lo) + dot(xb, b.hi),
    dot(xa, c.lo) + dot(xb, c.hi),
    dot(xa, d.lo) + dot(xb, d.hi),
  );
}

// Where row n of w starts, with rows past the end clamped for loading (their results are never
// stored). With p.glu, rows 2i and 2i + 1 are gate row i and up row i (rows i and F + i of w), so
// that every workgroup, an even number of rows from an even one, holds whole pairs.
fn rowOf(n: u32) -> Row {
  let m = min(n, p.n - 1u);
  let r = select(m, (m % 2u) * (p.n / 2u) + m / 2u, p.glu != 0u);
  return Row(r * p.wStride, r * p.sStride);
}

// Rows of w per output column: 2 with p.glu.
fn rowsPerOutput() -> u32 {
  return select(1u, 2u, p.glu != 0u);
}

// An output from its row sums: the sum, or with p.glu gelu_tanh(gate)·up.
fn output(sum: f32, up: f32) -> f32 {
  if (p.glu != 0u) {
    return geluTanh(sum) * up;
  }
  return sum;
}

// y[t, yCol + n] (+)= value, for an output inside the chunk.
fn store(t: u32, n: u32, sum: f32) {
  if (t < p.rows && n < p.n / rowsPerOutput()) {
    let at = t * p.yStride + p.yCol + n;
    if (p.accumulate != 0u) {
      y[at] += sum;
    } else {
      y[at] = sum;
    }
  }
}

// Σ x·w over unit u of row n, given the unit's x slots `xs` and their sums per group `xg`: the
// codes are dotted with x per group, and each group's scale and bias applied once,
// Σ x·(q·scale + bias) = scale·Σ x·q + bias·Σ x (a multiply-add per value saved).
fn rowDot(
  xs: ptr<function, array<vec4<f32>, XSLOTS>>,
  xg: ptr<function, array<f32, GROUPS>>,
  n: u32,
  u: u32,
) -> f32 {
  let unit = loadUnit(rowOf(n), u);
  var dg: array<f32, GROUPS>;
  for (var g = 0u; g < GROUPS; g++) {
    dg[g] = 0.0;
  }
  for (var i = 0u; i < PACKETS; i++) {
    let codes = decode(unit, i);
    let slots = packetSlots(i);
    let g = packetGroups(i);
    dg[g.x] += dot((*xs)[slots.x], codes.lo);
    dg[g.y] += dot((*xs)[slots.y], codes.hi);
  }
  if (!AFFINE) {
    return dg[0];
  }
  var sum = 0.0;
  for (var g = 0u; g < GROUPS; g++) {
    let a = affine(unit, g);
    sum += a.x * dg[g] + a.y * (*xg)[g];
  }
  return sum;
}

// 4 rows from n.
fn rowDot4(
  xs: ptr<function, array<vec4<f32>, XSLOTS>>,
  xg: ptr<function, array<f32, GROUPS>>,
  n: u32,
  u: u32,
) -> vec4<f32> {
  return vec4<f32>(
    rowDot(xs, xg, n, u),
    rowDot(xs, xg, n + 1u, u),
    rowDot(xs, xg, n + 2u, u),
    rowDot(xs, xg, n + 3u, u),
  );
}

// gemv: WG / KL blocks of RV rows of w per workgroup, T = 1.
fn gemv(group: u32, lid: u32) {
  let blocks = WG / KL;
  if (group * blocks * RV >= p.n) {
    return;
  }
  // This lane's block (rows past the end are clamped by rowOf and never stored) and place in it.
  let n0 = (group * blocks + lid / KL) * RV;
  let kl = lid % KL;
  var acc: array<vec4<f32>, MAX_RV / 4u>;
  let units = p.k / UNIT;
  for (var u = kl; u < units; u += KL) {
    var xs: array<vec4<f32>, XSLOTS>;
    loadSlots(&xs, u);
    // Σ x per group, for the biases. Zeroed by hand: naga initializes a `var` once per function
    // call, not once per loop iteration.
    var xg: array<f32, GROUPS>;
    for (var g = 0u; g < GROUPS; g++) {
      xg[g] = 0.0;
    }
    if (AFFINE) {
      for (var i = 0u; i < PACKETS; i++) {
        let slots = packetSlots(i);
        let g = packetGroups(i);
        xg[g.x] += dot(xs[slots.x], vec4<f32>(1.0));
        xg[g.y] += dot(xs[slots.y], vec4<f32>(1.0));
      }
      // Codes come in place (quant.wgsl): scale x to match, once for all RV rows.
      for (var s = 0u; s < XSLOTS; s++) {
        xs[s] *= xScale(s);
      }
    }
    // Written out (RV / 4 calls): an indexed accumulator in a loop over rows was much slower.
    // RV is a pipeline constant, so the compiler drops the branches.
    acc[0] += rowDot4(&xs, &xg, n0, u);
    if (RV > 4u) {
      acc[1] += rowDot4(&xs, &xg, n0 + 4u, u);
    }
    if (RV > 8u) {
      acc[2] += rowDot4(&xs, &xg, n0 + 8u, u);
      acc[3] += rowDot4(&xs, &xg, n0 + 12u, u);
    }
    if (RV > 16u) {
      acc[4] += rowDot4(&xs, &xg, n0 + 16u, u);
      acc[5] += rowDot4(&xs, &xg, n0 + 20u, u);
      acc[6] += rowDot4(&xs, &xg, n0 + 24u, u);
      acc[7] += rowDot4(&xs, &xg, n0 + 28u, u);
    }
  }
  // The last K mod UNIT elements, one per lane.
  for (var k = units * UNIT + kl; k < p.k; k += KL) {
    let xk = xAt(k);
    for (var r = 0u; r < RV; r++) {
      acc[r / 4u][r % 4u] += xk * wAt(rowOf(n0 + r), k);
    }
  }
  for (var r = 0u; r < RV; r++) {
    partial[lid * RV + r] = acc[r / 4u][r % 4u];
  }
  workgroupBarrier();
  // Output o: row r of the workgroup's, row r % RV of block r / RV; sum its block's KL lanes.
  let per = rowsPerOutput();
  for (var o = lid; o < blocks * RV / per; o += WG) {
    let r = o * per;
    let first = r / RV * KL;
    var sum = 0.0;
    var up = 0.0;
    for (var l = first; l < first + KL; l++) {
      sum += partial[l * RV + r % RV];
      if (p.glu != 0u) {
        up += partial[l * RV + r % RV + 1u];
      }
    }
    store(0u, (group * blocks * RV + r) / per, output(sum, up));
  }
}

// gemm: WG / KL blocks of R rows of w, and TT rows of x, per workgroup.
fn gemm(group: u32, tile: u32, lid: u32) {
  let blocks = WG / KL;
  let t0 = tile * TT;
  if (group * blocks * R >= p.n) {
    return;
  }
  let n0 = (group * blocks + lid / KL) * R;
  let kl = lid % KL;
  var rows: array<Row, R>;
  for (var r = 0u; r < R; r++) {
    rows[r] = rowOf(n0 + r);
  }
  var xBase: array<u32, MAX_TT>;
  for (var i = 0u; i < TT; i++) {
    xBase[i] = min(t0 + i, p.rows - 1u) * p.k;
  }

  var acc: array<vec4<f32>, MAX_TT * 2u>;
  let units = p.k / UNIT;
  for (var u = kl; u < units; u += KL) {
    // Eight named units and packets rather than arrays: llvmpipe keeps them in registers (an
    // indexed private array made the kernel ~30% slower).
    let u0 = loadUnit(rows[0], u);
    let u1 = loadUnit(rows[1], u);
    let u2 = loadUnit(rows[2], u);
    let u3 = loadUnit(rows[3], u);
    let u4 = loadUnit(rows[4], u);
    let u5 = loadUnit(rows[5], u);
    let u6 = loadUnit(rows[6], u);
    let u7 = loadUnit(rows[7], u);
    for (var j = 0u; j < PACKETS; j++) {
      let w0 = weights(u0, j);
      let w1 = weights(u1, j);
      let w2 = weights(u2, j);
      let w3 = weights(u3, j);
      let w4 = weights(u4, j);
      let w5 = weights(u5, j);
      let w6 = weights(u6, j);
      let w7 = weights(u7, j);
      let slots = packetSlots(j);
      let ca = xCol(u, slots.x);
      let cb = xCol(u, slots.y);
      for (var i = 0u; i < TT; i++) {
        let xa = x4(xBase[i] + ca);
        let xb = x4(xBase[i] + cb);
        acc[2u * i] += dot4(xa, xb, w0, w1, w2, w3);
        acc[2u * i + 1u] += dot4(xa, xb, w4, w5, w6, w7);
      }
    }
  }
  // The last K mod UNIT elements, one per lane.
  for (var k = units * UNIT + kl; k < p.k; k += KL) {
    var wk: array<f32, R>;
    for (var r = 0u; r < R; r++) {
      wk[r] = wAt(rows[r], k);
    }
    for (var i = 0u; i < TT; i++) {
      let xk = xAt(xBase[i] + k);
      acc[2u * i] += xk * vec4<f32>(wk[0], wk[1], wk[2], wk[3]);
      acc[2u * i + 1u] += xk * vec4<f32>(wk[4], wk[5], wk[6], wk[7]);
    }
  }

  for (var i = 0u; i < TT; i++) {
    for (var r = 0u; r < R; r++) {
      partial[(lid * MAX_TT + i) * R + r] = acc[2u * i + r / 4u][r % 4u];
    }
  }
  workgroupBarrier();
  // Output o = (block b, row i of x, row r of w, or pair of rows with p.glu): sum the block's KL
  // lanes' partials.
  let per = rowsPerOutput();
  let perBlock = TT * R / per;
  for (var o = lid; o < blocks * perBlock; o += WG) {
    let b = o / perBlock;
    let i = o % perBlock / (R / per);
    let r = o % (R / per) * per;
    var sum = 0.0;
    var up = 0.0;
    for (var l = b * KL; l < (b + 1u) * KL; l++) {
      sum += partial[(l * MAX_TT + i) * R + r];
      if (p.glu != 0u) {
        up += partial[(l * MAX_TT + i) * R + r + 1u];
      }
    }
    store(t0 + i, ((group * blocks + b) * R + r) / per, output(sum, up));
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Column groups are folded over x and z (a vocab-sized chunk can exceed 65535 groups).
  let group = wid.x + wid.z * nwg.x;
  if (GEMV) {
    gemv(group, lid);
  } else {
    gemm(group, wid.y, lid);
  }
}
