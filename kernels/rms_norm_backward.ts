// The input gradient of RMSNorm with Gemma's (1 + w) weight (rms_norm.ts's forward): the GPU
// kernel and float64 references of the forward and the backward. The weight is frozen in LoRA
// training, so its gradient is not computed.

import { type Binding, GpuBatch, GpuError, Uniforms } from "./gpu.ts";
import source from "./rms_norm_backward.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };

const WGSL = sumSource + source;

export interface RmsNormBackwardArgs {
  /** (rows, dim) f32 input of the forward (or rows laid out as `heads` says). */
  x: Binding;
  /** (dim) f32 weight of the forward (1 + w already added). */
  weight: Binding;
  /** f32 gradient of the output, laid out as x; overwritten by dx when `dx` is omitted. */
  dy: Binding;
  /** f32 gradient of x, laid out as x, a buffer other than those above; omit: into dy. */
  dx?: GPUBuffer;
  /** Rows normed (T, or T·H for per-head norms). */
  rows: number;
  dim: number;
  eps: number;
  /** Add to dx (e.g. the residual stream's gradient) instead of overwriting it. */
  accumulate?: boolean;
  /**
   * Rows as heads of a wider row (Gemma 3's q/k norms on the (T, H + 2·Hkv, D) q, k, v
   * projection): row r starts at ⌊r / count⌋·rowStride + offset + (r mod count)·dim, in elements.
   * Default: contiguous rows.
   */
  heads?: { count: number; rowStride: number; offset: number };
}

export function rmsNormBackward(batch: GpuBatch, args: RmsNormBackwardArgs): void {
  const heads = args.heads ?? { count: 1, rowStride: args.dim, offset: 0 };
  if (!args.dx && args.accumulate) {
    throw new GpuError("rmsNormBackward: accumulate needs a dx apart from dy");
  }
  const uniforms = new Uniforms().u32(args.rows).u32(args.dim).f32(args.eps)
    .u32(args.accumulate ? 1 : 0).u32(heads.count).u32(heads.rowStride).u32(heads.offset);
  const bindings = [args.x, args.weight, args.dy];
  if (args.dx) bindings.push(args.dx);
  batch.dispatch(
    batch.gpu.pipeline(WGSL, {}, args.dx ? "main" : "inPlace"),
    uniforms,
    bindings,
    [args.rows],
  );
}

/** dx = r·w·dy − x·r³·Σ(w·dy·x) / D per row, in f64. */
export function rmsNormBackwardReference(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  eps: number,
): Float64Array {
  const dim = weight.length;
  const dx = new Float64Array(rows * dim);
  for (let row = 0; row < rows; row++) {
    const base = row * dim;
    let squares = 0;
    let dots = 0;
    for (let i = 0; i < dim; i++) {
      squares += x[base + i] ** 2;
      dots += weight[i] * dy[base + i] * x[base + i];
    }
    const r = 1 / Math.sqrt(squares / dim + eps);
    const c = r ** 3 * dots / dim;
    for (let i = 0; i < dim; i++) dx[base + i] = r * weight[i] * dy[base + i] - c * x[base + i];
  }
  return dx;
}
