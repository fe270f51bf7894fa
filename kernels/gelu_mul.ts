// GeGLU's elementwise half, y = gelu_tanh(gate) * up: the GPU kernel and its CPU reference.

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./gelu_mul.wgsl" with { type: "text" };

export interface GeluMulArgs {
  /** (T, F) f32: the gate projection. */
  gate: Binding;
  /** (T, F) f32: the up projection. */
  up: Binding;
  /** (T, F) f32 output, a buffer other than those of `gate` and `up`. */
  y: GPUBuffer;
  /** T·F. */
  count: number;
}

const WG = 256;

export function geluMul(batch: GpuBatch, args: GeluMulArgs): void {
  const uniforms = new Uniforms().u32(args.count);
  batch.dispatch(
    batch.gpu.pipeline(source),
    uniforms.buffer,
    [args.gate, args.up, args.y],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/**
 * The tanh approximation of GELU, 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³), in f64.
 * Evaluated as x / (1 + e^(-2u)), the same function without the cancellation of 1 + tanh(u) for
 * negative x (where it would return 0 instead of, e.g., -1.3e-28 at x = -9).
 */
export function geluTanh(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3);
  return x / (1 + Math.exp(-2 * u));
}

export function geluMulReference(gate: Float32Array, up: Float32Array): Float32Array {
  const y = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = geluTanh(gate[i]) * up[i];
  return y;
}
