// matmul_dequant.ts: quantized weights decoded to f16 once, then the tiled GEMM. Against the
// reference on the same weights rounded to f16, for every block format, with bands of rows,
// column bands of y and accumulation; and where matmul takes this way.

import assert from "node:assert/strict";
import type { GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { createMatrix, destroyMatrix, type GpuMatrix, writeQuantizedRows } from "./matrix.ts";
import { matmul, matmulReference } from "./matmul.ts";
import { decodesFirst, DEQUANTIZE_MIN_ROWS, matmulDequantized } from "./matmul_dequant.ts";
import { BLOCK_ELEMENTS, dequantize, QUANT_TYPES, quantize, type QuantType } from "./quant.ts";
import {
  assertClose,
  expectedBand,
  randomArray,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

interface Case {
  rows: number;
  n: number;
  k: number;
  type: QuantType;
  yOffset?: number;
  yStride?: number;
  accumulate?: boolean;
  /** Scratch bytes (bands of 64 rows and more); default matmul_dequant's. */
  scratchBytes?: number;
}

function upload(gpu: GpuContext, blocks: Uint8Array, n: number, k: number, type: QuantType) {
  const matrix: GpuMatrix = createMatrix(gpu, n, k, type);
  writeQuantizedRows(gpu, matrix, 0, blocks);
  matrix.roundsToF16 = true;
  return matrix;
}

async function check(gpu: GpuContext, c: Case): Promise<void> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k, type } = c;
  const yOffset = c.yOffset ?? 0;
  const yStride = c.yStride ?? n;
  const x = randomArray(random, rows * k, 2);
  const blocks = quantize(type, randomArray(random, n * k, 1));
  const y0 = randomArray(random, rows * yStride, 5);
  const matrix = upload(gpu, blocks, n, k, type);
  const xBuffer = gpu.upload(x);
  const y = gpu.upload(y0);
  const batch = gpu.batch();
  const args = { x: xBuffer, w: matrix, y, rows, yOffset, yStride, accumulate: c.accumulate };
  if (c.scratchBytes) matmulDequantized(batch, args, c.scratchBytes);
  else matmul(batch, args);
  batch.submit();
  const actual = await gpu.readF32(y, rows * yStride);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();
  const w = roundToF16(dequantize(type, blocks, n * k));
  const expected = expectedBand(y0, matmulReference(x, w, rows, n, k), {
    rows,
    n,
    yOffset,
    yStride,
    accumulate: c.accumulate,
  });
  assertClose(actual, expected, 1e-4, `${type} seed ${seed}`);
}

for (const type of QUANT_TYPES) {
  // An odd number of 32-value blocks where the format's units hold two.
  const k = BLOCK_ELEMENTS[type] === 256 ? 512 : 96;
  Deno.test(`matmul decodes ${type} to f16 first for long prefills: reference`, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: DEQUANTIZE_MIN_ROWS + 1, n: 70, k, type });
    await check(gpu, {
      rows: 40,
      n: 37,
      k,
      type,
      yOffset: 3,
      yStride: 45,
      accumulate: true,
    });
  });

  Deno.test(`matmulDequantized ${type} in bands of rows: reference`, async () => {
    const gpu = await testGpu();
    // 64 rows of k f16 per band: 150 rows in three bands, the last one short.
    const scratchBytes = 64 * k * 2;
    await check(gpu, { rows: 5, n: 150, k, type, scratchBytes });
    await check(gpu, { rows: 3, n: 150, k, type, scratchBytes, yOffset: 2, yStride: 160 });
  });
}

Deno.test("matmul decodes quantized weights first only from 32 rows, where f16 is allowed", async () => {
  const gpu = await testGpu();
  const blocks = quantize("q8_0", randomArray(seededRandom(1), 64 * 32, 1));
  const matrix = upload(gpu, blocks, 64, 32, "q8_0");
  assert.equal(decodesFirst(gpu, matrix, DEQUANTIZE_MIN_ROWS), true);
  assert.equal(decodesFirst(gpu, matrix, DEQUANTIZE_MIN_ROWS - 1), false);
  matrix.roundsToF16 = false;
  assert.equal(decodesFirst(gpu, matrix, 128), false);
  destroyMatrix(matrix);
});
