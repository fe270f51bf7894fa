import assert from "node:assert/strict";
import { checkFloatMatmul, type FloatMatmulCase } from "./float_matmul_check.ts";
import type { GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import { matmulReference } from "./matmul.ts";
import {
  defaultMatmulTile,
  isMatmulTile,
  type MatmulTile,
  matmulTiled,
  matmulTiledKMajor,
} from "./matmul_tiled.ts";
import {
  assertClose,
  deviceHasF16,
  expectedBand,
  randomArray,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

interface Case extends FloatMatmulCase {
  tile?: MatmulTile;
  splitN?: boolean;
}

/** Runs one matmulTiled on seeded inputs and checks it against matmulReference. */
function check(gpu: GpuContext, c: Case): Promise<void> {
  const label = c.tile ? JSON.stringify(c.tile) : undefined;
  return checkFloatMatmul(
    gpu,
    { ...c, label },
    (batch, args) => matmulTiled(batch, args, { tile: c.tile, splitN: c.splitN }),
  );
}

const shapes = [
  [2, 1, 1],
  [3, 7, 5],
  [17, 257, 130],
  [64, 300, 2048],
  [33, 65, 31],
  [5, 40, 16],
];
for (const dtype of ["f32", "f16"] as const) {
  for (const [rows, n, k] of shapes) {
    Deno.test({
      name: `matmulTiled ${dtype} matches the reference for T=${rows} N=${n} K=${k}`,
      ignore: dtype === "f16" && !deviceHasF16,
    }, async () => {
      const gpu = await testGpu();
      await check(gpu, { rows, n, k, dtype });
    });
  }

  Deno.test({
    name: `matmulTiled ${dtype} writes a column band of y, overwriting or accumulating`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 5, n: 37, k: 48, dtype, yOffset: 3, yStride: 45 });
    await check(gpu, { rows: 2, n: 37, k: 13, dtype, yOffset: 8, yStride: 45, accumulate: true });
    await check(gpu, { rows: 40, n: 37, k: 64, dtype, yOffset: 0, yStride: 40, accumulate: true });
  });

  Deno.test({
    name: `matmulTiled ${dtype} reads x from a binding with an offset`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 7, n: 50, k: 36, dtype, xOffset: 64 });
    await check(gpu, { rows: 9, n: 20, k: 64, dtype, xOffset: 256 }); // the aligned variant
    await check(gpu, { rows: 3, n: 9, k: 5, dtype, xOffset: 128, accumulate: true });
  });

  Deno.test({
    name: `matmulTiled ${dtype} handles a matrix split into many chunks`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    // 4096-byte bindings: 16 (f32) or 32 (f16) rows of 64 per chunk; K = 35: 29 or 58 rows.
    const gpu = await testGpu({ maxBindingBytes: 4096 });
    try {
      await check(gpu, { rows: 2, n: 1000, k: 64, dtype });
      await check(gpu, { rows: 35, n: 1000, k: 64, dtype, yOffset: 7, yStride: 1010 });
      await check(gpu, {
        rows: 3,
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

  Deno.test({
    name: `matmulTiled ${dtype} computes the same y with other tile shapes`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    const tiles = [
      { rows: 4, lanes: 8 },
      { rows: 8, lanes: 1 },
      { rows: 8, lanes: 64 },
      { rows: 16, lanes: 8 },
    ];
    for (const tile of tiles) {
      await check(gpu, { rows: 19, n: 45, k: 37, dtype, tile, yOffset: 2, yStride: 50 });
      await check(gpu, { rows: 6, n: 17, k: 200, dtype, tile, accumulate: true });
    }
  });
}

for (const splitN of [false, true]) {
  Deno.test(`matmulTiled ${splitN ? "with" : "without"} lanes split along N matches the reference`, async () => {
    const gpu = await testGpu();
    const dtype = gpu.hasF16 ? "f16" : "f32";
    for (const tile of [{ rows: 8, lanes: 8 }, { rows: 4, lanes: 2 }, { rows: 16, lanes: 16 }]) {
      await check(gpu, { rows: 21, n: 333, k: 8, dtype, tile, splitN });
      await check(gpu, { rows: 5, n: 70, k: 43, dtype: "f32", tile, splitN, accumulate: true });
      await check(gpu, { rows: 9, n: 130, k: 200, dtype, tile, splitN, yOffset: 3, yStride: 140 });
    }
  });
}

Deno.test("matmulTiled folds more than 65535 workgroups into a 2D grid", async () => {
  // 600000 rows / 8 per workgroup = 75000 workgroups in one chunk.
  const gpu = await testGpu();
  await check(gpu, { rows: 2, n: 600000, k: 8, dtype: gpu.hasF16 ? "f16" : "f32" });
});

Deno.test("matmulTiled rejects bad tiles, quantized weights and bands past the row", async () => {
  const gpu = await testGpu();
  assert.ok(isMatmulTile(gpu, defaultMatmulTile(2)) && isMatmulTile(gpu, defaultMatmulTile(64)));
  assert.ok(!isMatmulTile(gpu, { rows: 6, lanes: 8 }));
  assert.ok(!isMatmulTile(gpu, { rows: 8, lanes: 12 }));
  const w = uploadMatrix(gpu, new Float32Array(64), 2, 32, "q8_0");
  const y = gpu.createBuffer(64);
  try {
    assert.throws(() => matmulTiled(gpu.batch(), { x: y, w, y, rows: 2 }), /q8_0/);
    const f = uploadMatrix(gpu, new Float32Array(8), 2, 4, "f32");
    assert.throws(() => matmulTiled(gpu.batch(), { x: y, w: f, y, rows: 2, yOffset: 1 }), /stride/);
    destroyMatrix(f);
  } finally {
    destroyMatrix(w);
    y.destroy();
  }
});

/** w (K, N) row-major, transposed to (N, K) for matmulReference. */
function transposed(w: Float32Array, k: number, n: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < n; j++) out[j * k + i] = w[i * n + j];
  return out;
}

interface KMajorCase {
  rows: number;
  k: number;
  n: number;
  dtype: "f32" | "f16";
  accumulate?: boolean;
  tile?: MatmulTile;
  splitN?: boolean;
  /** x as columns [xOffset, xOffset + K) of rows xStride long. */
  xStride?: number;
  xOffset?: number;
  scale?: number;
}

/** Runs matmulTiledKMajor on seeded inputs and checks it against matmulReference of wᵀ. */
async function checkKMajor(gpu: GpuContext, c: KMajorCase): Promise<void> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k, dtype } = c;
  const xStride = c.xStride ?? k;
  const xOffset = c.xOffset ?? 0;
  const scale = c.scale ?? 1;
  const xWide = randomArray(random, rows * xStride, 2);
  const x = Float32Array.from(
    { length: rows * k },
    (_, i) => xWide[Math.floor(i / k) * xStride + xOffset + i % k],
  );
  const w = randomArray(random, k * n, 1);
  const y0 = randomArray(random, rows * n, 5);
  const matrix = uploadMatrix(gpu, w, k, n, dtype);
  const xBuffer = gpu.upload(xWide);
  const y = gpu.upload(y0);
  const batch = gpu.batch();
  matmulTiledKMajor(batch, {
    x: xBuffer,
    w: matrix,
    y,
    rows,
    xStride: c.xStride,
    xOffset: c.xOffset,
    accumulate: c.accumulate,
    scale: c.scale,
  }, { tile: c.tile, splitN: c.splitN });
  batch.submit();
  const actual = await gpu.readF32(y, rows * n);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();
  const wt = transposed(dtype === "f16" ? roundToF16(w) : w, k, n);
  const product = matmulReference(x, wt, rows, n, k).map((v) => v * scale);
  const expected = expectedBand(y0, product, {
    rows,
    n,
    yOffset: 0,
    yStride: n,
    accumulate: c.accumulate,
  });
  const what = `seed ${seed}, ${JSON.stringify(c)}`;
  assertClose(actual, expected, dtype === "f16" ? 1e-4 : 1e-5, what);
}

for (const dtype of ["f32", "f16"] as const) {
  Deno.test({
    name: `matmulTiledKMajor ${dtype} matches the reference of wᵀ (aligned and unaligned K, tails)`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    for (const [rows, k, n] of [[2, 5, 8], [13, 37, 24], [40, 64, 16], [9, 301, 40], [33, 8, 8]]) {
      await checkKMajor(gpu, { rows, k, n, dtype });
    }
    await checkKMajor(gpu, { rows: 11, k: 203, n: 32, dtype, accumulate: true });
  });

  Deno.test({
    name: `matmulTiledKMajor ${dtype} computes the same y with other tiles, lanes along N or K`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    for (const tile of [{ rows: 4, lanes: 8 }, { rows: 8, lanes: 1 }, { rows: 16, lanes: 64 }]) {
      for (const splitN of [false, true]) {
        await checkKMajor(gpu, { rows: 19, k: 45, n: 16, dtype, tile, splitN });
        await checkKMajor(gpu, { rows: 6, k: 200, n: 8, dtype, tile, splitN, accumulate: true });
        await checkKMajor(gpu, { rows: 7, k: 8, n: 72, dtype, tile, splitN, scale: 0.5 });
      }
    }
  });

  Deno.test({
    name: `matmulTiledKMajor ${dtype} reads a column band of x and scales the product`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    await checkKMajor(gpu, { rows: 9, k: 16, n: 24, dtype, xStride: 40, xOffset: 8, scale: 2 });
    await checkKMajor(gpu, { rows: 5, k: 13, n: 8, dtype, xStride: 30, xOffset: 3, scale: -1.5 });
    await checkKMajor(gpu, {
      rows: 17,
      k: 300,
      n: 16,
      dtype,
      xStride: 310,
      xOffset: 10,
      accumulate: true,
      scale: 0.25,
    });
  });
}

Deno.test("matmulTiledKMajor rejects output widths that are not whole tiles", async () => {
  const gpu = await testGpu();
  const w = uploadMatrix(gpu, new Float32Array(60), 5, 12, "f32");
  const y = gpu.createBuffer(256);
  try {
    assert.throws(() => matmulTiledKMajor(gpu.batch(), { x: y, w, y, rows: 2 }), /multiples of 8/);
    const band = uploadMatrix(gpu, new Float32Array(40), 5, 8, "f32");
    assert.throws(
      () => matmulTiledKMajor(gpu.batch(), { x: y, w: band, y, rows: 2, xStride: 6, xOffset: 2 }),
      /exceed its row stride/,
    );
    destroyMatrix(band);
  } finally {
    destroyMatrix(w);
    y.destroy();
  }
});
