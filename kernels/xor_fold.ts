// XOR-folding a buffer (a plain read of memory, for bandwidth measurements): the GPU kernel and
// its CPU reference.

import { type Binding, GpuBatch, GpuError, Uniforms } from "./gpu.ts";
import source from "./xor_fold.wgsl" with { type: "text" };

/** vec4s each lane folds (xor_fold.wgsl's SPAN). */
const SPAN = 1024;

export interface XorFoldArgs {
  /** (words) u32, a multiple of 4 words. */
  input: Binding;
  words: number;
  /** (xorFoldOutputWords(words, lanes)) u32: each lane's fold. */
  out: GPUBuffer;
  /** Lanes per workgroup (default 8: lavapipe's SIMD width). */
  lanes?: number;
}

/** Words the kernel writes for `words` input words with `lanes` lanes per workgroup. */
export function xorFoldOutputWords(words: number, lanes = 8): number {
  return Math.ceil(words / 4 / (SPAN * lanes)) * lanes;
}

export function xorFold(batch: GpuBatch, args: XorFoldArgs): void {
  const { words, lanes = 8 } = args;
  if (words % 4 !== 0) throw new GpuError(`xorFold reads whole vec4s; got ${words} words`);
  const uniforms = new Uniforms().u32(words / 4);
  batch.dispatch(
    batch.gpu.pipeline(source, { WG: lanes }),
    uniforms,
    [args.input, args.out],
    [xorFoldOutputWords(words, lanes) / lanes],
  );
}

/** What xorFold writes: per workgroup and lane, the XOR of every word of the vec4s it reads. */
export function xorFoldReference(input: Uint32Array, lanes = 8): Uint32Array {
  const out = new Uint32Array(xorFoldOutputWords(input.length, lanes));
  for (let v = 0; v < input.length / 4; v++) {
    const group = Math.floor(v / (SPAN * lanes));
    const lane = v % lanes;
    for (let c = 0; c < 4; c++) out[group * lanes + lane] ^= input[4 * v + c];
  }
  return out;
}
