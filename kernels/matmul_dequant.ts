// Prefill against quantized weights where the model's dtype is f16: each weight matrix is decoded
// once per call into an f16 scratch matrix (the quantized embedding kernel's row decoder, which
// reads the same blocks as matmul.wgsl) and multiplied there by the float GEMM, whose register
// tiles reuse each loaded weight for 8 rows of x, where matmul.wgsl's gemm loop decodes every unit
// of a quantized row again for each 4 rows of x. The decoding pass costs about what 10–20 rows of
// the gemm loop do, so from 32 rows of x on it wins (Gemma 3 270M Q4_K_M on lavapipe, 128 rows:
// 1.2× the prefill tokens/s). The weights are then rounded to f16, as f16 models' weights are (and
// as llama.cpp's GPU backends decode them for their GEMMs); with dtype f32 matmul keeps them exact.

import type { GpuBatch, GpuContext } from "./gpu.ts";
import { embed } from "./embedding.ts";
import { type GpuMatrix, isQuantized } from "./matrix.ts";
import { matmulFloatPrefill } from "./matmul_broadcast.ts";
import type { MatmulArgs } from "./matmul.ts";

/** Rows of x from which a prefill decodes the weights first. */
export const DEQUANTIZE_MIN_ROWS = 32;

/** The scratch matrix's size at most: bigger weights are decoded and multiplied in bands. */
const SCRATCH_BYTES = 32 * 2 ** 20;

/** Rows per band: whole 64-row groups (the row indices are bound at 256-byte offsets). */
function bandRows(w: GpuMatrix, scratchBytes = SCRATCH_BYTES): number {
  return Math.min(w.rows, Math.max(64, Math.floor(scratchBytes / (w.cols * 2) / 64) * 64));
}

/** Whether matmul decodes `w` first for `rows` rows of x on `gpu`. */
export function decodesFirst(gpu: GpuContext, w: GpuMatrix, rows: number): boolean {
  return rows >= DEQUANTIZE_MIN_ROWS && isQuantized(w) && w.roundsToF16 === true &&
    bandRows(w) * w.cols * 2 <= gpu.maxBindingBytes;
}

/**
 * matmul's y for quantized w: band by band, decoded into the scratch matrix, then
 * matmulFloatPrefill.
 * `scratchBytes` (tests): the scratch's size at most.
 */
export function matmulDequantized(
  batch: GpuBatch,
  args: MatmulArgs,
  scratchBytes = SCRATCH_BYTES,
): void {
  const { w } = args;
  const band = bandRows(w, scratchBytes);
  const scratch = scratchFor(batch.gpu, band * w.cols, w.rows);
  for (let start = 0; start < w.rows; start += band) {
    const rows = Math.min(band, w.rows - start);
    embed(batch, {
      ids: { buffer: scratch.indices, offset: start * 4, size: rows * 4 },
      table: w,
      y: scratch.matrix,
      rows,
      scale: 1,
      f16Output: true,
    });
    const decoded: GpuMatrix = {
      rows,
      cols: w.cols,
      dtype: "f16",
      stride: w.cols,
      chunks: [{ buffer: scratch.matrix, rowStart: 0, rows }],
      bytes: rows * w.cols * 2,
    };
    matmulFloatPrefill(batch, {
      ...args,
      w: decoded,
      yOffset: (args.yOffset ?? 0) + start,
      yStride: args.yStride ?? w.rows,
    });
  }
}

interface Scratch {
  /** f16 values, `elements` of them. */
  matrix: GPUBuffer;
  elements: number;
  /** u32 row indices 0, 1, …: which rows of w the decoder writes. */
  indices: GPUBuffer;
  count: number;
}

/** Per device, the scratch buffers, grown as needed. */
const scratches = new WeakMap<GpuContext, Scratch>();

function scratchFor(gpu: GpuContext, elements: number, count: number): Scratch {
  const held = scratches.get(gpu);
  if (held && held.elements >= elements && held.count >= count) return held;
  // Grown, never destroyed: a recorded batch may still use the old ones (a few MB, rarely).
  const grown = {
    matrix: held && held.elements >= elements
      ? held.matrix
      : gpu.createBuffer(elements * 2, "decoded weights"),
    elements: Math.max(elements, held?.elements ?? 0),
    indices: held && held.count >= count
      ? held.indices
      : gpu.upload(Uint32Array.from({ length: count }, (_, i) => i), "row indices"),
    count: Math.max(count, held?.count ?? 0),
  };
  scratches.set(gpu, grown);
  return grown;
}
