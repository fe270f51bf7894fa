import type { DType, GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import { embed, embedReference } from "./embedding.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

async function check(gpu: GpuContext, vocab: number, dim: number, rows: number, dtype: DType) {
  const seed = testSeed();
  const random = seededRandom(seed);
  const table = randomArray(random, vocab * dim, 1);
  // Include the first and last ids and a repeat, so every chunk boundary matters.
  const ids = new Uint32Array(rows).map(() => Math.floor(random() * vocab));
  ids[0] = vocab - 1;
  if (rows > 1) ids[1] = 0;
  if (rows > 2) ids[2] = ids[0];
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
    Deno.test(`embed ${dtype} matches the reference for V=${vocab} D=${dim} T=${rows}`, async () => {
      const gpu = await testGpu();
      if (dtype === "f16" && !gpu.hasF16) return;
      await check(gpu, vocab, dim, rows, dtype);
    });
  }

  Deno.test(`embed ${dtype} reads a table split into many chunks`, async () => {
    // 1024-byte bindings: 256 / D (f32) or 512 / D (f16) rows per chunk.
    const gpu = await testGpu({ maxBindingBytes: 1024 });
    try {
      if (dtype === "f16" && !gpu.hasF16) return;
      await check(gpu, 1000, 13, 40, dtype);
      await check(gpu, 77, 64, 17, dtype);
    } finally {
      gpu.destroy();
    }
  });
}
