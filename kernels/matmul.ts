// Matrix multiplication against a weight matrix: y = x·wᵀ (PyTorch's Linear without bias), the
// GPU kernel and its CPU reference. The weight is a chunked GpuMatrix (f32, f16 or GGUF-quantized,
// decoded in registers); every chunk is one dispatch that writes its own band of output columns.

import { type Binding, GpuBatch, type GpuContext, GpuError, workgroupGrid } from "./gpu.ts";
import type { GpuMatrix, WeightType } from "./matrix.ts";
import { isQuantType } from "./quant.ts";
import { matmulBroadcast, matmulFloatPrefill, takesBroadcast } from "./matmul_broadcast.ts";
import { matmulBlocked } from "./matmul_blocked.ts";
import { decodesFirst, matmulDequantized } from "./matmul_dequant.ts";
import {
  chunkDispatch,
  formatPipeline,
  type FormatSources,
  formatSources,
} from "./weight_formats.ts";
import { hasWeightTextures, texturedSources } from "./weight_texture.ts";
import template from "./matmul.wgsl" with { type: "text" };
import gelu from "./gelu.wgsl" with { type: "text" };
import gemvSlots from "./gemv_slots.wgsl" with { type: "text" };
import gemvSlotsBroadcast from "./gemv_slots_broadcast.wgsl" with { type: "text" };

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
  /**
   * w stacks a GeGLU's gate and up projections, [W_gate; W_up] (2F rows in one chunk, see
   * `canFuseGlu`): y = gelu_tanh(x·W_gateᵀ) ⊙ x·W_upᵀ, F columns. Not with `accumulate`.
   */
  glu?: boolean;
  /**
   * The kernel variant: its loop for T = 1, and for T > 1 whether matmulBlocked runs. Default:
   * the one `tuneMatmul` (tune.ts) chose for this GpuContext and weight type, else
   * `defaultMatmulVariant`.
   */
  variant?: MatmulVariant;
}

/**
 * How matmul.wgsl runs a decode GEMV (T = 1): its loop, rows of w per workgroup and lanes per
 * workgroup; and which kernel runs prefill (T > 1). Every variant computes the same y (up to f32
 * summation order); which is fastest depends on the device, so tune.ts measures them.
 */
export interface MatmulVariant {
  /** The gemv loop (x in registers, RV rows streamed past it), else gemm's 8-row tile. */
  gemv: boolean;
  /** Rows of w per workgroup: 8 for gemm; 4, 8, 16 or 32 for gemv (the kernel's RV). */
  rows: number;
  /** Lanes per workgroup (the kernel's WG): a power of 2 from 4 to 256. */
  lanes: number;
  /**
   * T > 1 runs matmulBlocked (workgroup-memory tiles: GPUs), not matmulFloatPrefill (f32 /
   * f16) or matmul.wgsl's gemm loop (quantized), which suit lavapipe. Default false.
   */
  blocked?: boolean;
  /**
   * Where the device has subgroups of 8+ lanes, x reaches lanes that own whole rows of w by
   * subgroup broadcasts: T = 1 … 4 with f32 / f16 weights runs matmulBroadcast, and the gemv
   * loop (quantized) walks K with every lane together (gemv_slots_broadcast.wgsl). Absent: false
   * (defaultMatmulVariant sets it).
   */
  broadcast?: boolean;
}

/** Rows of w per workgroup of the gemm loop (the kernel's R). */
const GEMM_ROWS = 8;
const GEMV_ROWS = [4, 8, 16, 32];

/**
 * The variant used untuned: lavapipe's best (its SIMD width is 8 lanes). f32 / f16 decode goes
 * to matmulBroadcast where the device has subgroups (Gemma-2B-shaped F16 decode on lavapipe: the
 * GEMVs from 58% to 75% of a plain read on Mesa 22.3, 43% to 61% on Mesa 25), else the gemm loop.
 * Quantized decode uses the gemv loop (it lost to the gemm loop for f32/f16, whose 8-value units
 * are too small to amortize it) with x broadcast and 8 rows per lane: on lavapipe 1.45–1.9× its
 * split-K form with 16 rows (q4_0 … q6_k, Gemma-2B and Gemma 3 270M shapes, both Mesa drivers;
 * K = 16384 1.0–1.7×). Not 32 rows: lavapipe compiles that GEMV in ~2.5 s per weight type.
 */
export function defaultMatmulVariant(dtype: WeightType): MatmulVariant {
  return dtype === "f32" || dtype === "f16"
    ? { gemv: false, rows: GEMM_ROWS, lanes: 8, broadcast: true }
    : { gemv: true, rows: 8, lanes: 8, broadcast: true };
}

/** Whether `v` is a variant the kernel supports (e.g. one read back from a cache file). */
export function isMatmulVariant(v: unknown): v is MatmulVariant {
  if (typeof v !== "object" || v === null) return false;
  const { gemv, rows, lanes, blocked, broadcast } = v as Record<string, unknown>;
  return typeof gemv === "boolean" && typeof rows === "number" && typeof lanes === "number" &&
    (blocked === undefined || typeof blocked === "boolean") &&
    (broadcast === undefined || typeof broadcast === "boolean") &&
    (gemv ? GEMV_ROWS.includes(rows) : rows === GEMM_ROWS) &&
    [4, 8, 16, 32, 64, 128, 256].includes(lanes);
}

/** A short name for reports, e.g. "gemv 32×8" (rows × lanes). */
export function variantName(v: MatmulVariant): string {
  const kernel = v.broadcast && !v.gemv ? "broadcast, else " : "";
  return `${kernel}${v.gemv ? "gemv" : "gemm"} ${v.rows}×${v.lanes}${
    v.broadcast && v.gemv ? ", x broadcast" : ""
  }${v.blocked ? ", blocked prefill" : ""}`;
}

/** The variants chosen per GpuContext and weight type (by tune.ts). */
const chosen = new WeakMap<GpuContext, Map<WeightType, MatmulVariant>>();

/** Makes `variant` the one matmul uses for T = 1 on `gpu` with weights of type `dtype`. */
export function setMatmulVariant(
  gpu: GpuContext,
  dtype: WeightType,
  variant: MatmulVariant,
): void {
  if (!isMatmulVariant(variant)) {
    throw new GpuError(`matmul: invalid variant ${JSON.stringify(variant)}`);
  }
  let map = chosen.get(gpu);
  if (!map) chosen.set(gpu, map = new Map());
  map.set(dtype, variant);
}

/** The variant matmul uses for T = 1 on `gpu` with weights of type `dtype`. */
export function matmulVariant(gpu: GpuContext, dtype: WeightType): MatmulVariant {
  return chosen.get(gpu)?.get(dtype) ?? defaultMatmulVariant(dtype);
}

/** The template joined with every weight format (gelu.wgsl for the GeGLU epilogue). */
const sources = formatSources(template, gelu + gemvSlots);

/** The same, reading quantized weights from their textures (weight_texture.ts). */
const sourcesFromTextures: FormatSources = {
  ...sources,
  quantized: texturedSources(sources.quantized),
};

/** The quantized sources whose gemv loop shares x by subgroup broadcasts, by weight source. */
const broadcastSources = {
  buffer: gemvBroadcastSources(sources),
  texture: gemvBroadcastSources(sourcesFromTextures),
};

/**
 * `formats` with gemv_slots_broadcast.wgsl in place of gemv_slots.wgsl, and the entry point
 * telling it each lane's place in its subgroup.
 */
function gemvBroadcastSources(formats: FormatSources): FormatSources {
  const entry = "  @builtin(local_invocation_index) lid: u32,\n) {\n";
  const toBroadcast = (source: string) => {
    if (!source.includes(gemvSlots) || !source.includes(entry)) {
      throw new Error("gemvBroadcastSources: gemv_slots.wgsl or the entry point not found");
    }
    return source.replace(gemvSlots, gemvSlotsBroadcast).replace(
      entry,
      "  @builtin(local_invocation_index) lid: u32,\n" +
        "  @builtin(subgroup_invocation_id) subgroupLane: u32,\n) {\n" +
        "  slotLane = subgroupLane % 8u;\n",
    );
  };
  const quantized = Object.fromEntries(
    Object.entries(formats.quantized).map(([type, source]) => [type, toBroadcast(source)]),
  ) as FormatSources["quantized"];
  return { ...formats, quantized };
}

/**
 * Whether the gemv loop can share x by subgroup broadcasts for weights of `dtype` on `gpu`:
 * quantized weights (the f32 / f16 broadcast is matmulBroadcast) and subgroups of 8+ lanes.
 */
export function gemvBroadcastsFor(gpu: GpuContext, dtype: WeightType): boolean {
  return isQuantType(dtype) && gpu.subgroupLanes >= 8;
}

/** gemvBroadcastsFor, for the matrix w. */
export function takesGemvBroadcast(gpu: GpuContext, w: GpuMatrix): boolean {
  return gemvBroadcastsFor(gpu, w.dtype);
}

/** Rows of x up to which a forward is a batched decode step rather than a prefill. */
const DECODE_BATCH_ROWS = 8;

/** Rows of x from which float prefill goes to matmulFloatPrefill. */
const TILED_MIN_ROWS = 5;

/**
 * Whether matmul can apply `glu` to `w` for `rows` rows of x on `gpu`: w is one chunk of paired
 * rows, and the rows go to matmul.wgsl (for prefill, the tiled or blocked kernel and gelu_mul are
 * faster than the fused gemm loop).
 */
export function canFuseGlu(
  gpu: GpuContext,
  w: GpuMatrix,
  rows: number,
  variant?: MatmulVariant,
): boolean {
  return w.chunks.length === 1 && w.rows % 2 === 0 &&
    kernelFor(gpu, w, rows, variant) === "template";
}

/**
 * The kernel for `rows` rows of x against w: matmulBlocked where the variant says so (T > 8);
 * matmulBroadcast for float rows up to 4 where the variant and the device allow it (lavapipe:
 * Gemma-2B-shaped F16 decode steps 1.3× the gemm loop's on Mesa 22.3, 1.5× on Mesa 25; T = 2–4
 * 1.3–1.9×); matmulFloatPrefill (the same kernel, else matmulTiled) for float prefill of 5+ rows
 * (matmulTiled alone was 1.3–1.45× matmul.wgsl there on lavapipe, level below 5 rows), and for
 * quantized prefill of 32+ rows decoded to f16 first where the model's dtype allows
 * (matmul_dequant.ts); else matmul.wgsl.
 */
function kernelFor(
  gpu: GpuContext,
  w: GpuMatrix,
  rows: number,
  variant?: MatmulVariant,
): "blocked" | "broadcast" | "tiled" | "dequantized" | "template" {
  const chosen = variant ?? matmulVariant(gpu, w.dtype);
  // The blocked GEMM's 64-row tiles are for prefill, not a batched decode step's few rows.
  if (rows > DECODE_BATCH_ROWS && chosen.blocked) return "blocked";
  if (rows < TILED_MIN_ROWS && chosen.broadcast && takesBroadcast(gpu, w)) return "broadcast";
  if (rows >= TILED_MIN_ROWS && (w.dtype === "f32" || w.dtype === "f16")) return "tiled";
  if (decodesFirst(gpu, w, rows)) return "dequantized";
  return "template";
}

/** y[t, yOffset + n] (+)= Σ_k x[t, k] · w[n, k], or its GeGLU (`glu`). */
export function matmul(batch: GpuBatch, args: MatmulArgs): void {
  const { w, rows } = args;
  const glu = args.glu ?? false;
  const columns = glu ? w.rows / 2 : w.rows;
  const yOffset = args.yOffset ?? 0;
  const yStride = args.yStride ?? columns;
  if (yOffset + columns > yStride) {
    throw new GpuError(
      `matmul: ${columns} output columns from offset ${yOffset} exceed the row stride ${yStride}`,
    );
  }
  if (glu && (!canFuseGlu(batch.gpu, w, rows, args.variant) || args.accumulate)) {
    throw new GpuError("matmul: glu needs paired rows in one chunk, no tiling, no accumulate");
  }
  if (rows === 0 || w.rows === 0) return;
  const kernel = kernelFor(batch.gpu, w, rows, args.variant);
  if (kernel === "blocked") {
    matmulBlocked(batch, args);
    return;
  }
  if (kernel === "broadcast") {
    matmulBroadcast(batch, args);
    return;
  }
  if (kernel === "tiled") {
    matmulFloatPrefill(batch, args);
    return;
  }
  if (kernel === "dequantized") {
    matmulDequantized(batch, args);
    return;
  }
  const { tt, pipeline, rowsPerGroup, textured, ...strides } = templatePipeline(
    batch.gpu,
    w,
    rows,
    args.variant,
  );
  for (const chunk of w.chunks) {
    const columns = { yOffset, yStride };
    const { uniforms, bindings } = chunkDispatch(args, chunk, strides, columns, textured);
    const [gx, gz] = workgroupGrid(batch.gpu, Math.ceil(chunk.rows / rowsPerGroup));
    batch.dispatch(pipeline, uniforms, bindings, [gx, Math.ceil(rows / tt), gz]);
  }
}

/** matmul.wgsl's pipeline for `rows` rows of x against w, its variant and rows of x per group. */
function templatePipeline(gpu: GpuContext, w: GpuMatrix, rows: number, chosen?: MatmulVariant) {
  // Rows of x per workgroup: 1 for decode (pure GEMV), else 4: each weight load is reused 4 times
  // (a batched decode step of 5 … 8 sequences runs two such tiles, which on lavapipe beat one tile
  // of 8, whose accumulators and decoded packets spill its vector registers: 8 sequences decode
  // Gemma 3 270M at 19.25–21.5 tok/s against 17.9–18.8).
  const tt = rows === 1 ? 1 : 4;
  // Decode runs the tuned (or default) variant; prefill the gemm loop with 8 lanes.
  const variant = rows === 1
    ? chosen ?? matmulVariant(gpu, w.dtype)
    : { gemv: false, rows: GEMM_ROWS, lanes: 8 };
  const unit = w.dtype === "f32" || w.dtype === "f16" ? 8 : 64;
  // Broadcasting x needs every lane of a subgroup at the same unit: lanes along K = 1.
  const broadcastX = variant.gemv && (variant.broadcast ?? false) && takesGemvBroadcast(gpu, w);
  const alongK = broadcastX
    ? 1
    : lanesAlongK(variant.lanes, Math.floor(w.cols / unit), w.rows, variant.rows);
  const constants = {
    TT: tt,
    GEMV: variant.gemv ? 1 : 0,
    WG: variant.lanes,
    RV: variant.gemv ? variant.rows : 32,
    KL: alongK,
  };
  const rowsPerGroup = variant.rows * (variant.lanes / alongK);
  const textured = hasWeightTextures(w);
  const formats = broadcastX
    ? broadcastSources[textured ? "texture" : "buffer"]
    : textured
    ? sourcesFromTextures
    : sources;
  return { variant, tt, rowsPerGroup, textured, ...formatPipeline(gpu, formats, w, constants) };
}

/**
 * How many of a workgroup's `lanes` split K (the kernel's KL; the other lanes take further blocks
 * of `blockRows` rows): the divisor of `lanes` that wastes the fewest lane steps on `units` units
 * of K (lanes walk in step, so 10 units over 8 lanes cost 2 steps of 8) and on rows past the
 * matrix's `rows`; of equals, the most lanes.
 */
export function lanesAlongK(lanes: number, units: number, rows: number, blockRows: number): number {
  let best = { lanes, use: 0 };
  for (let kl = lanes; kl >= 1; kl /= 2) {
    const rowsPerGroup = blockRows * (lanes / kl);
    const use = units / (kl * Math.ceil(units / kl)) *
      rows / (rowsPerGroup * Math.ceil(rows / rowsPerGroup));
    if (use > best.use + 1e-9) best = { lanes: kl, use };
  }
  return best.lanes;
}

/**
 * Compiles now the matmul.wgsl pipelines that decode (one row of x) and short prefills will run
 * on w. Software Vulkan compiles a quantized GEMV in ~0.5 s, which would otherwise stall the first
 * tokens of a generation.
 */
export function prepareMatmul(gpu: GpuContext, w: GpuMatrix): void {
  templatePipeline(gpu, w, 1);
  if (kernelFor(gpu, w, 2) === "template") templatePipeline(gpu, w, 2);
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
