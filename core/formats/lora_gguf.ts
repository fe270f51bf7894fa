// A LoRA adapter as llama.cpp loads it (`--lora FILE`, node-llama-cpp's `lora` option): a GGUF
// with general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per adapted weight
// blk.{i}.attn_q.weight.lora_a ([r, in] in PyTorch order, dims [in, r]) and …lora_b ([out, r]).
// llama.cpp scales by alpha / r, so an rsLoRA adapter (α / √r) is written with alpha·√r.

import type { GemmaConfig } from "../config.ts";
import { writeGguf } from "../gguf_write.ts";
import { type LoraModule, loraScale, type LoraTensors } from "../lora.ts";

const GGUF_NAMES: Record<LoraModule, string> = {
  q_proj: "attn_q",
  k_proj: "attn_k",
  v_proj: "attn_v",
  o_proj: "attn_output",
  gate_proj: "ffn_gate",
  up_proj: "ffn_up",
  down_proj: "ffn_down",
};

/** Writes `tensors` to `path` (atomically) for a model of `config`. */
export async function writeLoraGguf(
  path: string,
  config: GemmaConfig,
  tensors: LoraTensors,
): Promise<void> {
  const arch = config.modelType === "gemma3_text" ? "gemma3" : config.modelType;
  const r = tensors.settings.rank;
  const list = [];
  for (const [layer, pairs] of tensors.layers.entries()) {
    for (const [module, pair] of pairs) {
      const base = `blk.${layer}.${GGUF_NAMES[module]}.weight`;
      list.push(
        {
          name: `${base}.lora_a`,
          type: "F32" as const,
          shape: [r, pair.a.length / r],
          data: pair.a,
        },
        {
          name: `${base}.lora_b`,
          type: "F32" as const,
          shape: [pair.b.length / r, r],
          data: pair.b,
        },
      );
    }
  }
  await writeGguf(path, {
    metadata: [
      ["general.architecture", { type: "string", value: arch }],
      ["general.type", { type: "string", value: "adapter" }],
      ["general.name", { type: "string", value: "gemma LoRA adapter" }],
      ["adapter.type", { type: "string", value: "lora" }],
      // alpha / r must equal our scale s.
      ["adapter.lora.alpha", { type: "f32", value: loraScale(tensors.settings) * r }],
    ],
    tensors: list,
  });
}
