import assert from "node:assert/strict";
import { xorFold, xorFoldOutputWords, xorFoldReference } from "./xor_fold.ts";
import { seededRandom, testGpu, testSeed } from "./test_util.ts";

// 4 words; one workgroup's span and a bit (8·1024 vec4s + 3); several workgroups, ragged.
for (const words of [4, 4 * (8 * 1024 + 3), 4 * 50001]) {
  for (const lanes of [8, 64]) {
    Deno.test(`xorFold matches the reference for ${words} words, ${lanes} lanes`, async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const random = seededRandom(seed);
      const input = new Uint32Array(words).map(() => random() * 2 ** 32);
      const inputBuffer = gpu.upload(input);
      const outWords = xorFoldOutputWords(words, lanes);
      const out = gpu.createBuffer(outWords * 4);
      const batch = gpu.batch();
      xorFold(batch, { input: inputBuffer, words, out, lanes });
      batch.submit();
      const actual = new Uint32Array(await gpu.readBytes(out, outWords * 4));
      assert.deepEqual(actual, xorFoldReference(input, lanes), `seed ${seed}`);
      inputBuffer.destroy();
      out.destroy();
    });
  }
}

Deno.test("xorFold refuses a word count that is not whole vec4s", async () => {
  const gpu = await testGpu();
  const input = gpu.createBuffer(24);
  const out = gpu.createBuffer(32);
  assert.throws(() => xorFold(gpu.batch(), { input, words: 6, out }), /whole vec4s; got 6/);
  input.destroy();
  out.destroy();
});
