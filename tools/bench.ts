// Prints prefill and decode tokens/s of `gemma` on a Gemma-2B-shaped random checkpoint (real
// widths and vocabulary: hidden 2048, ff 16384, 8 heads, 1 KV head, head_dim 256, vocab 256000;
// fewer layers, by default 2, so that it finishes in minutes on a software GPU), for f16 and f32
// weights. The checkpoint is built once into .cache/ and reused.
//
//   ./deno task bench [--layers N] [--prompt TOKENS] [--decode TOKENS] [--runs N] [--dtype f16,f32]

import { parseArgs } from "node:util";
import { describe } from "../kernels/gpu.ts";
import {
  createGpuContext,
  type DType,
  GemmaSession,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { buildTinyModel } from "../tests/fixtures.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    layers: { type: "string", default: "2" },
    prompt: { type: "string", default: "128" },
    decode: { type: "string", default: "32" },
    runs: { type: "string", default: "3" },
    dtype: { type: "string", default: "f16,f32" },
  },
});
const layers = Number(flags.layers);
const promptTokens = Number(flags.prompt);
const decodeTokens = Number(flags.decode);
const runs = Number(flags.runs);
const dtypes = flags.dtype.split(",") as DType[];

const dir = new URL(`../.cache/bench-gemma-2b-${layers}-layers`, import.meta.url).pathname;
try {
  await Deno.stat(`${dir}/config.json`);
} catch {
  console.error(`building a Gemma-2B-shaped random checkpoint with ${layers} layers in ${dir}`);
  const start = performance.now();
  await buildTinyModel(dir, {
    hiddenSize: 2048,
    intermediateSize: 16384,
    numLayers: layers,
    numHeads: 8,
    numKvHeads: 1,
    headDim: 256,
    vocabSize: 256000,
    dtype: "BF16",
    seed: 11,
  });
  console.error(`built in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}

const checkpoint = await openCheckpoint(dir);
const gpu = await createGpuContext();
console.log(`device: ${describe(gpu.adapterInfo)}`);
console.log(
  `model: Gemma-2B shape, ${layers} layers, vocab 256000; prompt ${promptTokens} tokens, ` +
    `decode ${decodeTokens} tokens, median of ${runs} runs`,
);
console.log("dtype | weights GiB | load s | prefill tok/s | decode tok/s | decode GB/s (weights)");

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const dtype of dtypes) {
  if (dtype === "f16" && !gpu.hasF16) {
    console.log(`${dtype}   | skipped: the device has no shader-f16`);
    continue;
  }
  const loadStart = performance.now();
  const model = await loadGemma(gpu, checkpoint, { dtype });
  const loadS = (performance.now() - loadStart) / 1000;
  const session = new GemmaSession(model, {
    contextLength: promptTokens + decodeTokens + 1,
    maxBatchRows: Math.min(promptTokens, 128),
  });
  const prompt = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 200000));
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let run = 0; run < runs + 1; run++) {
    session.reset();
    let start = performance.now();
    session.append(prompt);
    let id = await session.argmax();
    const prefillS = (performance.now() - start) / 1000;
    start = performance.now();
    for (let i = 0; i < decodeTokens; i++) {
      session.append([id]);
      id = await session.argmax();
    }
    const decodeS = (performance.now() - start) / 1000;
    if (run === 0) continue; // warm-up: pipelines compile on first use
    prefill.push(promptTokens / prefillS);
    decode.push(decodeTokens / decodeS);
  }
  const decodeRate = median(decode);
  console.log(
    [
      dtype.padEnd(5),
      (model.weightBytes / 2 ** 30).toFixed(2).padStart(11),
      loadS.toFixed(1).padStart(6),
      median(prefill).toFixed(2).padStart(13),
      decodeRate.toFixed(2).padStart(12),
      ((decodeRate * model.weightBytes) / 1e9).toFixed(2).padStart(21),
    ].join(" | "),
  );
  session.destroy();
  model.destroy();
}
gpu.destroy();
