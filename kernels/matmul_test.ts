import type { GpuContext } from "./gpu.ts";
import { roundToF16 } from "./gpu.ts";
import {
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  uploadMatrix,
  type WeightType,
  writeQuantizedRows,
} from "./matrix.ts";
import assert from "node:assert/strict";
import {
  canFuseGlu,
  lanesAlongK,
  matmul,
  matmulReference,
  type MatmulVariant,
  matmulVariant,
  takesGemvBroadcast,
  variantName,
} from "./matmul.ts";
import { geluMulReference } from "./gelu_mul.ts";
import { GpuError } from "./gpu.ts";
import { matmulCandidates } from "./tune.ts";
import { takesBroadcast } from "./matmul_broadcast.ts";
import {
  BLOCK_ELEMENTS,
  dequantize,
  isQuantType,
  QUANT_TYPES,
  quantize,
  quantizedBytes,
  type QuantType,
} from "./quant.ts";
import {
  assertClose,
  deviceHasF16,
  expectedBand,
  randomArray,
  randomBlocks,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

interface Case {
  rows: number;
  n: number;
  k: number;
  dtype: WeightType;
  /**
   * Quantized weights from: "quantize" (quant.ts, then raw blocks; the default), "random" (random
   * block bytes: every bit pattern, e.g. negative q6_k scales), or "f32" (writeMatrixRows, which
   * quantizes on upload).
   */
  blocks?: "quantize" | "random" | "f32";
  yOffset?: number;
  yStride?: number;
  accumulate?: boolean;
  /** The T = 1 kernel variant (default: the context's choice). */
  variant?: MatmulVariant;
  /** w is a stacked gate and up (n = 2F rows): y = gelu(x·gateᵀ) ⊙ x·upᵀ, F columns. */
  glu?: boolean;
}

/** gelu(gate) ⊙ up from a (rows, 2F) product whose rows hold the gate, then the up columns. */
function gluReference(product: Float32Array, rows: number, f: number): Float32Array {
  const gate = new Float32Array(rows * f);
  const up = new Float32Array(rows * f);
  for (let t = 0; t < rows; t++) {
    gate.set(product.subarray(2 * t * f, (2 * t + 1) * f), t * f);
    up.set(product.subarray((2 * t + 1) * f, (2 * t + 2) * f), t * f);
  }
  return geluMulReference(gate, up);
}

/** Runs one matmul on seeded inputs and checks it against the reference (f16: both bounds). */
async function check(gpu: GpuContext, c: Case): Promise<void> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k, dtype } = c;
  const columns = c.glu ? n / 2 : n;
  const yOffset = c.yOffset ?? 0;
  const yStride = c.yStride ?? columns;
  const x = randomArray(random, rows * k, 2);
  let w = randomArray(random, n * k, 1);
  const y0 = randomArray(random, rows * yStride, 5);
  let matrix: GpuMatrix;
  if (isQuantType(dtype)) {
    // The GPU must match the reference on exactly the weights the blocks hold.
    const blocks = c.blocks === "random" ? randomBlocks(random, dtype, n * k) : quantize(dtype, w);
    matrix = c.blocks === "f32"
      ? uploadMatrix(gpu, w, n, k, dtype)
      : uploadBlocks(gpu, blocks, n, k, dtype);
    w = dequantize(dtype, blocks, n * k);
  } else {
    matrix = uploadMatrix(gpu, w, n, k, dtype);
  }
  const xBuffer = gpu.upload(x);
  const y = gpu.upload(y0);
  const batch = gpu.batch();
  matmul(batch, {
    x: xBuffer,
    w: matrix,
    y,
    rows,
    yOffset,
    yStride,
    accumulate: c.accumulate,
    variant: c.variant,
    glu: c.glu,
  });
  batch.submit();
  const actual = await gpu.readF32(y, rows * yStride);
  destroyMatrix(matrix);
  xBuffer.destroy();
  y.destroy();

  const expect = (product: Float32Array) =>
    expectedBand(y0, c.glu ? gluReference(product, rows, columns) : product, {
      rows,
      n: columns,
      yOffset,
      yStride,
      accumulate: c.accumulate,
    });
  const what = `seed ${seed}${c.variant ? `, ${variantName(c.variant)}` : ""}`;
  if (isQuantType(dtype)) {
    // Same weights, different summation order: f32 rounding only.
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-4, what);
  } else if (dtype === "f16") {
    assertClose(actual, expect(matmulReference(x, roundToF16(w), rows, n, k)), 1e-4, what);
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-2, what);
  } else {
    assertClose(actual, expect(matmulReference(x, w, rows, n, k)), 1e-5, what);
  }
}

/** Whether `dtype` comes in 256-value blocks (the K-quants), whose K is at least 256. */
function superBlock(dtype: WeightType): boolean {
  return isQuantType(dtype) && BLOCK_ELEMENTS[dtype] === 256;
}

/** Writes raw GGUF blocks in two pieces (a loader streams rows), split at row n / 3. */
function uploadBlocks(
  gpu: GpuContext,
  blocks: Uint8Array,
  n: number,
  k: number,
  type: QuantType,
): GpuMatrix {
  const matrix = createMatrix(gpu, n, k, type);
  const split = Math.floor(n / 3);
  const at = quantizedBytes(type, split * k);
  writeQuantizedRows(gpu, matrix, 0, blocks.subarray(0, at));
  writeQuantizedRows(gpu, matrix, split, blocks.subarray(at));
  return matrix;
}

const shapes = [[1, 1, 1], [1, 7, 5], [3, 257, 130], [17, 33, 2048], [6, 20, 24], [1, 300, 256]];
for (const dtype of ["f32", "f16"] as const) {
  for (const [rows, n, k] of shapes) {
    Deno.test({
      name: `matmul ${dtype} matches the reference for T=${rows} N=${n} K=${k}`,
      ignore: dtype === "f16" && !deviceHasF16,
    }, async () => {
      const gpu = await testGpu();
      await check(gpu, { rows, n, k, dtype });
    });
  }

  Deno.test({
    name: `matmul ${dtype} writes a column band of y, overwriting or accumulating`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 5, n: 37, k: 48, dtype, yOffset: 3, yStride: 45 });
    await check(gpu, { rows: 1, n: 37, k: 13, dtype, yOffset: 8, yStride: 45, accumulate: true });
    await check(gpu, { rows: 9, n: 37, k: 64, dtype, yOffset: 0, yStride: 40, accumulate: true });
  });

  Deno.test({
    name: `matmul ${dtype} handles a matrix split into many chunks`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    // 4096-byte bindings: 16 (f32) or 32 (f16) rows of 64 per chunk.
    const gpu = await testGpu({ maxBindingBytes: 4096 });
    try {
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

// Quantized weights: K a whole number of blocks (32 values, or 256 for the k-quants and iq4_xs).
// The kernels take 32-value blocks in pairs, so an odd block count (K = 32, 96, 2080) has a tail.
const blockShapes = [
  [1, 7, 32],
  [1, 257, 96],
  [3, 257, 96],
  [17, 33, 2048],
  [1, 300, 2080],
  [4, 5, 64],
];
const superBlockShapes = [[1, 7, 256], [3, 257, 512], [17, 33, 2048], [1, 300, 768], [1, 33, 2304]];
for (const dtype of QUANT_TYPES) {
  const list = superBlock(dtype) ? superBlockShapes : blockShapes;
  for (const [rows, n, k] of list) {
    Deno.test(`matmul ${dtype} matches the reference for T=${rows} N=${n} K=${k}`, async () => {
      const gpu = await testGpu();
      await check(gpu, { rows, n, k, dtype });
      await check(gpu, { rows, n, k, dtype, blocks: "random" });
    });
  }

  const k = superBlock(dtype) ? 256 : 64;
  Deno.test(`matmul ${dtype} writes a column band of y, overwriting or accumulating`, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 5, n: 37, k, dtype, yOffset: 3, yStride: 45 });
    // A batched decode step's rows: one tile of 8 (TT = 8).
    await check(gpu, { rows: 8, n: 37, k, dtype });
    await check(gpu, { rows: 1, n: 37, k, dtype, yOffset: 8, yStride: 45, accumulate: true });
    await check(gpu, { rows: 1, n: 70, k: 3 * k, dtype, yOffset: 5, yStride: 80 });
    await check(gpu, { rows: 17, n: 37, k, dtype, yOffset: 0, yStride: 40, accumulate: true });
  });

  Deno.test(`matmul ${dtype} handles a matrix split into many chunks`, async () => {
    // 2048-byte bindings: a few rows per chunk (q8_0 K=64: 64 B a row; q6_k K=512: 416 B).
    const gpu = await testGpu({ maxBindingBytes: 2048 });
    try {
      await check(gpu, { rows: 1, n: 1000, k, dtype });
      await check(gpu, { rows: 3, n: 333, k: 2 * k, dtype, yOffset: 7, yStride: 350 });
      await check(gpu, {
        rows: 17,
        n: 77,
        k,
        dtype,
        yOffset: 1,
        yStride: 80,
        accumulate: true,
        blocks: "random",
      });
    } finally {
      gpu.destroy();
    }
  });
}

for (const dtype of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "iq4_nl"] as const) {
  Deno.test(`matmul ${dtype} on f32 weights quantized at upload matches the reference`, async () => {
    const gpu = await testGpu();
    await check(gpu, { rows: 1, n: 65, k: 2048, dtype, blocks: "f32" });
    await check(gpu, { rows: 3, n: 65, k: 96, dtype, blocks: "f32" });
  });
}

// Every variant tuneMatmul may choose must compute the same y: awkward N, K with a tail (f32/f16
// unaligned, q8_0/q4_0 an odd block count), column bands, and chunks (small bindings) that end
// inside a workgroup's rows. q4_k and q6_k: the 8-lane variants only (their gemv pipelines are
// slow to compile on lavapipe).
for (const dtype of ["f32", "f16", ...QUANT_TYPES] as const) {
  Deno.test({
    name: `matmul ${dtype}: every T=1 variant matches the reference`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu({ maxBindingBytes: 4096 });
    try {
      const big = superBlock(dtype);
      // The x-broadcast gemv with 8 and 32 lanes only: one subgroup on lavapipe, or several.
      const variants = matmulCandidates(gpu, dtype).filter((v) =>
        (!big || v.lanes === 8) && (!v.broadcast || !v.gemv || v.lanes <= 32)
      );
      const k = big ? 256 : 96;
      for (const variant of variants) {
        await check(gpu, { rows: 1, n: 257, k, dtype, variant });
        // The unaligned f32/f16 pipelines: fewest and most lanes (compiles are slow).
        if (variant.lanes !== 8 && variant.lanes !== 128) continue;
        await check(gpu, {
          rows: 1,
          n: 70,
          k: big ? 512 : isQuantType(dtype) ? 160 : 13, // tails: 5 blocks of 32
          dtype,
          variant,
          yOffset: 5,
          yStride: 80,
          accumulate: true,
        });
      }
    } finally {
      gpu.destroy();
    }
  });
}

// GeGLU fused into the matmul (glu): the 8-lane variants (every row count: pairs in 4 … 32 rows),
// one with more lanes than pairs, and the gemm loop (T = 3, and T = 7 in one tile of 8); an odd F, K with a tail (f32/f16
// unaligned, q8_0/q4_0 an odd block count).
for (const dtype of ["f32", "f16", ...QUANT_TYPES] as const) {
  Deno.test({
    name: `matmul ${dtype} with glu: gelu(x·gateᵀ) ⊙ x·upᵀ`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    const big = superBlock(dtype);
    const k = big ? 512 : isQuantType(dtype) ? 160 : 13;
    const variants = matmulCandidates(gpu, dtype).filter((v) =>
      v.lanes === 8 || (!big && v.gemv && v.rows === 4 && v.lanes === 32)
    );
    for (const variant of variants) {
      await check(gpu, { rows: 1, n: 74, k, dtype, variant, glu: true });
    }
    await check(gpu, { rows: 3, n: 74, k, dtype, glu: true, yOffset: 2, yStride: 40 });
    if (isQuantType(dtype)) await check(gpu, { rows: 7, n: 74, k, dtype, glu: true });
  });
}

// A decode GEMV (T = 1) or a few rows of x against aligned f32 / f16 rows take matmulBroadcast by
// default where the device has subgroups (lavapipe does), the gemm loop otherwise: the same y.
for (const dtype of ["f32", "f16"] as const) {
  Deno.test({
    name: `matmul ${dtype} takes 1 to 4 aligned rows with the default and the gemm variant alike`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const gpu = await testGpu();
    for (const variant of [undefined, { gemv: false, rows: 8, lanes: 8 }]) {
      await check(gpu, { rows: 1, n: 70, k: 136, dtype, variant });
      await check(gpu, { rows: 3, n: 45, k: 48, dtype, variant });
      await check(gpu, { rows: 4, n: 19, k: 256, dtype, variant, accumulate: true });
      await check(gpu, { rows: 1, n: 33, k: 64, dtype, variant, yOffset: 3, yStride: 40 });
      await check(gpu, { rows: 1, n: 8, k: 1024, dtype, variant, accumulate: true });
    }
  });
}

// Quantized decode by default: the gemv loop with x broadcast where the device has subgroups of 8+
// lanes (lavapipe does), whose lanes own whole rows; the same y as the split-K gemv loop.
const hasSubgroups = (await testGpu()).subgroupLanes >= 8;
Deno.test({
  name: "matmul quantized decode shares x by subgroup broadcasts by default",
  ignore: !hasSubgroups,
}, async () => {
  const gpu = await testGpu();
  for (const dtype of ["q4_0", "q5_1", "q8_0", "q4_k", "q6_k"] as const) {
    const probe = createMatrix(gpu, 8, 256, dtype);
    assert.ok(takesGemvBroadcast(gpu, probe) && matmulVariant(gpu, dtype).broadcast, dtype);
    destroyMatrix(probe);
    const k = superBlock(dtype) ? 768 : 160; // 160: 5 blocks, the last one the tail loop's
    for (const variant of [undefined, { gemv: true, rows: 16, lanes: 8 }]) {
      await check(gpu, { rows: 1, n: 131, k, dtype, variant, blocks: "random" });
      await check(gpu, { rows: 1, n: 74, k, dtype, variant, glu: true });
      await check(gpu, {
        rows: 1,
        n: 9,
        k,
        dtype,
        variant,
        yOffset: 2,
        yStride: 12,
        accumulate: true,
      });
    }
  }
});

Deno.test("glu needs paired rows in one chunk and matmul.wgsl's loops", async () => {
  const gpu = await testGpu({ maxBindingBytes: 4096 });
  try {
    const w = uploadMatrix(gpu, new Float32Array(16 * 32), 16, 32, "f32");
    const chunked = uploadMatrix(gpu, new Float32Array(100 * 32), 100, 32, "f32");
    const gemm = { gemv: false, rows: 8, lanes: 8 };
    assert.ok(canFuseGlu(gpu, w, 1, gemm) && canFuseGlu(gpu, w, 4, gemm));
    // The default f32 variant takes up to 4 rows through matmulBroadcast where the device can.
    for (const rows of [1, 4]) {
      assert.equal(canFuseGlu(gpu, w, rows), !takesBroadcast(gpu, w), `T = ${rows}, broadcast`);
    }
    assert.ok(!canFuseGlu(gpu, w, 5), "5 rows of x go to the tiled kernel");
    assert.ok(!canFuseGlu(gpu, chunked, 1), `${chunked.chunks.length} chunks`);
    const blocked = { gemv: false, rows: 8, lanes: 8, blocked: true };
    assert.ok(canFuseGlu(gpu, w, 2, blocked) && !canFuseGlu(gpu, w, 9, blocked), "blocked, T > 8");
    const y = gpu.createBuffer(8 * 5 * 4);
    assert.throws(() => matmul(gpu.batch(), { x: y, w, y, rows: 5, glu: true }), GpuError);
    for (const m of [w, chunked]) destroyMatrix(m);
    y.destroy();
  } finally {
    gpu.destroy();
  }
});

// Prefill through matmulBlocked (the variant GPUs may tune to): T from 9 to past a 64-row tile,
// N past a 64-row tile and K past a 64-value step with tails (f32/f16 K mod 8, q8_0/q4_0 an odd
// block count), column bands, accumulation, and chunks that end inside a tile.
const BLOCKED = { gemv: false, rows: 8, lanes: 8, blocked: true };
for (const dtype of ["f32", "f16", ...QUANT_TYPES] as const) {
  Deno.test({
    name: `matmul ${dtype} prefill through the blocked kernel matches the reference`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, async () => {
    const big = superBlock(dtype);
    const quantized = isQuantType(dtype);
    const k = big ? 512 : quantized ? 160 : 13;
    const gpu = await testGpu();
    await check(gpu, { rows: 9, n: 7, k, dtype, variant: BLOCKED });
    await check(gpu, {
      rows: 70,
      n: 130,
      k: big ? 256 : quantized ? 96 : 72,
      dtype,
      variant: BLOCKED,
    });
    await check(gpu, { rows: 12, n: 37, k, dtype, variant: BLOCKED, yOffset: 3, yStride: 45 });
    await check(gpu, {
      rows: 66,
      n: 65,
      k: big ? 256 : 64,
      dtype,
      variant: BLOCKED,
      yOffset: 1,
      yStride: 70,
      accumulate: true,
      blocks: quantized ? "random" : undefined,
    });
    const small = await testGpu({ maxBindingBytes: 2048 });
    try {
      await check(small, { rows: 11, n: 333, k: big ? 256 : 64, dtype, variant: BLOCKED });
    } finally {
      small.destroy();
    }
  });
}

Deno.test("lanesAlongK spreads K's units evenly over lanes that run in step", () => {
  // Gemma 2B's 2048 columns, 32 quantized units: every one of 8 lanes walks 4.
  assert.equal(lanesAlongK(8, 32, 16384, 16), 8);
  // Gemma 3 270M's 640, 10 units: 2 lanes walk 5 each, for 4 blocks of rows.
  assert.equal(lanesAlongK(8, 10, 262144, 16), 2);
  assert.equal(lanesAlongK(8, 12, 4096, 8), 4);
  // Too few rows for more blocks: idle rows would cost more than idle lane steps.
  assert.equal(lanesAlongK(8, 10, 16, 16), 8);
  // f16 units of 8 values: 640 columns are 80 units, even over 8 lanes.
  assert.equal(lanesAlongK(8, 80, 2048, 8), 8);
});
