import assert from "node:assert/strict";
import { f16BitsToF32, f32ToF16Bits, toF16, widenF16 } from "./f16.ts";
import { seededRandom, testSeed } from "./test_util.ts";

Deno.test("toF16 and widenF16 (native Float16Array where there is one) agree with the bit maths", () => {
  const seed = testSeed();
  const random = seededRandom(seed);
  const special = [
    0,
    -0,
    1,
    -1,
    65504,
    65520,
    1e6,
    -1e6,
    6e-8,
    3e-8,
    2.98e-8,
    6.1e-5,
    1 + 2 ** -11,
  ];
  const values = Float32Array.from([
    ...special,
    Infinity,
    -Infinity,
    NaN,
    ...Array.from({ length: 100000 }, () => (random() - 0.5) * 2 ** (random() * 40 - 28)),
  ]);
  const bits = toF16(values);
  values.forEach((v, i) => {
    if (Number.isNaN(v)) assert.ok((bits[i] & 0x7fff) > 0x7c00, "NaN stays NaN");
    else assert.equal(bits[i], f32ToF16Bits(v), `seed ${seed}: ${v}`);
  });
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const wide = new Float32Array(65536);
  widenF16(all, wide);
  wide.forEach((v, i) => {
    const expected = f16BitsToF32(i);
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(v));
    else assert.equal(v, expected, `bits ${i}`);
  });
});
