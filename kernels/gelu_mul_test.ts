import assert from "node:assert/strict";
import { geluMul, geluMulReference, geluTanh } from "./gelu_mul.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

/** y = geluMul of (rows, width) gate and up values, on the GPU. */
async function geluMulOnGpu(
  gate: Float32Array,
  up: Float32Array,
  rows: number,
  width: number,
): Promise<Float32Array> {
  const gpu = await testGpu();
  // Each row: its gate values, then its up values.
  const gateUp = new Float32Array(2 * rows * width);
  for (let t = 0; t < rows; t++) {
    gateUp.set(gate.subarray(t * width, (t + 1) * width), 2 * t * width);
    gateUp.set(up.subarray(t * width, (t + 1) * width), (2 * t + 1) * width);
  }
  const y = gpu.createBuffer(rows * width * 4);
  const batch = gpu.batch();
  geluMul(batch, { gateUp: gpu.upload(gateUp), y, rows, width });
  batch.submit();
  const result = await gpu.readF32(y, rows * width);
  y.destroy();
  return result;
}

for (const [rows, width] of [[1, 1], [1, 7], [3, 257], [5, 2048 + 5]]) {
  Deno.test(`geluMul matches the reference for ${rows}×${width}`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const gate = randomArray(random, rows * width, 6);
    const up = randomArray(random, rows * width, 2);
    const actual = await geluMulOnGpu(gate, up, rows, width);
    assertClose(actual, geluMulReference(gate, up), 1e-5, `seed ${seed}`);
  });
}

Deno.test("geluMul stays finite for huge gate values", async () => {
  const gate = new Float32Array([-1e30, -1e4, -30, 30, 1e4, 1e30, 0, -0.5]);
  const up = new Float32Array(gate.length).fill(1);
  const actual = await geluMulOnGpu(gate, up, 2, 4);
  assert.ok(actual.every(Number.isFinite), `${actual}`);
  assertClose(actual, geluMulReference(gate, up), 1e-6);
});

Deno.test("geluTanh has the known values", () => {
  assert.equal(geluTanh(0), 0);
  assert.ok(Math.abs(geluTanh(1) - 0.8411919906) < 1e-9);
  assert.ok(Math.abs(geluTanh(-1) + 0.1588080094) < 1e-9);
});

Deno.test("geluMul keeps its relative precision for negative gates", async () => {
  const gate = new Float32Array([-9, -6, -5.5, -3, -1e-3, -1e-20, 1e-20, 2]);
  const up = new Float32Array(gate.length).fill(1);
  const actual = await geluMulOnGpu(gate, up, 1, gate.length);
  const expected = geluMulReference(gate, up);
  gate.forEach((g, i) => assertClose([actual[i]], [expected[i]], 1e-5, `gelu(${g})`));
});
