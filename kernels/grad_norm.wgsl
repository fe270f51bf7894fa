// The global L2 norm of many gradient buffers and PyTorch's clip_grad_norm_ factor, without a
// readback (adamw.wgsl reads the factor). Two entry points:
//   sumSquares  one workgroup per buffer: out[slot] = Σ data[i]² over its count values, in f32;
//   finish      one workgroup: norm = sqrt(Σ data[0 … slots)), out = (min(1, maxNorm /
//               (norm + 1e-6)), norm): the factor that scales every gradient, and the norm.
// workgroupSum: workgroup_sum.wgsl (prepended by grad_norm.ts).

struct Params {
  count: u32, // sumSquares: values in data; finish: slots
  slot: u32, // sumSquares: where the sum goes
  maxNorm: f32, // finish: 0 = no clipping (factor 1)
}

@group(0) @binding(0) var<uniform> p: Params;
// sumSquares: a gradient buffer; finish: the per-buffer sums.
@group(0) @binding(1) var<storage, read> data: array<f32>;
// sumSquares: the per-buffer sums; finish: (factor, norm).
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn sumSquares(@builtin(local_invocation_index) lid: u32) {
  var squares = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    let g = data[i];
    squares += g * g;
  }
  let sum = workgroupSum(lid, squares);
  if (lid == 0u) {
    out[p.slot] = sum;
  }
}

@compute @workgroup_size(WG)
fn finish(@builtin(local_invocation_index) lid: u32) {
  // The sums are already squares: add them, not their squares.
  var sum = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    sum += data[i];
  }
  let norm = sqrt(workgroupSum(lid, sum));
  if (lid == 0u) {
    out[0] = select(1.0, min(1.0, p.maxNorm / (norm + 1e-6)), p.maxNorm > 0.0);
    out[1] = norm;
  }
}
