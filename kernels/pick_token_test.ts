import assert from "node:assert/strict";
import {
  argmaxReference,
  pickToken,
  pickTokenReference,
  type SampleDraw,
  sampleKeys,
} from "./pick_token.ts";
import { randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";
import type { GpuContext } from "./gpu.ts";

/** The kernel's picks from `x`, one dispatch per draw (argmax when `draws` is empty). */
async function gpuPicks(gpu: GpuContext, x: Float32Array, draws: SampleDraw[]): Promise<number[]> {
  const count = Math.max(1, draws.length);
  // One 256-byte slot per pick: storage bindings start on 256-byte boundaries.
  const out = gpu.createBuffer(count * 256);
  const xBuffer = gpu.upload(x);
  const batch = gpu.batch();
  for (let k = 0; k < count; k++) {
    pickToken(batch, {
      x: xBuffer,
      n: x.length,
      out: { buffer: out, offset: 256 * k, size: 4 },
      sample: draws[k],
    });
  }
  batch.submit();
  const words = await gpu.readU32(out, count * 64);
  xBuffer.destroy();
  out.destroy();
  return Array.from({ length: count }, (_, k) => words[64 * k]);
}

const gpuArgmax = async (gpu: GpuContext, x: Float32Array) => (await gpuPicks(gpu, x, []))[0];

for (const n of [1, 7, 257, 256000, 262144]) {
  Deno.test(`pickToken's argmax matches the reference for ${n} values`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const x = randomArray(seededRandom(seed), n, 30);
    assert.equal(await gpuArgmax(gpu, x), argmaxReference(x), `seed ${seed}`);
  });
}

Deno.test("pickToken's argmax returns the lowest index among equal maxima", async () => {
  const gpu = await testGpu();
  const x = new Float32Array(100000).fill(-5);
  for (const i of [99999, 70000, 4321, 4322, 513]) x[i] = 7;
  assert.equal(await gpuArgmax(gpu, x), 513);
  assert.equal(argmaxReference(x), 513);
  // All equal: index 0.
  assert.equal(await gpuArgmax(gpu, new Float32Array(1000).fill(-1e30)), 0);
});

Deno.test("pickToken's argmax handles infinities and skips NaN", async () => {
  const gpu = await testGpu();
  const x = new Float32Array([NaN, -Infinity, 3, NaN, Infinity, 2, Infinity]);
  assert.equal(await gpuArgmax(gpu, x), 4);
  assert.equal(argmaxReference(x), 4);
  const low = new Float32Array([NaN, -Infinity, -Infinity]);
  assert.equal(await gpuArgmax(gpu, low), 1);
  assert.equal(argmaxReference(low), 1);
});

for (const n of [1, 7, 257, 256000]) {
  for (const [temperature, minP] of [[0.7, 0], [1.5, 0.05]]) {
    Deno.test(`pickToken's samples match the reference: ${n} logits, T ${temperature}, min-p ${minP}`, async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const random = seededRandom(seed);
      const x = randomArray(random, n, 4);
      const sequenceSeed = Math.floor(random() * 2 ** 32);
      const draws = Array.from({ length: 12 }, (_, draw) => ({
        temperature,
        minP,
        seed: sequenceSeed,
        draw,
      }));
      const picks = await gpuPicks(gpu, x, draws);
      draws.forEach((draw, k) => {
        const expected = pickTokenReference(x, draw);
        if (picks[k] === expected) return;
        // f32 on the GPU against f64 here: a different pick is allowed only at a near-tie.
        const keys = sampleKeys(x, draw);
        assert.ok(
          keys[expected] - keys[picks[k]] < 1e-4,
          `seed ${seed}, draw ${k}: GPU picked ${picks[k]} (key ${
            keys[picks[k]]
          }), reference ${expected} (key ${keys[expected]})`,
        );
      });
      // Different draws give different tokens (not one fixed noise).
      if (n >= 257) assert.ok(new Set(picks).size > 1, `seed ${seed}: one token for every draw`);
    });
  }
}

Deno.test("pickToken samples from softmax(x / T) and min-p removes the unlikely tokens", () => {
  const x = new Float32Array([1, 2, 0.5, -1, 3, -4]);
  const temperature = 0.8;
  const weights = Array.from(x, (v) => Math.exp(v / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  const draws = 40000;
  const counts = new Array(x.length).fill(0);
  for (let d = 0; d < draws; d++) {
    counts[pickTokenReference(x, { temperature, minP: 0, seed: 12345, draw: d })]++;
  }
  weights.forEach((w, i) => {
    const p = w / total;
    const sigma = Math.sqrt(draws * p * (1 - p));
    assert.ok(
      Math.abs(counts[i] - draws * p) < 5 * sigma + 1,
      `token ${i}: ${counts[i]} draws, expected ${draws * p}`,
    );
  });
  // min-p 0.2: only tokens with probability ≥ 0.2 × the top one's, i.e. x ≥ 3 + T·ln 0.2 ≈ 1.71.
  const kept = new Set<number>();
  for (let d = 0; d < 2000; d++) {
    kept.add(pickTokenReference(x, { temperature, minP: 0.2, seed: 99, draw: d }));
  }
  assert.deepEqual([...kept].sort(), [1, 4]);
});

Deno.test("pickToken's sample falls back to the argmax when no token can be drawn", async () => {
  const gpu = await testGpu();
  const draw = { temperature: 1, minP: 0, seed: 1, draw: 0 };
  for (const x of [new Float32Array([NaN, NaN]), new Float32Array([0, Infinity, 5, Infinity])]) {
    assert.equal((await gpuPicks(gpu, x, [draw]))[0], argmaxReference(x));
    assert.equal(pickTokenReference(x, draw), argmaxReference(x));
  }
});
