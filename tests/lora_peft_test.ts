// Interop with PEFT itself (tests/python/peft_lora.py, transformers in f32): an adapter trained by
// our trainer and written as a PEFT folder loads with PeftModel.from_pretrained and gives our
// `--adapter` forward's log-probs; and a PEFT-made adapter (random, non-zero A and B) loaded by
// our readPeftAdapter gives PEFT's log-probs. Within 1e-4 nats, on a tiny Gemma 3.

import assert from "node:assert/strict";
import { createGpuContext, GemmaSession, loadGemma, openCheckpoint } from "../core/mod.ts";
import { initLora, LORA_MODULES, type LoraTensors, uploadLora } from "../core/lora.ts";
import { readPeftAdapter, writePeftAdapter } from "../core/formats/peft.ts";
import { LoraTrainer } from "../core/train/trainer.ts";
import type { Gemma } from "../core/weights.ts";
import { buildTinyModel } from "./fixtures.ts";
import { runPython } from "./python_reference.ts";

const IDS = [2, 17, 300, 45, 45, 9, 211, 130, 77, 5, 400, 33];

/** Log-softmax rows (f64) of our forward with `adapter` applied. */
async function ourLogprobs(model: Gemma, adapter: LoraTensors): Promise<Float64Array> {
  model.lora = uploadLora(model.gpu, model.config, adapter);
  const session = new GemmaSession(model, { contextLength: 32 });
  const logits = await session.appendWithAllLogits(IDS);
  session.destroy();
  model.lora.destroy();
  model.lora = undefined;
  const vocab = model.config.vocabSize;
  const out = new Float64Array(logits.length);
  for (let row = 0; row < IDS.length; row++) {
    const z = logits.subarray(row * vocab, (row + 1) * vocab);
    let top = -Infinity;
    for (const v of z) top = Math.max(top, v);
    let sum = 0;
    for (const v of z) sum += Math.exp(v - top);
    const norm = top + Math.log(sum);
    for (let i = 0; i < vocab; i++) out[row * vocab + i] = z[i] - norm;
  }
  return out;
}

async function peft(args: string[]): Promise<number[]> {
  const input = new TextEncoder().encode(JSON.stringify({ ids: IDS }));
  const out = await runPython("peft_lora.py", args, input);
  return JSON.parse(new TextDecoder().decode(out)).logprobs;
}

/** max |a − b| over every row's log-probs; and that the adapter moved them from `base`. */
function assertSameLogprobs(ours: Float64Array, theirs: number[], base: Float64Array) {
  assert.equal(ours.length, theirs.length);
  let worst = 0;
  let moved = 0;
  for (let i = 0; i < ours.length; i++) {
    worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
    moved = Math.max(moved, Math.abs(ours[i] - base[i]));
  }
  assert.ok(worst < 1e-4, `log-probs differ by ${worst}`);
  assert.ok(moved > 1e-2, `the adapter hardly changes the log-probs (${moved})`);
  console.log(
    `  max |Δ log-prob| ${worst.toExponential(2)} (the adapter moves them by ${moved.toFixed(3)})`,
  );
}

Deno.test("PEFT loads our trained adapter, and we load PEFT's, with the same log-probs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-peft-" });
  const modelDir = `${dir}/model`;
  await buildTinyModel(modelDir, {
    modelType: "gemma3_text",
    slidingWindow: 4,
    vocabSize: 512,
    seed: 8,
  });
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, await openCheckpoint(modelDir), { dtype: "f32" });
  try {
    const settings = { rank: 4, alpha: 8, modules: [...LORA_MODULES], dropout: 0.1 };
    const base = await ourLogprobs(model, initLora(model.config, settings, 1));
    // Ours → PEFT: a few steps of our trainer (with dropout) make B non-zero.
    const trainer = new LoraTrainer(model, initLora(model.config, settings, 1), 16);
    for (let step = 0; step < 3; step++) {
      await trainer.trainStep([{ ids: IDS }], { lr: 5e-2 });
    }
    const trained = await trainer.adapter();
    trainer.destroy();
    await writePeftAdapter(`${dir}/ours`, trained, { baseModel: modelDir, dropout: 0.1 });
    const ours = await ourLogprobs(model, await readPeftAdapter(`${dir}/ours`, model.config));
    assertSameLogprobs(ours, await peft(["logprobs", modelDir, `${dir}/ours`]), base);

    // PEFT → ours.
    const theirs = await peft(["create", modelDir, `${dir}/theirs`, "4", "8"]);
    const loaded = await readPeftAdapter(`${dir}/theirs`, model.config);
    assert.deepEqual(loaded.settings.modules, [...LORA_MODULES]);
    assertSameLogprobs(await ourLogprobs(model, loaded), theirs, base);
  } finally {
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
