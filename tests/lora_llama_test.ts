// Our LoRA GGUF export (core/formats/lora_gguf.ts) loaded by llama.cpp (node-llama-cpp's `lora`)
// on the same F32 GGUF gives the next-token log-probs that our unmerged forward gives, as close
// as the two engines agree without an adapter. Most of that gap is llama.cpp's f16 GELU table: the
// CPU reference with the adapter merged and that table emulated is within 6e-4 of llama.cpp, with
// or without the adapter, and our GPU forward is within 1e-4 of the exact reference.

import assert from "node:assert/strict";
import { createGpuContext, GemmaSession, loadGemma, openCheckpoint } from "../core/mod.ts";
import { convertToGguf } from "../core/convert.ts";
import { initLora, LORA_MODULES, mergeLora, uploadLora } from "../core/lora.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { writeLoraGguf } from "../core/formats/lora_gguf.ts";
import { seededRandom } from "../kernels/test_util.ts";
import { buildTinyModel, loadReferenceWeights, type TinyModelOptions } from "./fixtures.ts";
import { ggmlGeluMul, runLlama } from "./llama_reference.ts";

const TOKENS = [2, 651, 6037, 576, 6081, 603, 7127, 235265, 714, 6037, 576, 9066, 603];

const CASES: [string, TinyModelOptions, boolean][] = [
  ["Gemma 1", { numHeads: 4, numKvHeads: 1 }, false],
  ["Gemma 2, rsLoRA", { modelType: "gemma2", numKvHeads: 2, slidingWindow: 8 }, true],
];

for (const [name, options, rsLora] of CASES) {
  Deno.test(`llama.cpp with our LoRA GGUF gives our log-probs: ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-lora-llama-" });
    const gpu = await createGpuContext();
    try {
      await buildTinyModel(`${dir}/hf`, { ...options, seed: 5 });
      const gguf = `${dir}/model.gguf`;
      await convertToGguf(await openCheckpoint(`${dir}/hf`), gguf, { type: "f32" });
      const model = await loadGemma(gpu, await openCheckpoint(gguf), { dtype: "f32" });
      const settings = { rank: 4, alpha: 8, modules: [...LORA_MODULES], rsLora };
      const tensors = initLora(model.config, settings, 1);
      const random = seededRandom(2);
      for (const pairs of tensors.layers) {
        for (const p of pairs.values()) p.b.forEach((_, i) => p.b[i] = random() * 0.4 - 0.2);
      }
      await writeLoraGguf(`${dir}/adapter.gguf`, model.config, tensors);

      const vocab = model.config.vocabSize;
      const logprobs = (logits: Float32Array) => {
        const out: number[] = [];
        for (let t = 0; t + 1 < TOKENS.length; t++) {
          const row = logits.subarray(t * vocab, (t + 1) * vocab);
          let top = -Infinity;
          for (const z of row) top = Math.max(top, z);
          let sum = 0;
          for (const z of row) sum += Math.exp(z - top);
          out.push(row[TOKENS[t + 1]] - top - Math.log(sum));
        }
        return out;
      };
      const gpuLogprobs = async () => {
        const session = new GemmaSession(model, { contextLength: 64 });
        const logits = await session.appendWithAllLogits(TOKENS);
        session.destroy();
        return logprobs(logits);
      };
      const base = await gpuLogprobs();
      model.lora = uploadLora(gpu, model.config, tensors, 0.5);
      const ours = await gpuLogprobs();
      model.lora.destroy();
      // The CPU reference, adapter merged (W + 0.5·s·B·A), exact and with llama.cpp's GELU.
      const weights = await loadReferenceWeights(await openCheckpoint(gguf));
      const reference = (merged: boolean, geluMul?: typeof ggmlGeluMul) => {
        const w = new Map(weights);
        if (merged) mergeLora(model.config, w, tensors, 0.5);
        const logits = referenceLogits(
          referenceModel(model.config, w, "f32"),
          TOKENS,
          TOKENS.length,
          geluMul,
        );
        return logprobs(logits);
      };
      model.destroy();
      const [llama] = await runLlama({
        model: gguf,
        lora: `${dir}/adapter.gguf`,
        loraScale: 0.5,
        tasks: [{ type: "score", tokens: TOKENS }],
      });
      const [plain] = await runLlama({ model: gguf, tasks: [{ type: "score", tokens: TOKENS }] });
      // On these random models (256000 logits, log-probs near −13) the two engines' f32 results
      // already differ by ~1.5e-3 without an adapter; the adapter (which moves the log-probs by
      // nats) must add no more than that.
      let worst = 0;
      let worstEffect = 0;
      let baseGap = 0;
      let moved = 0;
      ours.forEach((lp, i) => {
        worst = Math.max(worst, Math.abs(lp - llama.logprobs[i]));
        baseGap = Math.max(baseGap, Math.abs(base[i] - plain.logprobs[i]));
        const effect = lp - base[i];
        const theirs = llama.logprobs[i] - plain.logprobs[i];
        worstEffect = Math.max(worstEffect, Math.abs(effect - theirs));
        moved = Math.max(moved, Math.abs(effect));
      });
      console.log(
        `  max |Δ log-prob| ${worst.toExponential(2)} (base model alone ${
          baseGap.toExponential(2)
        }), of the adapter's effect ${
          worstEffect.toExponential(2)
        }; the adapter moves them by up to ${moved.toFixed(3)}`,
      );
      const gap = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
      const exact = gap(ours, reference(true));
      const tableBase = gap(plain.logprobs, reference(false, ggmlGeluMul));
      const tableAdapter = gap(llama.logprobs, reference(true, ggmlGeluMul));
      console.log(
        `  ours against the exact reference ${exact.toExponential(2)}; llama.cpp against the ` +
          `reference with its GELU table ${tableBase.toExponential(2)} (base), ${
            tableAdapter.toExponential(2)
          } (adapter)`,
      );
      assert.ok(exact < 1e-4, `ours against the merged reference: ${exact}`);
      assert.ok(tableBase < 6e-4 && tableAdapter < 6e-4, `${tableBase}, ${tableAdapter}`);
      assert.ok(
        worstEffect < 3e-3 && worstEffect < 2e-3 * moved,
        `effect differs by ${worstEffect}`,
      );
      assert.ok(worst < 3e-3, `max |Δ log-prob| ${worst}`);
      assert.ok(moved > 0.5, `the adapter should move the log-probs (by ${moved})`);
    } finally {
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
