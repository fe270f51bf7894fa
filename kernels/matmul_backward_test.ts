import assert from "node:assert/strict";
import { type GpuContext, roundToF16 } from "./gpu.ts";
import {
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  uploadMatrix,
  type WeightType,
  writeQuantizedRows,
} from "./matrix.ts";
import {
  f32Matrix,
  matmulForward64,
  matmulInputGrad,
  matmulInputGradReference,
  matmulWeightGrad,
  matmulWeightGradReference,
  transposeMatrix,
} from "./matmul_backward.ts";
import { BLOCK_ELEMENTS, dequantize, isQuantType, QUANT_TYPES, quantize } from "./quant.ts";
import { assertGradient, dot } from "./gradient_check.ts";
import {
  assertClose,
  deviceHasF16,
  expectedBand,
  randomArray,
  seededRandom,
  testGpu,
  testSeed,
} from "./test_util.ts";

interface Case {
  rows: number;
  n: number;
  k: number;
  dtype: WeightType;
  dyOffset?: number;
  dyStride?: number;
  accumulate?: boolean;
  scale?: number;
  /** Bytes per storage binding, to split w into several chunks. */
  maxBindingBytes?: number;
  /** Pass a scratch buffer: the transposed path (w decoded into wᵀ, then matmul). */
  scratch?: boolean;
}

/** The weight as the GPU holds it (dequantized blocks, f16-rounded), uploaded. */
function makeWeight(
  gpu: GpuContext,
  w: Float32Array,
  c: Case,
): { matrix: GpuMatrix; held: Float32Array } {
  if (isQuantType(c.dtype)) {
    const blocks = quantize(c.dtype, w);
    const matrix = createMatrix(gpu, c.n, c.k, c.dtype);
    writeQuantizedRows(gpu, matrix, 0, blocks);
    return { matrix, held: dequantize(c.dtype, blocks, c.n * c.k) };
  }
  const matrix = uploadMatrix(gpu, w, c.n, c.k, c.dtype);
  return { matrix, held: c.dtype === "f16" ? roundToF16(w) : w };
}

async function checkInputGrad(c: Case): Promise<void> {
  const gpu = c.maxBindingBytes
    ? await testGpu({ maxBindingBytes: c.maxBindingBytes })
    : await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, n, k } = c;
  const dyOffset = c.dyOffset ?? 0;
  const dyStride = c.dyStride ?? n;
  const dyWide = randomArray(random, rows * dyStride, 2);
  const w = randomArray(random, n * k, 1);
  const dx0 = randomArray(random, rows * k, 3);
  const { matrix, held } = makeWeight(gpu, w, c);
  const dx = gpu.upload(dx0);
  const batch = gpu.batch();
  matmulInputGrad(batch, {
    dy: gpu.upload(dyWide),
    w: matrix,
    dx,
    rows,
    dyOffset,
    dyStride,
    accumulate: c.accumulate,
    scale: c.scale,
    scratch: c.scratch ? gpu.createBuffer(n * k * 4) : undefined,
  });
  batch.submit();
  const actual = await gpu.readF32(dx, rows * k);
  destroyMatrix(matrix);
  const dy = new Float32Array(rows * n);
  for (let t = 0; t < rows; t++) {
    dy.set(dyWide.subarray(t * dyStride + dyOffset, t * dyStride + dyOffset + n), t * n);
  }
  const product = matmulInputGradReference(dy, held, rows, n, k).map((v) => v * (c.scale ?? 1));
  const expected = expectedBand(dx0, Float32Array.from(product), {
    rows,
    n: k,
    yOffset: 0,
    yStride: k,
    accumulate: c.accumulate,
  });
  assertClose(actual, expected, 1e-5, `seed ${seed}`);
  if (c.dtype === "f16") {
    // Against the unrounded weights: the f16 storage's own error.
    const exact = matmulInputGradReference(dy, w, rows, n, k).map((v) => v * (c.scale ?? 1));
    const band = { rows, n: k, yOffset: 0, yStride: k, accumulate: c.accumulate };
    assertClose(actual, expectedBand(dx0, Float32Array.from(exact), band), 1e-2, `seed ${seed}`);
  }
}

const floatShapes = [[1, 1, 1], [3, 7, 5], [5, 257, 130], [6, 20, 24], [9, 33, 64]];
for (const dtype of ["f32", "f16"] as const) {
  for (const [rows, n, k] of floatShapes) {
    Deno.test({
      name: `matmulInputGrad ${dtype} matches the reference for T=${rows} N=${n} K=${k}`,
      ignore: dtype === "f16" && !deviceHasF16,
    }, () => checkInputGrad({ rows, n, k, dtype }));
  }
}

for (const dtype of QUANT_TYPES) {
  const block = BLOCK_ELEMENTS[dtype];
  // An odd number of 32-value blocks leaves a tail past the last 64-value unit.
  const k = block === 32 ? 96 : 256;
  Deno.test(`matmulInputGrad ${dtype} matches the reference for T=5 N=19 K=${k}`, () =>
    checkInputGrad({ rows: 5, n: 19, k, dtype }));
}

for (const dtype of ["f32", "f16", ...QUANT_TYPES] as const) {
  const k = dtype === "f32" || dtype === "f16" ? 37 : BLOCK_ELEMENTS[dtype] === 32 ? 96 : 256;
  Deno.test({
    name: `matmulInputGrad through wᵀ (scratch) ${dtype} matches the reference, accumulating`,
    ignore: dtype === "f16" && !deviceHasF16,
  }, () => checkInputGrad({ rows: 9, n: 21, k, dtype, scratch: true, accumulate: true }));
}

Deno.test("transposeMatrix decodes every weight type into its exact f32 transpose", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const types: WeightType[] = ["f32", ...(deviceHasF16 ? ["f16" as const] : []), ...QUANT_TYPES];
  for (const dtype of types) {
    // Odd K for f32 / f16 (a tail past the last 8-value unit); 96 for the 32-value formats.
    const k = dtype === "f32" || dtype === "f16" ? 45 : BLOCK_ELEMENTS[dtype] === 32 ? 96 : 256;
    const n = 13;
    const c = { rows: 1, n, k, dtype };
    const { matrix, held } = makeWeight(gpu, randomArray(random, n * k), c);
    const out = gpu.createBuffer(n * k * 4);
    const batch = gpu.batch();
    const transposed = transposeMatrix(batch, matrix, out);
    batch.submit();
    assert.deepEqual([transposed.rows, transposed.cols], [k, n]);
    const expected = Float32Array.from(
      { length: n * k },
      (_, i) => held[(i % n) * k + (i / n | 0)],
    );
    assertClose(await gpu.readF32(out, n * k), expected, 0, `${dtype}, seed ${seed}`);
    destroyMatrix(matrix);
  }
});

Deno.test("matmulInputGrad takes a band of dy, scales and accumulates", () =>
  checkInputGrad({
    rows: 7,
    n: 13,
    k: 40,
    dtype: "f32",
    dyOffset: 5,
    dyStride: 21,
    accumulate: true,
    scale: 0.37,
  }));

Deno.test("matmulInputGrad sums over the chunks of a split weight", () =>
  checkInputGrad({ rows: 3, n: 50, k: 64, dtype: "q8_0", maxBindingBytes: 1024 }));

Deno.test("matmulInputGrad sums over the chunks of a split f32 weight, accumulating", () =>
  checkInputGrad({ rows: 4, n: 41, k: 24, dtype: "f32", maxBindingBytes: 512, accumulate: true }));

for (const [rows, n, k] of [[1, 1, 1], [7, 3, 130], [33, 16, 5], [100, 9, 17]]) {
  Deno.test(`matmulWeightGrad matches the reference for T=${rows} N=${n} K=${k}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const dy = randomArray(random, rows * n, 2);
    const x = randomArray(random, rows * k, 3);
    const dw0 = randomArray(random, n * k, 1);
    const dw = gpu.upload(dw0);
    const batch = gpu.batch();
    matmulWeightGrad(batch, {
      dy: gpu.upload(dy),
      x: gpu.upload(x),
      dw,
      rows,
      n,
      k,
      accumulate: true,
      scale: 0.5,
    });
    batch.submit();
    const product = matmulWeightGradReference(dy, x, rows, n, k);
    const expected = dw0.map((v, i) => v + 0.5 * product[i]);
    assertClose(await gpu.readF32(dw, n * k), expected, 1e-5, `seed ${seed}`);
  });
}

Deno.test("matmulWeightGrad takes column bands of dy and x", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const [rows, n, k] = [6, 5, 9];
  const dyWide = randomArray(random, rows * 12, 2);
  const xWide = randomArray(random, rows * 10, 2);
  const dw = gpu.createBuffer(n * k * 4);
  const batch = gpu.batch();
  matmulWeightGrad(batch, {
    dy: gpu.upload(dyWide),
    x: gpu.upload(xWide),
    dw,
    rows,
    n,
    k,
    dyStride: 12,
    dyOffset: 7,
    xStride: 10,
    xOffset: 1,
  });
  batch.submit();
  const dy = Float32Array.from(
    { length: rows * n },
    (_, i) => dyWide[(i / n | 0) * 12 + 7 + i % n],
  );
  const x = Float32Array.from({ length: rows * k }, (_, i) => xWide[(i / k | 0) * 10 + 1 + i % k]);
  const expected = matmulWeightGradReference(dy, x, rows, n, k);
  assertClose(await gpu.readF32(dw, n * k), expected, 1e-5, `seed ${seed}`);
});

Deno.test("LoRA's four products through f32Matrix equal the reference", async () => {
  // y = s·(x·Aᵀ)·Bᵀ: dB = s·dyᵀ·h, dh = s·dy·B, dA = dhᵀ·x, dx = dh·A.
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const [rows, inDim, outDim, rank, s] = [5, 24, 18, 4, 2.5];
  const x = randomArray(random, rows * inDim);
  const a = randomArray(random, rank * inDim);
  const b = randomArray(random, outDim * rank);
  const dy = randomArray(random, rows * outDim);
  const h = Float32Array.from(matmulForward64(x, a, rows, rank, inDim));
  const [dyBuffer, hBuffer, xBuffer] = [gpu.upload(dy), gpu.upload(h), gpu.upload(x)];
  const [dA, dB, dh, dx] = [rank * inDim, outDim * rank, rows * rank, rows * inDim].map((n) =>
    gpu.createBuffer(n * 4)
  );
  const batch = gpu.batch();
  matmulWeightGrad(batch, { dy: dyBuffer, x: hBuffer, dw: dB, rows, n: outDim, k: rank, scale: s });
  matmulInputGrad(batch, {
    dy: dyBuffer,
    w: f32Matrix(gpu.upload(b), outDim, rank),
    dx: dh,
    rows,
    scale: s,
  });
  matmulWeightGrad(batch, { dy: dh, x: xBuffer, dw: dA, rows, n: rank, k: inDim });
  matmulInputGrad(batch, { dy: dh, w: f32Matrix(gpu.upload(a), rank, inDim), dx, rows });
  batch.submit();
  // The references, checked against finite differences of L = Σ dy ⊙ y.
  const forward = (xv: ArrayLike<number>, av: ArrayLike<number>, bv: ArrayLike<number>) =>
    matmulForward64(matmulForward64(xv, av, rows, rank, inDim), bv, rows, outDim, rank)
      .map((v) => v * s);
  const dhRef = matmulInputGradReference(dy, b, rows, outDim, rank).map((v) => v * s);
  const dBRef = matmulWeightGradReference(dy, h, rows, outDim, rank).map((v) => v * s);
  const dARef = matmulWeightGradReference(dhRef, x, rows, rank, inDim);
  const dxRef = matmulInputGradReference(dhRef, a, rows, rank, inDim);
  assertGradient((v) => dot(forward(x, v, b), dy), a, dARef, "dA");
  assertGradient((v) => dot(forward(x, a, v), dy), b, dBRef, "dB");
  assertGradient((v) => dot(forward(v, a, b), dy), x, dxRef, "dx");
  assertClose(await gpu.readF32(dB, outDim * rank), dBRef, 1e-5, `dB, seed ${seed}`);
  assertClose(await gpu.readF32(dh, rows * rank), dhRef, 1e-5, `dh, seed ${seed}`);
  assertClose(await gpu.readF32(dA, rank * inDim), dARef, 1e-5, `dA, seed ${seed}`);
  assertClose(await gpu.readF32(dx, rows * inDim), dxRef, 1e-5, `dx, seed ${seed}`);
});

Deno.test("matmulInputGradReference is the gradient of the forward (finite differences)", () => {
  const random = seededRandom(testSeed());
  const [rows, n, k] = [3, 4, 5];
  const x = randomArray(random, rows * k);
  const w = randomArray(random, n * k);
  const probe = randomArray(random, rows * n);
  const loss = (xv: Float64Array) => dot(matmulForward64(xv, w, rows, n, k), probe);
  assertGradient(loss, x, matmulInputGradReference(probe, w, rows, n, k), "dx");
  const lossW = (wv: Float64Array) => dot(matmulForward64(x, wv, rows, n, k), probe);
  assertGradient(lossW, w, matmulWeightGradReference(probe, x, rows, n, k), "dw");
});

Deno.test("matmulInputGrad refuses a band of dy past its row stride", async () => {
  const gpu = await testGpu();
  const w = uploadMatrix(gpu, new Float32Array(12), 4, 3, "f32");
  const b = gpu.createBuffer(64);
  assert.throws(
    () => matmulInputGrad(gpu.batch(), { dy: b, w, dx: b, rows: 1, dyOffset: 2, dyStride: 5 }),
    /4 columns of dy from offset 2 exceed its row stride 5/,
  );
});
