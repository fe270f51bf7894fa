// Rotary position embedding, rotate-half (NEOX) layout, in place: for each row t, head h and
// i < D/2, with angle = (position0 + t) · θ^(-2i/D) / factor (factor: linear RoPE scaling, 1 if
// none, as in Gemma 3's global layers),
//   (x[i], x[i + D/2]) ← (x[i]·cos − x[i + D/2]·sin, x[i + D/2]·cos + x[i]·sin).
// One invocation per rotated pair, on a 2D grid of workgroups (x + y·65535).
// Angles are f32 like the reference implementations (position · inv_freq, both f32, inv_freq
// from a table made on the CPU), so their error grows with the position: ~1e-4 rad at 4000. The angle is reduced to [-π, π] with a
// two-part 2π before sin/cos: drivers only promise accurate sin/cos on [-π, π].

struct Params {
  rows: u32, // T
  heads: u32, // H
  headDim: u32, // D (even)
  position0: u32, // position of row 0
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>; // (T, H, D), rotated in place
// (D/2) θ^(-2i/D) / factor, rounded to f32 on the CPU exactly as HF transformers computes it, so
// that the angles (f32 position · f32 inv_freq) are bit-identical to a PyTorch run's.
@group(0) @binding(2) var<storage, read> invFreq: array<f32>;

const WG: u32 = 256u;
// 2π = TWO_PI_HI + TWO_PI_LO (TWO_PI_HI is 2π rounded to f32). fma forms angle − k·TWO_PI_HI
// from the exact product, and the small difference is representable, so only the TWO_PI_LO step
// rounds; without a fused fma the extra error is ~angle·2^-24, no worse than the angle's own.
const TWO_PI_HI: f32 = 6.28318548202514648;
const TWO_PI_LO: f32 = -1.7484555314695172e-7;
const INV_TWO_PI: f32 = 0.15915494309189535;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let half = p.headDim / 2u;
  let pair = (wid.x + wid.y * nwg.x) * WG + lid;
  if (pair >= p.rows * p.heads * half) {
    return;
  }
  let i = pair % half;
  let row = pair / half; // t·H + h
  let t = row / p.heads;

  let angle = f32(p.position0 + t) * invFreq[i];
  let k = round(angle * INV_TWO_PI);
  let reduced = fma(-k, TWO_PI_LO, fma(-k, TWO_PI_HI, angle));
  let c = cos(reduced);
  let s = sin(reduced);

  let at = row * p.headDim + i;
  let a = x[at];
  let b = x[at + half];
  x[at] = a * c - b * s;
  x[at + half] = b * c + a * s;
}
