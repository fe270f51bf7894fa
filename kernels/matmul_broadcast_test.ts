import assert from "node:assert/strict";
import { checkFloatMatmul, type FloatMatmulCase } from "./float_matmul_check.ts";
import type { GpuContext } from "./gpu.ts";
import { destroyMatrix, uploadMatrix } from "./matrix.ts";
import {
  type BroadcastTile,
  matmulBroadcast,
  matmulFloatPrefill,
  takesBroadcast,
} from "./matmul_broadcast.ts";
import { deviceHasF16, testGpu } from "./test_util.ts";

/** Whether the test device runs the kernel at all (subgroups of 8+ lanes; lavapipe does). */
const hasBroadcast = (await testGpu()).subgroupLanes >= 8;

interface Case extends FloatMatmulCase {
  tile?: BroadcastTile;
}

/** Runs one matmulBroadcast on seeded inputs and checks it against matmulReference. */
function check(gpu: GpuContext, c: Case): Promise<void> {
  const label = c.tile ? JSON.stringify(c.tile) : undefined;
  return checkFloatMatmul(
    gpu,
    { ...c, label },
    (batch, args) => matmulBroadcast(batch, args, c.tile),
  );
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
