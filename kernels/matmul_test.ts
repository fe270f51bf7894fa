import type { DType, GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import { matmul, matmulReference } from "./matmul.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

interface Case {
  rows: number;
  n: number;
  k: number;
  dtype: DType;
  yOffset?: number;
  yStride?: number;
  accumulate?: boolean;
}

/** Runs one matmul on seeded inputs and checks it against the reference (f16: both bounds). */
async function check(gpu: GpuContext, c: Case): Promise<void> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k, dtype } = c;
  const yOffset = c.yOffset ?? 0;
  const yStride = c.yStride ?? n;
  const x = randomArray(random, rows * k, 2);
  const w = randomArray(random, n * k, 1);
  const y0 = randomArray(random, rows * yStride, 5);
  const matrix = uploadMatrix(gpu, w, n, k, dtype);
  const xBuffer = gpu.upload(x);
  const y = gpu.upload(y0);
  const batch = gpu.batch();
  matmul(batch, { x: xBuffer, w: matrix, y, rows, yOffset, yStride, accumulate: c.accumulate });
  batch.submit();
  const actual = await gpu.readF32(y, rows * yStride);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();

  // The expected y: y0 with the product written into (or added to) its column band.
  const expect = (product: Float32Array) => {
    const out = y0.slice();
    for (let t = 0; t < rows; t++) {
      for (let j = 0; j < n; j++) {
        const at = t * yStride + yOffset + j;
        out[at] = (c.accumulate ? out[at] : 0) + product[t * n + j];
      }
    }
    return out;
  };
  const what = `seed ${seed}`;
  if (dtype === "f16") {
    assertClose(actual, expect(matmulReference(x, roundToF16(w), rows, n, k)), 1e-4, what);
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-2, what);
  } else {
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-5, what);
  }
}

const shapes = [[1, 1, 1], [1, 7, 5], [3, 257, 130], [17, 33, 2048], [6, 20, 24], [1, 300, 256]];
for (const dtype of ["f32", "f16"] as const) {
  for (const [rows, n, k] of shapes) {
    Deno.test(`matmul ${dtype} matches the reference for T=${rows} N=${n} K=${k}`, async () => {
      const gpu = await testGpu();
      if (dtype === "f16" && !gpu.hasF16) return;
      await check(gpu, { rows, n, k, dtype });
    });
  }

  Deno.test(`matmul ${dtype} writes a column band of y, overwriting or accumulating`, async () => {
    const gpu = await testGpu();
    if (dtype === "f16" && !gpu.hasF16) return;
    await check(gpu, { rows: 5, n: 37, k: 48, dtype, yOffset: 3, yStride: 45 });
    await check(gpu, { rows: 1, n: 37, k: 13, dtype, yOffset: 8, yStride: 45, accumulate: true });
    await check(gpu, { rows: 9, n: 37, k: 64, dtype, yOffset: 0, yStride: 40, accumulate: true });
  });

  Deno.test(`matmul ${dtype} handles a matrix split into many chunks`, async () => {
    // 4096-byte bindings: 16 (f32) or 32 (f16) rows of 64 per chunk.
    const gpu = await testGpu({ maxBindingBytes: 4096 });
    try {
      if (dtype === "f16" && !gpu.hasF16) return;
      await check(gpu, { rows: 1, n: 1000, k: 64, dtype });
      await check(gpu, { rows: 3, n: 1000, k: 64, dtype, yOffset: 7, yStride: 1010 });
      await check(gpu, {
        rows: 2,
        n: 333,
        k: 35,
        dtype,
        yOffset: 1,
        yStride: 334,
        accumulate: true,
      });
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("matmul folds more than 65535 workgroups into a 2D grid", async () => {
  // 600000 rows / 8 per workgroup = 75000 workgroups in one chunk.
  const gpu = await testGpu();
  await check(gpu, { rows: 1, n: 600000, k: 8, dtype: gpu.hasF16 ? "f16" : "f32" });
});
