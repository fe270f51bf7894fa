// The radix select of pick_token.wgsl (put in front of it by pick_token.ts): over the logits'
// order-preserving bit patterns, 8 bits per pass, with 256 bins of 64 bits counting the logits or
// summing their probability mass. The host declares p (n, topK, topP, invTemperature), x (the
// logits), WG (lanes = bins) and the workgroup variables histogram, histogramHigh and broadcast.

fn isNan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// Neither infinite nor NaN (a NaN fails the comparison).
fn isFinite(v: f32) -> bool {
  return abs(v) <= 3.4028234e38;
}

// A u32 that orders like the f32 v (for v not NaN): sign bit flipped for positives, all bits
// for negatives.
fn orderKey(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn fromOrderKey(k: u32) -> f32 {
  return bitcast<f32>(select(~k, k & 0x7fffffffu, (k & 0x80000000u) != 0u));
}

// Unsigned 64-bit integers as (low, high) words.
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let low = a.x + b.x;
  return vec2<u32>(low, a.y + b.y + select(0u, 1u, low < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn atLeast64(a: vec2<u32>, b: vec2<u32>) -> bool {
  return a.y > b.y || (a.y == b.y && a.x >= b.x);
}

fn toF32(a: vec2<u32>) -> f32 {
  return f32(a.y) * 4294967296.0 + f32(a.x);
}

fn fromF32(v: f32) -> vec2<u32> {
  let high = floor(v / 4294967296.0);
  return vec2<u32>(u32(v - high * 4294967296.0), u32(high));
}

// Token v's weight in radixSelect: 1 (counting), or its probability relative to the top token's,
// exp((v − max) / T) ≤ 1, in fixed point with 31 fraction bits (summed exactly in 64 bits; the
// rounding of each, < 2^-32, is far below what decides a top-p bound).
fn weightOf(v: f32, byMass: bool, maxValue: f32) -> u32 {
  if (!byMass) {
    return 1u;
  }
  return u32(round(exp((v - maxValue) * p.invTemperature) * 2147483648.0));
}

// Bin `bin` of the histogram, 64-bit.
fn binWeight(bin: u32) -> vec2<u32> {
  return vec2<u32>(atomicLoad(&histogram[bin]), atomicLoad(&histogramHigh[bin]));
}

// The order key K of the smallest logit such that the logits ≥ it weigh at least a target, among
// those with keys ≥ low (a bound known to be ≤ the answer: most logits then cost a compare, not
// an atomic; NaNs left out). Counted (byMass false), the target is top-k and K the k-th largest;
// weighed by mass (weightOf), it is top-p × the mass of them all, and K the top-p bound. Returns
// 0 (below every key) when they do not reach it (fewer than k logits). A radix select, 8 bits per
// pass from the top, each pass a histogram of the keys that match the bits found so far.
fn radixSelect(lid: u32, low: u32, byMass: bool, maxValue: f32) -> u32 {
  var prefix = 0u;
  var mask = 0u;
  // The wanted key is where the weight of the keys matching prefix, from the top, reaches this.
  var remaining = vec2<u32>(p.topK, 0u);
  for (var round = 0u; round < 4u; round++) {
    let shift = 24u - 8u * round;
    atomicStore(&histogram[lid], 0u);
    atomicStore(&histogramHigh[lid], 0u);
    workgroupBarrier();
    for (var i = lid; i < p.n; i += WG) {
      let v = x[i];
      let key = orderKey(v);
      if (!isNan(v) && key >= low && (key & mask) == prefix) {
        let bin = (key >> shift) & 255u;
        let weight = weightOf(v, byMass, maxValue);
        if (atomicAdd(&histogram[bin], weight) > 0xffffffffu - weight) {
          atomicAdd(&histogramHigh[bin], 1u);
        }
      }
    }
    workgroupBarrier();
    if (lid == 0u) {
      if (byMass && round == 0u) {
        // The first pass saw every logit ≥ low: the target is top-p of their total.
        var total = vec2<u32>(0u);
        for (var bin = 0u; bin < WG; bin++) {
          total = add64(total, binWeight(bin));
        }
        remaining = fromF32(max(1.0, p.topP * toF32(total)));
        if (atLeast64(remaining, total)) {
          remaining = total;
        }
      }
      // Walk the bins from the top until they reach `remaining`.
      var above = vec2<u32>(0u);
      var result = vec4<u32>(0u); // w = 0: not reached
      for (var bin = 255i; bin >= 0i; bin--) {
        let weight = binWeight(u32(bin));
        let through = add64(above, weight);
        if (atLeast64(through, remaining)) {
          // What is left to reach within this bin: remaining − above (> 0).
          result = vec4<u32>(prefix | (u32(bin) << shift), sub64(remaining, above), 1u);
          break;
        }
        above = through;
      }
      broadcast = result;
    }
    let found = workgroupUniformLoad(&broadcast);
    if (found.w == 0u) {
      return 0u;
    }
    prefix = found.x;
    remaining = found.yz;
    mask |= 255u << shift;
  }
  return prefix;
}
