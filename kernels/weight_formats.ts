// The kernels that multiply by a weight matrix of any type (matmul.wgsl, matmul_blocked.wgsl) are
// templates: a weight format goes in front (f32 / f16 from raw words, or a GGUF block type, see
// matmul.wgsl's header), then the element accessors and the packet decoder. This joins a template
// with every format once, and gives a matrix's pipeline and row strides.

import { type Bound, type GpuContext, Uniforms } from "./gpu.ts";
import type { MatmulArgs } from "./matmul.ts";
import { type GpuMatrix, isQuantized, type MatrixChunk, quantRowLayout } from "./matrix.ts";
import type { QuantType } from "./quant.ts";
import { QUANT_SHADERS } from "./quant_shader.ts";
import floatFormat from "./matmul_float.wgsl" with { type: "text" };
import floatWeights from "./float_weights.wgsl" with { type: "text" };
import loads from "./matmul_loads.wgsl" with { type: "text" };
import weightWords from "./weight_words.wgsl" with { type: "text" };
import packetWeights from "./packet_weights.wgsl" with { type: "text" };
import rowTypes from "./weight_rows.wgsl" with { type: "text" };
import params from "./matmul_params.wgsl" with { type: "text" };

/** A template joined with each weight format. */
export interface FormatSources {
  /** f32 / f16, rows and x rows starting on 16 bytes (vec4 loads). */
  aligned: string;
  /** f32 / f16 otherwise: scalar x and w arrays. */
  unaligned: string;
  quantized: Record<QuantType, string>;
}

/**
 * Joins `template` with each format and matmul_params.wgsl (its uniforms and bindings, whose two
 * alias lines the unaligned variant rewrites); `middle` goes between the accessors and the
 * template. A template with bindings of its own passes them as `paramsSource` (it must keep the
 * two alias lines).
 * Formats go first: naga (wgpu 29) panics at pipeline creation when the f32 / f16 format's
 * `override F16` follows the template.
 */
export function formatSources(
  template: string,
  middle = "",
  paramsSource = params,
): FormatSources {
  const tail = loads + weightWords + packetWeights + middle + paramsSource + template;
  const aligned = floatWeights + rowTypes + floatFormat + tail;
  const unaligned = aligned
    .replace("alias XElem = vec4<f32>; const XP = 4u;", "alias XElem = f32; const XP = 1u;")
    .replace("alias WElem = vec4<u32>; const WP = 4u;", "alias WElem = u32; const WP = 1u;");
  if (unaligned === aligned) throw new Error("weight template: element type lines not found");
  const quantized = Object.fromEntries(
    Object.entries(QUANT_SHADERS).map(([type, shader]) => [type, shader.source + tail]),
  ) as Record<QuantType, string>;
  return { aligned, unaligned, quantized };
}

/**
 * The pipeline of `sources` for matrix `w` with pipeline `constants` (F16 added for float
 * weights), and w's row strides in the kernel's units: elements (f32 / f16), or vec4 words and
 * f16 scales (quantized).
 */
export function formatPipeline(
  gpu: GpuContext,
  sources: FormatSources,
  w: GpuMatrix,
  constants: Record<string, number> = {},
): { pipeline: GPUComputePipeline; wStride: number; sStride: number } {
  if (isQuantized(w)) {
    const layout = quantRowLayout(w.dtype, w.cols);
    return {
      pipeline: gpu.pipeline(sources.quantized[w.dtype], constants),
      wStride: layout.quantBytes / 16,
      sStride: layout.scaleStride,
    };
  }
  // Gathering 8 weights per load needs rows (and x rows) that start on 16-byte boundaries.
  const aligned = w.cols % 8 === 0 && w.stride % 8 === 0;
  return {
    pipeline: gpu.pipeline(aligned ? sources.aligned : sources.unaligned, {
      F16: w.dtype === "f16" ? 1 : 0,
      ...constants,
    }),
    wStride: w.stride,
    sStride: 0,
  };
}

/**
 * For one chunk of `args.w`: the uniforms of matmul_params.wgsl's Params and the bindings x, w
 * (its texture with `textured`, see weight_texture.ts), y and the chunk's scales and fifth bits
 * (if any).
 */
export function chunkDispatch(
  args: MatmulArgs,
  chunk: MatrixChunk,
  strides: { wStride: number; sStride: number },
  columns: { yOffset: number; yStride: number },
  textured = false,
): { uniforms: Uniforms; bindings: Bound[] } {
  const uniforms = new Uniforms()
    .u32(args.rows)
    .u32(args.w.cols)
    .u32(chunk.rows)
    .u32(strides.wStride)
    .u32(strides.sStride)
    .u32(columns.yStride)
    .u32(columns.yOffset + chunk.rowStart)
    .u32(args.accumulate ? 1 : 0)
    .u32(args.glu ? 1 : 0);
  const weights = textured ? chunk.texels?.view : chunk.buffer;
  if (!weights) throw new Error("chunkDispatch: the chunk has no texture");
  const bindings: Bound[] = [args.x, weights, args.y];
  if (chunk.scales) bindings.push(chunk.scales);
  if (chunk.high) bindings.push(chunk.high);
  return { uniforms, bindings };
}
