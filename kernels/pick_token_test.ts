import assert from "node:assert/strict";
import {
  argmaxReference,
  penalizedReference,
  pickToken,
  pickTokenReference,
  type SampleDraw,
  sampleKeys,
  seenBits,
} from "./pick_token.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";
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

const SAMPLINGS = [
  { temperature: 0.7, minP: 0 },
  { temperature: 1.5, minP: 0.05 },
  { temperature: 0.8, minP: 0, topK: 40 },
  { temperature: 1, minP: 0.05, topK: 40, topP: 0.95 },
  { temperature: 2, minP: 0, topK: 256, topP: 0.5 },
  { temperature: 0.9, minP: 0, topP: 0.9 },
  { temperature: 1.3, minP: 0.02, topP: 0.6 },
];

for (const n of [1, 7, 257, 256000]) {
  for (const sampling of SAMPLINGS) {
    Deno.test(`pickToken's samples match the reference: ${n} logits, ${JSON.stringify(sampling)}`, async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const random = seededRandom(seed);
      const x = randomArray(random, n, 4);
      const sequenceSeed = Math.floor(random() * 2 ** 32);
      const draws = Array.from({ length: 12 }, (_, draw) => ({
        ...sampling,
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

Deno.test("top-k keeps the k largest (and ties), top-p the fewest reaching p", () => {
  const x = new Float32Array([2, 5, 1, 4, 4, 3, -1]);
  const kept = (sampling: Partial<SampleDraw>) => {
    const keys = sampleKeys(x, { temperature: 1, minP: 0, seed: 5, draw: 0, ...sampling });
    return [...keys.keys()].filter((i) => !Number.isNaN(keys[i]));
  };
  assert.deepEqual(kept({ topK: 1 }), [1]);
  assert.deepEqual(kept({ topK: 2 }), [1, 3, 4], "the tie at the 2nd largest stays");
  assert.deepEqual(kept({ topK: 4 }), [1, 3, 4, 5]);
  assert.deepEqual(kept({ topK: 100 }), [0, 1, 2, 3, 4, 5, 6]);
  // Probabilities ∝ e^x over the top 4: e^5 alone is 0.58 of them; with the two e^4, 0.93.
  assert.deepEqual(kept({ topK: 4, topP: 0.5 }), [1]);
  assert.deepEqual(kept({ topK: 4, topP: 0.9 }), [1, 3, 4]);
  assert.deepEqual(kept({ topK: 4, topP: 0.95 }), [1, 3, 4, 5]);
});

Deno.test("pickToken's top-k and top-p agree with the reference on ties and tiny vocabularies", async () => {
  const gpu = await testGpu();
  // 1000 ties at the k-th largest value, under 32 larger ones: gathered and sorted at once.
  const ties = new Float32Array(5000).map((_, i) => (i % 5 === 0 ? 1 : i < 40 ? 3 + i / 100 : -2));
  // More logits above the lanes' bound than the kernel sorts (2048): the radix select, and ties
  // at the floor past what top-p gathers. 3000 ties at 0 under 100 larger ones; 5000 equal ones.
  const flat = new Float32Array(3100).map((_, i) => (i % 31 === 0 ? 5 - i / 1000 : 0));
  const equal = new Float32Array(6000).map((_, i) => (i < 5000 ? 1 : -i / 1000));
  for (
    const x of [
      ties,
      flat,
      equal,
      new Float32Array([0.5, 0.25]),
      new Float32Array([NaN, 1, NaN, 2]),
    ]
  ) {
    for (const sampling of SAMPLINGS.slice(2)) {
      const draws = Array.from({ length: 6 }, (_, draw) => ({ ...sampling, seed: 3, draw }));
      const picks = await gpuPicks(gpu, x, draws);
      assert.deepEqual(picks, draws.map((d) => pickTokenReference(x, d)), JSON.stringify(sampling));
    }
  }
});

Deno.test("pickToken's top-k above 256 (radix selects) agrees with the reference", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const x = randomArray(random, 50000, 4);
  // Ties at the k-th largest: 3000 equal logits under 400 larger ones.
  const ties = new Float32Array(6000).map((_, i) => (i < 400 ? 2 + i / 1000 : i < 3400 ? 1 : 0));
  for (const logits of [x, ties, new Float32Array([3, 1, 2])]) {
    for (
      const sampling of [
        { temperature: 1, minP: 0, topK: 300 },
        { temperature: 0.8, minP: 0, topK: 3000, topP: 0.7 },
        { temperature: 1.2, minP: 0.01, topK: 40000, topP: 0.9 },
      ]
    ) {
      const draws = Array.from({ length: 8 }, (_, draw) => ({ ...sampling, seed: 11, draw }));
      const picks = await gpuPicks(gpu, logits, draws);
      assert.deepEqual(
        picks,
        draws.map((d) => pickTokenReference(logits, d)),
        `seed ${seed}, ${logits.length} logits, ${JSON.stringify(sampling)}`,
      );
    }
  }
});

for (const n of [100, 256000]) {
  Deno.test(`pickToken's repetition penalty matches the reference and marks the pick: ${n} logits`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, n, 4);
    // The seen tokens include the 3 largest logits: divided by 1.5 they fall below the 4th
    // (x is uniform in ±4), so the penalty changes the argmax.
    const top3 = [...x.keys()].sort((a, b) => x[b] - x[a]).slice(0, 3);
    const seenTokens = [...top3, ...Array.from({ length: 20 }, () => Math.floor(random() * n))];
    const penalty = 1.5;
    const penalized = penalizedReference(x, penalty, seenTokens);
    const out = gpu.createBuffer(4);
    for (
      const sample of [undefined, {
        temperature: 0.9,
        minP: 0.05,
        topK: 40,
        topP: 0.9,
        seed: 4,
        draw: 2,
      }]
    ) {
      const seen = gpu.upload(seenBits(seenTokens, n));
      const xBuffer = gpu.upload(x);
      const batch = gpu.batch();
      pickToken(batch, { x: xBuffer, n, out, sample, repetitionPenalty: penalty, seen });
      batch.submit();
      const [picked] = await gpu.readU32(out, 1);
      const expected = pickTokenReference(penalized, sample);
      if (sample && picked !== expected) {
        const keys = sampleKeys(penalized, sample);
        assert.ok(keys[expected] - keys[picked] < 1e-4, `seed ${seed}: ${picked} vs ${expected}`);
      } else {
        assert.equal(picked, expected, `seed ${seed}`);
      }
      // A draw may still land on the top token; the argmax may not.
      if (!sample) {
        assert.notEqual(picked, argmaxReference(x), `seed ${seed}: the penalty moved the pick`);
      }
      const marked = new Uint32Array(await gpu.readBytes(seen, Math.ceil(n / 32) * 4));
      assert.deepEqual(marked, seenBits([...seenTokens, picked], n), `seed ${seed}: marks`);
      // The logits were penalized in place.
      assertClose(await gpu.readF32(xBuffer, n), penalized, 1e-6, `seed ${seed}: logits`);
      seen.destroy();
      xBuffer.destroy();
    }
    out.destroy();
  });
}
