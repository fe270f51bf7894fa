// Test helper for the float GEMMs (matmul_tiled.ts, matmul_broadcast.ts): one multiplication on
// seeded random inputs, checked against matmulReference.

import type { Binding, GpuBatch, GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import { type MatmulArgs, matmulReference } from "./matmul.ts";
import { assertClose, expectedBand, randomArray, seededRandom, testSeed } from "./test_util.ts";

export interface FloatMatmulCase {
  rows: number;
  n: number;
  k: number;
  dtype: "f32" | "f16";
  yOffset?: number;
  yStride?: number;
  accumulate?: boolean;
  /** Bind x as a byte range starting this many elements into its buffer. */
  xOffset?: number;
  /** Named in the failure message (e.g. the tile). */
  label?: string;
}

/**
 * Runs `multiply` on seeded inputs of `c`'s shape (x inside a larger buffer, y prefilled) and
 * checks y against matmulReference: f32 weights to 1e-5, f16 ones (rounded) to 1e-4.
 */
export async function checkFloatMatmul(
  gpu: GpuContext,
  c: FloatMatmulCase,
  multiply: (batch: GpuBatch, args: MatmulArgs) => void,
): Promise<void> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k, dtype } = c;
  const yOffset = c.yOffset ?? 0;
  const yStride = c.yStride ?? n;
  const xOffset = c.xOffset ?? 0;
  const x = randomArray(random, rows * k, 2);
  const w = randomArray(random, n * k, 1);
  const y0 = randomArray(random, rows * yStride, 5);
  const matrix = uploadMatrix(gpu, w, n, k, dtype);
  // x inside a larger buffer, with garbage before and after it.
  const xBuffer = gpu.upload(randomArray(random, xOffset + rows * k + 64, 100));
  gpu.write(xBuffer, x, xOffset * 4);
  const xBinding: Binding = xOffset === 0
    ? xBuffer
    : { buffer: xBuffer, offset: xOffset * 4, size: rows * k * 4 };
  const y = gpu.upload(y0);
  const batch = gpu.batch();
  multiply(batch, { x: xBinding, w: matrix, y, rows, yOffset, yStride, accumulate: c.accumulate });
  batch.submit();
  const actual = await gpu.readF32(y, rows * yStride);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();

  const expect = (product: Float32Array) =>
    expectedBand(y0, product, { rows, n, yOffset, yStride, accumulate: c.accumulate });
  const what = `seed ${seed}, T=${rows} N=${n} K=${k}${c.label ? ` ${c.label}` : ""}`;
  if (dtype === "f16") {
    assertClose(actual, expect(matmulReference(x, roundToF16(w), rows, n, k)), 1e-4, what);
  } else {
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-5, what);
  }
}
