import assert from "node:assert/strict";
import { GpuContext, GpuError } from "./gpu.ts";
import {
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  QUANT_LAYOUTS,
  quantRowLayout,
  uploadMatrix,
  writeMatrixRows,
  writeQuantizedRows,
} from "./matrix.ts";
import { BLOCK_BYTES, BLOCK_ELEMENTS, QUANT_TYPES, quantize, type QuantType } from "./quant.ts";
import { randomArray, randomBlocks, seededRandom, testGpu, testSeed } from "./test_util.ts";

/** Reads a quantized matrix back from the GPU and reassembles its GGUF blocks. */
async function readBlocks(gpu: GpuContext, matrix: GpuMatrix & { dtype: QuantType }) {
  const type = matrix.dtype;
  const row = quantRowLayout(type, matrix.cols);
  const { quantOffset, quantBytes, scaleOffsets, highOffset } = QUANT_LAYOUTS[type];
  const copied = Math.min(quantBytes, BLOCK_BYTES[type] - quantOffset); // the rest is padding
  const out = new Uint8Array(matrix.rows * row.ggufBytes);
  const read = async (buffer: GPUBuffer | undefined, bytes: number) =>
    buffer ? new Uint8Array(await gpu.readBytes(buffer, bytes)) : null;
  for (const chunk of matrix.chunks) {
    const quants = (await read(chunk.buffer, chunk.rows * row.quantBytes))!;
    const scales = await read(chunk.scales, chunk.rows * row.scaleStride * 2);
    const high = await read(chunk.high, chunk.rows * row.highWords * 4);
    for (let r = 0; r < chunk.rows; r++) {
      for (let b = 0; b < row.blocks; b++) {
        const at = ((chunk.rowStart + r) * row.blocks + b) * BLOCK_BYTES[type];
        const from = (r * row.blocks + b) * quantBytes;
        out.set(quants.subarray(from, from + copied), at + quantOffset);
        assert.ok(quants.subarray(from + copied, from + quantBytes).every((x) => x === 0));
        scaleOffsets.forEach((offset, f) => {
          const s = (r * row.scaleStride + b * scaleOffsets.length + f) * 2;
          out.set(scales!.subarray(s, s + 2), at + offset);
        });
        if (highOffset !== null) {
          const h = (r * row.highWords + b) * 4;
          out.set(high!.subarray(h, h + 4), at + highOffset);
        }
      }
    }
  }
  return out;
}

Deno.test("quantized matrices report their bytes: the file's bits per weight (q3_k: its padding too)", async () => {
  const gpu = await testGpu();
  const bits: Record<string, number> = {};
  for (const type of QUANT_TYPES) {
    const m = createMatrix(gpu, 4, 2048, type);
    bits[type] = m.bytes * 8 / (4 * 2048);
    destroyMatrix(m);
  }
  assert.deepEqual(bits, {
    q8_0: 8.5,
    q4_0: 4.5,
    q4_k: 4.5,
    q6_k: 6.5625,
    q5_0: 5.5,
    q4_1: 5,
    q5_1: 6,
    iq4_nl: 4.5,
    q5_k: 5.5,
    q3_k: 3.5, // 3.4375 in the file: 2 bytes of padding per block
    q2_k: 2.625,
    iq4_xs: 4.25,
  });
});

Deno.test("createMatrix refuses quantized rows that are not whole blocks", async () => {
  const gpu = await testGpu();
  assert.throws(
    () => createMatrix(gpu, 3, 100, "q4_0", "w"),
    (e) =>
      e instanceof GpuError &&
      e.message ===
        "Cannot store w as q4_0: its 100 columns are not a whole number of 32-value blocks",
  );
  assert.throws(() => createMatrix(gpu, 3, 512 + 32, "q6_k"), /256-value blocks/);
});

for (const type of QUANT_TYPES) {
  Deno.test(`${type} blocks survive the GPU layout across chunks, every binding within the limit`, async () => {
    const gpu = await testGpu({ maxBindingBytes: 600 });
    try {
      const seed = testSeed();
      const random = seededRandom(seed);
      const cols = BLOCK_ELEMENTS[type] === 256 ? 512 : 96; // an odd block count for the 32-value types
      const rows = 29;
      const blocks = randomBlocks(random, type, rows * cols);
      const matrix = createMatrix(gpu, rows, cols, type) as GpuMatrix & { dtype: QuantType };
      assert.ok(matrix.chunks.length > 1, "several chunks");
      for (const chunk of matrix.chunks) {
        assert.ok(chunk.buffer.size <= 600, `quant binding of ${chunk.buffer.size} bytes`);
        assert.ok((chunk.scales?.size ?? 0) <= 600 && (chunk.high?.size ?? 0) <= 600);
        assert.equal(chunk.scales !== undefined, QUANT_LAYOUTS[type].scaleOffsets.length > 0);
        assert.equal(chunk.high !== undefined, QUANT_LAYOUTS[type].highOffset !== null);
        // Hosts bind scales and high as bindings 4 and 5 in that order, when present.
        assert.ok(chunk.high === undefined || chunk.scales !== undefined, "high without scales");
      }
      // Three writes of whole rows, as a loader streams them.
      const rowBytes = quantRowLayout(type, cols).ggufBytes;
      for (const [from, to] of [[0, 5], [5, 6], [6, rows]]) {
        writeQuantizedRows(gpu, matrix, from, blocks.subarray(from * rowBytes, to * rowBytes));
      }
      assert.deepEqual(await readBlocks(gpu, matrix), blocks, `seed ${seed}`);
      destroyMatrix(matrix);
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("writeMatrixRows quantizes f32 rows on the CPU (quantize-on-load)", async () => {
  const gpu = await testGpu();
  const random = seededRandom(testSeed());
  for (const type of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "iq4_nl"] as const) {
    const values = randomArray(random, 7 * 64, 1);
    const matrix = uploadMatrix(gpu, values, 7, 64, type) as GpuMatrix & { dtype: QuantType };
    assert.deepEqual(await readBlocks(gpu, matrix), quantize(type, values));
    destroyMatrix(matrix);
  }
});

Deno.test("writeQuantizedRows rejects partial rows and non-quantized matrices", async () => {
  const gpu = await testGpu();
  const q = createMatrix(gpu, 4, 64, "q8_0");
  assert.throws(
    () => writeQuantizedRows(gpu, q, 0, new Uint8Array(34 * 3)),
    /102 bytes are not whole rows of 68 bytes \(2 q8_0 blocks\)/,
  );
  assert.throws(() => writeQuantizedRows(gpu, q, 3, new Uint8Array(68 * 2)), /out of range/);
  const f = createMatrix(gpu, 4, 64, "f32");
  assert.throws(() => writeQuantizedRows(gpu, f, 0, new Uint8Array(68)), /holds f32/);
  assert.throws(() => writeMatrixRows(gpu, q, 0, new Float32Array(65)), /partial row/);
  destroyMatrix(q);
  destroyMatrix(f);
});
