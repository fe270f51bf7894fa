import { softcapReference } from "./softcap.ts";
import { softcapBackward, softcapBackwardReference } from "./softcap_backward.ts";
import { assertGradient, dot } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

for (const [count, cap, spread] of [[1, 30, 10], [7, 50, 100], [5000, 30, 60]]) {
  Deno.test(`softcapBackward ${cap} matches the reference for ${count} values in ±${spread}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, count, spread);
    const dy = randomArray(random, count, 1);
    const grad = gpu.upload(dy);
    const batch = gpu.batch();
    softcapBackward(batch, { y: gpu.upload(softcapReference(x, cap)), grad, count, cap });
    batch.submit();
    const expected = softcapBackwardReference(x, dy, cap);
    // From the f32 output: 1 − (y/cap)² carries y's rounding, ~1e-7 of 1.
    assertClose(await gpu.readF32(grad, count), expected, 1e-5, `seed ${seed}`);
  });
}

Deno.test("softcapBackwardReference is the gradient of cap·tanh(x / cap)", () => {
  const random = seededRandom(testSeed());
  const x = randomArray(random, 9, 40);
  const probe = randomArray(random, 9);
  const forward = (v: Float64Array) => dot(v.map((e) => 30 * Math.tanh(e / 30)), probe);
  assertGradient(forward, x, softcapBackwardReference(x, probe, 30), "dx");
});
