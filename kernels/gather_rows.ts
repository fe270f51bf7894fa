// Row gather with zero fill, y[r, :] = x[index[r], :] (zeros where index[r] < 0): the GPU kernel
// and the CPU reference. The trainer gathers the rows that carry a loss into a compact buffer
// before the cross-entropy of the tied head, and scatters their gradient back with the same
// kernel (rowsWithTargets gives both index tables).

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./gather_rows.wgsl" with { type: "text" };

const WG = 256;

export interface GatherRowsArgs {
  /** (R) i32 source row of x for each row of y; −1: a row of zeros. */
  index: Binding;
  /** (any, D) f32. */
  x: Binding;
  /** (R, D) f32 output, overwritten. */
  y: Binding;
  /** R. */
  rows: number;
  /** D. */
  dim: number;
}

export function gatherRows(batch: GpuBatch, args: GatherRowsArgs): void {
  if (args.dim < 1) throw new GpuError("gatherRows: dim must be at least 1");
  if (args.rows === 0) return;
  batch.dispatch(
    batch.gpu.pipeline(source),
    new Uniforms().u32(args.rows).u32(args.dim),
    [args.index, args.x, args.y],
    workgroupGrid(batch.gpu, Math.ceil(args.rows * args.dim / WG)),
  );
}

export function gatherRowsReference(
  x: ArrayLike<number>,
  index: ArrayLike<number>,
  dim: number,
): Float32Array {
  const y = new Float32Array(index.length * dim);
  for (let r = 0; r < index.length; r++) {
    if (index[r] < 0) continue;
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[index[r] * dim + i];
  }
  return y;
}

/**
 * The index tables of a (T) target vector (−1: no loss): `gather` (K) lists the rows with a
 * target in order, `scatter` (T) gives each row its slot in that list (−1 where none), and
 * `targets` (K) the compacted targets.
 */
export function rowsWithTargets(
  targets: ArrayLike<number>,
): { gather: Int32Array; scatter: Int32Array; targets: Int32Array } {
  const gather: number[] = [];
  const scatter = new Int32Array(targets.length).fill(-1);
  for (let t = 0; t < targets.length; t++) {
    if (targets[t] < 0) continue;
    scatter[t] = gather.length;
    gather.push(t);
  }
  const compact = Int32Array.from(gather, (t) => targets[t]);
  return { gather: Int32Array.from(gather), scatter, targets: compact };
}
