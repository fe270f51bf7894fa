// Soft-capping, x = cap·tanh(x / cap), in place: the GPU kernel and its CPU reference.

import { GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import softcapSource from "./softcap.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };

const source = tanhSource + softcapSource;

export interface SoftcapArgs {
  /** (n) f32, updated in place. */
  x: GPUBuffer;
  /** n. */
  count: number;
  /** The cap (> 0): outputs lie in (-cap, cap). */
  cap: number;
}

const WG = 256;

export function softcap(batch: GpuBatch, args: SoftcapArgs): void {
  const uniforms = new Uniforms().u32(args.count).f32(args.cap);
  batch.dispatch(
    batch.gpu.pipeline(source),
    uniforms,
    [args.x],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/** A fresh cap·tanh(x / cap), in f64. */
export function softcapReference(x: Float32Array, cap: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = cap * Math.tanh(x[i] / cap);
  return out;
}
