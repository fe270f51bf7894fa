// Training throughput, ours against PEFT + transformers on this machine's CPU torch, in one run
// (a development tool): the same base (a GGUF, which transformers dequantizes to float32; ours
// keeps its blocks), the same B sequences of T + 1 tokens of this repository's README, rank 8,
// alpha 16, all seven modules, AdamW, one warm-up step then `steps` timed steps each.
//
//   ./deno run -A tools/peft_bench.ts [model: gemma3:270m] [T: 128] [steps: 3] [batch B: 1]
//
// Needs tools/setup_python.sh (peft in the reference venv).

import { createGpuContext, initLora, LORA_MODULES, LoraTrainer } from "../core/mod.ts";
import { loadCheckpointTokenizer, openCheckpoint } from "../core/checkpoint.ts";
import { loadGemma } from "../core/weights.ts";
import { resolveModel } from "../cli/model_source.ts";
import { referencePython } from "../tests/python_reference.ts";

const spec = Deno.args[0] ?? "gemma3:270m";
const rows = Number(Deno.args[1] ?? 128);
const steps = Number(Deno.args[2] ?? 3);
const batch = Number(Deno.args[3] ?? 1);
const settings = { rank: 8, alpha: 16, modules: [...LORA_MODULES] };
const lr = 1e-4;

const source = await resolveModel({ model: spec });
const checkpoint = await openCheckpoint(source.path);
const tokenizer = await loadCheckpointTokenizer(checkpoint);
const text = await Deno.readTextFile(new URL("../README.md", import.meta.url));
const all = tokenizer.encode(text);
if (all.length < batch * rows + 1) throw new Error(`README has only ${all.length} tokens`);
// B different windows of the README, T + 1 tokens each.
const sequences = Array.from({ length: batch }, (_, b) => all.slice(b * rows, b * rows + rows + 1));

// Ours.
const gpu = await createGpuContext();
const model = await loadGemma(gpu, checkpoint);
const trainer = new LoraTrainer(model, initLora(model.config, settings, 0), rows * batch);
const examples = sequences.map((ids) => ({ ids }));
const ourLosses = [(await trainer.trainStep(examples, { lr })).loss];
let start = performance.now();
for (let i = 0; i < steps; i++) ourLosses.push((await trainer.trainStep(examples, { lr })).loss);
const ourSeconds = (performance.now() - start) / 1000;
const ours = rows * batch * steps / ourSeconds;
const device = gpu.adapterInfo.description || gpu.adapterInfo.vendor;
trainer.destroy();
model.destroy();
gpu.destroy();

// PEFT.
const gguf = source.path.endsWith(".gguf");
const job = {
  model: gguf ? source.path.slice(0, source.path.lastIndexOf("/")) : source.path,
  gguf_file: gguf ? source.path.slice(source.path.lastIndexOf("/") + 1) : undefined,
  ids: sequences,
  rank: settings.rank,
  alpha: settings.alpha,
  modules: settings.modules,
  steps,
  lr,
};
start = performance.now();
const child = new Deno.Command(referencePython(), {
  args: [new URL("./peft_bench.py", import.meta.url).pathname],
  stdin: "piped",
  stdout: "piped",
  stderr: "piped",
}).spawn();
const writer = child.stdin.getWriter();
await writer.write(new TextEncoder().encode(JSON.stringify(job)));
await writer.close();
const out = await child.output();
if (out.code !== 0) {
  const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
  throw new Error(`peft_bench.py failed: ${tail}`);
}
const peft = JSON.parse(new TextDecoder().decode(out.stdout));

const loss = (l: number[]) => l.map((v) => v.toFixed(3)).join(" → ");
console.log(`${spec}, T = ${rows}, B = ${batch}, rank 8, 7 modules, ${steps} timed steps`);
console.log(
  `ours (${device}): ${ours.toFixed(1)} tokens/s (${(ourSeconds / steps).toFixed(2)} s/step), ` +
    `losses ${loss(ourLosses)}`,
);
console.log(
  `PEFT ${peft.torch} CPU (${peft.threads} threads): ${
    peft.tokens_per_second.toFixed(1)
  } tokens/s ` +
    `(${peft.seconds_per_step.toFixed(2)} s/step), losses ${loss(peft.losses)}`,
);
console.log(`ours / PEFT: ${(ours / peft.tokens_per_second).toFixed(3)}×`);
