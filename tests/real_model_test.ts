// The real Gemma 3 270M (Q4_K_M GGUF, fetched into the model cache on first use) against llama.cpp
// (node-llama-cpp's CPU build), from the same token ids: the tokenizer, teacher-forced next-token
// agreement and log-probabilities over ~1k tokens of ordinary English, the text's perplexity, and
// three greedy continuations. Each test prints what it measured.
//
// llama.cpp does not compute the exact product of its quantized weights with the activations: its
// CPU kernels first round the activations to 8-bit blocks (Q8_0 / Q8_K, ggml's "vec_dot_type")
// and take integer dot products. That moves log-probabilities by ~0.07 nats on average, enough to
// flip ~4% of the top-1 tokens where two are close. gemma multiplies f32 activations by the
// exactly dequantized weights, as the CPU reference does (a test checks it; with --dtype f32: at
// the default f16, prefills of 32+ tokens decode the weights to f16 first, checked apart). So the
// exact checks
// run llama.cpp on the same weights dequantized into an F32 GGUF (no activation rounding there),
// and on the Q4_K_M file itself the perplexity must agree within 1% and the rest is reported.

import assert from "node:assert/strict";
import {
  createGpuContext,
  ensureModel,
  findKnownModel,
  GemmaSession,
  loadCheckpointTokenizer,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { convertToGguf } from "../core/convert.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { loadReferenceWeights } from "./fixtures.ts";
import { greedyWithGaps } from "./greedy.ts";
import { runLlama } from "./llama_reference.ts";

const path = await ensureModel(findKnownModel("gemma3:270m")!);
const checkpoint = await openCheckpoint(path);
const tokenizer = await loadCheckpointTokenizer(checkpoint);
const text = await Deno.readTextFile(new URL("./data/ordinary_english.txt", import.meta.url));
const ids = tokenizer.encode(text, { addBos: true }).slice(0, 1024);
const PROMPTS = [
  "The capital of France is",
  "Once upon a time, in a small village by the sea,",
  "To make a cup of tea, first",
];
const dir = await Deno.makeTempDir({ prefix: "gemma-real-" });
const dequantized = `${dir}/gemma-3-270m-f32.gguf`;
await convertToGguf(checkpoint, dequantized, { type: "f32" });

/** One row of logits at its target: log P(target) (log-softmax in f64), argmax, top-2 gap. */
function scoreRow(row: Float32Array, target: number) {
  let best = 0;
  let second = -Infinity;
  for (let j = 1; j < row.length; j++) {
    if (row[j] > row[best]) {
      second = row[best];
      best = j;
    } else if (row[j] > second) second = row[j];
  }
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp(row[j] - row[best]);
  return { logprob: row[target] - row[best] - Math.log(sum), best, gap: row[best] - second };
}

/** Our teacher-forced scores of `tokens`: per position, log P(next), argmax, top-2 gap. */
async function ourScores(tokens: number[], dtype: "f32" | "f16") {
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, checkpoint, { dtype });
  const session = new GemmaSession(model, { contextLength: tokens.length });
  const vocab = model.config.vocabSize;
  const logprobs: number[] = [];
  const top1: number[] = [];
  const gaps: number[] = [];
  for (let start = 0; start < tokens.length - 1; start += 64) {
    const part = tokens.slice(start, Math.min(start + 64, tokens.length - 1));
    const logits = await session.appendWithAllLogits(part);
    for (let r = 0; r < part.length; r++) {
      const score = scoreRow(logits.subarray(r * vocab, (r + 1) * vocab), tokens[start + r + 1]);
      logprobs.push(score.logprob);
      top1.push(score.best);
      gaps.push(score.gap);
    }
  }
  session.destroy();
  model.destroy();
  gpu.destroy();
  return { logprobs, top1, gaps };
}

/** Our greedy continuations of `prompts` by `count` tokens, with each step's top-2 gap. */
async function ourGreedy(prompts: number[][], count: number) {
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, checkpoint);
  const results = [];
  for (const prompt of prompts) {
    const session = new GemmaSession(model, { contextLength: 128 });
    results.push(await greedyWithGaps(session, prompt, count));
    session.destroy();
  }
  model.destroy();
  gpu.destroy();
  return results;
}

const promptIds = PROMPTS.map((p) => tokenizer.encode(p, { addBos: true }));
const greedyTasks = promptIds.map((tokens) => ({ type: "greedy" as const, tokens, count: 32 }));
const [tokenized, quantizedScores, ...quantizedGreedy] = await runLlama({
  model: path,
  contextSize: 1024 + 64,
  tasks: [{ type: "tokenize", text }, { type: "score", tokens: ids }, ...greedyTasks],
});
const [exactScores, ...exactGreedy] = await runLlama({
  model: dequantized,
  contextSize: 1024 + 64,
  tasks: [{ type: "score", tokens: ids }, ...greedyTasks],
});
const ours = await ourScores(ids, "f32");
// The default dtype, f16: prefill chunks of 64 tokens decode the quantized weights to f16.
const oursF16 = await ourScores(ids.slice(0, 257), "f16");
const ourContinuations = await ourGreedy(promptIds, 32);

interface Scores {
  logprobs: number[];
  top1: number[];
  gaps: number[];
}

/** Agreement, |Δ log-prob| and perplexities of two engines' scores; printed. */
function compare(what: string, a: Scores, b: Scores) {
  const n = a.logprobs.length;
  assert.equal(b.logprobs.length, n);
  let same = 0;
  let sumDelta = 0;
  let maxDelta = 0;
  let nearTies = 0;
  for (let t = 0; t < n; t++) {
    if (a.top1[t] === b.top1[t]) same++;
    else if (b.gaps[t] < 0.05) nearTies++;
    const delta = Math.abs(a.logprobs[t] - b.logprobs[t]);
    sumDelta += delta;
    maxDelta = Math.max(maxDelta, delta);
  }
  const perplexity = (lp: number[]) => Math.exp(-lp.reduce((x, y) => x + y, 0) / lp.length);
  const result = {
    agreement: same / n,
    meanDelta: sumDelta / n,
    maxDelta,
    ours: perplexity(a.logprobs),
    theirs: perplexity(b.logprobs),
  };
  console.log(
    `    ${what}, ${n} positions: top-1 agreement ${(100 * result.agreement).toFixed(2)}% (${
      n - same
    } differ, ${nearTies} at llama.cpp's near ties < 0.05 nats); |Δ log-prob| mean ${
      result.meanDelta.toFixed(5)
    }, max ${maxDelta.toFixed(5)}; perplexity ${result.ours.toFixed(4)} vs ${
      result.theirs.toFixed(4)
    } (${(100 * (result.ours / result.theirs - 1)).toFixed(3)}%)`,
  );
  return result;
}

Deno.test("real model: our tokenizer gives llama.cpp's token ids for ~1k tokens of text", () => {
  assert.deepEqual(ids.slice(1), tokenized.tokens.slice(0, ids.length - 1));
  assert.ok(ids.length >= 1000, `${ids.length} tokens`);
});

Deno.test("real model: the GPU matches the CPU reference on the exactly dequantized weights", async () => {
  const count = 24;
  const reference = referenceModel(checkpoint.config, await loadReferenceWeights(checkpoint));
  const logits = referenceLogits(reference, ids.slice(0, count), count);
  const vocab = checkpoint.config.vocabSize;
  let maxDelta = 0;
  for (let t = 0; t < count; t++) {
    const { logprob } = scoreRow(logits.subarray(t * vocab, (t + 1) * vocab), ids[t + 1]);
    maxDelta = Math.max(maxDelta, Math.abs(logprob - ours.logprobs[t]));
  }
  console.log(`    ${count} positions: max |Δ log-prob| ${maxDelta.toExponential(2)}`);
  assert.ok(maxDelta < 1e-3, `max |Δ log-prob| ${maxDelta}`);
});

Deno.test("real model: the default f16 prefill stays close to the exact weights' scores", () => {
  const n = oursF16.logprobs.length;
  const deltas = oursF16.logprobs.map((lp, t) => Math.abs(lp - ours.logprobs[t]));
  const max = Math.max(...deltas);
  const mean = deltas.reduce((a, b) => a + b, 0) / n;
  const same = oursF16.top1.filter((id, t) => id === ours.top1[t]).length;
  console.log(
    `    ${n} positions: |Δ log-prob| mean ${mean.toExponential(2)}, max ${
      max.toExponential(2)
    }; top-1 agreement ${same} of ${n}`,
  );
  assert.ok(mean < 2e-3 && max < 2e-2, `mean ${mean}, max ${max}`);
  assert.ok(same >= n - 2, `${same} of ${n} top-1 tokens agree`);
});

Deno.test("real model: ≥ 98% teacher-forced agreement with llama.cpp on the same weights in F32", () => {
  const result = compare("vs llama.cpp on the dequantized F32 GGUF", ours, exactScores);
  assert.ok(result.agreement >= 0.98, `agreement ${result.agreement}`);
  assert.ok(result.meanDelta < 0.01, `mean |Δ log-prob| ${result.meanDelta}`);
  assert.ok(Math.abs(result.ours / result.theirs - 1) < 0.001, "perplexity within 0.1%");
});

// llama.cpp's CPU backend picks its quantized dot products by the CPU's instruction set, so its
// perplexity here depends on the machine: 0.58% above ours on one, 1.04% on an AVX-512 VNNI one
// (ours stays within 0.02% of the exact weights', above).
Deno.test("real model: perplexity within 2% of llama.cpp's on the Q4_K_M file itself", () => {
  const result = compare("vs llama.cpp on the Q4_K_M file", ours, quantizedScores);
  assert.ok(Math.abs(result.ours / result.theirs - 1) < 0.02, "perplexity within 2%");
  // Its 8-bit activations flip the top token where two are close; most stay.
  assert.ok(result.agreement >= 0.9, `agreement ${result.agreement}`);
});

Deno.test("real model: three 32-token greedy continuations match llama.cpp up to near ties", () => {
  ourContinuations.forEach(({ tokens, gaps }, p) => {
    const continuation = JSON.stringify(tokenizer.decode(tokens));
    const parting = (theirs: number[]) => tokens.findIndex((id, i) => id !== theirs[i]);
    const exact = parting(exactGreedy[p].tokens);
    const quantized = parting(quantizedGreedy[p].tokens);
    const describe = (at: number) =>
      at < 0 ? "identical" : `parts at token ${at} (our top-2 gap ${gaps[at].toFixed(4)} nats)`;
    console.log(
      `    "${PROMPTS[p]}" → ${continuation}; vs llama.cpp F32: ${
        describe(exact)
      }, vs llama.cpp Q4_K_M: ${describe(quantized)}`,
    );
    if (exact >= 0) assert.ok(gaps[exact] < 0.05, `prompt ${p}: parted at ${exact}`);
  });
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});
