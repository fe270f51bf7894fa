// Training throughput of `finetune-lora`'s step on a real checkpoint (a development tool): one
// batch of B sequences of T tokens of this repository's README, packed into one forward and
// backward, all seven modules at rank 8; a warm-up step
// (pipelines compile), then `steps` timed steps, and a per-section GPU profile of one sequence.
//
// With a fifth argument K, only the last K targets of each sequence count in the loss (as
// --mask-prompt's completions; an agile classifier trains on one label token, K = 1).
//
//   ./deno run -A tools/finetune_bench.ts [model: gemma3:270m] [T: 128] [steps: 3] [batch B: 1]
//     [targets K: all]

import { createGpuContext, initLora, LORA_MODULES, LoraTrainer } from "../core/mod.ts";
import { loadCheckpointTokenizer, openCheckpoint } from "../core/checkpoint.ts";
import { loadGemma } from "../core/weights.ts";
import { resolveModel } from "../cli/model_source.ts";

const spec = Deno.args[0] ?? "gemma3:270m";
const rows = Number(Deno.args[1] ?? 128);
const steps = Number(Deno.args[2] ?? 3);
const batch = Number(Deno.args[3] ?? 1);
const kept = Deno.args[4] === undefined ? undefined : Number(Deno.args[4]);
const source = await resolveModel({ model: spec });
const checkpoint = await openCheckpoint(source.path);
const tokenizer = await loadCheckpointTokenizer(checkpoint);
const gpu = await createGpuContext();
const model = await loadGemma(gpu, checkpoint);
const text = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const ids = tokenizer.encode(text).slice(0, rows + 1);
const settings = { rank: 8, alpha: 16, modules: [...LORA_MODULES] };
const trainer = new LoraTrainer(model, initLora(model.config, settings, 0), rows * batch);
// B copies of the sequence, packed into one forward and backward.
const lossMask = kept === undefined ? undefined : ids.map((_, i) => i > rows - kept);
const examples = Array.from({ length: batch }, () => ({ ids, lossMask }));
console.log(
  `${gpu.adapterInfo.description || gpu.adapterInfo.vendor}; ${spec}, T = ${rows}, B = ${batch}, ${
    kept ?? rows
  } targets per sequence`,
);
await trainer.trainStep(examples, { lr: 1e-4 });
const start = performance.now();
for (let i = 0; i < steps; i++) await trainer.trainStep(examples, { lr: 1e-4 });
const seconds = (performance.now() - start) / 1000;
const perSecond = rows * batch * steps / seconds;
console.log(
  `${perSecond.toFixed(1)} training tokens/s (${(seconds / steps).toFixed(2)} s/step)`,
);
trainer.profileNext = true;
await trainer.accumulate(examples, 1 / ((kept ?? rows) * batch), true);
const profile = [...trainer.lastProfile!].sort((a, b) => b[1] - a[1]);
const total = profile.reduce((sum, [, ms]) => sum + ms, 0);
for (const [label, ms] of profile) {
  console.log(
    `${label.padEnd(40)} ${ms.toFixed(0).padStart(7)} ms ${
      (100 * ms / total).toFixed(1).padStart(5)
    }%`,
  );
}
trainer.destroy();
model.destroy();
gpu.destroy();
