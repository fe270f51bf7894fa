// `--adapter` against transformers: an adapter written as a PEFT folder (writePeftAdapter), read
// back (readPeftAdapter) and applied unmerged by our forward gives the logits of transformers'
// model with the adapter merged by hand (tests/python/lora_merged_logits.py).

import { createGpuContext, GemmaSession, loadGemma, openCheckpoint } from "../core/mod.ts";
import { initLora, LORA_MODULES, uploadLora } from "../core/lora.ts";
import { readPeftAdapter, writePeftAdapter } from "../core/formats/peft.ts";
import { assertClose, seededRandom } from "../kernels/test_util.ts";
import { buildTinyModel, type TinyModelOptions } from "./fixtures.ts";
import { runPython } from "./python_reference.ts";

const IDS = [2, 17, 300, 45, 45, 9, 211, 130, 77, 5];

const CASES: [string, TinyModelOptions, boolean][] = [
  ["Gemma 1", { numHeads: 4, numKvHeads: 1 }, false],
  ["Gemma 2 (soft-caps), rsLoRA", {
    modelType: "gemma2",
    numKvHeads: 2,
    // Not whole numbers: transformers' config rejects an int where it types a float.
    attnLogitSoftcapping: 5.5,
    finalLogitSoftcapping: 4.5,
  }, true],
  ["Gemma 3 (q/k norms)", { modelType: "gemma3_text" }, false],
];

for (const [name, options, rsLora] of CASES) {
  Deno.test(`--adapter equals transformers with the adapter merged: ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-lora-py-" });
    await buildTinyModel(`${dir}/model`, { ...options, vocabSize: 512, seed: 6 });
    const checkpoint = await openCheckpoint(`${dir}/model`);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    try {
      const settings = { rank: 4, alpha: 8, modules: [...LORA_MODULES], rsLora };
      const tensors = initLora(model.config, settings, 1);
      const random = seededRandom(2);
      for (const pairs of tensors.layers) {
        for (const p of pairs.values()) p.b.forEach((_, i) => p.b[i] = random() * 0.4 - 0.2);
      }
      await writePeftAdapter(`${dir}/adapter`, tensors, { baseModel: `${dir}/model` });
      const loaded = await readPeftAdapter(`${dir}/adapter`, model.config);
      model.lora = uploadLora(gpu, model.config, loaded);
      const session = new GemmaSession(model, { contextLength: 32 });
      const ours = await session.appendWithAllLogits(IDS);
      session.destroy();
      model.lora.destroy();
      const out = await runPython(
        "lora_merged_logits.py",
        [`${dir}/model`, `${dir}/adapter`],
        new TextEncoder().encode(JSON.stringify({ ids: IDS })),
      );
      const expected = JSON.parse(new TextDecoder().decode(out)).logits;
      assertClose(ours, expected, 1e-4, "logits");
    } finally {
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
