// y[t, yCol + n] (+)= Σ_k x[t, k] · w[n, k] for one row chunk of a weight matrix of any format:
// the textbook GPU GEMM, for prefill (T > 1) on GPUs; tune.ts picks it per device by measurement.
//
// A workgroup of 16 × 16 invocations owns a BT × BN = 64 × 64 tile of y: 64 rows of x against 64
// rows of w. It walks K in steps of BK = 64 values (one unit of a quantized format, 8 of f32/f16):
// the step's 64 × 64 values of x and of w are loaded once, decoded to f32 and staged in workgroup
// memory (32 KiB), and invocation (i, j) then adds the products of its 4 × 4 block (rows of x
// 4i … 4i + 3 against rows of w 4j … 4j + 3) from there. Each value staged serves 64 rows, where
// matmul.wgsl and matmul_tiled.wgsl load each weight from memory (or cache) for every 4 or 8.
// On lavapipe, which runs a workgroup as a loop over its invocations on one CPU thread and
// switches between them at every barrier, this is several times slower than matmul_tiled.wgsl;
// on a GPU the staging is what keeps the multipliers busy.
//
// A template like matmul.wgsl: weight_formats.ts puts a weight format in front of it (the same
// ones, see matmul.wgsl's header), then matmul_loads.wgsl, packet_weights.wgsl and
// matmul_params.wgsl. Invocation lid stages 16 values of row r = lid / 4 of x, and packets q,
// q + 4, … (q = lid % 4) of the units that cover the step in row r of w: 8 packets, but for q6_k,
// whose units interleave over 128 values, 16 packets of which half fall in the step.

// Params and the bindings p, x, w, y, wScales and wHigh: matmul_params.wgsl (p.glu must be 0).

const BT = 64u; // rows of x per tile
const BN = 64u; // rows of w per tile
const BK = 64u; // values of K per step: 8 packets
const SIDE = 16u; // invocations per side of the workgroup; each owns 4 × 4 outputs
const COVER = max(BK, SPAN); // values of the whole units that cover a step
const STEP_PACKETS = COVER / UNIT * PACKETS;

// The step's tiles, K-major: xTile[kk·16 + r / 4][r % 4] holds x[t0 + r, k0 + kk], and wTile
// likewise w[n0 + r, k0 + kk], so that an invocation reads its 4 rows at one kk as one vec4.
var<workgroup> xTile: array<vec4<f32>, BK * BT / 4u>;
var<workgroup> wTile: array<vec4<f32>, BK * BN / 4u>;

// xAt and x4 (matmul_loads.wgsl) and weights (packet_weights.wgsl): put in front by
// weight_formats.ts.

// x[t, k … k + 3] (k a multiple of 4) with zeros past T and K.
fn xQuad(t: u32, k: u32) -> vec4<f32> {
  if (t >= p.rows) {
    return vec4<f32>(0.0);
  }
  if (k + 4u <= p.k) {
    return x4(t * p.k + k); // a multiple of 4: K is, in the aligned variant
  }
  var v = vec4<f32>(0.0);
  for (var c = 0u; c < 4u; c++) {
    if (k + c < p.k) {
      v[c] = xAt(t * p.k + k + c);
    }
  }
  return v;
}

// Stores 4 values of row r of a tile at step columns c … c + 3, zeroing those at K and past it
// (a float row's last unit, or a quantized row's last half unit, reads past the row's end).
fn putW(r: u32, c: u32, k0: u32, v: vec4<f32>) {
  let keep = vec4<u32>(k0 + c) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.k);
  let kept = select(vec4<f32>(0.0), v, keep);
  for (var m = 0u; m < 4u; m++) {
    wTile[(c + m) * (BN / 4u) + r / 4u][r % 4u] = kept[m];
  }
}

fn putX(r: u32, c: u32, v: vec4<f32>) {
  for (var m = 0u; m < 4u; m++) {
    xTile[(c + m) * (BT / 4u) + r / 4u][r % 4u] = v[m];
  }
}

// Stages the step from k0 (see the header).
fn stage(lid: u32, t0: u32, n0: u32, k0: u32) {
  let r = lid / 4u;
  let q = lid % 4u;
  for (var c = 16u * q; c < 16u * q + 16u; c += 4u) {
    putX(r, c, xQuad(t0 + r, k0 + c));
  }
  let n = n0 + r;
  let first = k0 / COVER * (COVER / UNIT); // the first unit covering the step
  for (var packet = q; packet < STEP_PACKETS; packet += 4u) {
    let u = first + packet / PACKETS;
    let i = packet % PACKETS;
    var v = Packet(vec4<f32>(0.0), vec4<f32>(0.0));
    if (n < p.n) {
      v = weights(loadUnit(Row(n * p.wStride, n * p.sStride), u), i);
    }
    // Each half of a packet is 4 columns in a run of 4: inside the step, or wholly outside
    // (a column before k0 wraps around to a large u32).
    let slots = packetSlots(i);
    let lo = xCol(u, slots.x) - k0;
    let hi = xCol(u, slots.y) - k0;
    if (lo < BK) {
      putW(r, lo, k0, v.lo);
    }
    if (hi < BK) {
      putW(r, hi, k0, v.hi);
    }
  }
}

@compute @workgroup_size(SIDE, SIDE)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  // Tiles of w rows along x (folded into z past 65535), tiles of x rows along y.
  let group = wid.x + wid.z * nwg.x;
  if (group >= (p.n + BN - 1u) / BN) {
    return; // uniform for the whole workgroup: the barriers below stay uniform
  }
  let n0 = group * BN;
  let t0 = wid.y * BT;
  let i = local.y; // rows of x 4i … 4i + 3 of the tile
  let j = local.x; // rows of w 4j … 4j + 3 of the tile
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.k; k0 += BK) {
    stage(lid, t0, n0, k0);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let xs = xTile[kk * (BT / 4u) + i];
      let ws = wTile[kk * (BN / 4u) + j];
      a0 = fma(vec4<f32>(xs.x), ws, a0);
      a1 = fma(vec4<f32>(xs.y), ws, a1);
      a2 = fma(vec4<f32>(xs.z), ws, a2);
      a3 = fma(vec4<f32>(xs.w), ws, a3);
    }
    workgroupBarrier();
  }
  store(t0 + 4u * i, n0 + 4u * j, a0);
  store(t0 + 4u * i + 1u, n0 + 4u * j, a1);
  store(t0 + 4u * i + 2u, n0 + 4u * j, a2);
  store(t0 + 4u * i + 3u, n0 + 4u * j, a3);
}

// y[t, yCol + n … n + 3] (+)= sums, for the outputs inside the chunk.
fn store(t: u32, n: u32, sums: vec4<f32>) {
  if (t >= p.rows) {
    return;
  }
  for (var c = 0u; c < 4u; c++) {
    if (n + c < p.n) {
      let at = t * p.yStride + p.yCol + n + c;
      var sum = sums[c];
      if (p.accumulate != 0u) {
        sum += y[at];
      }
      y[at] = sum;
    }
  }
}
