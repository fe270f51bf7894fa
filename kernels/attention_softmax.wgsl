// The log-sum-exp of one query's visible scores, shared by attention_scores.wgsl and
// attention_scores_grad.wgsl (prepended by attention_tiled.ts after workgroup_max.wgsl and
// workgroup_sum.wgsl). The host file defines WG and `fn scoreAt(i: u32) -> f32`, the soft-capped
// score z at element i of its score matrix.

// log Σ exp(z) over elements row + first … row + last, the workgroup's lanes taking every WG-th.
fn logSumExp(lid: u32, row: u32, first: u32, last: u32) -> f32 {
  var top = -3.0e38;
  for (var j = first + lid; j <= last; j += WG) {
    top = max(top, scoreAt(row + j));
  }
  top = workgroupMax(lid, top);
  var sum = 0.0;
  for (var j = first + lid; j <= last; j += WG) {
    sum += exp(scoreAt(row + j) - top);
  }
  return top + log(workgroupSum(lid, sum));
}
