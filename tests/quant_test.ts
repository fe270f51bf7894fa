// Quantized weights end to end: --quant on load of a HF checkpoint matches the reference run on
// the same quantized values, a Q4_0 GGUF stays at ~4.5 bits per weight on the GPU, and GGUFs of
// mixed types load right.

import assert from "node:assert/strict";
import {
  createGpuContext,
  type Gemma,
  GemmaSession,
  gpuWeightBytes,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
  parameterCount,
} from "../core/mod.ts";
import { convertToGguf } from "../core/convert.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { assertClose } from "../kernels/test_util.ts";
import { buildTinyModel, loadReferenceWeights } from "./fixtures.ts";

const dir = await Deno.makeTempDir({ prefix: "gemma-quant-" });
await buildTinyModel(`${dir}/hf`, { modelType: "gemma2", numKvHeads: 2, seed: 9 });
const checkpoint = await openCheckpoint(`${dir}/hf`);
const tokenizer = await loadTokenizer(`${dir}/hf`);
const ids = tokenizer.encode("Quantized weights, dequantized in registers: 4.5 bits each.");

/** The logits after `ids`, from a fresh session on `model`. */
async function promptLogits(model: Gemma): Promise<Float32Array> {
  const session = new GemmaSession(model, { contextLength: 64 });
  session.append(ids);
  const logits = await session.logits();
  session.destroy();
  return logits;
}

for (const quant of ["q8_0", "q4_0"] as const) {
  Deno.test(`--quant ${quant}: GPU logits match the reference on the same quantized weights`, async () => {
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32", quant });
    const reference = referenceModel(
      checkpoint.config,
      await loadReferenceWeights(checkpoint),
      "f32",
      quant,
    );
    assertClose(await promptLogits(model), referenceLogits(reference, ids), 1e-4, quant);
    assert.equal(model.weightBytes, gpuWeightBytes(checkpoint, "f32", quant), "estimated bytes");
    model.destroy();
    gpu.destroy();
  });
}

Deno.test("a Q4_0 GGUF stays at about 4.5 bits per weight on the GPU", async () => {
  await convertToGguf(checkpoint, `${dir}/q4.gguf`, { type: "q4_0" });
  const gguf = await openCheckpoint(`${dir}/q4.gguf`);
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, gguf);
  const bits = (8 * model.weightBytes) / parameterCount(gguf.config);
  // Q4_0: 18 bytes per 32 weights = 4.5 bits; the f32 norms add a little.
  assert.ok(bits > 4.4 && bits < 4.6, `${bits.toFixed(3)} bits per weight`);
  assert.equal(model.weightBytes, gpuWeightBytes(gguf, "f16"));
  const layer = model.weights.layers[0];
  assert.equal(layer.qkv.length, 1, "q, k, v in one matrix");
  assert.equal(layer.gateUp.length, 1, "gate, up in one matrix");
  model.destroy();
  gpu.destroy();
});

Deno.test("q, k, v and gate, up of mixed quant types stack in runs of one type: reference logits", async () => {
  await convertToGguf(checkpoint, `${dir}/mixed.gguf`, {
    type: "q4_0",
    typeOf: (name) => /k_proj|up_proj/.test(name) ? "q8_0" : undefined,
  });
  const gguf = await openCheckpoint(`${dir}/mixed.gguf`);
  const gpu = await createGpuContext();
  const model = await loadGemma(gpu, gguf, { dtype: "f32" });
  const layer = model.weights.layers[0];
  assert.deepEqual(layer.qkv.map((m) => m.dtype), ["q4_0", "q8_0", "q4_0"]);
  assert.deepEqual(layer.gateUp.map((m) => m.dtype), ["q4_0", "q8_0"]);
  // The reference runs on the GGUF's dequantized weights: the same values.
  const reference = referenceModel(gguf.config, await loadReferenceWeights(gguf));
  assertClose(await promptLogits(model), referenceLogits(reference, ids), 1e-4, "mixed types");
  model.destroy();
  gpu.destroy();
});

Deno.test("an F16 GGUF goes to the GPU as it is stored: the logits of the f16-loaded HF folder", async () => {
  await convertToGguf(checkpoint, `${dir}/f16.gguf`, { type: "f16" });
  const gguf = await openCheckpoint(`${dir}/f16.gguf`);
  assert.ok(gguf.tensors.get("model.layers.0.mlp.up_proj.weight")?.rawRows, "raw rows offered");
  const gpu = await createGpuContext();
  const logits = async (source: typeof checkpoint) => {
    const model = await loadGemma(gpu, source, { dtype: "f16" });
    const out = await promptLogits(model);
    model.destroy();
    return out;
  };
  assertClose(await logits(gguf), await logits(checkpoint), 1e-6, "F16 GGUF vs HF folder");
  gpu.destroy();
});

Deno.test("quantized weights read from textures give exactly the logits of the buffers", async () => {
  await convertToGguf(checkpoint, `${dir}/textures.gguf`, {
    type: "q4_0",
    typeOf: (name) => /v_proj|down_proj|embed/.test(name) ? "q8_0" : undefined,
  });
  const gguf = await openCheckpoint(`${dir}/textures.gguf`);
  const gpu = await createGpuContext();
  // The prompt's rows (a short prefill), then one decoded token: both matmul loops.
  const logits = async (weightTextures: boolean) => {
    const model = await loadGemma(gpu, gguf, { dtype: "f32", weightTextures });
    assert.equal(model.weightTextureBytes > 0, weightTextures);
    const session = new GemmaSession(model, { contextLength: 64 });
    session.append(ids);
    const prompt = await session.logits();
    session.append([ids[1]]);
    const next = await session.logits();
    session.destroy();
    model.destroy();
    return [prompt, next];
  };
  const [fromBuffers, fromTextures] = [await logits(false), await logits(true)];
  assert.deepEqual(fromTextures, fromBuffers);
  gpu.destroy();
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
