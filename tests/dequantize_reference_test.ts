// Every block decoder of kernels/quant.ts against llama.cpp's own Python package
// (gguf.quants.dequantize): random blocks (every bit pattern in the codes), with ordinary and
// extreme f16 scales (the largest finite, subnormals, zero, negative).

import assert from "node:assert/strict";
import { BLOCK_ELEMENTS, dequantize, QUANT_TYPES } from "../kernels/quant.ts";
import { randomBlocks, seededRandom, testSeed } from "../kernels/test_util.ts";
import { ggufDequantize } from "./python_reference.ts";

const EXTREME_SCALES = [65504, -65504, 6.1e-5, 6e-8, -6e-8, 0, -0, 1, -2, 1e4];

for (const type of QUANT_TYPES) {
  Deno.test(`${type} decodes as gguf.quants.dequantize does`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const blocks = 97;
    for (
      const [name, scale] of [
        ["ordinary", undefined],
        ["extreme", () => EXTREME_SCALES[Math.floor(random() * EXTREME_SCALES.length)]],
      ] as const
    ) {
      const count = blocks * BLOCK_ELEMENTS[type];
      const bytes = randomBlocks(random, type, count, scale);
      const expected = await ggufDequantize(type.toUpperCase(), bytes);
      const actual = dequantize(type, bytes, count);
      assert.equal(actual.length, expected.length);
      for (let i = 0; i < count; i++) {
        // Same f32 operations: equal bits, up to the sign of zero and NaN's payload.
        if (actual[i] === expected[i] || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
          continue;
        }
        assert.fail(
          `${type} (${name} scales, seed ${seed}): value ${i} (block ${
            Math.floor(i / BLOCK_ELEMENTS[type])
          }) is ${actual[i]}, gguf gives ${expected[i]}`,
        );
      }
    }
  });
}
