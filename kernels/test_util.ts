// Helpers shared by kernel tests: a seeded generator and a relative-error assertion.

import assert from "node:assert/strict";
import { createGpuContext, GpuContext, GpuContextOptions } from "./gpu.ts";

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

/** A fresh seed per run (printed on failure), fixed when GEMMA_TEST_SEED is set. */
export function testSeed(): number {
  const fixed = Deno.env.get("GEMMA_TEST_SEED");
  return fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}

/**
 * Asserts max |a - b| / max(|b|∞, tiny) ≤ rtol: the error relative to the reference's scale,
 * so that values near zero do not make the bound meaningless.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  what = "values",
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  scale = Math.max(scale, 1e-30);
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
