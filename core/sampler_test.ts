import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, Sampler, SamplingError, type SamplingOptions } from "./sampler.ts";

const sampler = (o: Partial<SamplingOptions>) => new Sampler({ ...DEFAULT_SAMPLING, ...o });
const logitsOf = (probs: number[]) => new Float32Array(probs.map(Math.log));

function frequencies(s: Sampler, logits: Float32Array, draws: number): number[] {
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[s.sample(logits)]++;
  return counts.map((c) => c / draws);
}

Deno.test("temperature 0 is argmax, with the lowest index on ties", () => {
  const s = sampler({ temperature: 0 });
  assert.deepEqual(s.gpuPick(), { repetitionPenalty: 1 }, "the argmax on the GPU");
  assert.equal(s.sample(new Float32Array([1, 5, 3, 5])), 1);
});

Deno.test("temperature 1 samples the softmax distribution", () => {
  const f = frequencies(sampler({ temperature: 1, seed: 1 }), logitsOf([0.5, 0.3, 0.2]), 20000);
  [0.5, 0.3, 0.2].forEach((p, i) => assert.ok(Math.abs(f[i] - p) < 0.02, `${f}`));
});

Deno.test("temperature sharpens and flattens", () => {
  const logits = logitsOf([0.6, 0.4]);
  const cold = frequencies(sampler({ temperature: 0.5, seed: 2 }), logits, 20000);
  // p ∝ p_i^(1/T): 0.36 / (0.36 + 0.16) = 0.692
  assert.ok(Math.abs(cold[0] - 0.692) < 0.02, `${cold}`);
});

Deno.test("top-k, top-p and min-p remove the tail", () => {
  const logits = logitsOf([0.4, 0.3, 0.2, 0.1]);
  const k = frequencies(sampler({ temperature: 1, topK: 2, seed: 3 }), logits, 10000);
  assert.equal(k[2] + k[3], 0);
  assert.ok(Math.abs(k[0] - 4 / 7) < 0.02, `${k}`);
  const p = frequencies(sampler({ temperature: 1, topP: 0.65, seed: 4 }), logits, 10000);
  assert.equal(p[2] + p[3], 0, `${p}`); // 0.4 + 0.3 ≥ 0.65
  const m = frequencies(sampler({ temperature: 1, minP: 0.6, seed: 5 }), logits, 10000);
  assert.equal(m[2] + m[3], 0, `${m}`); // 0.2 < 0.6 × 0.4
  assert.ok(m[1] > 0);
});

Deno.test("the same seed gives the same draws", () => {
  const logits = new Float32Array(1000).map((_, i) => Math.sin(i));
  const draw = (seed: number) => {
    const s = sampler({ temperature: 1, seed });
    return Array.from({ length: 50 }, () => s.sample(logits));
  };
  assert.deepEqual(draw(9), draw(9));
  assert.notDeepEqual(draw(9), draw(10));
});

Deno.test("repetition penalty lowers tokens already seen", () => {
  const s = sampler({ temperature: 0, repetitionPenalty: 2 });
  assert.deepEqual(s.gpuPick(), { repetitionPenalty: 2 }, "penalized argmax on the GPU");
  const logits = new Float32Array([3, 2, -1]);
  assert.equal(s.sample(logits, [0]), 1); // 3 / 2 = 1.5 < 2
  assert.equal(s.sample(new Float32Array([-1, -1.5]), [0]), 1); // -1 × 2 = -2 < -1.5
  assert.equal(logits[0], 3, "input untouched");
});

Deno.test("bad sampling options are rejected", () => {
  assert.throws(() => sampler({ temperature: -1 }), SamplingError);
  assert.throws(() => sampler({ topP: 0 }), SamplingError);
  assert.throws(() => sampler({ topK: 1.5 }), SamplingError);
  assert.throws(() => sampler({ minP: 1 }), SamplingError);
});

Deno.test("every draw goes to the GPU", () => {
  const picks = sampler({ temperature: 0.7, minP: 0.1, topK: 40, topP: 0.9, seed: 42 }).gpuPick;
  assert.deepEqual(picks(), {
    repetitionPenalty: 1,
    sample: { temperature: 0.7, minP: 0.1, topK: 40, topP: 0.9, seed: 42, draw: 0 },
  });
  assert.equal(picks().sample?.draw, 1, "each draw gets its own number");
  const penalized = sampler({ temperature: 0.7, topK: 40, repetitionPenalty: 1.1 }).gpuPick;
  assert.equal(penalized().repetitionPenalty, 1.1);
  assert.equal(sampler({ temperature: 0.7, topK: 1000 }).gpuPick().sample?.topK, 1000);
  const nucleus = sampler({ temperature: 0.7, topP: 0.9, seed: 7 }).gpuPick;
  assert.deepEqual(nucleus().sample, {
    temperature: 0.7,
    minP: 0,
    topK: 0,
    topP: 0.9,
    seed: 7,
    draw: 0,
  }, "top-p without top-k goes to the GPU too");
});
