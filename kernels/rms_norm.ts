// RMSNorm, alone or fused with a residual add and the next norm: the GPU kernels and their CPU
// references.

import { type Binding, GpuBatch, Uniforms } from "./gpu.ts";
import rmsNormSource from "./rms_norm.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };

/** The WGSL of both kernels (entry points "main" and "residual"). */
export const RMS_NORM_WGSL = sumSource + rmsNormSource;

export interface RmsNormArgs {
  /** (rows, dim) f32 input. */
  x: Binding;
  /** (dim) f32 weight (Gemma's 1 + w already added). */
  weight: Binding;
  /** (rows, dim) f32 output; must not be `x`. */
  y: Binding;
  rows: number;
  dim: number;
  eps: number;
}

export function rmsNorm(batch: GpuBatch, args: RmsNormArgs): void {
  const uniforms = new Uniforms().u32(args.rows).u32(args.dim).f32(args.eps);
  batch.dispatch(batch.gpu.pipeline(RMS_NORM_WGSL), uniforms, [args.x, args.weight, args.y], [
    args.rows,
  ]);
}

export interface ResidualNormArgs extends RmsNormArgs {
  /** (rows, dim) f32 residual stream: h += RMSNorm(x)·weight. Not `x` or `y`. */
  h: Binding;
  /** (dim) f32 weight of the norm that makes y: y = RMSNorm(h)·next, after the update. */
  next: Binding;
}

/**
 * h += RMSNorm(x)·weight, then y = RMSNorm(h)·next, in one dispatch: a block's output through
 * Gemma 2/3's sandwich norm into the residual stream, and the next block's input norm.
 */
export function residualNorm(batch: GpuBatch, args: ResidualNormArgs): void {
  const uniforms = new Uniforms().u32(args.rows).u32(args.dim).f32(args.eps);
  batch.dispatch(
    batch.gpu.pipeline(RMS_NORM_WGSL, {}, "residual"),
    uniforms,
    [args.x, args.weight, args.y, args.h, args.next],
    [args.rows],
  );
}

/** y = x / sqrt(mean(x²) + eps) · w per row, in f64. */
export function rmsNormForward64(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rows: number,
  eps: number,
): Float64Array {
  const dim = weight.length;
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += x[r * dim + i] ** 2;
    const scale = 1 / Math.sqrt(sum / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] * scale * weight[i];
  }
  return y;
}

/** y[r, i] = x[r, i] / sqrt(mean(x[r, :]²) + eps) * weight[i], accumulated in f64. */
export function rmsNormReference(
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  eps: number,
): Float32Array {
  return Float32Array.from(rmsNormForward64(x, weight, rows, eps));
}

/**
 * The references of residualNorm: h + RMSNorm(x)·weight (rounded to f32, as the GPU keeps h), and
 * RMSNorm of that times `next`.
 */
export function residualNormReference(
  x: Float32Array,
  weight: Float32Array,
  h: Float32Array,
  next: Float32Array,
  rows: number,
  eps: number,
): { h: Float32Array; y: Float32Array } {
  const normed = rmsNormReference(x, weight, rows, eps);
  const updated = h.map((v, i) => v + normed[i]);
  return { h: updated, y: rmsNormReference(updated, next, rows, eps) };
}
