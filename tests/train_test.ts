// LoRA training (core/train): the GPU's adapter gradients equal central finite differences of
// the float64 reference loss (core/train/reference.ts) on tiny checkpoints of each family, with
// masked targets and two sequences of different lengths (packed into one call, the shorter padded,
// and one call each); and a tiny model overfits a small set.

import assert from "node:assert/strict";
import { createGpuContext, loadGemma, openCheckpoint } from "../core/mod.ts";
import { referenceModel } from "../core/gemma_reference.ts";
import { initLora, LORA_MODULES, type LoraTensors } from "../core/lora.ts";
import { referenceLoss } from "../core/train/reference.ts";
import { LoraTrainer, type TrainExample } from "../core/train/trainer.ts";
import { assertClose, seededRandom } from "../kernels/test_util.ts";
import { buildTinyModel, loadReferenceWeights, type TinyModelOptions } from "./fixtures.ts";
import { checkLoraGradients, loraValues } from "./lora_gradient_check.ts";

const VOCAB = 512;

const FAMILIES: [string, TinyModelOptions, ("q8_0" | "q4_0")?][] = [
  ["Gemma 1 (MQA)", { numHeads: 4, numKvHeads: 1 }],
  ["Gemma 2 (soft-caps 5 / 4, window 4, GQA)", {
    modelType: "gemma2",
    numKvHeads: 2,
    slidingWindow: 4,
    attnLogitSoftcapping: 5,
    finalLogitSoftcapping: 4,
  }],
  ["Gemma 3 (q/k norms, window 4)", {
    modelType: "gemma3_text",
    slidingWindow: 4,
    slidingWindowPattern: 2,
  }],
  // QLoRA: the frozen base quantized on the GPU (the reference sees the same dequantized blocks).
  ["Gemma 3, base quantized to q4_0", { modelType: "gemma3_text", slidingWindow: 4 }, "q4_0"],
];

const EXAMPLES: TrainExample[] = [
  {
    ids: [2, 17, 300, 45, 45, 9, 211, 130, 77, 5, 400, 33],
    // The first three targets are a "prompt": no loss on them.
    lossMask: [false, false, false, false, true, true, true, true, true, true, true, true],
  },
  { ids: [2, 99, 98, 97, 12, 500, 7] },
];

function randomizeB(tensors: LoraTensors, seed: number): void {
  const random = seededRandom(seed);
  for (const pairs of tensors.layers) {
    for (const pair of pairs.values()) {
      for (let i = 0; i < pair.b.length; i++) pair.b[i] = (random() * 2 - 1) * 0.3;
    }
  }
}

async function tinyModel(dir: string, options: TinyModelOptions, quant?: "q8_0" | "q4_0") {
  await buildTinyModel(dir, { ...options, vocabSize: VOCAB, seed: 5 });
  const checkpoint = await openCheckpoint(dir);
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, checkpoint, { dtype: "f32", quant });
  return { checkpoint, gpu, model };
}

/** One target per sequence, as an agile classifier's label token: the loss's rows compacted. */
const MOSTLY_MASKED: TrainExample[] = [
  { ids: [2, 17, 300, 45, 45, 9, 211, 130, 77, 5, 400, 33], lossMask: onlyAt(12, 10) },
  { ids: [2, 99, 98, 97, 12, 500, 7], lossMask: onlyAt(7, 6) },
];

function onlyAt(length: number, index: number): boolean[] {
  return Array.from({ length }, (_, i) => i === index);
}

for (const [name, options, quant] of FAMILIES) {
  Deno.test(`LoRA gradients equal finite differences of the f64 reference: ${name}`, async () => {
    await checkGradients(options, quant, EXAMPLES, 8 + 6);
  });
}

Deno.test("LoRA gradients equal the f64 reference with one target per sequence (Gemma 2)", async () => {
  await checkGradients(FAMILIES[1][1], undefined, MOSTLY_MASKED, 2);
});

async function checkGradients(
  options: TinyModelOptions,
  quant: "q8_0" | "q4_0" | undefined,
  examples: TrainExample[],
  targets: number,
) {
  const dir = await Deno.makeTempDir({ prefix: "gemma-train-" });
  const { checkpoint, gpu, model } = await tinyModel(dir, options, quant);
  const config = model.config;
  const settings = { rank: 4, alpha: 8, modules: [...LORA_MODULES] };
  const tensors = initLora(config, settings, 1);
  randomizeB(tensors, 2);
  const trainer = new LoraTrainer(model, tensors, 32);
  try {
    const { lossSum, tokens } = await trainer.computeGradients(examples);
    assert.equal(tokens, targets);
    const grads = await trainer.readGradients();
    // The same gradients when the two sequences do not fit one pack (one call each).
    const apart = new LoraTrainer(model, tensors, 11);
    await apart.computeGradients(examples);
    const separate = await apart.readGradients();
    apart.destroy();
    separate.forEach((g, i) => {
      assertClose(g.a, grads[i].a, 1e-5, `A ${i}, packed vs one by one`);
      assertClose(g.b, grads[i].b, 1e-5, `B ${i}, packed vs one by one`);
    });
    const weights = await loadReferenceWeights(checkpoint);
    const reference = referenceModel(config, weights, "f32", quant);
    const values = loraValues(tensors);
    const meanLoss = () =>
      examples.reduce((sum, e) => sum + referenceLoss(reference, settings, values, e), 0) /
      tokens;
    const expectedLoss = meanLoss();
    assert.ok(
      Math.abs(lossSum / tokens - expectedLoss) < 1e-5 * Math.abs(expectedLoss),
      `loss ${lossSum / tokens} vs reference ${expectedLoss}`,
    );

    const { checked, worst } = checkLoraGradients(values, grads, meanLoss, 3);
    assert.equal(checked, config.numLayers * 7 * 2 * 3);
    console.log(
      `  ${checked} gradients checked, worst error ${worst.toExponential(2)} of max |grad|`,
    );
  } finally {
    trainer.destroy();
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a tiny Gemma 3 overfits a small set (loss < 0.05)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-overfit-" });
  const { gpu, model } = await tinyModel(dir, FAMILIES[2][1]);
  const settings = { rank: 8, alpha: 16, modules: [...LORA_MODULES] };
  const trainer = new LoraTrainer(model, initLora(model.config, settings, 7), 40);
  try {
    const random = seededRandom(9);
    // After <bos> alone the next token cannot be known (every sequence starts so): no loss there.
    const set: TrainExample[] = Array.from({ length: 4 }, () => ({
      ids: [2, ...Array.from({ length: 10 }, () => 3 + Math.floor(random() * (VOCAB - 3)))],
      lossMask: [false, false, ...Array(9).fill(true)],
    }));
    const first = await trainer.trainStep(set, { lr: 1e-2 });
    let last = first;
    for (let step = 1; step < 150 && last.loss >= 0.05; step++) {
      last = await trainer.trainStep(set, { lr: 1e-2 });
    }
    console.log(
      `  loss ${first.loss.toFixed(3)} → ${last.loss.toFixed(4)} in ${trainer.step} steps`,
    );
    assert.ok(first.loss > 3, `a random set should start hard (loss ${first.loss})`);
    assert.ok(last.loss < 0.05, `loss after ${trainer.step} steps: ${last.loss}`);
  } finally {
    trainer.destroy();
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  }
});
