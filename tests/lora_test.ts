// LoRA in the forward (core/lora.ts, core/gemma.ts): a fresh adapter (PEFT's init, B = 0) leaves
// the logits exactly as they were, and a trained-looking one (random B) gives the CPU reference's
// logits with the adapter merged into the weights (W + s·B·A).

import assert from "node:assert/strict";
import { createGpuContext, GemmaSession, loadGemma, openCheckpoint } from "../core/mod.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { convertToGguf } from "../core/convert.ts";
import {
  initLora,
  LORA_MODULES,
  type LoraTensors,
  mergeLora,
  moduleShape,
  uploadLora,
} from "../core/lora.ts";
import { assertClose, seededRandom } from "../kernels/test_util.ts";
import { buildTinyModel, loadReferenceWeights, type TinyModelOptions } from "./fixtures.ts";

const VOCAB = 512;
const IDS = [2, 17, 300, 45, 45, 9, 211, 130, 77, 5, 400, 33];

const FAMILIES: [string, TinyModelOptions][] = [
  ["Gemma 1", { numHeads: 4, numKvHeads: 1 }],
  ["Gemma 2 (soft-caps, window 4)", {
    modelType: "gemma2",
    numKvHeads: 2,
    slidingWindow: 4,
    attnLogitSoftcapping: 5,
    finalLogitSoftcapping: 4,
  }],
  ["Gemma 3 (q/k norms)", { modelType: "gemma3_text", slidingWindow: 4, slidingWindowPattern: 2 }],
];

async function logitsOf(model: Awaited<ReturnType<typeof loadGemma>>, ids: number[]) {
  const session = new GemmaSession(model, { contextLength: 64 });
  const all = await session.appendWithAllLogits(ids);
  session.destroy();
  return all;
}

/** A random B for every module, so that the adapter really changes the logits. */
function randomizeB(tensors: LoraTensors, seed: number): void {
  const random = seededRandom(seed);
  for (const pairs of tensors.layers) {
    for (const pair of pairs.values()) {
      for (let i = 0; i < pair.b.length; i++) pair.b[i] = (random() * 2 - 1) * 0.2;
    }
  }
}

for (const [name, options] of FAMILIES) {
  Deno.test(`LoRA forward: ${name}`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-lora-" });
    await buildTinyModel(dir, { ...options, vocabSize: VOCAB, seed: 5 });
    const checkpoint = await openCheckpoint(dir);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    const config = model.config;
    try {
      const base = await logitsOf(model, IDS);
      const settings = { rank: 4, alpha: 8, modules: [...LORA_MODULES] };

      await t.step("PEFT's init: A within ±1/√in and not all zero, B zero", () => {
        const fresh = initLora(config, settings, 1);
        for (const [module, pair] of fresh.layers[0]) {
          const [out, inputs] = moduleShape(config, module);
          assert.equal(pair.a.length, 4 * inputs);
          assert.equal(pair.b.length, out * 4);
          const bound = 1 / Math.sqrt(inputs);
          assert.ok(pair.a.every((v) => Math.abs(v) <= bound));
          assert.ok(pair.a.some((v) => Math.abs(v) > bound / 2));
          assert.ok(pair.b.every((v) => v === 0));
        }
      });

      await t.step("a fresh adapter reproduces the base logits exactly", async () => {
        for (const modules of [["q_proj", "v_proj", "o_proj", "down_proj"], [...LORA_MODULES]]) {
          const fresh = initLora(config, { ...settings, modules } as typeof settings, 2);
          model.lora = uploadLora(gpu, config, fresh);
          const logits = await logitsOf(model, IDS);
          model.lora.destroy();
          model.lora = undefined;
          let differing = 0;
          for (let i = 0; i < base.length; i++) if (logits[i] !== base[i]) differing++;
          assert.equal(differing, 0, `${modules.join(",")}: ${differing} logits differ`);
        }
      });

      await t.step("an adapter equals the reference with it merged, at scale 0.5", async () => {
        const tensors = initLora(config, { ...settings, rsLora: true }, 3);
        randomizeB(tensors, 4);
        model.lora = uploadLora(gpu, config, tensors, 0.5);
        const ours = await logitsOf(model, IDS);
        // Decoding (one row: the GEMV path) with the adapter gives the same last row.
        const session = new GemmaSession(model, { contextLength: 64 });
        session.append(IDS.slice(0, -1));
        session.append(IDS.slice(-1));
        const vocab = config.vocabSize;
        assertClose(await session.logits(), ours.subarray(ours.length - vocab), 1e-5, "decode");
        session.destroy();
        model.lora.destroy();
        model.lora = undefined;
        const weights = await loadReferenceWeights(checkpoint);
        const reference = referenceModel(config, weights, "f32");
        mergeLora(config, reference.weights, tensors, 0.5);
        const expected = referenceLogits(reference, IDS, IDS.length);
        assertClose(ours, expected, 1e-4, "logits with the adapter");
        let moved = 0;
        for (let i = 0; i < base.length; i++) moved = Math.max(moved, Math.abs(ours[i] - base[i]));
        assert.ok(moved > 0.05, `the adapter should change the logits (moved ${moved})`);
      });
    } finally {
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("convert --adapter: the merged GGUF gives the unmerged adapter's logits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-lora-merge-" });
  const gpu = await createGpuContext();
  try {
    await buildTinyModel(`${dir}/hf`, { modelType: "gemma2", numKvHeads: 2, seed: 8 });
    const checkpoint = await openCheckpoint(`${dir}/hf`);
    const config = checkpoint.config;
    const tensors = initLora(config, { rank: 4, alpha: 8, modules: [...LORA_MODULES] }, 5);
    randomizeB(tensors, 6);
    await convertToGguf(checkpoint, `${dir}/merged.gguf`, {
      type: "f32",
      adapter: { tensors, scale: 0.5 },
    });
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    model.lora = uploadLora(gpu, config, tensors, 0.5);
    const unmerged = await logitsOf(model, IDS);
    model.lora.destroy();
    model.lora = undefined;
    const base = await logitsOf(model, IDS);
    model.destroy();
    const merged = await loadGemma(gpu, await openCheckpoint(`${dir}/merged.gguf`), {
      dtype: "f32",
    });
    const ours = await logitsOf(merged, IDS);
    merged.destroy();
    assertClose(ours, unmerged, 1e-4, "merged vs unmerged");
    let moved = 0;
    for (let i = 0; i < base.length; i++) moved = Math.max(moved, Math.abs(ours[i] - base[i]));
    assert.ok(moved > 0.05, `the merge should change the logits (moved ${moved})`);
  } finally {
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
