// Metrics against values computed by hand.

import assert from "node:assert/strict";
import {
  aggregate,
  argmax,
  meanStderr,
  multipleChoiceMetrics,
  pythonLength,
  sampleStddev,
} from "./metrics.ts";

Deno.test("argmax takes the first of equal values, as numpy", () => {
  assert.equal(argmax([1, 3, 3, 2]), 1);
  assert.equal(argmax([-5]), 0);
});

Deno.test("acc and acc_norm of one document", () => {
  // lls −4, −6, −9 over lengths 2, 6, 18 chars: acc picks 0; per char −2, −1, −0.5 picks 2.
  const choices = ["ab", "abcdef", "abcdefghijklmnopqr"];
  assert.deepEqual(multipleChoiceMetrics([-4, -6, -9], choices, 0), { acc: 1, acc_norm: 0 });
  assert.deepEqual(multipleChoiceMetrics([-4, -6, -9], choices, 2), { acc: 0, acc_norm: 1 });
  assert.deepEqual(multipleChoiceMetrics([-4, -6, -9], choices, 2, ["acc"]), { acc: 0 });
  // Lengths are code points: "🙂🙂" is 2 (4 UTF-16 units). −3/2 = −1.5 beats −5/3.
  assert.equal(pythonLength("🙂🙂"), 2);
  assert.deepEqual(multipleChoiceMetrics([-3, -5], ["🙂🙂", "abc"], 0), { acc: 1, acc_norm: 1 });
  assert.throws(() => multipleChoiceMetrics([-1], ["a", "b"], 0), /1 log-likelihoods for 2/);
});

Deno.test("stderr is the sample stddev (n − 1) over √n", () => {
  // [1, 0, 1, 1]: mean 0.75, squared deviations 3 × 0.0625 + 0.5625 = 0.75, / 3 = 0.25 → sd 0.5,
  // stderr 0.5 / 2 = 0.25.
  assert.equal(sampleStddev([1, 0, 1, 1]), 0.5);
  assert.equal(meanStderr([1, 0, 1, 1]), 0.25);
  assert.equal(meanStderr([1]), undefined);
  const docs = [{ acc: 1, acc_norm: 0 }, { acc: 0, acc_norm: 0 }, { acc: 1, acc_norm: 1 }, {
    acc: 1,
    acc_norm: 1,
  }];
  const agg = aggregate(docs);
  assert.deepEqual(agg.get("acc"), { value: 0.75, stderr: 0.25 });
  // acc_norm [0, 0, 1, 1]: mean 0.5, sd sqrt(1 / 3), stderr sqrt(1 / 3) / 2.
  assert.equal(agg.get("acc_norm")!.value, 0.5);
  assert.ok(Math.abs(agg.get("acc_norm")!.stderr! - Math.sqrt(1 / 3) / 2) < 1e-15);
});
