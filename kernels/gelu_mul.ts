// GeGLU's elementwise half, y = gelu_tanh(gate) * up: the GPU kernel and its CPU reference.

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import geluSource from "./gelu.wgsl" with { type: "text" };
import geluMulSource from "./gelu_mul.wgsl" with { type: "text" };

const source = geluSource + geluMulSource;

export interface GeluMulArgs {
  /** (T, 2F) f32: each row's gate projection (F values), then its up projection. */
  gateUp: Binding;
  /** (T, F) f32 output, a buffer other than that of `gateUp`. */
  y: GPUBuffer;
  /** T. */
  rows: number;
  /** F. */
  width: number;
}

const WG = 256;

export function geluMul(batch: GpuBatch, args: GeluMulArgs): void {
  const uniforms = new Uniforms().u32(args.rows).u32(args.width);
  batch.dispatch(
    batch.gpu.pipeline(source),
    uniforms,
    [args.gateUp, args.y],
    workgroupGrid(batch.gpu, Math.ceil(args.rows * args.width / WG)),
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
