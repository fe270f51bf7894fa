// The uniforms and bindings of the weight-matrix templates (matmul.wgsl, matmul_blocked.wgsl),
// put in front of them by weight_formats.ts, which also rewrites the two alias lines for the
// unaligned f32 / f16 variant (f32 / u32, 1u; see matmul.wgsl's header).

struct Params {
  rows: u32, // T
  k: u32, // K
  n: u32, // rows of w in this chunk
  wStride: u32, // w's units (f32/f16 elements, or vec4 words) between row starts
  sStride: u32, // f16 scales between row starts of wScales (quantized formats)
  yStride: u32, // elements between row starts of y
  yCol: u32, // column of y that receives chunk row 0
  accumulate: u32, // 1: y += x·wᵀ; 0: y = x·wᵀ
  // 1 (matmul.wgsl only): w stacks a GeGLU's gate and up projections, [W_gate; W_up] (F rows
  // each), and y (F columns) = gelu_tanh(x·W_gateᵀ) ⊙ x·W_upᵀ; rows are taken in pairs (gate i,
  // up i), see rowOf. A uniform rather than a pipeline constant: the big matmul pipelines
  // compile once, not twice.
  glu: u32,
}

alias XElem = vec4<f32>; const XP = 4u;
alias WElem = vec4<u32>; const WP = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<XElem>; // (T, K) f32
@group(0) @binding(2) var<storage, read> w: array<WElem>; // (n, wStride) as u32 words
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (T, yStride)
@group(0) @binding(4) var<storage, read> wScales: array<u32>; // (n, sStride) f16 pairs, if used
@group(0) @binding(5) var<storage, read> wHigh: array<u32>; // one word per block, if used
