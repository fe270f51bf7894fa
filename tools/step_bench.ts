// What a decode step costs beyond its GEMVs (a development tool, not part of the CLI): a deep
// and thin random Gemma (26 layers like Gemma 2 2B and Gemma 3 1B, small matrices), so that
// the fixed cost of each recorded command (dispatch or copy) dominates the step, as it does for
// real models on a fast GPU. Prints the commands per step, the CPU time to record a step, the
// time of a step with steps submitted back to back, and the decode tokens/s.
//
//   ./deno run -A tools/step_bench.ts [gemma|gemma2|gemma3_text] [tokens, default 64]

import { createGpuContext, GemmaSession, loadGemma, openCheckpoint } from "../core/mod.ts";
import { buildTinyModel } from "../tests/fixtures.ts";
import { decodeStepRecording, recordDecodeStep } from "./profile.ts";

const family = (Deno.args[0] ?? "gemma3_text") as "gemma" | "gemma2" | "gemma3_text";
const tokens = Number(Deno.args[1] ?? 64);
const layers = 26;
const dir = new URL(`../.cache/step-bench-${family}-${layers}`, import.meta.url).pathname;
try {
  await Deno.stat(`${dir}/config.json`);
} catch {
  await buildTinyModel(dir, {
    modelType: family,
    numLayers: layers,
    hiddenSize: 256,
    intermediateSize: 1024,
    numHeads: 4,
    numKvHeads: 1,
    headDim: 64,
    vocabSize: 4096,
    dtype: "F16",
  });
}
const gpu = await createGpuContext();
const model = await loadGemma(gpu, await openCheckpoint(dir));
const session = new GemmaSession(model, { contextLength: tokens + 16 });

const recording = decodeStepRecording(session);

// Device time per step: 20 steps submitted back to back (nothing read back), best of 3.
let stepMs = Infinity;
for (let run = 0; run < 3; run++) {
  await gpu.device.queue.onSubmittedWorkDone();
  const start = performance.now();
  for (let i = 0; i < 20; i++) {
    const batch = gpu.batch();
    recordDecodeStep(batch, session, 4 + i);
    batch.submit();
  }
  await gpu.device.queue.onSubmittedWorkDone();
  stepMs = Math.min(stepMs, (performance.now() - start) / 20);
}

const rates: number[] = [];
for (let run = 0; run < 4; run++) {
  session.reset();
  session.append([2, 651, 3037, 576]);
  let first = 0;
  let count = 0;
  await session.decode(tokens + 1, () => {
    if (count++ === 0) first = performance.now();
    return true;
  });
  if (run > 0) rates.push(tokens / ((performance.now() - first) / 1000));
}
rates.sort((a, b) => a - b);
console.log(
  `${family}, ${layers} layers (hidden 256, ff 1024, vocab 4096, f16): ${recording.commands} ` +
    `commands per decode step (${(recording.commands / layers).toFixed(1)} per layer); ` +
    `recording a step takes ${recording.ms.toFixed(2)} ms of CPU; ${stepMs.toFixed(1)} ms per ` +
    `step back to back; ` +
    `decode ${rates[1].toFixed(1)} tok/s (median of 3)`,
);
session.destroy();
model.destroy();
gpu.destroy();
