// workgroupMax: the largest of every lane's value over a workgroup of WG lanes (WG, a power of
// 2, is the host kernel's workgroup size), a tree in workgroup memory; workgroup_sum.wgsl's twin.
// Prepended to cross_entropy.wgsl and attention_backward.wgsl by their .ts files. It ends with a
// barrier, so calls may follow each other.

var<workgroup> peak: array<f32, WG>;

fn workgroupMax(lid: u32, value: f32) -> f32 {
  peak[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      peak[lid] = max(peak[lid], peak[lid + stride]);
    }
    workgroupBarrier();
  }
  let result = peak[0];
  workgroupBarrier();
  return result;
}
