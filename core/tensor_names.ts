// The Hugging Face names and shapes of a Gemma checkpoint's tensors, by family. The engine uses
// these canonical names everywhere; a Gemma 3 multimodal checkpoint's `language_model.` prefix is
// stripped when it is opened (core/checkpoint.ts), and GGUF names are mapped onto them.

import type { GemmaConfig } from "./config.ts";

export const EMBED_TENSOR = "model.embed_tokens.weight";
export const FINAL_NORM_TENSOR = "model.norm.weight";

/**
 * Names of layer i's tensors. Beware the name `post_attention_layernorm`: in Gemma 1 it is the
 * norm *before the MLP*; in Gemma 2/3 it norms the attention output, and the pre-MLP norm is
 * `pre_feedforward_layernorm`. The fields here are named by role.
 */
export function layerTensorNames(i: number) {
  const p = `model.layers.${i}`;
  return {
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    gate: `${p}.mlp.gate_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
    /** Before attention (all families). */
    attnNorm: `${p}.input_layernorm.weight`,
    /** Before the MLP: Gemma 1's post_attention_layernorm, Gemma 2/3's pre_feedforward_layernorm. */
    mlpNormGemma1: `${p}.post_attention_layernorm.weight`,
    mlpNorm: `${p}.pre_feedforward_layernorm.weight`,
    /** Gemma 2/3: after attention and after the MLP. */
    attnOutNorm: `${p}.post_attention_layernorm.weight`,
    mlpOutNorm: `${p}.post_feedforward_layernorm.weight`,
    /** Gemma 3: over head_dim, on q and k. */
    qNorm: `${p}.self_attn.q_norm.weight`,
    kNorm: `${p}.self_attn.k_norm.weight`,
  };
}

/** The pre-MLP norm's name for this family (see layerTensorNames). */
export function mlpNormName(config: GemmaConfig, layer: number): string {
  const n = layerTensorNames(layer);
  return config.sandwichNorms ? n.mlpNorm : n.mlpNormGemma1;
}

/**
 * Every tensor a checkpoint of this config must have, with its PyTorch shape ([out, in] for
 * projections). The output head is tied to the embedding: there is no lm_head.weight to expect.
 */
export function expectedTensorShapes(config: GemmaConfig): Map<string, number[]> {
  const { hiddenSize: d, intermediateSize: ff, numHeads, numKvHeads, headDim } = config;
  const shapes = new Map<string, number[]>();
  shapes.set(EMBED_TENSOR, [config.vocabSize, d]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const n = layerTensorNames(layer);
    shapes.set(n.attnNorm, [d]);
    shapes.set(n.q, [numHeads * headDim, d]);
    shapes.set(n.k, [numKvHeads * headDim, d]);
    shapes.set(n.v, [numKvHeads * headDim, d]);
    shapes.set(n.o, [d, numHeads * headDim]);
    shapes.set(mlpNormName(config, layer), [d]);
    if (config.sandwichNorms) {
      shapes.set(n.attnOutNorm, [d]);
      shapes.set(n.mlpOutNorm, [d]);
    }
    if (config.qkNorm) {
      shapes.set(n.qNorm, [headDim]);
      shapes.set(n.kNorm, [headDim]);
    }
    shapes.set(n.gate, [ff, d]);
    shapes.set(n.up, [ff, d]);
    shapes.set(n.down, [d, ff]);
  }
  shapes.set(FINAL_NORM_TENSOR, [d]);
  return shapes;
}
