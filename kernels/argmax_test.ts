import assert from "node:assert/strict";
import { argmax, argmaxReference } from "./argmax.ts";
import { randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";
import type { GpuContext } from "./gpu.ts";

async function gpuArgmax(gpu: GpuContext, x: Float32Array): Promise<number> {
  const out = gpu.createBuffer(4);
  const xBuffer = gpu.upload(x);
  const batch = gpu.batch();
  argmax(batch, { x: xBuffer, n: x.length, out });
  batch.submit();
  const [index] = await gpu.readU32(out, 1);
  xBuffer.destroy();
  out.destroy();
  return index;
}

for (const n of [1, 7, 257, 256000, 262144]) {
  Deno.test(`argmax matches the reference for ${n} values`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const x = randomArray(seededRandom(seed), n, 30);
    assert.equal(await gpuArgmax(gpu, x), argmaxReference(x), `seed ${seed}`);
  });
}

Deno.test("argmax returns the lowest index among equal maxima", async () => {
  const gpu = await testGpu();
  const x = new Float32Array(100000).fill(-5);
  for (const i of [99999, 70000, 4321, 4322, 513]) x[i] = 7;
  assert.equal(await gpuArgmax(gpu, x), 513);
  assert.equal(argmaxReference(x), 513);
  // All equal: index 0.
  assert.equal(await gpuArgmax(gpu, new Float32Array(1000).fill(-1e30)), 0);
});

Deno.test("argmax handles infinities and skips NaN", async () => {
  const gpu = await testGpu();
  const x = new Float32Array([NaN, -Infinity, 3, NaN, Infinity, 2, Infinity]);
  assert.equal(await gpuArgmax(gpu, x), 4);
  assert.equal(argmaxReference(x), 4);
  const low = new Float32Array([NaN, -Infinity, -Infinity]);
  assert.equal(await gpuArgmax(gpu, low), 1);
  assert.equal(argmaxReference(low), 1);
});
