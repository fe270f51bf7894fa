// One AdamW step (PyTorch's torch.optim.AdamW, non-amsgrad, in PyTorch's order of operations)
// over n parameters, one invocation each on a 2D grid (x + y·65535). Entry points: main (g = grad)
// and clipped (g = grad·clip[0], grad_norm.wgsl's factor):
//   p ← p·(1 − lr·wd)                         decoupled weight decay
//   m ← m + (1 − β1)·(g − m)                   (torch's lerp)
//   v ← β2·v + (1 − β2)·g²
//   p ← p − stepSize · m / (sqrt(v) / bc2Sqrt + eps)
// with stepSize = lr / (1 − β1^t) and bc2Sqrt = sqrt(1 − β2^t), computed on the CPU in f64.

struct Params {
  count: u32,
  decay: f32, // 1 − lr·wd
  beta1: f32,
  beta2: f32,
  eps: f32,
  stepSize: f32,
  bc2Sqrt: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>; // (n)
@group(0) @binding(2) var<storage, read> grad: array<f32>; //        (n)
@group(0) @binding(3) var<storage, read_write> m: array<f32>; //     (n) first moment
@group(0) @binding(4) var<storage, read_write> v: array<f32>; //     (n) second moment
@group(0) @binding(5) var<storage, read> clip: array<f32>; //        (2) factor, norm; clipped only

const WG: u32 = 256u;

// The element's index on the 2D grid.
fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn update(i: u32, g: f32) {
  let mi = m[i] + (1.0 - p.beta1) * (g - m[i]);
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.stepSize * mi / (sqrt(vi) / p.bc2Sqrt + p.eps);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = element(wid, nwg, lid);
  if (i < p.count) {
    update(i, grad[i]);
  }
}

@compute @workgroup_size(WG)
fn clipped(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = element(wid, nwg, lid);
  if (i < p.count) {
    update(i, grad[i] * clip[0]);
  }
}
