// Every block decoder of kernels/quant.ts against llama.cpp's own Python package
// (gguf.quants.dequantize): random blocks (every bit pattern in the codes), with ordinary and
// extreme f16 scales (the largest finite, subnormals, zero, negative). And the encoders that
// round as llama.cpp's reference quantizers do against gguf.quants.quantize (equal bytes).

import assert from "node:assert/strict";
import { BLOCK_ELEMENTS, dequantize, QUANT_TYPES, quantize } from "../kernels/quant.ts";
import { randomArray, randomBlocks, seededRandom, testSeed } from "../kernels/test_util.ts";
import { ggufDequantize, ggufQuantize } from "./python_reference.ts";

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

for (const type of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1"] as const) {
  Deno.test(`${type} quantizes as gguf.quants.quantize does`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const blocks = 200;
    const values = randomArray(random, blocks * 32, 1);
    // Ranges from 1e-3 to 1e3, all-positive and all-negative blocks, a zero block, outliers.
    for (let b = 0; b < blocks; b++) {
      const scale = 10 ** (random() * 6 - 3);
      for (let j = 0; j < 32; j++) {
        const at = b * 32 + j;
        values[at] *= scale;
        if (b % 7 === 1) values[at] = Math.abs(values[at]);
        if (b % 7 === 2) values[at] = -Math.abs(values[at]);
        if (b % 7 === 3 && j === 5) values[at] *= 20;
        if (b === 4) values[at] = 0;
      }
    }
    const expected = await ggufQuantize(type.toUpperCase(), values);
    const actual = quantize(type, values);
    assert.equal(actual.length, expected.length);
    const first = actual.findIndex((byte, i) => byte !== expected[i]);
    assert.equal(first, -1, `${type} seed ${seed}: byte ${first} differs`);
  });
}
