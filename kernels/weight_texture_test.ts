import assert from "node:assert/strict";
import type { GpuContext } from "./gpu.ts";
import {
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  quantRowLayout,
  writeQuantizedRows,
} from "./matrix.ts";
import { embed } from "./embedding.ts";
import { matmul, matmulReference } from "./matmul.ts";
import { BLOCK_ELEMENTS, dequantize, QUANT_TYPES, type QuantType } from "./quant.ts";
import {
  assertClose,
  randomArray,
  randomBlocks,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";
import {
  addWeightTextures,
  fitsWeightTextures,
  hasWeightTextures,
  TEXELS_PER_ROW,
  texturedSource,
} from "./weight_texture.ts";

interface Case {
  type: QuantType;
  rows: number;
  n: number;
  k: number;
  glu?: boolean;
}

/** y = x·wᵀ for random blocks, from the buffer and from the textures (in one matrix). */
async function run(
  gpu: GpuContext,
  c: Case,
): Promise<{ buffer: Float32Array; texture: Float32Array; reference: Float32Array; seed: number }> {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { type, rows, n, k } = c;
  const blocks = randomBlocks(random, type, n * k);
  const w = createMatrix(gpu, n, k, type);
  writeQuantizedRows(gpu, w, 0, blocks);
  const x = randomArray(random, rows * k, 2);
  const xBuffer = gpu.upload(x);
  const columns = c.glu ? n / 2 : n;
  const y = gpu.createBuffer(rows * columns * 4);
  const multiply = async (m: GpuMatrix) => {
    const batch = gpu.batch();
    matmul(batch, { x: xBuffer, w: m, y, rows, glu: c.glu });
    batch.submit();
    return await gpu.readF32(y, rows * columns);
  };
  try {
    const buffer = await multiply(w);
    addWeightTextures(gpu, w);
    assert.ok(hasWeightTextures(w));
    const texture = await multiply(w);
    const reference = matmulReference(x, dequantize(type, blocks, n * k), rows, n, k);
    return { buffer, texture, reference, seed };
  } finally {
    destroyMatrix(w);
    xBuffer.destroy();
    y.destroy();
  }
}

/** Rows enough that a chunk spans two texture rows, the second partly filled. */
function rowsPastOneTextureRow(type: QuantType, k: number): number {
  return Math.ceil((TEXELS_PER_ROW * 16 * 1.5) / quantRowLayout(type, k).quantBytes) | 1;
}

for (const type of QUANT_TYPES) {
  Deno.test(`matmul reads ${type} weights from textures exactly as from buffers`, async () => {
    const gpu = await testGpu();
    const k = BLOCK_ELEMENTS[type] === 256 ? 768 : 640 + 32;
    const n = rowsPastOneTextureRow(type, k);
    for (const rows of [1, 3, 8]) {
      const { buffer, texture, reference, seed } = await run(gpu, { type, rows, n, k });
      assert.deepEqual(texture, buffer, `${type} T=${rows}: seed ${seed}`);
      assertClose(texture, reference, 1e-4, `${type} T=${rows}: seed ${seed}`);
    }
  });
}

Deno.test("matmul reads textures of many chunks, and a GeGLU's paired rows", async () => {
  const small = await testGpu({ maxBindingBytes: 4096 });
  try {
    for (const type of ["q8_0", "q4_k"] as const) {
      const k = BLOCK_ELEMENTS[type] === 256 ? 512 : 96;
      const { buffer, texture, reference, seed } = await run(small, { type, rows: 2, n: 301, k });
      assert.deepEqual(texture, buffer, `${type}: seed ${seed}`);
      assertClose(texture, reference, 1e-4, `${type}: seed ${seed}`);
    }
  } finally {
    small.destroy();
  }
  const gpu = await testGpu();
  const { buffer, texture, seed } = await run(gpu, {
    type: "q5_0",
    rows: 1,
    n: 2 * 37,
    k: 640,
    glu: true,
  });
  assert.deepEqual(texture, buffer, `glu: seed ${seed}`);
});

Deno.test("embed reads rows from textures exactly as from buffers, as f32 and as f16", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  for (const type of ["q8_0", "q5_0", "q4_k", "q6_k"] as const) {
    const k = BLOCK_ELEMENTS[type] === 256 ? 768 : 640 + 32;
    const n = rowsPastOneTextureRow(type, k);
    const table = createMatrix(gpu, n, k, type);
    writeQuantizedRows(gpu, table, 0, randomBlocks(random, type, n * k));
    const ids = Uint32Array.from(
      { length: 9 },
      (_, i) => i === 4 ? n - 1 : Math.floor(random() * n),
    );
    const idBuffer = gpu.upload(ids);
    const y = gpu.createBuffer(ids.length * k * 4);
    const lookup = async (f16Output: boolean) => {
      const batch = gpu.batch();
      embed(batch, { ids: idBuffer, table, y, rows: ids.length, scale: 1.5, f16Output });
      batch.submit();
      return await gpu.readU32(y, ids.length * k / (f16Output ? 2 : 1));
    };
    const buffer = [await lookup(false), await lookup(true)];
    addWeightTextures(gpu, table);
    const texture = [await lookup(false), await lookup(true)];
    assert.deepEqual(texture, buffer, `${type}: seed ${seed}`);
    destroyMatrix(table);
    idBuffer.destroy();
    y.destroy();
  }
});

Deno.test("weight textures are for quantized matrices, and sources must declare w", async () => {
  const gpu = await testGpu();
  const f32 = createMatrix(gpu, 4, 8, "f32");
  assert.equal(fitsWeightTextures(gpu, f32), false);
  assert.throws(() => addWeightTextures(gpu, f32), /does not fit weight textures/);
  destroyMatrix(f32);
  assert.throws(() => texturedSource("fn main() {}"), /not found/);
});
