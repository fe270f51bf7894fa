import assert from "node:assert/strict";
import type { Binding, GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import { matmulReference } from "./matmul.ts";
import {
  type BroadcastTile,
  matmulBroadcast,
  matmulFloatPrefill,
  takesBroadcast,
} from "./matmul_broadcast.ts";
import {
  assertClose,
  deviceHasF16,
  expectedBand,
  randomArray,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

/** Whether the test device runs the kernel at all (subgroups of 8+ lanes; lavapipe does). */
const hasBroadcast = (await testGpu()).subgroupLanes >= 8;

interface Case {
  rows: number;
  n: number;
  k: number;
  dtype: "f32" | "f16";
  yOffset?: number;
  yStride?: number;
  accumulate?: boolean;
  /** Bind x as a byte range starting this many elements into its buffer. */
  xOffset?: number;
  tile?: BroadcastTile;
}

/** Runs one matmulBroadcast on seeded inputs and checks it against matmulReference. */
async function check(gpu: GpuContext, c: Case): Promise<void> {
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
  const args = { x: xBinding, w: matrix, y, rows, yOffset, yStride, accumulate: c.accumulate };
  matmulBroadcast(batch, args, c.tile);
  batch.submit();
  const actual = await gpu.readF32(y, rows * yStride);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();

  const expect = (product: Float32Array) =>
    expectedBand(y0, product, { rows, n, yOffset, yStride, accumulate: c.accumulate });
  const what = `seed ${seed}, T=${rows} N=${n} K=${k}${c.tile ? ` ${JSON.stringify(c.tile)}` : ""}`;
  if (dtype === "f16") {
    assertClose(actual, expect(matmulReference(x, roundToF16(w), rows, n, k)), 1e-4, what);
  } else {
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-5, what);
  }
}

const tiles: BroadcastTile[] = [
  { rows: 1, wRows: 4 },
  { rows: 1, wRows: 8 },
  { rows: 8, wRows: 4 },
  { rows: 8, wRows: 8 },
  { rows: 4, wRows: 4 },
  { rows: 4, wRows: 8 },
];

for (const dtype of ["f32", "f16"] as const) {
  const ignore = !hasBroadcast || (dtype === "f16" && !deviceHasF16);
  // Rows of x and of w that fill no whole tile, K of one unit to many.
  for (const [rows, n, k] of [[1, 1, 8], [3, 7, 16], [17, 257, 136], [64, 300, 2048]]) {
    Deno.test({
      name: `matmulBroadcast ${dtype} matches the reference for T=${rows} N=${n} K=${k}`,
      ignore,
    }, async () => {
      const gpu = await testGpu();
      for (const tile of tiles) await check(gpu, { rows, n, k, dtype, tile });
    });
  }

  Deno.test({
    name: `matmulBroadcast ${dtype} writes a column band of y, overwriting or accumulating`,
    ignore,
  }, async () => {
    const gpu = await testGpu();
    for (const tile of tiles) {
      await check(gpu, { rows: 5, n: 37, k: 48, dtype, yOffset: 3, yStride: 45, tile });
      await check(gpu, {
        rows: 11,
        n: 70,
        k: 24,
        dtype,
        yOffset: 8,
        yStride: 80,
        accumulate: true,
      });
    }
  });

  Deno.test({
    name: `matmulBroadcast ${dtype} reads x from a binding with an offset`,
    ignore,
  }, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 7, n: 50, k: 40, dtype, xOffset: 64 });
    await check(gpu, { rows: 9, n: 20, k: 64, dtype, xOffset: 192, accumulate: true });
  });

  Deno.test({
    name: `matmulBroadcast ${dtype} handles a matrix split into many chunks`,
    ignore,
  }, async () => {
    // 4096-byte bindings: 16 (f32) or 32 (f16) rows of 64 per chunk.
    const gpu = await testGpu({ maxBindingBytes: 4096 });
    try {
      await check(gpu, { rows: 2, n: 1000, k: 64, dtype });
      await check(gpu, { rows: 35, n: 999, k: 64, dtype, yOffset: 7, yStride: 1010 });
      await check(gpu, { rows: 13, n: 333, k: 32, dtype, accumulate: true, tile: tiles[3] });
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test({
  name: "matmulBroadcast folds more than 65535 workgroups into a 2D grid",
  ignore: !hasBroadcast,
}, async () => {
  // 2200000 rows / 32 per workgroup = 68750 workgroups in one chunk (f16: 4.4 MB per row band).
  const gpu = await testGpu();
  await check(gpu, { rows: 2, n: 2200000, k: 8, dtype: gpu.hasF16 ? "f16" : "f32" });
});

Deno.test("matmulBroadcast takes only aligned float weights, and the float prefill falls back", async () => {
  const gpu = await testGpu();
  const aligned = uploadMatrix(gpu, new Float32Array(2 * 16), 2, 16, "f32");
  const unaligned = uploadMatrix(gpu, new Float32Array(2 * 12), 2, 12, "f32");
  const quantized = uploadMatrix(gpu, new Float32Array(2 * 32), 2, 32, "q8_0");
  const x = gpu.upload(new Float32Array(2 * 12).fill(1));
  const y = gpu.createBuffer(2 * 2 * 4);
  try {
    assert.equal(takesBroadcast(gpu, aligned), hasBroadcast);
    assert.ok(!takesBroadcast(gpu, unaligned) && !takesBroadcast(gpu, quantized));
    assert.throws(() => matmulBroadcast(gpu.batch(), { x, w: unaligned, y, rows: 2 }), /multiples/);
    assert.throws(() => matmulBroadcast(gpu.batch(), { x, w: quantized, y, rows: 2 }), /q8_0/);
    if (hasBroadcast) {
      const bad = { rows: 6, wRows: 4 };
      assert.throws(() => matmulBroadcast(gpu.batch(), { x, w: aligned, y, rows: 2 }, bad), /tile/);
    }
    // The unaligned matrix goes to matmulTiled: x·wᵀ of ones and zeros is zeros.
    const batch = gpu.batch();
    matmulFloatPrefill(batch, { x, w: unaligned, y, rows: 2 });
    batch.submit();
    assert.deepEqual([...await gpu.readF32(y, 4)], [0, 0, 0, 0]);
  } finally {
    for (const m of [aligned, unaligned, quantized]) destroyMatrix(m);
    x.destroy();
    y.destroy();
  }
});
