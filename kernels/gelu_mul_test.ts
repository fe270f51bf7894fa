import assert from "node:assert/strict";
import { geluMul, geluMulReference, geluTanh } from "./gelu_mul.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

for (const count of [1, 7, 257, 3 * 2048 + 5]) {
  Deno.test(`geluMul matches the reference for ${count} elements`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const gate = randomArray(random, count, 6);
    const up = randomArray(random, count, 2);
    const y = gpu.createBuffer(count * 4);
    const batch = gpu.batch();
    geluMul(batch, { gate: gpu.upload(gate), up: gpu.upload(up), y, count });
    batch.submit();
    assertClose(await gpu.readF32(y, count), geluMulReference(gate, up), 1e-5, `seed ${seed}`);
  });
}

Deno.test("geluMul stays finite for huge gate values", async () => {
  const gpu = await testGpu();
  const gate = new Float32Array([-1e30, -1e4, -30, 30, 1e4, 1e30, 0, -0.5]);
  const up = new Float32Array(gate.length).fill(1);
  const y = gpu.createBuffer(gate.length * 4);
  const batch = gpu.batch();
  geluMul(batch, { gate: gpu.upload(gate), up: gpu.upload(up), y, count: gate.length });
  batch.submit();
  const actual = await gpu.readF32(y, gate.length);
  assert.ok(actual.every(Number.isFinite), `${actual}`);
  assertClose(actual, geluMulReference(gate, up), 1e-6);
});

Deno.test("geluTanh has the known values", () => {
  assert.equal(geluTanh(0), 0);
  assert.ok(Math.abs(geluTanh(1) - 0.8411919906) < 1e-9);
  assert.ok(Math.abs(geluTanh(-1) + 0.1588080094) < 1e-9);
});

Deno.test("geluMul keeps its relative precision for negative gates", async () => {
  const gpu = await testGpu();
  const gate = new Float32Array([-9, -6, -5.5, -3, -1e-3, -1e-20, 1e-20, 2]);
  const up = new Float32Array(gate.length).fill(1);
  const y = gpu.createBuffer(gate.length * 4);
  const batch = gpu.batch();
  geluMul(batch, { gate: gpu.upload(gate), up: gpu.upload(up), y, count: gate.length });
  batch.submit();
  const actual = await gpu.readF32(y, gate.length);
  const expected = geluMulReference(gate, up);
  gate.forEach((g, i) => assertClose([actual[i]], [expected[i]], 1e-5, `gelu(${g})`));
});
