// Matrix multiplication against a weight matrix: y = x·wᵀ (PyTorch's Linear without bias), the
// GPU kernel and its CPU reference. The weight is a chunked GpuMatrix (f32, f16 or GGUF-quantized,
// decoded in registers); every chunk is one dispatch that writes its own band of output columns.

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import { type GpuMatrix, isQuantized, quantRowLayout } from "./matrix.ts";
import { QUANT_SHADERS } from "./quant_shader.ts";
import template from "./matmul.wgsl" with { type: "text" };
import floatFormat from "./matmul_float.wgsl" with { type: "text" };

export interface MatmulArgs {
  /** (rows, w.cols) f32 input. */
  x: Binding;
  /** (N, K) weight, row-major ([out, in]): f32, f16 or quantized (K a whole number of blocks). */
  w: GpuMatrix;
  /** (rows, yStride) f32 output, in a buffer other than that of `x`. */
  y: GPUBuffer;
  /** T: rows of x and y. */
  rows: number;
  /** Element offset of output column 0 within each row of y (default 0). */
  yOffset?: number;
  /** Elements between rows of y (default w.rows). */
  yStride?: number;
  /** Add to y instead of overwriting it (residual connections). */
  accumulate?: boolean;
}

/** Rows of w per workgroup: the kernel's R (gemm), and RV (gemv). */
const COLUMNS_PER_GROUP = 8;
const COLUMNS_PER_GEMV_GROUP = 32;

/**
 * The template with the f32/f16 format, for rows that start on 16 bytes. Formats go first: naga
 * (wgpu 29) panics at pipeline creation when the format's `override F16` follows the template.
 */
const alignedSource = floatFormat + template;
/**
 * The variant for shapes whose rows are not 16-byte aligned: scalar x and w arrays (see the
 * header of matmul.wgsl). Built once from the aligned source.
 */
const unalignedSource = alignedSource
  .replace("alias XElem = vec4<f32>; const XP = 4u;", "alias XElem = f32; const XP = 1u;")
  .replace("alias WElem = vec4<u32>; const WP = 4u;", "alias WElem = u32; const WP = 1u;");
if (unalignedSource === alignedSource) throw new Error("matmul.wgsl: element type lines not found");

/** y[t, yOffset + n] (+)= Σ_k x[t, k] · w[n, k]. */
export function matmul(batch: GpuBatch, args: MatmulArgs): void {
  const { w, rows } = args;
  const yOffset = args.yOffset ?? 0;
  const yStride = args.yStride ?? w.rows;
  if (yOffset + w.rows > yStride) {
    throw new GpuError(
      `matmul: ${w.rows} output columns from offset ${yOffset} exceed the row stride ${yStride}`,
    );
  }
  if (rows === 0 || w.rows === 0) return;
  // Rows of x per workgroup: 1 for decode (pure GEMV); prefill reuses each weight load 4 times.
  const tt = rows === 1 ? 1 : 4;
  // Quantized decode uses the kernel's gemv loop (x in registers, streamed past 32 rows); it lost
  // to the gemm loop with T = 1 for f32/f16, whose 8-value units are too small to amortize it.
  const gemv = rows === 1 && isQuantized(w);
  let pipeline: GPUComputePipeline;
  // Row strides in the kernel's units: elements (f32/f16), or vec4 words and f16 scales.
  let wStride = w.stride;
  let sStride = 0;
  if (isQuantized(w)) {
    const layout = quantRowLayout(w.dtype, w.cols);
    wStride = layout.quantBytes / 16;
    sStride = layout.scaleStride;
    pipeline = batch.gpu.pipeline(QUANT_SHADERS[w.dtype].source + template, {
      TT: tt,
      GEMV: gemv ? 1 : 0,
    });
  } else {
    // Gathering 8 weights per load needs rows (and x rows) that start on 16-byte boundaries.
    const aligned = w.cols % 8 === 0 && w.stride % 8 === 0;
    pipeline = batch.gpu.pipeline(aligned ? alignedSource : unalignedSource, {
      F16: w.dtype === "f16" ? 1 : 0,
      TT: tt,
    });
  }
  for (const chunk of w.chunks) {
    const uniforms = new Uniforms()
      .u32(rows)
      .u32(w.cols)
      .u32(chunk.rows)
      .u32(wStride)
      .u32(sStride)
      .u32(yStride)
      .u32(yOffset + chunk.rowStart)
      .u32(args.accumulate ? 1 : 0);
    const columns = gemv ? COLUMNS_PER_GEMV_GROUP : COLUMNS_PER_GROUP;
    const [gx, gz] = workgroupGrid(batch.gpu, Math.ceil(chunk.rows / columns));
    const bindings = [args.x, chunk.buffer, args.y];
    if (chunk.scales) bindings.push(chunk.scales);
    batch.dispatch(pipeline, uniforms.buffer, bindings, [
      gx,
      Math.ceil(rows / tt),
      gz,
    ]);
  }
}

/** (rows, n) = x (rows, k) · wᵀ with w (n, k), accumulated in f64. */
export function matmulReference(
  x: Float32Array,
  w: Float32Array,
  rows: number,
  n: number,
  k: number,
): Float32Array {
  const y = new Float32Array(rows * n);
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += x[t * k + i] * w[j * k + i];
      y[t * n + j] = sum;
    }
  }
  return y;
}
