// Parity with llama.cpp: tiny random checkpoints exported by `gemma convert` run in llama.cpp
// (node-llama-cpp's prebuilt CPU build) and in gemma, from the same token ids.

import assert from "node:assert/strict";
import {
  argmaxOf,
  createGpuContext,
  GemmaSession,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { convertToGguf, type GgufOutputType } from "../core/convert.ts";
import { buildTinyModel, type TinyModelOptions } from "./fixtures.ts";
import { greedyWithGaps } from "./greedy.ts";
import { runLlama } from "./llama_reference.ts";

const PROMPT = [2, 651, 6037, 576, 6081, 603, 7127, 235265, 235248, 71684, 235248, 243952];

const FAMILIES: [string, TinyModelOptions][] = [
  ["Gemma 1 MQA", { numHeads: 4, numKvHeads: 1 }],
  ["Gemma 1 MHA", { numHeads: 4, numKvHeads: 4 }],
  ["Gemma 2", { modelType: "gemma2", numKvHeads: 2, slidingWindow: 8 }],
  // llama.cpp hard-codes Gemma 3's pattern (every 6th layer global): 6 layers give one of each.
  ["Gemma 3", { modelType: "gemma3_text", numLayers: 6, slidingWindow: 8 }],
];

async function withModel(
  options: TinyModelOptions,
  type: GgufOutputType,
  fn: (gguf: string, hfDir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "gemma-llama-" });
  try {
    await buildTinyModel(`${dir}/hf`, { ...options, seed: 5 });
    const gguf = `${dir}/model-${type}.gguf`;
    await convertToGguf(await openCheckpoint(`${dir}/hf`), gguf, { type });
    await fn(gguf, `${dir}/hf`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Our greedy continuation of `prompt` by `count` tokens (f32 weights), with each step's gap
 * between the best and second-best logit. */
async function ourGreedy(path: string, prompt: number[], count: number) {
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, await openCheckpoint(path), { dtype: "f32" });
  const session = new GemmaSession(model, { contextLength: 128 });
  const result = await greedyWithGaps(session, prompt, count);
  session.destroy();
  model.destroy();
  gpu.destroy();
  return result;
}

/**
 * Both greedy sequences must be identical, except that they may part where our two best logits
 * are a near tie (< 1e-3 apart: f32 rounding in either engine decides those). Random tiny models
 * have 256000 logits of similar size, so a near tie within 32 steps happens for some seeds.
 */
function assertSameGreedy(ours: { tokens: number[]; gaps: number[] }, theirs: number[]) {
  assert.equal(ours.tokens.length, theirs.length);
  for (let i = 0; i < theirs.length; i++) {
    if (ours.tokens[i] === theirs[i]) continue;
    assert.ok(
      ours.gaps[i] < 1e-3,
      `step ${i}: gemma chose ${ours.tokens[i]} by a margin of ${ours.gaps[i]}, llama.cpp ${
        theirs[i]
      }`,
    );
    return;
  }
}

/** Our argmax after each token of `tokens` (teacher forcing). */
async function ourTeacherForced(path: string, tokens: number[]): Promise<number[]> {
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, await openCheckpoint(path), { dtype: "f32" });
  const session = new GemmaSession(model, { contextLength: 128 });
  const vocab = model.config.vocabSize;
  const logits = await session.appendWithAllLogits(tokens);
  const top1 = tokens.map((_, t) => argmaxOf(logits.subarray(t * vocab, (t + 1) * vocab)));
  session.destroy();
  model.destroy();
  gpu.destroy();
  return top1;
}

for (const [name, options] of FAMILIES) {
  Deno.test(`llama.cpp and gemma give the same 32 greedy tokens: ${name}, F32 GGUF`, async () => {
    await withModel(options, "f32", async (gguf, hfDir) => {
      const [llama] = await runLlama({
        model: gguf,
        tasks: [{ type: "greedy", tokens: PROMPT, count: 32 }],
      });
      assertSameGreedy(await ourGreedy(gguf, PROMPT, 32), llama.tokens);
      assertSameGreedy(await ourGreedy(hfDir, PROMPT, 32), llama.tokens);
    });
  });
}

const QUANTIZED: [string, TinyModelOptions][] = [
  ["Gemma 1 MQA", { numHeads: 4, numKvHeads: 1 }],
  ["Gemma 1 MHA", { numHeads: 4, numKvHeads: 4 }],
  ["Gemma 2", { modelType: "gemma2", numKvHeads: 2, slidingWindow: 8 }],
];
for (const type of ["q8_0", "q4_0"] as const) {
  Deno.test(`gemma agrees with llama.cpp on ≥ 90% of teacher-forced top-1 tokens: ${type}`, async (t) => {
    for (const [name, options] of QUANTIZED) {
      await t.step(name, () => teacherForcedAgreement(options, type));
    }
  });
}

/** Teacher-forced top-1 agreement on a quantized GGUF, over the prompt and llama.cpp's greedy
 * continuation; prints the rate so that a run shows how close the two engines are. */
async function teacherForcedAgreement(options: TinyModelOptions, type: "q8_0" | "q4_0") {
  await withModel(options, type, async (gguf) => {
    const [greedy] = await runLlama({
      model: gguf,
      tasks: [{ type: "greedy", tokens: PROMPT, count: 40 }],
    });
    const tokens = [...PROMPT, ...greedy.tokens];
    const [llama] = await runLlama({ model: gguf, tasks: [{ type: "teacher", tokens }] });
    const ours = await ourTeacherForced(gguf, tokens);
    const compared = tokens.length - 1; // the last position has no following token to check
    let same = 0;
    for (let t = 0; t < compared; t++) if (ours[t] === llama.top1[t]) same++;
    console.log(`    ${type}: ${same} of ${compared} top-1 tokens agree`);
    assert.ok(same / compared >= 0.9, `${same} of ${compared} top-1 tokens agree`);
  });
}
