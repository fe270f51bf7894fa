// workgroupSum: the sum of every lane's value over a workgroup of WG lanes (WG, a power of 2, is
// the host kernel's workgroup size), a tree in workgroup memory. Prepended to rms_norm.wgsl,
// attention_input.wgsl and token_logprob.wgsl by their .ts files. It ends with a barrier, so
// calls may follow each other.

var<workgroup> partial: array<f32, WG>;

fn workgroupSum(lid: u32, value: f32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
