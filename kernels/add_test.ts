import { add, addReference } from "./add.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

// 65535·256 + 300 elements need a second row of workgroups.
for (const count of [1, 7, 257, 65535 * 256 + 300]) {
  Deno.test(`add matches the reference for ${count} elements`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, count, 3);
    const y = randomArray(random, count, 3);
    const xBuffer = gpu.upload(x);
    const yBuffer = gpu.upload(y);
    const batch = gpu.batch();
    add(batch, { x: xBuffer, y: yBuffer, count });
    batch.submit();
    assertClose(await gpu.readF32(xBuffer, count), addReference(x, y), 1e-6, `seed ${seed}`);
    xBuffer.destroy();
    yBuffer.destroy();
  });
}
