// Argmax over a vector (greedy decoding): the GPU kernel and its CPU reference.

import { type Binding, GpuBatch, Uniforms } from "./gpu.ts";
import source from "./argmax.wgsl" with { type: "text" };

export interface ArgmaxArgs {
  /** (n) f32 logits. */
  x: Binding;
  /** N. */
  n: number;
  /** u32[1]: receives the index of the largest value (the lowest index on ties). */
  out: GPUBuffer;
}

export function argmax(batch: GpuBatch, args: ArgmaxArgs): void {
  const uniforms = new Uniforms().u32(args.n);
  batch.dispatch(batch.gpu.pipeline(source), uniforms.buffer, [args.x, args.out], [1]);
}

/** The index of the largest value, the lowest on ties; NaNs are skipped (0 if all are NaN). */
export function argmaxReference(x: Float32Array): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) {
    if (best < 0 ? !Number.isNaN(x[i]) : x[i] > x[best]) best = i;
  }
  return Math.max(best, 0);
}
