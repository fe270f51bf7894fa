// Training throughput of `finetune-lora`'s step on a real checkpoint (a development tool): one
// batch of B sequences of T tokens of this repository's README, packed into one forward and
// backward, all seven modules at rank 8; a warm-up step
// (pipelines compile), then `steps` timed steps, and a per-section GPU profile of one sequence.
//
//   ./deno run -A tools/finetune_bench.ts [model: gemma3:270m] [T: 128] [steps: 3] [batch B: 1]

import { createGpuContext, initLora, LORA_MODULES, LoraTrainer } from "../core/mod.ts";
import { loadCheckpointTokenizer, openCheckpoint } from "../core/checkpoint.ts";
import { loadGemma } from "../core/weights.ts";
import { resolveModel } from "../cli/model_source.ts";

const spec = Deno.args[0] ?? "gemma3:270m";
const rows = Number(Deno.args[1] ?? 128);
const steps = Number(Deno.args[2] ?? 3);
const batch = Number(Deno.args[3] ?? 1);
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
const examples = Array.from({ length: batch }, () => ({ ids }));
console.log(
  `${gpu.adapterInfo.description || gpu.adapterInfo.vendor}; ${spec}, T = ${rows}, B = ${batch}`,
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
await trainer.accumulate(examples, 1 / (rows * batch), true);
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
