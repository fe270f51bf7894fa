import assert from "node:assert/strict";
import { softcap, softcapReference } from "./softcap.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

for (const [count, cap, spread] of [[1, 30, 10], [7, 50, 100], [257, 30, 90], [5000, 30, 2]]) {
  Deno.test(`softcap ${cap} matches the reference for ${count} values in ±${spread}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, count, spread);
    const buffer = gpu.upload(x);
    const batch = gpu.batch();
    softcap(batch, { x: buffer, count, cap });
    batch.submit();
    assertClose(await gpu.readF32(buffer, count), softcapReference(x, cap), 1e-5, `seed ${seed}`);
  });
}

Deno.test("softcap saturates at ±cap for huge values", async () => {
  const gpu = await testGpu();
  const x = new Float32Array([-1e30, -1e5, 1e5, 1e30, 0]);
  const buffer = gpu.upload(x);
  const batch = gpu.batch();
  softcap(batch, { x: buffer, count: x.length, cap: 30 });
  batch.submit();
  assert.deepEqual([...await gpu.readF32(buffer, x.length)], [-30, -30, 30, 30, 0]);
});

Deno.test("softcap keeps its relative precision for small values", async () => {
  const gpu = await testGpu();
  const x = new Float32Array([1e-30, -3e-7, 1e-4, -0.01, 0.2, 3.7, -3.75, 4, 40, -120]);
  const buffer = gpu.upload(x);
  const batch = gpu.batch();
  softcap(batch, { x: buffer, count: x.length, cap: 30 });
  batch.submit();
  const actual = await gpu.readF32(buffer, x.length);
  const expected = softcapReference(x, 30);
  x.forEach((_, i) => assertClose([actual[i]], [expected[i]], 2e-6, `softcap(${x[i]})`));
});
