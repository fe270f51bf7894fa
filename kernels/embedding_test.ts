import type { DType, GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { widenF16 } from "./f16.ts";
import { createMatrix, destroyMatrix, uploadMatrix, writeQuantizedRows } from "./matrix.ts";
import { embed, embedReference } from "./embedding.ts";
import { BLOCK_ELEMENTS, dequantize, QUANT_TYPES, quantize, type QuantType } from "./quant.ts";
import {
  assertClose,
  deviceHasF16,
  randomArray,
  randomBlocks,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

/** `rows` ids in [0, vocab) with the first and last ids and a repeat: every chunk matters. */
function randomIds(random: () => number, vocab: number, rows: number): Uint32Array {
  const ids = new Uint32Array(rows).map(() => Math.floor(random() * vocab));
  ids[0] = vocab - 1;
  if (rows > 1) ids[1] = 0;
  if (rows > 2) ids[2] = ids[0];
  return ids;
}

async function check(gpu: GpuContext, vocab: number, dim: number, rows: number, dtype: DType) {
  const seed = testSeed();
  const random = seededRandom(seed);
  const table = randomArray(random, vocab * dim, 1);
  const ids = randomIds(random, vocab, rows);
  const matrix = uploadMatrix(gpu, table, vocab, dim, dtype);
  const y = gpu.createBuffer(rows * dim * 4);
  const batch = gpu.batch();
  const scale = Math.fround(Math.sqrt(dim));
  embed(batch, { ids: gpu.upload(ids), table: matrix, y, rows, scale });
  batch.submit();
  const actual = await gpu.readF32(y, rows * dim);
  destroyMatrix(matrix);
  // f16 rounding happens before scaling: equal to the reference on the rounded table.
  const expected = embedReference(ids, dtype === "f16" ? roundToF16(table) : table, dim, scale);
  assertClose(actual, expected, 1e-6, `seed ${seed}`);
  assertClose(actual, embedReference(ids, table, dim, scale), 1e-2, `seed ${seed}`);
}

for (const dtype of ["f32", "f16"] as const) {
  for (const [vocab, dim, rows] of [[1, 1, 1], [10, 7, 3], [300, 257, 9], [50, 2048, 4]]) {
    Deno.test({
      name: `embed ${dtype} matches the reference for V=${vocab} D=${dim} T=${rows}`,
      ignore: dtype === "f16" && !deviceHasF16,
    }, async () => {
      const gpu = await testGpu();
      await check(gpu, vocab, dim, rows, dtype);
    });
  }

  Deno.test({
    name: `embed ${dtype} reads a table split into many chunks`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    // 1024-byte bindings: 256 / D (f32) or 512 / D (f16) rows per chunk.
    const gpu = await testGpu({ maxBindingBytes: 1024 });
    try {
      await check(gpu, 1000, 13, 40, dtype);
      await check(gpu, 77, 64, 17, dtype);
    } finally {
      gpu.destroy();
    }
  });
}

/** Quantized tables: raw blocks (quantized, or random bytes) against the dequantized reference. */
async function checkQuantized(
  gpu: GpuContext,
  vocab: number,
  dim: number,
  rows: number,
  type: QuantType,
  random: boolean,
) {
  const seed = testSeed();
  const next = seededRandom(seed);
  const blocks = random
    ? randomBlocks(next, type, vocab * dim)
    : quantize(type, randomArray(next, vocab * dim, 1));
  const ids = randomIds(next, vocab, rows);
  const matrix = createMatrix(gpu, vocab, dim, type);
  writeQuantizedRows(gpu, matrix, 0, blocks);
  const y = gpu.upload(new Float32Array(rows * dim).fill(NaN));
  const batch = gpu.batch();
  const scale = Math.fround(Math.sqrt(dim));
  embed(batch, { ids: gpu.upload(ids), table: matrix, y, rows, scale });
  batch.submit();
  const actual = await gpu.readF32(y, rows * dim);
  const expected = embedReference(ids, dequantize(type, blocks, vocab * dim), dim, scale);
  assertClose(actual, expected, 1e-6, `${type} seed ${seed}`);
  if (random) { // random block scales overflow f16
    destroyMatrix(matrix);
    return;
  }
  // f16 output (matmul_dequant.ts): the same values rounded to f16, two to a word.
  const pairs = gpu.upload(new Uint32Array(rows * dim / 2).fill(0x7e007e00));
  const again = gpu.batch();
  embed(again, { ids: gpu.upload(ids), table: matrix, y: pairs, rows, scale, f16Output: true });
  again.submit();
  const words = await gpu.readU32(pairs, rows * dim / 2);
  const halves = new Float32Array(rows * dim);
  widenF16(new Uint16Array(words.buffer, words.byteOffset, rows * dim), halves);
  assertClose(halves, roundToF16(expected), 1e-3, `${type} f16 output, seed ${seed}`);
  destroyMatrix(matrix);
}

for (const type of QUANT_TYPES) {
  const block = BLOCK_ELEMENTS[type];
  for (const [vocab, dim, rows] of [[1, block, 1], [10, 3 * block, 3], [300, 8 * block, 9]]) {
    Deno.test(`embed ${type} matches the reference for V=${vocab} D=${dim} T=${rows}`, async () => {
      const gpu = await testGpu();
      await checkQuantized(gpu, vocab, dim, rows, type, false);
      await checkQuantized(gpu, vocab, dim, rows, type, true);
    });
  }

  Deno.test(`embed ${type} reads a table split into many chunks`, async () => {
    // 1024-byte bindings: a handful of rows per chunk.
    const gpu = await testGpu({ maxBindingBytes: 1024 });
    try {
      await checkQuantized(gpu, 1000, block, 40, type, true);
      await checkQuantized(gpu, 77, 2 * block, 17, type, false);
    } finally {
      gpu.destroy();
    }
  });
}
