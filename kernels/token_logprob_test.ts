import assert from "node:assert/strict";
import { tokenLogprob, tokenLogprobReference } from "./token_logprob.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

// [rows, vocab, stride]: a stride past the vocabulary pads each row with NaN, never read.
for (
  const [rows, vocab, stride] of [[1, 1, 1], [3, 7, 7], [5, 1000, 1000], [2, 262144, 262144], [
    4,
    37,
    64,
  ]]
) {
  Deno.test(`tokenLogprob matches the reference for ${rows}×${vocab} (rows ${stride} apart)`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const logits = randomArray(random, rows * vocab, 8);
    const targets = Uint32Array.from({ length: rows }, () => Math.floor(random() * vocab));
    // Make one row's target its argmax, so that the greedy flag is exercised both ways.
    if (rows > 1) logits[targets[0]] = 100;
    const padded = new Float32Array(rows * stride).fill(NaN);
    for (let r = 0; r < rows; r++) {
      padded.set(logits.subarray(r * vocab, (r + 1) * vocab), r * stride);
    }
    const out = gpu.createBuffer(rows * 8);
    const batch = gpu.batch();
    tokenLogprob(batch, {
      logits: gpu.upload(padded),
      targets: gpu.upload(targets),
      out,
      rows,
      vocab,
      stride,
    });
    batch.submit();
    const actual = await gpu.readF32(out, rows * 2);
    const expected = tokenLogprobReference(logits, targets, vocab);
    const logprobs = (a: Float32Array) => a.filter((_, i) => i % 2 === 0);
    // log-probabilities are O(log V): compare absolutely, at f32 precision of the sum.
    for (let r = 0; r < rows; r++) {
      assert.ok(
        Math.abs(logprobs(actual)[r] - logprobs(expected)[r]) < 1e-4,
        `seed ${seed}, row ${r}: ${logprobs(actual)[r]} vs ${logprobs(expected)[r]}`,
      );
    }
    assertClose(actual.filter((_, i) => i % 2 === 1), expected.filter((_, i) => i % 2 === 1), 0);
    if (rows > 1) assert.equal(actual[1], 1, "row 0's target is its argmax");
  });
}
