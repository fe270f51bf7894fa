// lowbias32 (Chris Wellons): a 32-bit integer hash with good avalanche (u32 products wrap in
// WGSL). Prepended to the kernels that draw counter-based random numbers (dropout's masks,
// pick_token's Gumbel noise); hash.ts has the same function in TypeScript.
fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}
