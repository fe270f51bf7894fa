// Embedding lookup, y[t, :] = table[ids[t], :] · scale: the GPU kernel and its CPU reference.
// The table is a chunked GpuMatrix (Gemma's 256000×2048 embedding exceeds one binding); each
// chunk is one dispatch that fills the rows of y whose ids it holds.

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import type { GpuMatrix } from "./matrix.ts";
import source from "./embedding.wgsl" with { type: "text" };

export interface EmbedArgs {
  /** (T) u32 token ids; an id ≥ table.rows leaves its row of y untouched. */
  ids: Binding;
  /** (V, D) table, f32 or f16. */
  table: GpuMatrix;
  /** (T, D) f32 output. */
  y: GPUBuffer;
  /** T. */
  rows: number;
  /** Multiplies every element (Gemma: √D rounded to the activation dtype). */
  scale: number;
}

const WG = 256;

export function embed(batch: GpuBatch, args: EmbedArgs): void {
  const { table, rows } = args;
  const pipeline = batch.gpu.pipeline(source, { F16: table.dtype === "f16" ? 1 : 0 });
  const grid = workgroupGrid(batch.gpu, Math.ceil(rows * table.cols / WG));
  for (const chunk of table.chunks) {
    const uniforms = new Uniforms()
      .u32(rows)
      .u32(table.cols)
      .u32(table.stride)
      .u32(chunk.rowStart)
      .u32(chunk.rows)
      .f32(args.scale);
    batch.dispatch(pipeline, uniforms.buffer, [args.ids, chunk.buffer, args.y], grid);
  }
}

/** (T, dim): rows `ids` of the row-major `table`, times `scale`. */
export function embedReference(
  ids: Uint32Array,
  table: Float32Array,
  dim: number,
  scale: number,
): Float32Array {
  const y = new Float32Array(ids.length * dim);
  ids.forEach((id, t) => {
    for (let i = 0; i < dim; i++) y[t * dim + i] = table[id * dim + i] * scale;
  });
  return y;
}
