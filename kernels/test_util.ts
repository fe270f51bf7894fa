// Helpers shared by kernel tests: a seeded generator and a relative-error assertion.

import assert from "node:assert/strict";
import { createGpuContext, f32ToF16Bits, GpuContext, GpuContextOptions } from "./gpu.ts";
import { BLOCK_BYTES, F16_FIELDS, quantizedBytes, type QuantType } from "./quant.ts";

/** Mulberry32: a small seeded PRNG, so a failing input can be reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [-scale, scale). */
export function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

/**
 * `count` values of random GGUF blocks of `type`: random bytes (every bit pattern, e.g. negative
 * q6_k scales), with random f16 scales (by default in ±1/16) so that no f16 field is inf or NaN.
 */
export function randomBlocks(
  random: () => number,
  type: QuantType,
  count: number,
  scale: () => number = () => (random() * 2 - 1) / 16,
): Uint8Array {
  const bytes = new Uint8Array(quantizedBytes(type, count)).map(() => random() * 256);
  for (let at = 0; at < bytes.length; at += BLOCK_BYTES[type]) {
    for (const field of F16_FIELDS[type]) {
      const bits = f32ToF16Bits(scale());
      bytes[at + field] = bits & 255;
      bytes[at + field + 1] = bits >> 8;
    }
  }
  return bytes;
}

/** A fresh seed per run (printed on failure), fixed when GEMMA_TEST_SEED is set. */
export function testSeed(): number {
  const fixed = Deno.env.get("GEMMA_TEST_SEED");
  return fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}

/**
 * Asserts max |a - b| / max(|b|∞, minScale) ≤ rtol: the error relative to the reference's scale,
 * so that values near zero do not make the bound meaningless. `minScale`: the least scale, for
 * a reference that is zero by cancellation (only rounding is left there, and its size follows
 * the terms that cancelled, not the result).
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  what = "values",
  minScale = 1e-30,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  scale = Math.max(scale, minScale);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / scale;
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  if (!(worst <= rtol)) {
    assert.fail(
      `${what}: relative error ${worst} > ${rtol} at [${at}] (${actual[at]} vs ${expected[at]})`,
    );
  }
}

let shared: Promise<GpuContext> | null = null;

/** One GPU context shared by the tests of a file (creating devices is slow on lavapipe). */
export function testGpu(options?: GpuContextOptions): Promise<GpuContext> {
  if (options) return createGpuContext(options);
  shared ??= createGpuContext();
  return shared;
}

/**
 * Whether the test device has shader-f16, which f16 weight matrices need: without it their tests
 * are registered with `ignore` (reported as ignored, not passed).
 */
export const deviceHasF16 = (await testGpu()).hasF16;

/**
 * What a matmul leaves in y: y0 with the (rows, n) product written into, or added to (when
 * `accumulate`), the column band [yOffset, yOffset + n) of each row of yStride.
 */
export function expectedBand(
  y0: Float32Array,
  product: Float32Array,
  band: { rows: number; n: number; yOffset: number; yStride: number; accumulate?: boolean },
): Float32Array {
  const { rows, n, yOffset, yStride, accumulate } = band;
  const out = y0.slice();
  for (let t = 0; t < rows; t++) {
    for (let j = 0; j < n; j++) {
      const at = t * yStride + yOffset + j;
      out[at] = (accumulate ? out[at] : 0) + product[t * n + j];
    }
  }
  return out;
}
