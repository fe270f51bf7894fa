// Scoring: for each row r of logits, the log-probability of its target token and whether that
// token is the argmax (lm-evaluation-harness's loglikelihood and is_greedy):
//   out[r] = (x[r, target] − max − log Σ_j exp(x[r, j] − max), argmax(x[r]) == target ? 1 : 0)
// One workgroup per row: lanes stride over the vocabulary for the max (and its lowest index),
// reduce in workgroup memory, then stride again for the sum of exponentials, in f32.

struct Params {
  rows: u32, // R
  vocab: u32, // V
  stride: u32, // floats between rows of x (≥ V)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>; // (R, stride) logits, V used per row
@group(0) @binding(2) var<storage, read> targets: array<u32>; // (R) token ids
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>; // (R) (log-prob, greedy)

const WG: u32 = 256u;
var<workgroup> maxValue: array<f32, WG>;
var<workgroup> maxIndex: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  let base = row * p.stride;
  var value = bitcast<f32>(0xff800000u); // -inf
  var index = 0xffffffffu;
  for (var j = lid; j < p.vocab; j += WG) {
    let v = x[base + j];
    if (v > value || (v == value && index == 0xffffffffu)) {
      value = v;
      index = j;
    }
  }
  maxValue[lid] = value;
  maxIndex[lid] = index;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let v = maxValue[lid + stride];
      let i = maxIndex[lid + stride];
      if (v > maxValue[lid] || (v == maxValue[lid] && i < maxIndex[lid])) {
        maxValue[lid] = v;
        maxIndex[lid] = i;
      }
    }
    workgroupBarrier();
  }
  let m = maxValue[0];
  var sum = 0.0;
  for (var j = lid; j < p.vocab; j += WG) {
    sum += exp(x[base + j] - m);
  }
  // workgroupSum: workgroup_sum.wgsl, which token_logprob.ts prepends.
  let total = workgroupSum(lid, sum);
  if (lid == 0u) {
    let wanted = targets[row];
    let greedy = select(0.0, 1.0, maxIndex[0] == wanted);
    out[row] = vec2<f32>(x[base + wanted] - m - log(total), greedy);
  }
}
