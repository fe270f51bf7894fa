import assert from "node:assert/strict";
import {
  BLOCK_BYTES,
  BLOCK_ELEMENTS,
  dequantize,
  QUANT_TYPES,
  quantize,
  quantizedBytes,
  type QuantType,
} from "./quant.ts";
import { f16BitsToF32, f32ToF16Bits } from "./gpu.ts";
import { randomArray, seededRandom, testSeed } from "./test_util.ts";

Deno.test("quant block sizes are GGUF's", () => {
  assert.deepEqual(
    QUANT_TYPES.map((t) => [t, BLOCK_ELEMENTS[t], BLOCK_BYTES[t]]),
    [
      ["q8_0", 32, 34],
      ["q4_0", 32, 18],
      ["q4_k", 256, 144],
      ["q6_k", 256, 210],
      ["q5_0", 32, 22],
      ["q4_1", 32, 20],
      ["q5_1", 32, 24],
      ["iq4_nl", 32, 18],
      ["q5_k", 256, 176],
      ["q3_k", 256, 110],
      ["q2_k", 256, 84],
      ["iq4_xs", 256, 136],
    ],
  );
  assert.equal(quantizedBytes("q4_0", 2048), 64 * 18);
  assert.throws(() => quantizedBytes("q4_k", 100), /not a whole number of q4_k blocks of 256/);
  assert.throws(() => quantize("q8_0", new Float32Array(33)), /33 values/);
});

// ---- hand-built blocks ----

Deno.test("q8_0 decodes f16 d times signed bytes", () => {
  const block = new Uint8Array(34);
  block.set([0x00, 0x38]); // d = 0.5
  block.set([1, 0xfe, 127, 0x80, 0, 3], 2); // 1, -2, 127, -128, 0, 3
  block[33] = 0xff; // -1 in the last slot
  const y = dequantize("q8_0", block, 32);
  assert.deepEqual([...y.subarray(0, 6)], [0.5, -1, 63.5, -64, 0, 1.5]);
  assert.equal(y[31], -0.5);
});

Deno.test("q4_0 decodes low nibbles to j and high nibbles to j + 16", () => {
  const block = new Uint8Array(18);
  block.set([0x00, 0x40]); // d = 2
  block[2] = 0x91; // j = 0: 1 - 8 = -7; j = 16: 9 - 8 = 1
  block[3] = 0x88; // j = 1, 17: 0
  block[17] = 0x0f; // j = 15: 15 - 8 = 7; j = 31: 0 - 8 = -8
  const y = dequantize("q4_0", block, 32);
  assert.deepEqual([y[0], y[16], y[1], y[17], y[15], y[31]], [-14, 2, 0, 0, 14, -16]);
  assert.equal(y[2], -16); // zero bytes decode to -8·d
});

Deno.test("q5_0 decodes nibbles with their fifth bits from qh, minus 16", () => {
  const block = new Uint8Array(22);
  block.set([0x00, 0xb8]); // d = -0.5
  // qh (little-endian u32): bit 0 (value 0), bit 17 (value 17), bit 31 (value 31).
  block.set([0x01, 0x00, 0x02, 0x80], 2);
  block[6] = 0x3f; // j = 0: 15 | 16 = 31; j = 16: 3 (no fifth bit)
  block[7] = 0xa0; // j = 1: 0; j = 17: 10 | 16 = 26
  block[21] = 0xf7; // j = 15: 7; j = 31: 15 | 16 = 31
  const y = dequantize("q5_0", block, 32);
  assert.deepEqual(
    [y[0], y[16], y[1], y[17], y[15], y[31]],
    [-7.5, 6.5, 8, -5, 4.5, -7.5],
  );
  assert.equal(y[2], 8); // zero bytes decode to −16·d
});

Deno.test("q4_1 decodes d times the nibbles plus m", () => {
  const block = new Uint8Array(20);
  block.set([0x00, 0x40, 0x00, 0xbe]); // d = 2, m = -1.5
  block[4] = 0x91; // j = 0: 1; j = 16: 9
  block[19] = 0x0f; // j = 15: 15; j = 31: 0
  const y = dequantize("q4_1", block, 32);
  assert.deepEqual([y[0], y[16], y[15], y[31], y[1]], [0.5, 16.5, 28.5, -1.5, -1.5]);
});

Deno.test("q5_1 decodes d times the nibbles with their fifth bits from qh, plus m", () => {
  const block = new Uint8Array(24);
  block.set([0x00, 0x38, 0x00, 0x3c]); // d = 0.5, m = 1
  block.set([0x01, 0x00, 0x02, 0x80], 4); // qh: bits 0, 17, 31
  block[8] = 0x3f; // j = 0: 15 | 16 = 31; j = 16: 3
  block[9] = 0xa0; // j = 1: 0; j = 17: 10 | 16 = 26
  block[23] = 0xf7; // j = 15: 7; j = 31: 15 | 16 = 31
  const y = dequantize("q5_1", block, 32);
  assert.deepEqual([y[0], y[16], y[1], y[17], y[15], y[31]], [16.5, 2.5, 1, 14, 4.5, 16.5]);
});

Deno.test("iq4_nl decodes d times the non-linear level at each nibble", () => {
  const block = new Uint8Array(18);
  block.set([0x00, 0xb8]); // d = -0.5
  block[2] = 0x80; // j = 0: level 0 = -127; j = 16: level 8 = 1
  block[3] = 0xf7; // j = 1: level 7 = -10; j = 17: level 15 = 113
  block[17] = 0x4b; // j = 15: level 11 = 38; j = 31: level 4 = -49
  const y = dequantize("iq4_nl", block, 32);
  assert.deepEqual(
    [y[0], y[16], y[1], y[17], y[15], y[31], y[2]],
    [63.5, -0.5, 5, -56.5, -19, 24.5, 63.5],
  );
});

Deno.test("q4_k decodes 6-bit scales and mins and the nibble order of sub-blocks", () => {
  const block = new Uint8Array(144);
  block.set([0x00, 0x3c, 0x00, 0x38]); // d = 1, dmin = 0.5
  // Sub-block 0: scale 3, min 2 (low 6 bits of bytes 0 and 4).
  // Sub-block 1: scale 7, min 1 (bytes 1 and 5), whose top 2 bits carry sub-block 5's high bits.
  // Sub-block 5: scale 42 = 0b10_1010, min 49 = 0b11_0001: low nibbles in byte 9 (scale low,
  // min high), top 2 bits in byte 1 (scale) and byte 5 (min).
  block[4 + 0] = 3;
  block[4 + 4] = 2;
  block[4 + 1] = 0x80 | 7;
  block[4 + 5] = 0xc0 | 1;
  block[4 + 9] = 0x1a;
  // Nibbles: byte 0 of group 0 is sub-block 0 (low) and 1 (high) at l = 0; byte 3 of group 2
  // is sub-block 4 (low) and 5 (high) at l = 3.
  block[16 + 0] = 0x52;
  block[16 + 64 + 3] = 0xe0;
  const y = dequantize("q4_k", block, 256);
  assert.equal(y[0], 3 * 2 - 0.5 * 2); // sub-block 0, q = 2
  assert.equal(y[1], -1); // q = 0: −dmin·min
  assert.equal(y[32], 7 * 5 - 0.5 * 1); // sub-block 1, q = 5
  assert.equal(y[5 * 32 + 3], 42 * 14 - 0.5 * 49); // sub-block 5, q = 14
  assert.equal(y[5 * 32 + 4], -0.5 * 49);
  assert.equal(y[4 * 32 + 3], 0); // sub-block 4: scale 0, min 0
});

Deno.test("q6_k decodes ql, qh and signed scales in llama.cpp's order", () => {
  const block = new Uint8Array(210);
  block.set([0x00, 0x34], 208); // d = 0.25
  const scales = 192;
  block[scales + 0] = 2;
  block[scales + 2] = 4;
  block[scales + 4] = 1;
  block[scales + 6] = 0xff; // -1
  block[scales + 9] = 0xfd; // -3
  // Half 0, l = 0: values 0, 32, 64, 96 take low bits from ql[0] (low, high nibble) and ql[32]
  // (low, high nibble), and bits 0-1, 2-3, 4-5, 6-7 of qh[0].
  block[0] = 0x3f; // value 0: 15, value 64: 3
  block[32] = 0x70; // value 32: 0, value 96: 7
  block[128] = 0b10_01_11_10; // high bits: value 0: 2, 32: 3, 64: 1, 96: 2
  // Half 1, l = 17: value 128 + 17 (scale 9) from ql[64 + 17] low nibble, qh[32 + 17] bits 0-1.
  block[64 + 17] = 0x0c;
  block[128 + 32 + 17] = 0x01;
  const y = dequantize("q6_k", block, 256);
  assert.equal(y[0], 0.25 * 2 * (47 - 32));
  assert.equal(y[32], 0.25 * 4 * (48 - 32));
  assert.equal(y[64], 0.25 * 1 * (19 - 32));
  assert.equal(y[96], 0.25 * -1 * (39 - 32));
  assert.equal(y[145], 0.25 * -3 * (28 - 32));
  assert.equal(y[1], 0.25 * 2 * -32); // q = 0 means −32
  assert.equal(Math.abs(y[200]), 0); // scale 0 (times −32: −0)
});

Deno.test("q5_k decodes q4_k's scales and nibbles with a fifth bit from qh", () => {
  const block = new Uint8Array(176);
  block.set([0x00, 0x3c, 0x00, 0x38]); // d = 1, dmin = 0.5
  // Scales as q4_k's: sub-block 0 scale 3, min 2; sub-block 7: scale 33 = 0b10_0001, min 5
  // (low nibbles in byte 11, top bits of the scale in byte 3).
  block[4 + 0] = 3;
  block[4 + 4] = 2;
  block[4 + 3] = 0x80;
  block[4 + 11] = 0x51;
  const qh = 16;
  const qs = 48;
  // Value l = 2 of sub-blocks 0 and 1: nibble byte 2 (low: 0x9, high: 0x4), qh byte 2 bit 0 set
  // (sub-block 0: 16 + 9 = 25) and bit 1 clear (sub-block 1: 4).
  block[qs + 2] = 0x49;
  block[qh + 2] = 0b01;
  // Value l = 31 of sub-block 7: high nibble of nibble byte 96 + 31, qh byte 31 bit 7.
  block[qs + 96 + 31] = 0xa0;
  block[qh + 31] = 0x80;
  const y = dequantize("q5_k", block, 256);
  assert.equal(y[2], 3 * 25 - 0.5 * 2);
  assert.equal(y[32 + 2], 0); // sub-block 1: scale 0, min 0
  assert.equal(y[7 * 32 + 31], 33 * (16 + 10) - 0.5 * 5);
  assert.equal(y[7 * 32 + 30], -0.5 * 5); // q = 0
  assert.equal(y[0], -1); // sub-block 0, q = 0: −dmin·min
});

Deno.test("q3_k decodes 2-bit codes, hmask bits and signed 6-bit scales", () => {
  const block = new Uint8Array(110);
  block.set([0x00, 0x38], 108); // d = 0.5
  const scales = 96;
  // Scale 0 = 3 (stored 35 = 0b10_0011: low nibble of byte 0, top bits 0-1 of byte 8); scale 13
  // = −14 (stored 18 = 0b01_0010: high nibble of byte 5, top bits 6-7 of byte 9); scale 6 = −32.
  block[scales + 0] = 0x03;
  block[scales + 8] = 0b10;
  block[scales + 5] = 0x20;
  block[scales + 9] = 0b01 << 6;
  // Value 0 (half 0, j = 0, l = 0): code bits 0-1 of byte 0, hmask byte 0 bit 0.
  block[32] = 0b10;
  block[0] = 0b1; // hbit set: q = 2
  // Value 128 + 3·32 + 17 = 241 (half 1, j = 3, l = 17): code bits 6-7 of byte 32 + 32 + 17,
  // hmask byte 17 bit 7 clear: q = 1 − 4. Its scale 15 = 1 (stored 33: high nibble of byte 7,
  // top bits 6-7 of byte 11).
  block[32 + 32 + 17] = 0b01 << 6;
  block[scales + 7] = 0x10;
  block[scales + 11] = 0b10 << 6;
  // Value 218 = 128 + 2·32 + 26 (scale 13): hmask byte 26 bit 6 set, code 3.
  block[32 + 32 + 26] = 0b11 << 4;
  block[26] = 1 << 6;
  const y = dequantize("q3_k", block, 256);
  assert.equal(y[0], 0.5 * 3 * 2);
  assert.equal(y[1], 0.5 * 3 * -4); // code 0, hbit clear
  assert.equal(y[241], 0.5 * 1 * (1 - 4));
  assert.equal(y[218], 0.5 * -14 * 3);
  assert.equal(y[6 * 16], 0.5 * -32 * -4);
});

Deno.test("q2_k decodes 2-bit codes with a 4-bit scale and min per 16 values", () => {
  const block = new Uint8Array(84);
  block.set([0x00, 0x40, 0x00, 0x38], 80); // d = 2, dmin = 0.5
  block[0] = 0x35; // values 0 … 15: scale 5, min 3
  block[11] = 0xa7; // values 176 … 191: scale 7, min 10
  // Value 1 (half 0, j = 0, l = 1): bits 0-1 of code byte 1; value 177 = 128 + 32 + 17 (half 1,
  // j = 1, l = 17): bits 2-3 of code byte 32 + 17.
  block[16 + 1] = 0b11;
  block[16 + 32 + 17] = 0b10 << 2;
  const y = dequantize("q2_k", block, 256);
  assert.equal(y[1], 2 * 5 * 3 - 0.5 * 3);
  assert.equal(y[0], -0.5 * 3);
  assert.equal(y[177], 2 * 7 * 2 - 0.5 * 10);
  assert.equal(y[176], -0.5 * 10);
  assert.equal(y[16], 0); // scale 0, min 0
});

Deno.test("iq4_xs decodes signed 6-bit scales and nibbles as indices of the iq4 levels", () => {
  const block = new Uint8Array(136);
  block.set([0x00, 0x38]); // d = 0.5
  // Scale 0 = 1 (stored 33: nibble 0 of scales_l = 1, bits 0-1 of scales_h = 0b10); scale 5 =
  // −12 (stored 20: high nibble of scales_l byte 2 = 4, bits 10-11 of scales_h = 0b01).
  block[2] = 0b10;
  block[3] = 0b01 << 2;
  block[4] = 0x01;
  block[6] = 0x40;
  // Sub-block 0, byte 3: value 3 (low nibble 15 → 113) and value 19 (high nibble 0 → −127).
  block[8 + 3] = 0x0f;
  // Sub-block 5, byte 16·5 + 9: value 160 + 9 (low nibble 8 → 1), value 160 + 25 (high 6 → −22).
  block[8 + 16 * 5 + 9] = 0x68;
  const y = dequantize("iq4_xs", block, 256);
  assert.equal(y[3], 0.5 * 113);
  assert.equal(y[19], 0.5 * -127);
  assert.equal(y[0], 0.5 * -127);
  assert.equal(y[169], 0.5 * -12 * 1);
  assert.equal(y[185], 0.5 * -12 * -22);
  assert.equal(y[32], 0.5 * -32 * -127); // scale 1 stored 0: −32
});

// ---- quantizers ----

Deno.test("q8_0 quantizes like llama.cpp: d = amax / 127, q = roundf(x / d)", () => {
  const x = new Float32Array(32);
  x.set([127, -63.5, 0.5, -0.5, 1.49, 100]);
  const block = quantize("q8_0", x);
  assert.deepEqual([...block.subarray(0, 2)], [0x00, 0x3c]); // d = 1
  assert.deepEqual([...new Int8Array(block.buffer, 2, 6)], [127, -64, 1, -1, 1, 100]);
  assert.deepEqual([...quantize("q8_0", new Float32Array(32))], new Array(34).fill(0));
});

Deno.test("q4_0 quantizes like llama.cpp: d = max / -8, q = min(15, trunc(x / d + 8.5))", () => {
  const x = new Float32Array(32);
  x.set([8, -7.6, 0, 0.6, -3.4]);
  x[16] = -8; // as large as 8 but later: the first one sets d
  const block = quantize("q4_0", x);
  assert.deepEqual([...block.subarray(0, 2)], [0x00, 0xbc]); // d = 8 / -8 = -1
  const q = (j: number) => j < 16 ? block[2 + j] & 15 : block[2 + j - 16] >> 4;
  // x / d + 8.5 = 0.5, 16.1, 8.5, 7.9, 11.9, 16.5, truncated; the clamp takes 16 to 15.
  assert.deepEqual([0, 1, 2, 3, 4, 16].map(q), [0, 15, 8, 7, 11, 15]);
});

Deno.test("q5_0 quantizes like llama.cpp: d = max / -16, q = min(31, trunc(x / d + 16.5))", () => {
  const x = new Float32Array(32);
  x.set([16, -15.6, 0, 0.6, -3.4]);
  x[16] = -16; // as large as 16 but later: the first one sets d
  x[20] = 5;
  const block = quantize("q5_0", x);
  assert.deepEqual([...block.subarray(0, 2)], [0x00, 0xbc]); // d = 16 / -16 = -1
  const qh = new DataView(block.buffer).getUint32(2, true);
  const q = (j: number) =>
    (j < 16 ? block[6 + j] & 15 : block[6 + j - 16] >> 4) | (((qh >>> j) & 1) << 4);
  // x / d + 16.5 = 0.5, 32.1, 16.5, 15.9, 19.9, 32.5, 11.5, truncated; 32 is clamped to 31.
  assert.deepEqual([0, 1, 2, 3, 4, 16, 20].map(q), [0, 31, 16, 15, 19, 31, 11]);
});

Deno.test("q4_1 and q5_1 quantize like llama.cpp: d = (max - min) / levels, m = min", () => {
  const x = new Float32Array(32).fill(1);
  x.set([-2, 13, 0.49, 5.4, 6.2]);
  for (const [type, levels, qs] of [["q4_1", 15, 4], ["q5_1", 31, 8]] as const) {
    const block = quantize(type, x);
    const view = new DataView(block.buffer);
    const d = f16BitsToF32(view.getUint16(0, true));
    assert.equal(d, f16BitsToF32(f32ToF16Bits(15 / levels)), type);
    assert.equal(f16BitsToF32(view.getUint16(2, true)), -2, type); // m = min
    const qh = type === "q5_1" ? view.getUint32(4, true) : 0;
    const q = (j: number) =>
      (j < 16 ? block[qs + j] & 15 : block[qs + j - 16] >> 4) | (((qh >>> j) & 1) << 4);
    // (x − min) / d + 0.5, truncated: q4_1 0.5, 15.5, 2.99, 7.9, 8.7; q5_1 0.5, 31.5, 5.65,
    // 15.79, 17.45.
    assert.deepEqual(
      [0, 1, 2, 3, 4].map(q),
      type === "q4_1" ? [0, 15, 2, 7, 8] : [0, 31, 5, 15, 17],
      type,
    );
  }
});

Deno.test("iq4_nl quantizes to the nearest level: d = max / -127", () => {
  const x = new Float32Array(32);
  x.set([-254, 254, 2, 20, -21, 100]);
  const block = quantize("iq4_nl", x);
  assert.deepEqual([...block.subarray(0, 2)], [0x00, 0x40]); // d = -254 / -127 = 2
  const q = (j: number) => j < 16 ? block[2 + j] & 15 : block[2 + j - 16] >> 4;
  // x / d = -127, 127 (above the top level, 113), 1, 10 (nearer 13 than 1), -10.5 (nearer -10),
  // 50 (nearer 53), and 0 (nearer 1 than -10).
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(q), [0, 15, 8, 9, 7, 12, 8]);
});

/** Checks dequantize(quantize(x)) per block against `bound(block values)`. */
function checkRoundTrip(type: QuantType, bound: (block: Float32Array) => number): void {
  const seed = testSeed();
  const random = seededRandom(seed);
  const n = BLOCK_ELEMENTS[type];
  const blocks = 200;
  const x = randomArray(random, n * blocks, 1);
  // Vary the range per block, with outliers, all-positive and all-negative blocks, and zeros.
  for (let b = 0; b < blocks; b++) {
    const block = x.subarray(b * n, (b + 1) * n);
    // Scales stay where d is a normal f16 (as in real weights; subnormal d loses precision).
    const scale = 10 ** (random() * 3.3 - 0.3);
    for (let j = 0; j < n; j++) {
      block[j] *= scale;
      if (b % 5 === 1) block[j] = Math.abs(block[j]);
      if (b % 5 === 2) block[j] = -Math.abs(block[j]) - scale;
      if (b % 5 === 3 && j % 37 === 0) block[j] *= 8;
      if (b % 50 === 4) block[j] = 0;
    }
  }
  const bytes = quantize(type, x);
  assert.equal(bytes.length, blocks * BLOCK_BYTES[type]);
  const y = dequantize(type, bytes, x.length);
  for (let b = 0; b < blocks; b++) {
    const block = x.subarray(b * n, (b + 1) * n);
    const limit = bound(block);
    for (let j = 0; j < n; j++) {
      const err = Math.abs(y[b * n + j] - block[j]);
      if (!(err <= limit)) {
        assert.fail(
          `${type} seed ${seed}: block ${b} value ${j}: |${y[b * n + j]} - ${block[j]}| > ${limit}`,
        );
      }
    }
  }
}

function amax(values: Float32Array): number {
  return values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function range(values: Float32Array): number {
  return Math.max(0, ...values) - Math.min(0, ...values);
}

/** The largest amax of the sub-blocks of `size` values. */
function worstAmax(values: Float32Array, size: number): number {
  let worst = 0;
  for (let s = 0; s < values.length; s += size) {
    worst = Math.max(worst, amax(values.subarray(s, s + size)));
  }
  return worst;
}

/** The largest range of the sub-blocks of `size` values. */
function worstRange(values: Float32Array, size: number): number {
  let worst = 0;
  for (let s = 0; s < values.length; s += size) {
    worst = Math.max(worst, range(values.subarray(s, s + size)));
  }
  return worst;
}

Deno.test("q8_0 round trip is within half a step (amax / 254)", () => {
  // Plus d's f16 rounding: 2^-11 relative, times at most 127 steps.
  checkRoundTrip("q8_0", (b) => amax(b) / 254 + amax(b) * 2 ** -11);
});

Deno.test("q4_0 round trip is within one step (amax / 8)", () => {
  // Half a step, except the clamp of 16 to 15 on the side opposite the extreme: one step, plus
  // the f16 rounding of d (2^-11 relative) times the 7 steps back from there.
  checkRoundTrip("q4_0", (b) => amax(b) / 8 * (1 + 7 * 2 ** -11));
});

Deno.test("q5_0 round trip is within one step (amax / 16)", () => {
  // As q4_0's, with steps of amax / 16 and 15 of them back from the extreme.
  checkRoundTrip("q5_0", (b) => amax(b) / 16 * (1 + 15 * 2 ** -11));
});

Deno.test("q4_1 and q5_1 round trips are within half a step of the block's range", () => {
  for (const [type, levels] of [["q4_1", 15], ["q5_1", 31]] as const) {
    checkRoundTrip(type, (b) => {
      const lo = Math.min(...b);
      const step = (Math.max(...b) - lo) / levels;
      // Plus the f16 rounding of d (2^-11 relative, times up to `levels` steps) and of m.
      return step * (0.5 + (levels + 1) * 2 ** -11) + Math.abs(lo) * 2 ** -10;
    });
  }
});

Deno.test("iq4_nl round trip is within 14 steps of amax / 127 (the largest gap from a level)", () => {
  // The extreme value's opposite (+127 steps) lands on 113; elsewhere half a gap of ≤ 24 steps;
  // plus the f16 rounding of d (2^-11 relative, times up to 127 steps).
  checkRoundTrip("iq4_nl", (b) => amax(b) / 127 * (14 + 127 * 2 ** -11));
});

Deno.test("q4_k round trip is within a step of the sub-block's range", () => {
  // Step = range / 15, widened by the 6-bit scale and min codes (each ≤ 1/63 of the largest).
  checkRoundTrip("q4_k", (b) => worstRange(b, 32) / 15 * 0.5 + range(b) / 63 * 2);
});

Deno.test("q5_k round trip is within a step of the sub-block's range", () => {
  // As q4_k's, with 31 steps of the range instead of 15.
  checkRoundTrip("q5_k", (b) => worstRange(b, 32) / 31 * 0.5 + range(b) / 63 * 2);
});

Deno.test("q3_k round trip is within a step (amax / 4 of 16 values)", () => {
  // A step is amax_16 / 4 (codes −4 … 3, the extreme at −4: one step lost to the clamp at 3),
  // plus the rounding of the signed scale codes (half of d = amax / 124, times 4 steps).
  checkRoundTrip("q3_k", (b) => worstAmax(b, 16) / 4 * (1 + 2 ** -10) + amax(b) / 124 * 4.5);
});

Deno.test("q2_k round trip is within a step of the 16 values' range", () => {
  // As q4_k's: half a step of 3 over the range, widened by the 4-bit scale and min codes (each
  // ≤ 1/15 of the largest).
  checkRoundTrip("q2_k", (b) => worstRange(b, 16) / 3 * 0.5 + range(b) / 15 * 2);
});

Deno.test("iq4_xs round trip is within the widest gap of the levels", () => {
  // The level nearest to x / step (step = amax_32 / 127): at most 14 steps away (113 against
  // 127, beyond the last level), plus the rounding of the signed scale codes (half of d =
  // amax / (127·31), times 127 levels).
  checkRoundTrip("iq4_xs", (b) => worstAmax(b, 32) * 14.5 / 127 + amax(b) / 62);
});

Deno.test("q6_k round trip is within half a step (amax / 62)", () => {
  // Half a step of 16 values, amax_16 / 31, widened by the i8 scale codes (steps of ≤ 1/127 of
  // the largest).
  checkRoundTrip("q6_k", (b) => amax(b) / 62 * (1 + 1 / 127) * (1 + 2 ** -10));
});
