// In-place elementwise addition, x += y: the GPU kernel and its CPU reference.

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./add.wgsl" with { type: "text" };

export interface AddArgs {
  /** (n) f32, updated in place. */
  x: GPUBuffer;
  /** (n) f32, in a buffer other than `x` (WebGPU forbids binding one buffer twice here). */
  y: Binding;
  /** n. */
  count: number;
}

const WG = 256;

export function add(batch: GpuBatch, args: AddArgs): void {
  const uniforms = new Uniforms().u32(args.count);
  batch.dispatch(
    batch.gpu.pipeline(source),
    uniforms.buffer,
    [args.x, args.y],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/** A fresh x + y. */
export function addReference(x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
  return out;
}
