// The backward of soft-capping (softcap.ts), from the forward's output y = cap·tanh(x / cap):
// dx = dy·(1 − (y / cap)²), in place. The GPU kernel and its float64 reference. (The final
// logits' soft-cap is fused into cross_entropy.ts; this serves any other capped tensor.)

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./softcap_backward.wgsl" with { type: "text" };

const WG = 256;

export interface SoftcapBackwardArgs {
  /** (n) f32 output of the forward. */
  y: Binding;
  /** (n) f32: the output's gradient in, the input's gradient out. */
  grad: GPUBuffer;
  count: number;
  cap: number;
}

export function softcapBackward(batch: GpuBatch, args: SoftcapBackwardArgs): void {
  batch.dispatch(
    batch.gpu.pipeline(source),
    new Uniforms().u32(args.count).f32(args.cap),
    [args.y, args.grad],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/** dx = dy·(1 − tanh²(x / cap)) from the forward's input x, in f64. */
export function softcapBackwardReference(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  cap: number,
): Float64Array {
  return Float64Array.from(dy, (d, i) => d * (1 - Math.tanh(x[i] / cap) ** 2));
}
