// Rotary position embedding (rotate-half / NEOX layout, as in HF Gemma), in place: the GPU kernel
// and its CPU reference.

import { GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./rope.wgsl" with { type: "text" };

export interface RopeArgs {
  /** (T, H, D) f32, rotated in place. */
  x: GPUBuffer;
  /** T. */
  rows: number;
  /** H. */
  heads: number;
  /** D (even). */
  headDim: number;
  /** Absolute position of row 0 (row t is at position0 + t). */
  position0: number;
  /** The base θ of inv_freq = θ^(-2i/D) (Gemma: 10000; Gemma 3 global layers: 1e6). */
  theta: number;
}

const WG = 256;

export function rope(batch: GpuBatch, args: RopeArgs): void {
  const { rows, heads, headDim } = args;
  if (headDim % 2 !== 0) throw new GpuError(`rope: head dim ${headDim} is odd`);
  const uniforms = new Uniforms()
    .u32(rows)
    .u32(heads)
    .u32(headDim)
    .u32(args.position0)
    .f32(Math.log2(args.theta));
  const pairs = rows * heads * headDim / 2;
  batch.dispatch(
    batch.gpu.pipeline(source),
    uniforms.buffer,
    [args.x],
    workgroupGrid(batch.gpu, Math.ceil(pairs / WG)),
  );
}

/** A fresh rotated copy of x (T, H, D), with angles and rotations in f64. */
export function ropeReference(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  position0: number,
  theta: number,
): Float32Array {
  const y = new Float32Array(x.length);
  const half = headDim / 2;
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = (position0 + t) * theta ** (-2 * i / headDim);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}
