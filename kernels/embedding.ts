// Embedding lookup, y[t, :] = table[ids[t], :] · scale: the GPU kernels and the CPU reference.
// The table is a chunked GpuMatrix (Gemma's 256000×2048 embedding exceeds one binding); each
// chunk is one dispatch that fills the rows of y whose ids it holds. f32/f16 tables use
// embedding.wgsl (one invocation per element); quantized tables embedding_quant.wgsl (one per
// unit of a row, decoded in registers with the same format code as matmul).

import { type Binding, type Bound, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import { type GpuMatrix, isQuantized, quantRowLayout } from "./matrix.ts";
import type { QuantType } from "./quant.ts";
import { QUANT_SHADERS } from "./quant_shader.ts";
import source from "./embedding.wgsl" with { type: "text" };
import quantSource from "./embedding_quant.wgsl" with { type: "text" };
import weightWords from "./weight_words.wgsl" with { type: "text" };
import { hasWeightTextures, texturedSources } from "./weight_texture.ts";

/** embedding_quant.wgsl with each format's decoder, joined once. */
const quantSources = Object.fromEntries(
  Object.entries(QUANT_SHADERS).map((
    [type, shader],
  ) => [type, shader.source + weightWords + quantSource]),
) as Record<QuantType, string>;

/** The same, writing y as f16 pairs (packed in u32 words) instead of f32. */
const F32_OUTPUT = "var<storage, read_write> y: array<f32>;";
const F32_STORE = "  y[at] = v.x;\n  y[at + 1u] = v.y;";
if (!quantSource.includes(F32_OUTPUT) || !quantSource.includes(F32_STORE)) {
  throw new Error("embedding_quant.wgsl: output lines not found");
}
const quantF16Sources = Object.fromEntries(
  Object.entries(quantSources).map(([type, source]) => [
    type,
    source.replace(F32_OUTPUT, "var<storage, read_write> y: array<u32>;")
      .replace(F32_STORE, "  y[at / 2u] = pack2x16float(v);"),
  ]),
) as Record<QuantType, string>;

/** Both, reading the table from its textures (weight_texture.ts). */
const sourcesFromTextures = {
  f32: texturedSources(quantSources),
  f16: texturedSources(quantF16Sources),
};

export interface EmbedArgs {
  /** (T) u32 token ids; an id ≥ table.rows leaves its row of y untouched. */
  ids: Binding;
  /** (V, D) table: f32, f16 or quantized. */
  table: GpuMatrix;
  /** (T, D) f32 output. */
  y: GPUBuffer;
  /** T. */
  rows: number;
  /** Multiplies every element (Gemma: √D rounded to the activation dtype). */
  scale: number;
  /** y holds f16 values, two to a 32-bit word (quantized tables only; D even). */
  f16Output?: boolean;
}

const WG = 256;
/** Invocations per workgroup of embedding_quant.wgsl. */
const QUANT_WG = 64;

export function embed(batch: GpuBatch, args: EmbedArgs): void {
  const { table, rows } = args;
  if (isQuantized(table)) {
    embedQuantized(batch, args, table);
    return;
  }
  if (args.f16Output) throw new GpuError("embed: f16 output needs a quantized table");
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
    batch.dispatch(pipeline, uniforms, [args.ids, chunk.buffer, args.y], grid);
  }
}

function embedQuantized(batch: GpuBatch, args: EmbedArgs, table: GpuMatrix & { dtype: QuantType }) {
  const { rows } = args;
  const shader = QUANT_SHADERS[table.dtype];
  const layout = quantRowLayout(table.dtype, table.cols);
  // Whole units, plus one invocation per row for the rest (an odd number of 32-value blocks).
  const units = Math.floor(table.cols / shader.unit);
  const perRow = units + (table.cols % shader.unit ? 1 : 0);
  if (args.f16Output && table.cols % 2 !== 0) throw new GpuError("embed: f16 output needs even D");
  const fromTextures = hasWeightTextures(table);
  const sources = fromTextures
    ? sourcesFromTextures[args.f16Output ? "f16" : "f32"]
    : args.f16Output
    ? quantF16Sources
    : quantSources;
  const pipeline = batch.gpu.pipeline(sources[table.dtype]);
  const grid = workgroupGrid(batch.gpu, Math.ceil(rows * perRow / QUANT_WG));
  for (const chunk of table.chunks) {
    const uniforms = new Uniforms()
      .u32(rows)
      .u32(table.cols)
      .u32(units)
      .u32(layout.quantBytes / 16)
      .u32(layout.scaleStride)
      .u32(chunk.rowStart)
      .u32(chunk.rows)
      .f32(args.scale);
    const bindings: Bound[] = [args.ids, fromTextures ? chunk.texels!.view : chunk.buffer, args.y];
    if (chunk.scales) bindings.push(chunk.scales);
    if (chunk.high) bindings.push(chunk.high);
    batch.dispatch(pipeline, uniforms, bindings, grid);
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
