// The float GEMM and GEMV for devices with subgroups of 8+ lanes: `matmul`'s y = x·wᵀ for f32 /
// f16 weights, each lane summing its own rows of w over all of K while the rows of x reach it
// through subgroup broadcasts (see matmul_broadcast.wgsl). On lavapipe, prefill (128 rows of
// Gemma-2B's MLP shapes, F16) 1.6–1.75× matmulTiled on Mesa 22.3 and 3.3× on Mesa 25; decode
// (one row) 1.17× / 1.25× matmul.wgsl's gemm loop on the 16384 × 2048 shape.

import { type GpuBatch, type GpuContext, GpuError, workgroupGrid } from "./gpu.ts";
import type { MatmulArgs } from "./matmul.ts";
import type { GpuMatrix } from "./matrix.ts";
import { checkColumnBand, floatGemmParams, matmulTiled } from "./matmul_tiled.ts";
import broadcast from "./matmul_broadcast.wgsl" with { type: "text" };
import floatWeights from "./float_weights.wgsl" with { type: "text" };
import loads from "./matmul_loads.wgsl" with { type: "text" };
import weightWords from "./weight_words.wgsl" with { type: "text" };

/** The kernel with its weight and load helpers in front. */
const source = floatWeights + loads + weightWords + broadcast;

/** Lanes per workgroup: one subgroup on every device that runs the kernel. */
const LANES = 8;

/** A tile of matmul_broadcast.wgsl (its pipeline constants). */
export interface BroadcastTile {
  /** Rows of x (and y) per workgroup: 1, 4 or 8 (the kernel's TM). */
  rows: number;
  /** Rows of w per lane: 4 or 8 (the kernel's RL); a workgroup covers 8 times as many. */
  wRows: number;
}

/**
 * The tile used for `rows` rows of x: 4 rows of w per lane (on Mesa 25's lavapipe 1.14× 8 rows,
 * on Mesa 22.3 0.87×: 4 favours the driver that was behind); a decode GEMV takes one row of x,
 * and T ≤ 4 a tile of 4 rows, which wastes nothing.
 */
export function defaultBroadcastTile(rows: number): BroadcastTile {
  return { rows: rows === 1 ? 1 : rows <= 4 ? 4 : 8, wRows: 4 };
}

/**
 * Whether matmulBroadcast takes `w` on `gpu`: subgroups of at least 8 lanes, f32 / f16 weights,
 * K and the row stride multiples of 8 (w is read as 16-byte words).
 */
export function takesBroadcast(gpu: GpuContext, w: GpuMatrix): boolean {
  return gpu.subgroupLanes >= LANES && (w.dtype === "f32" || w.dtype === "f16") &&
    w.cols % 8 === 0 && w.stride % 8 === 0;
}

/**
 * y[t, yOffset + n] (+)= Σ_k x[t, k] · w[n, k]: `matmul`'s semantics (one dispatch per chunk of
 * w, writing its band of columns) where `takesBroadcast(gpu, w)`.
 */
export function matmulBroadcast(
  batch: GpuBatch,
  args: MatmulArgs,
  tile: BroadcastTile = defaultBroadcastTile(args.rows),
): void {
  const { w, rows } = args;
  if (!takesBroadcast(batch.gpu, w)) {
    throw new GpuError(
      `matmulBroadcast: a ${w.dtype} ${w.rows}×${w.cols} matrix (stride ${w.stride}) on a device with subgroups of ${batch.gpu.subgroupLanes} lanes (f32 / f16, K and stride multiples of 8, 8+ lanes)`,
    );
  }
  if (![1, 4, 8].includes(tile.rows) || ![4, 8].includes(tile.wRows)) {
    throw new GpuError(`matmulBroadcast: invalid tile ${JSON.stringify(tile)}`);
  }
  checkColumnBand("matmulBroadcast", args);
  if (rows === 0 || w.rows === 0) return;
  const tiles = Math.ceil(rows / tile.rows);
  if (tiles > batch.gpu.maxWorkgroupsPerDimension) {
    throw new GpuError(`matmulBroadcast: ${rows} rows of x need too many workgroups`);
  }
  const pipeline = batch.gpu.pipeline(source, {
    F16: w.dtype === "f16" ? 1 : 0,
    TM: tile.rows,
    RL: tile.wRows,
  });
  for (const chunk of w.chunks) {
    const groups = Math.ceil(chunk.rows / (LANES * tile.wRows));
    const uniforms = floatGemmParams(args, chunk, groups);
    const [gy, gz] = workgroupGrid(batch.gpu, groups);
    batch.dispatch(pipeline, uniforms, [args.x, chunk.buffer, args.y], [tiles, gy, gz]);
  }
}

/** The float prefill GEMM: matmulBroadcast where it takes w, else matmulTiled. */
export function matmulFloatPrefill(batch: GpuBatch, args: MatmulArgs): void {
  if (takesBroadcast(batch.gpu, args.w)) matmulBroadcast(batch, args);
  else matmulTiled(batch, args);
}
