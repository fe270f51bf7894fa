import assert from "node:assert/strict";
import { type GpuContext, roundToF16 } from "./gpu.ts";
import { createMatrix, uploadMatrix, type WeightType, writeQuantizedRows } from "./matrix.ts";
import {
  createCrossEntropyWorkspace,
  crossEntropy,
  crossEntropyLossReference,
  crossEntropyReference,
} from "./cross_entropy.ts";
import { dequantize, isQuantType, quantize } from "./quant.ts";
import { assertGradient } from "./gradient_check.ts";
import {
  assertClose,
  deviceHasF16,
  randomArray,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

interface Case {
  rows: number;
  dim: number;
  vocab: number;
  dtype: WeightType;
  chunkRows?: number;
  softcap?: number;
  /** Spread of the hidden values (logits grow with it). */
  spread?: number;
  maxBindingBytes?: number;
  /** A quantized head whose values may be rounded to f16: the "decoded" gradient path. */
  roundsToF16?: boolean;
}

/** The gradient path crossEntropy should take for a case. */
function expectedPath(c: Case): string {
  if (c.dim % 8 !== 0) return "transposed";
  if (isQuantType(c.dtype)) return c.roundsToF16 ? "decoded" : "transposed";
  return "kMajor";
}

async function check(c: Case): Promise<void> {
  const gpu: GpuContext = c.maxBindingBytes
    ? await testGpu({ maxBindingBytes: c.maxBindingBytes })
    : await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, dim, vocab } = c;
  const hidden = randomArray(random, rows * dim, c.spread ?? 1);
  let head = randomArray(random, vocab * dim, 1);
  // Masked rows, and targets at both ends of the vocabulary (first and last chunk).
  const targets = Int32Array.from(
    { length: rows },
    (_, t) => t === 1 ? -1 : t === 0 ? vocab - 1 : t === 2 ? 0 : Math.floor(random() * vocab),
  );
  let matrix;
  if (isQuantType(c.dtype)) {
    const blocks = quantize(c.dtype, head);
    matrix = createMatrix(gpu, vocab, dim, c.dtype);
    writeQuantizedRows(gpu, matrix, 0, blocks);
    head = dequantize(c.dtype, blocks, vocab * dim);
    if (c.roundsToF16) {
      matrix.roundsToF16 = true;
      head = roundToF16(head);
    }
  } else {
    matrix = uploadMatrix(gpu, head, vocab, dim, c.dtype);
    if (c.dtype === "f16") head = roundToF16(head);
  }
  const workspace = createCrossEntropyWorkspace(gpu, matrix, rows, { chunkRows: c.chunkRows });
  if (c.chunkRows) assert.equal(workspace.chunkRows, c.chunkRows);
  assert.equal(workspace.gradient, expectedPath(c));
  const loss = gpu.createBuffer(rows * 4);
  const dHidden = gpu.createBuffer(rows * dim * 4);
  const gradScale = 1 / (rows - 1);
  const batch = gpu.batch();
  crossEntropy(batch, {
    hidden: gpu.upload(hidden),
    head: matrix,
    targets: gpu.upload(targets),
    loss,
    dHidden,
    gradScale,
    softcap: c.softcap,
    workspace,
  });
  batch.submit();
  const expected = crossEntropyReference(hidden, head, targets, dim, {
    softcap: c.softcap,
    gradScale,
  });
  const what = `seed ${seed}`;
  assertClose(await gpu.readF32(loss, rows), expected.loss, 1e-5, `loss, ${what}`);
  assertClose(await gpu.readF32(dHidden, rows * dim), expected.dHidden, 1e-5, `dHidden, ${what}`);
  workspace.destroy();
}

Deno.test("crossEntropy f32 matches the reference, 8 chunks (the last partial)", () =>
  check({ rows: 5, dim: 24, vocab: 1000, dtype: "f32", chunkRows: 128 }));

Deno.test("crossEntropy f32 matches the reference in one chunk", () =>
  check({ rows: 2, dim: 7, vocab: 33, dtype: "f32" }));

Deno.test("crossEntropy with Gemma 2's soft-cap matches the reference (logits beyond the cap)", () =>
  check({ rows: 6, dim: 16, vocab: 700, dtype: "f32", chunkRows: 100, softcap: 30, spread: 12 }));

Deno.test("crossEntropy copies head chunks that span the matrix's own row chunks", () =>
  check({ rows: 4, dim: 24, vocab: 300, dtype: "f32", chunkRows: 30, maxBindingBytes: 4096 }));

Deno.test({
  name: "crossEntropy f16 head matches the reference",
  ignore: !deviceHasF16,
}, () => check({ rows: 5, dim: 30, vocab: 500, dtype: "f16", chunkRows: 64 }));

for (const [dtype, dim] of [["q8_0", 64], ["q4_0", 96], ["q4_k", 256], ["q6_k", 256]] as const) {
  Deno.test(`crossEntropy ${dtype} head matches the reference`, () =>
    check({ rows: 4, dim, vocab: 300, dtype, chunkRows: 128, softcap: 5 }));
}

for (const [dtype, dim] of [["q8_0", 64], ["q4_k", 256], ["q5_0", 96]] as const) {
  Deno.test(`crossEntropy ${dtype} head decoded to f16 matches the reference with rounded weights`, () =>
    check({ rows: 9, dim, vocab: 700, dtype, chunkRows: 100, softcap: 5, roundsToF16: true }));
}

Deno.test("crossEntropy decodes vocabulary chunks that span the head's own row chunks", () =>
  check({
    rows: 3,
    dim: 64,
    vocab: 300,
    dtype: "q8_0",
    chunkRows: 16, // 4096-byte bindings hold 60 of the head's rows
    maxBindingBytes: 4096,
    roundsToF16: true,
  }));

Deno.test("crossEntropyReference's dHidden is the gradient of its loss (finite differences)", () => {
  const random = seededRandom(testSeed());
  const [rows, dim, vocab] = [3, 4, 7];
  const hidden = randomArray(random, rows * dim, 2);
  const head = randomArray(random, vocab * dim, 1);
  const targets = Int32Array.from([2, -1, 6]);
  for (const softcap of [0, 1.5]) {
    const { dHidden } = crossEntropyReference(hidden, head, targets, dim, {
      softcap,
      gradScale: 0.5,
    });
    const loss = (h: Float64Array) =>
      0.5 * crossEntropyLossReference(h, head, targets, dim, softcap).reduce((a, b) => a + b);
    assertGradient(loss, hidden, dHidden, `softcap ${softcap}`);
  }
});
