// The backward of y = x·wᵀ (matmul.ts): the input gradient dx = dy·w for a weight of any type
// (the frozen base stays f32, f16 or GGUF-quantized; blocks are decoded in registers by the same
// format code as the forward), and the weight gradient dw = dyᵀ·x for small f32 weights (LoRA's
// A and B). With their float64 CPU references.
//
// LoRA beside a frozen projection, y += s·(x·Aᵀ)·Bᵀ with A (r, in), B (out, r), h = x·Aᵀ:
//   dB = s·dyᵀ·h         matmulWeightGrad({ dy, x: h, scale: s })
//   dh = s·dy·B          matmulInputGrad({ dy, w: f32Matrix(B, out, r), scale: s })
//   dA = dhᵀ·x           matmulWeightGrad({ dy: dh, x })
//   dx += dh·A + dy·W    matmulInputGrad twice, the second with `accumulate`

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import type { GpuMatrix } from "./matrix.ts";
import { isQuantized } from "./matrix.ts";
import { formatPipeline, formatSources } from "./weight_formats.ts";
import { matmul } from "./matmul.ts";
import inputGradTemplate from "./matmul_input_grad.wgsl" with { type: "text" };
import transposeTemplate from "./matrix_transpose.wgsl" with { type: "text" };
import weightGradSource from "./matmul_weight_grad.wgsl" with { type: "text" };

/** The template is its own params file (its bindings differ from the forward's). */
const inputGradSources = formatSources(inputGradTemplate, "", "");
const transposeSources = formatSources(transposeTemplate, "", "");

export interface MatmulInputGradArgs {
  /** (rows, dyStride) f32 gradient of y; columns [dyOffset, dyOffset + w.rows) are used. */
  dy: Binding;
  /** (N, K) weight of the forward y = x·wᵀ, any weight type. */
  w: GpuMatrix;
  /** (rows, K) f32 gradient of x, a buffer other than that of `dy`. */
  dx: GPUBuffer;
  /** T. */
  rows: number;
  /** Elements between rows of dy (default w.rows). */
  dyStride?: number;
  /** Column of dy that goes with row 0 of w (default 0). */
  dyOffset?: number;
  /** Add to dx instead of overwriting it (gradients from several consumers of x). */
  accumulate?: boolean;
  /** Multiplies the product (default 1; LoRA's α/r). */
  scale?: number;
  /**
   * An f32 buffer of at least K·N values within one storage binding: where it is given (and w is
   * one chunk, dy its own contiguous (T, N), scale 1, T ≥ 5), w is decoded into it transposed
   * and dx = dy·w runs as matmul's forward against wᵀ, several times faster on lavapipe than the
   * kernel that decodes w in place.
   */
  scratch?: GPUBuffer;
}

/** Rows of dy from which the transposed path pays (matmul's tiled kernel takes T ≥ 5). */
const TRANSPOSED_MIN_ROWS = 5;

/** Lanes per workgroup of matmul_weight_grad.wgsl. */
const WEIGHT_GRAD_LANES = 64;

/** Lanes per workgroup, splitting N: lavapipe's SIMD width. */
const INPUT_GRAD_LANES = 8;

/** dx[t, k] (+)= scale · Σ_n dy[t, dyOffset + n] · w[n, k]: one dispatch per chunk of w. */
export function matmulInputGrad(batch: GpuBatch, args: MatmulInputGradArgs): void {
  const { w, rows } = args;
  const dyStride = args.dyStride ?? w.rows;
  const dyOffset = args.dyOffset ?? 0;
  if (dyOffset + w.rows > dyStride) {
    throw new GpuError(
      `matmulInputGrad: ${w.rows} columns of dy from offset ${dyOffset} exceed its row stride ${dyStride}`,
    );
  }
  if (rows === 0 || w.cols === 0) return;
  const { scratch } = args;
  if (
    scratch && w.chunks.length === 1 && dyOffset === 0 && dyStride === w.rows &&
    (args.scale ?? 1) === 1 && rows >= TRANSPOSED_MIN_ROWS
  ) {
    const transposed = transposeMatrix(batch, w, scratch);
    matmul(batch, { x: args.dy, w: transposed, y: args.dx, rows, accumulate: args.accumulate });
    return;
  }
  // Values per unit: 8 for f32/f16 (matmul_float.wgsl), 64 for the quantized formats.
  const unit = isQuantized(w) ? 64 : 8;
  // Rows of dy per workgroup: the accumulators are TT × unit values per lane.
  const tt = isQuantized(w) ? 2 : 4;
  const units = Math.floor(w.cols / unit);
  const groups = units + (w.cols % unit ? 1 : 0);
  const { pipeline, wStride, sStride } = formatPipeline(batch.gpu, inputGradSources, w, {
    WG: INPUT_GRAD_LANES,
    TT: tt,
  });
  const [gx, gz] = workgroupGrid(batch.gpu, groups);
  w.chunks.forEach((chunk, i) => {
    const uniforms = new Uniforms()
      .u32(rows)
      .u32(w.cols)
      .u32(chunk.rows)
      .u32(wStride)
      .u32(sStride)
      .u32(dyStride)
      .u32(dyOffset + chunk.rowStart)
      .u32(args.accumulate || i > 0 ? 1 : 0)
      .u32(units)
      .f32(args.scale ?? 1);
    const bindings: Binding[] = [args.dy, chunk.buffer, args.dx];
    if (chunk.scales) bindings.push(chunk.scales);
    if (chunk.high) bindings.push(chunk.high);
    batch.dispatch(pipeline, uniforms, bindings, [gx, Math.ceil(rows / tt), gz]);
  });
}

/**
 * Decodes w (one chunk, any weight type) into `out` as its (K, N) f32 transpose, and returns
 * out as a GpuMatrix. out must hold K·N values within one storage binding.
 */
export function transposeMatrix(batch: GpuBatch, w: GpuMatrix, out: GPUBuffer): GpuMatrix {
  const bytes = w.rows * w.cols * 4;
  if (w.chunks.length !== 1 || bytes > out.size || bytes > batch.gpu.maxBindingBytes) {
    throw new GpuError(
      `transposeMatrix: a ${w.rows}×${w.cols} matrix in ${w.chunks.length} chunks does not fit a scratch of ${out.size} bytes`,
    );
  }
  const unit = isQuantized(w) ? 64 : 8;
  const units = Math.floor(w.cols / unit);
  const perRow = units + (w.cols % unit ? 1 : 0);
  const { pipeline, wStride, sStride } = formatPipeline(batch.gpu, transposeSources, w);
  const chunk = w.chunks[0];
  const bindings: Binding[] = [chunk.buffer, out];
  if (chunk.scales) bindings.push(chunk.scales);
  if (chunk.high) bindings.push(chunk.high);
  batch.dispatch(
    pipeline,
    new Uniforms().u32(w.rows).u32(w.cols).u32(wStride).u32(sStride).u32(units),
    bindings,
    workgroupGrid(batch.gpu, Math.ceil(w.rows * perRow / 64)),
  );
  return f32Matrix(out, w.cols, w.rows);
}

export interface MatmulWeightGradArgs {
  /** (rows, dyStride) f32 gradient of y; columns [dyOffset, dyOffset + n). */
  dy: Binding;
  /** (rows, xStride) f32 input of the forward; columns [xOffset, xOffset + k). */
  x: Binding;
  /** (n, k) f32 gradient of w. */
  dw: GPUBuffer;
  /** T. */
  rows: number;
  /** N: rows of w. */
  n: number;
  /** K: columns of w. */
  k: number;
  dyStride?: number;
  dyOffset?: number;
  xStride?: number;
  xOffset?: number;
  /** Add to dw (gradient accumulation over micro-batches). */
  accumulate?: boolean;
  /** Multiplies the product (default 1). */
  scale?: number;
}

/** dw[n, k] (+)= scale · Σ_t dy[t, dyOffset + n] · x[t, xOffset + k]. */
export function matmulWeightGrad(batch: GpuBatch, args: MatmulWeightGradArgs): void {
  const { rows, n, k } = args;
  const dyStride = args.dyStride ?? n;
  const xStride = args.xStride ?? k;
  const dyOffset = args.dyOffset ?? 0;
  const xOffset = args.xOffset ?? 0;
  if (dyOffset + n > dyStride || xOffset + k > xStride) {
    throw new GpuError("matmulWeightGrad: a column band exceeds its row stride");
  }
  if (n === 0 || k === 0) return;
  const uniforms = new Uniforms()
    .u32(rows)
    .u32(n)
    .u32(k)
    .u32(dyStride)
    .u32(dyOffset)
    .u32(xStride)
    .u32(xOffset)
    .u32(args.accumulate ? 1 : 0)
    .f32(args.scale ?? 1);
  // Blocks of 4 × 4 elements of dw, WEIGHT_GRAD_LANES per workgroup.
  const blocks = Math.ceil(n / 4) * Math.ceil(k / 4);
  batch.dispatch(
    batch.gpu.pipeline(weightGradSource),
    uniforms,
    [args.dy, args.x, args.dw],
    workgroupGrid(batch.gpu, Math.ceil(blocks / WEIGHT_GRAD_LANES)),
  );
}

/**
 * A GpuMatrix over an f32 buffer holding a (rows, cols) row-major matrix (LoRA's A and B), so
 * that matmul and matmulInputGrad take it. The buffer must fit one storage binding.
 */
export function f32Matrix(buffer: GPUBuffer, rows: number, cols: number): GpuMatrix {
  return {
    rows,
    cols,
    dtype: "f32",
    stride: cols,
    chunks: [{ buffer, rowStart: 0, rows }],
    bytes: rows * cols * 4,
  };
}

/** (rows, k) = dy (rows, n) · w (n, k), in f64. */
export function matmulInputGradReference(
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  n: number,
  k: number,
): Float64Array {
  const dx = new Float64Array(rows * k);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < n; j++) {
      const g = dy[t * n + j];
      if (g === 0) continue;
      for (let i = 0; i < k; i++) dx[t * k + i] += g * w[j * k + i];
    }
  }
  return dx;
}

/** (n, k) = dyᵀ (n, rows) · x (rows, k), in f64. */
export function matmulWeightGradReference(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  rows: number,
  n: number,
  k: number,
): Float64Array {
  const dw = new Float64Array(n * k);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < n; j++) {
      const g = dy[t * n + j];
      for (let i = 0; i < k; i++) dw[j * k + i] += g * x[t * k + i];
    }
  }
  return dw;
}

/** The forward y = x·wᵀ in f64 (the function the two gradients above differentiate): x·(wᵀ). */
export function matmulForward64(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rows: number,
  n: number,
  k: number,
): Float64Array {
  const transposed = new Float64Array(k * n);
  for (let j = 0; j < n; j++) for (let i = 0; i < k; i++) transposed[i * n + j] = w[j * k + i];
  return matmulInputGradReference(x, transposed, rows, k, n);
}
