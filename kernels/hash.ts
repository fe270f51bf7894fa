// The integer hash of hash.wgsl in TypeScript, for the CPU references of the kernels that
// prepend it (dropout, pick_token): their masks and noise depend on it bit for bit.

/** lowbias32 of a u32 (`value >>> 0` is taken first), as hash.wgsl's `lowbias32`. */
export function lowbias32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
