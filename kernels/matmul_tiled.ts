// The register-tiled GEMM for prefill (T > 1) against f32 / f16 weights: the same y = x·wᵀ as
// `matmul` (matmul.ts), with the same arguments. Each workgroup computes a TM × 8 tile of y with
// fma() on register blocks (see matmul_tiled.wgsl), so each weight loaded serves TM rows of x.
// On lavapipe it is 1.3–1.45× faster than `matmul` for T ≥ 5 (8 rows of x per tile against
// matmul's 4) and level with it for T = 2–4, so f32 / f16 prefill belongs here.

import {
  type Binding,
  type GpuBatch,
  type GpuContext,
  GpuError,
  Uniforms,
  workgroupGrid,
} from "./gpu.ts";
import type { MatmulArgs } from "./matmul.ts";
import type { GpuMatrix, MatrixChunk } from "./matrix.ts";
import tiled from "./matmul_tiled.wgsl" with { type: "text" };
import floatWeights from "./float_weights.wgsl" with { type: "text" };
import loads from "./matmul_loads.wgsl" with { type: "text" };
import weightWords from "./weight_words.wgsl" with { type: "text" };

/** The kernel with its weight and load helpers in front (the aligned variant). */
const source = floatWeights + loads + weightWords + tiled;

/** A tile shape of matmul_tiled.wgsl (pipeline constants a per-device tuner may choose). */
export interface MatmulTile {
  /** Rows of x (and y) per workgroup: 4, 8 or 16 (the kernel's TM). */
  rows: number;
  /** Lanes per workgroup, splitting K: a power of 2 from 1 to 256 (the kernel's WG). */
  lanes: number;
}

/** Rows of w (columns of y) per workgroup: the kernel's R. */
const TILE_COLS = 8;

/**
 * The tile used untuned, for `rows` rows of x: lavapipe's best of those measured (4, 8 and 16
 * lanes; 4, 8 and 16 rows). Its SIMD width is 8 lanes; 8 rows of x halve the weight loads of
 * 4, while 16 rows' 128 accumulators spill. For T ≤ 4 a tile of 4 rows wastes nothing.
 */
export function defaultMatmulTile(rows: number): MatmulTile {
  return { rows: rows <= 4 ? 4 : 8, lanes: 8 };
}

/** Whether `tile` is one the kernel supports on `gpu`'s device. */
export function isMatmulTile(gpu: GpuContext, tile: MatmulTile): boolean {
  const { rows, lanes } = tile;
  return [4, 8, 16].includes(rows) && Number.isInteger(lanes) && lanes >= 1 && lanes <= 256 &&
    (lanes & (lanes - 1)) === 0 && lanes <= gpu.device.limits.maxComputeInvocationsPerWorkgroup &&
    lanes * rows * TILE_COLS * 4 <= gpu.device.limits.maxComputeWorkgroupStorageSize;
}

export interface MatmulTiledOptions {
  /** The tile shape (default `defaultMatmulTile(rows)`). */
  tile?: MatmulTile;
  /**
   * Lanes take 8 rows of w each and all of K, rather than splitting K (the kernel's SPLIT_N).
   * Default: where K has fewer units of 8 than the tile has lanes (LoRA's B, K = rank).
   */
  splitN?: boolean;
}

/**
 * The variant for shapes whose rows are not 16-byte aligned: scalar x and w arrays (see the
 * header of matmul_tiled.wgsl).
 */
const unalignedSource = source
  .replace("alias XElem = vec4<f32>; const XP = 4u;", "alias XElem = f32; const XP = 1u;")
  .replace("alias WElem = vec4<u32>; const WP = 4u;", "alias WElem = u32; const WP = 1u;");
if (unalignedSource === source) throw new Error("matmul_tiled.wgsl: element type lines not found");

/** The variant with scalar x and vec4 w (matmulTiledKMajor's x column bands). */
const xUnalignedSource = source
  .replace("alias XElem = vec4<f32>; const XP = 4u;", "alias XElem = f32; const XP = 1u;");

/** Throws unless w's output columns from yOffset fit y's rows (`kernel` names the caller). */
export function checkColumnBand(kernel: string, args: MatmulArgs): void {
  const yOffset = args.yOffset ?? 0;
  const yStride = args.yStride ?? args.w.rows;
  if (yOffset + args.w.rows > yStride) {
    throw new GpuError(
      `${kernel}: ${args.w.rows} output columns from offset ${yOffset} exceed the row stride ${yStride}`,
    );
  }
}

/**
 * The Params block of matmul_tiled.wgsl and matmul_broadcast.wgsl for one chunk of w, with
 * `groups` workgroups along N, under `matmul`'s arguments: x read from column 0 of rows of K,
 * the products unscaled.
 */
export function floatGemmParams(args: MatmulArgs, chunk: MatrixChunk, groups: number): Uniforms {
  const { w } = args;
  return new Uniforms()
    .u32(args.rows)
    .u32(w.cols)
    .u32(chunk.rows)
    .u32(w.stride)
    .u32(args.yStride ?? w.rows)
    .u32((args.yOffset ?? 0) + chunk.rowStart)
    .u32(args.accumulate ? 1 : 0)
    .u32(groups)
    .u32(w.cols)
    .u32(0)
    .f32(1);
}

/**
 * y[t, yOffset + n] (+)= Σ_k x[t, k] · w[n, k] for f32 / f16 weights: `matmul`'s semantics (one
 * dispatch per chunk of w, writing its band of columns), any T, N and K.
 */
export function matmulTiled(
  batch: GpuBatch,
  args: MatmulArgs,
  options: MatmulTiledOptions = {},
): void {
  const { w, rows } = args;
  if (w.dtype !== "f32" && w.dtype !== "f16") {
    throw new GpuError(`matmulTiled: weights of type ${w.dtype} are not supported (f32, f16)`);
  }
  checkColumnBand("matmulTiled", args);
  const tile = options.tile ?? defaultMatmulTile(rows);
  if (!isMatmulTile(batch.gpu, tile)) {
    throw new GpuError(`matmulTiled: invalid tile ${JSON.stringify(tile)} for this device`);
  }
  if (rows === 0 || w.rows === 0) return;
  // Units of 8 values start on 16 bytes only when K and the row stride are multiples of 8.
  const aligned = w.cols % 8 === 0 && w.stride % 8 === 0;
  const splitN = options.splitN ?? Math.floor(w.cols / 8) < tile.lanes;
  const pipeline = batch.gpu.pipeline(aligned ? source : unalignedSource, {
    F16: w.dtype === "f16" ? 1 : 0,
    TM: tile.rows,
    WG: tile.lanes,
    SPLIT_N: splitN ? 1 : 0,
  });
  const columnsPerGroup = splitN ? TILE_COLS * tile.lanes : TILE_COLS;
  const tiles = Math.ceil(rows / tile.rows);
  if (tiles > batch.gpu.maxWorkgroupsPerDimension) {
    throw new GpuError(`matmulTiled: ${rows} rows of x need too many workgroups`);
  }
  for (const chunk of w.chunks) {
    const groups = Math.ceil(chunk.rows / columnsPerGroup);
    const uniforms = floatGemmParams(args, chunk, groups);
    const [gy, gz] = workgroupGrid(batch.gpu, groups);
    batch.dispatch(pipeline, uniforms, [args.x, chunk.buffer, args.y], [tiles, gy, gz]);
  }
}

export interface MatmulKMajorArgs {
  /** (rows, xStride) f32 input; columns [xOffset, xOffset + K) are used. */
  x: Binding;
  /** (K, N) f32 or f16 weight stored by input column, one chunk; N and its stride multiples of 8. */
  w: GpuMatrix;
  /** (rows, N) f32 output, in a buffer other than that of `x`. */
  y: GPUBuffer;
  /** T: rows of x and y. */
  rows: number;
  /** Elements between rows of x (default K). */
  xStride?: number;
  /** Column of x where its K values start (default 0). */
  xOffset?: number;
  /** Add to y instead of overwriting it. */
  accumulate?: boolean;
  /** Multiplies the product (default 1). */
  scale?: number;
}

/** Whether matmulTiledKMajor takes a (K, N) matrix: one chunk, f32 / f16, N a multiple of 8. */
export function takesKMajor(w: GpuMatrix): boolean {
  return (w.dtype === "f32" || w.dtype === "f16") && w.chunks.length === 1 &&
    w.cols % TILE_COLS === 0 && w.stride % TILE_COLS === 0;
}

/**
 * y[t, n] (+)= scale · Σ_k x[t, k] · w[k, n]: the tiled GEMM against a matrix stored (K, N), as
 * the transpose of matmulTiled's w (the kernel's K_MAJOR). Where a (N, K) weight's transpose is
 * wanted, multiplying by it this way needs no transposed copy.
 */
export function matmulTiledKMajor(
  batch: GpuBatch,
  args: MatmulKMajorArgs,
  options: MatmulTiledOptions = {},
): void {
  const { w, rows } = args;
  if (!takesKMajor(w)) {
    throw new GpuError(
      `matmulTiledKMajor: a ${w.dtype} ${w.rows}×${w.cols} matrix in ${w.chunks.length} chunks (f32 or f16, one chunk, columns and stride multiples of ${TILE_COLS})`,
    );
  }
  const xStride = args.xStride ?? w.rows;
  const xOffset = args.xOffset ?? 0;
  if (xOffset + w.rows > xStride) {
    throw new GpuError(
      `matmulTiledKMajor: ${w.rows} columns of x from offset ${xOffset} exceed its row stride ${xStride}`,
    );
  }
  const tile = options.tile ?? defaultMatmulTile(rows);
  if (!isMatmulTile(batch.gpu, tile)) {
    throw new GpuError(`matmulTiledKMajor: invalid tile ${JSON.stringify(tile)} for this device`);
  }
  if (rows === 0 || w.cols === 0) return;
  // x is read as vec4s where its row starts and K's units start on 16 bytes (w's always do).
  const aligned = xStride % 4 === 0 && xOffset % 4 === 0;
  const splitN = options.splitN ?? Math.floor(w.rows / 8) < tile.lanes;
  const pipeline = batch.gpu.pipeline(aligned ? source : xUnalignedSource, {
    F16: w.dtype === "f16" ? 1 : 0,
    TM: tile.rows,
    WG: tile.lanes,
    K_MAJOR: 1,
    SPLIT_N: splitN ? 1 : 0,
  });
  const tiles = Math.ceil(rows / tile.rows);
  if (tiles > batch.gpu.maxWorkgroupsPerDimension) {
    throw new GpuError(`matmulTiledKMajor: ${rows} rows of x need too many workgroups`);
  }
  const groups = Math.ceil(w.cols / (splitN ? TILE_COLS * tile.lanes : TILE_COLS));
  const uniforms = new Uniforms()
    .u32(rows)
    .u32(w.rows)
    .u32(w.cols)
    .u32(w.stride)
    .u32(w.cols)
    .u32(0)
    .u32(args.accumulate ? 1 : 0)
    .u32(groups)
    .u32(xStride)
    .u32(xOffset)
    .f32(args.scale ?? 1);
  const [gy, gz] = workgroupGrid(batch.gpu, groups);
  batch.dispatch(pipeline, uniforms, [args.x, w.chunks[0].buffer, args.y], [tiles, gy, gz]);
}
