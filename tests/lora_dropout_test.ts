// LoRA dropout in training (core/train/layer.ts, kernels/dropout.ts): the GPU's loss and adapter
// gradients equal the float64 reference's with the same masks (finite differences), validation
// sees no dropout, and dropout 0 is bit for bit the run without it.

import assert from "node:assert/strict";
import { createGpuContext, loadGemma, openCheckpoint } from "../core/mod.ts";
import { referenceModel } from "../core/gemma_reference.ts";
import { dropoutKey } from "../kernels/dropout.ts";
import { initLora, LORA_MODULES, type LoraModule, type LoraTensors } from "../core/lora.ts";
import { referenceLoss } from "../core/train/reference.ts";
import { LoraTrainer, type TrainExample } from "../core/train/trainer.ts";
import { seededRandom } from "../kernels/test_util.ts";
import { buildTinyModel, loadReferenceWeights } from "./fixtures.ts";
import { checkLoraGradients, loraValues } from "./lora_gradient_check.ts";

const EXAMPLES: TrainExample[] = [
  {
    ids: [2, 17, 300, 45, 45, 9, 211, 130, 77, 5, 400, 33],
    lossMask: [false, false, false, false, true, true, true, true, true, true, true, true],
  },
  { ids: [2, 99, 98, 97, 12, 500, 7] },
];

function adapter(config: Parameters<typeof initLora>[0], dropout?: number): LoraTensors {
  const tensors = initLora(config, { rank: 4, alpha: 8, modules: [...LORA_MODULES], dropout }, 1);
  const random = seededRandom(2);
  for (const pairs of tensors.layers) {
    for (const pair of pairs.values()) pair.b.forEach((_, i) => pair.b[i] = random() * 0.6 - 0.3);
  }
  return tensors;
}

async function withTinyGemma3(
  body: (model: Awaited<ReturnType<typeof loadGemma>>, dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "gemma-dropout-" });
  await buildTinyModel(dir, {
    modelType: "gemma3_text",
    slidingWindow: 4,
    vocabSize: 512,
    seed: 5,
  });
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
  try {
    await body(model, dir);
  } finally {
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("LoRA dropout: loss and gradients equal the f64 reference with the same masks", async () => {
  await withTinyGemma3(async (model, dir) => {
    const p = 0.3;
    const tensors = adapter(model.config, p);
    const trainer = new LoraTrainer(model, tensors, 32);
    trainer.seed = 11;
    try {
      // Both sequences in one pass (pass 0 of step 1), the second from row T = 11.
      const { lossSum, tokens } = await trainer.computeGradients(EXAMPLES);
      const grads = await trainer.readGradients();
      const key = (layer: number, module: LoraModule) =>
        dropoutKey(11, 1, 0, layer, LORA_MODULES.indexOf(module));
      const reference = referenceModel(
        model.config,
        await loadReferenceWeights(await openCheckpoint(dir)),
        "f32",
      );
      const values = loraValues(tensors);
      const meanLoss = (masks = true) =>
        EXAMPLES.reduce(
          (sum, e, i) =>
            sum +
            referenceLoss(
              reference,
              tensors.settings,
              values,
              e,
              masks ? { key, rowOffset: 11 * i } : undefined,
            ),
          0,
        ) / tokens;
      const expected = meanLoss();
      assert.ok(
        Math.abs(lossSum / tokens - expected) < 1e-5 * Math.abs(expected),
        `loss ${lossSum / tokens} vs reference ${expected}`,
      );
      // The masks matter: without them the loss differs.
      assert.ok(Math.abs(meanLoss(false) - expected) > 1e-4, "dropout changed nothing");
      const { checked } = checkLoraGradients(values, grads, meanLoss, 2);
      assert.equal(checked, model.config.numLayers * 7 * 2 * 2);
      // Validation has no dropout: lossOf equals the reference without masks.
      const validation = await trainer.lossOf(EXAMPLES[1]);
      const plain = referenceLoss(reference, tensors.settings, values, EXAMPLES[1]);
      assert.ok(Math.abs(validation - plain) < 1e-5 * Math.abs(plain), `${validation} vs ${plain}`);
    } finally {
      trainer.destroy();
    }
  });
});

Deno.test("LoRA dropout 0 is bit for bit training without dropout", async () => {
  await withTinyGemma3(async (model) => {
    const runs = [];
    for (const dropout of [undefined, 0]) {
      const trainer = new LoraTrainer(model, adapter(model.config, dropout), 32);
      try {
        const step = await trainer.trainStep(EXAMPLES, { lr: 1e-2 });
        const grads = await trainer.readGradients();
        runs.push({ loss: step.loss, grads, state: await trainer.exportState() });
      } finally {
        trainer.destroy();
      }
    }
    assert.equal(runs[0].loss, runs[1].loss);
    assert.deepEqual(runs[0].grads, runs[1].grads);
    assert.deepEqual(runs[0].state, runs[1].state);
  });
});

Deno.test("LoRA dropout: each step and seed draws new masks, the same ones again for the same", async () => {
  await withTinyGemma3(async (model) => {
    const lossOfFirstSteps = async (seed: number) => {
      const trainer = new LoraTrainer(model, adapter(model.config, 0.5), 32);
      trainer.seed = seed;
      try {
        const losses = [];
        // lr 0: the adapter stays put, so only the masks change the loss.
        for (let i = 0; i < 2; i++) {
          losses.push((await trainer.trainStep(EXAMPLES, { lr: 0 })).loss);
        }
        return losses;
      } finally {
        trainer.destroy();
      }
    };
    const [a, b, c] = [
      await lossOfFirstSteps(1),
      await lossOfFirstSteps(1),
      await lossOfFirstSteps(2),
    ];
    assert.deepEqual(a, b);
    assert.notEqual(a[0], a[1]);
    assert.notEqual(a[0], c[0]);
  });
});
