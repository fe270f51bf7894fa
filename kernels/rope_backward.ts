// The backward of RoPE (rope.ts, applied by attention_input.wgsl): the gradient of rotated
// queries or keys rotated back, in place. The GPU kernel and float64 references; the angles are
// the forward's (f32 position · f32 inv_freq, per-layer θ and linear scaling in the table).

import { GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import { inverseFrequencies, inverseFrequencyBuffer } from "./rope.ts";
import source from "./rope_backward.wgsl" with { type: "text" };

const WG = 256;

export interface RopeBackwardArgs {
  /** (T, H, D) f32 (or see rowStride): the rotated tensor's gradient in, the unrotated one's out. */
  grad: GPUBuffer;
  rows: number;
  heads: number;
  /** D (even). */
  headDim: number;
  /** Position of row 0 (of each sequence). */
  position0: number;
  /** The base θ (Gemma 3: 1e4 on local layers, 1e6 on global ones). */
  theta: number;
  /** Linear scaling (default 1). */
  factor?: number;
  /**
   * Elements between rows of grad (default H·D) and of head 0 within a row (default 0): the q
   * or k heads of a (T, H + 2·Hkv, D) q, k, v gradient are rotated where they lie.
   */
  rowStride?: number;
  offset?: number;
  /** Rows per sequence when `rows` holds several back to back (default: all one sequence). */
  sequenceRows?: number;
}

export function ropeBackward(batch: GpuBatch, args: RopeBackwardArgs): void {
  const { rows, heads, headDim } = args;
  const table = inverseFrequencyBuffer(batch.gpu, headDim, args.theta, args.factor ?? 1);
  batch.dispatch(
    batch.gpu.pipeline(source),
    new Uniforms().u32(rows).u32(heads).u32(headDim).u32(args.position0)
      .u32(args.rowStride ?? heads * headDim).u32(args.offset ?? 0)
      .u32(args.sequenceRows ?? rows),
    [args.grad, table],
    workgroupGrid(batch.gpu, Math.ceil(rows * heads * headDim / 2 / WG)),
  );
}

/**
 * Rotates each pair (i, i + D/2) of x (T, H, D) by `direction` (1: the forward, −1: its
 * transpose, the backward) times the angle of ropeReference, in f64.
 */
export function ropeRotate64(
  x: ArrayLike<number>,
  shape: { rows: number; heads: number; headDim: number; position0: number },
  theta: number,
  direction: 1 | -1,
  factor = 1,
): Float64Array {
  const { rows, heads, headDim, position0 } = shape;
  const y = new Float64Array(x.length);
  const half = headDim / 2;
  const invFreq = inverseFrequencies(headDim, theta, factor);
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround((position0 + t) * invFreq[i]);
        const c = Math.cos(angle);
        const s = direction * Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}
