// The global gradient norm over many buffers and the clipping factor of PyTorch's
// clip_grad_norm_ (min(1, maxNorm / (norm + 1e-6))), left on the GPU for adamw.ts to apply:
// no readback per step. The GPU kernels and the float64 reference.

import { type Binding, GpuBatch, GpuError, Uniforms } from "./gpu.ts";
import source from "./grad_norm.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };

const WGSL = sumSource + source;

export interface GradNormArgs {
  /** The gradient buffers (f32) and how many values of each count. */
  grads: { buffer: Binding; count: number }[];
  /** (grads.length) f32 scratch: each buffer's sum of squares. */
  partials: GPUBuffer;
  /** (2) f32 output: the clip factor (1 without clipping), then the norm. */
  clip: GPUBuffer;
  /** Largest allowed norm; 0 or undefined: no clipping (the norm is still computed). */
  maxNorm?: number;
}

export function gradNorm(batch: GpuBatch, args: GradNormArgs): void {
  const { grads } = args;
  if (grads.length === 0) throw new GpuError("gradNorm: no gradients");
  const gpu = batch.gpu;
  const sums = gpu.pipeline(WGSL, {}, "sumSquares");
  grads.forEach(({ buffer, count }, slot) => {
    batch.dispatch(sums, new Uniforms().u32(count).u32(slot).f32(0), [buffer, args.partials], [1]);
  });
  batch.dispatch(
    gpu.pipeline(WGSL, {}, "finish"),
    new Uniforms().u32(grads.length).u32(0).f32(args.maxNorm ?? 0),
    [args.partials, args.clip],
    [1],
  );
}

/** (factor, norm) as torch.nn.utils.clip_grad_norm_ computes them, in f64. */
export function gradNormReference(
  grads: ArrayLike<number>[],
  maxNorm = 0,
): { factor: number; norm: number } {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  const norm = Math.sqrt(sum);
  return { factor: maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1, norm };
}
