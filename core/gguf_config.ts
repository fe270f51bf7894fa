// GGUF ⇄ Gemma: the model config from a GGUF's metadata (and back, the way llama.cpp's
// convert_hf_to_gguf.py writes it), and tensor names between Hugging Face and GGUF.
//
// Reading builds the Hugging Face config.json object (snake_case) from llama.cpp's keys and hands
// it to parseConfig, so a GGUF and a safetensors checkpoint pass the very same validation.
// llama.cpp's architectures: "gemma" (Gemma 1), "gemma2", "gemma3" (HF model_type "gemma3_text").
// What llama.cpp does not store, it hard-codes per architecture, and so do we:
//   - Gemma 2/3 query_pre_attn_scalar: hidden / heads for the 27B models (46 / 62 layers), else
//     head_dim (llama_model::load_hparams, after gemma_pytorch's config.py);
//   - sliding-window layout: Gemma 2 alternates (pattern 2), Gemma 3 has 5 local : 1 global
//     (pattern 6) unless `{arch}.attention.sliding_window_pattern` says otherwise;
//   - Gemma 2 soft-caps default to 50 / 30; Gemma 3's local RoPE base is 10 000.
// Weights: llama.cpp's converter adds 1 to every `*norm.weight` (Gemma's RMSNorm multiplies by
// 1 + w), so a GGUF stores 1 + w where safetensors store w: see ggufNormShift.

import { ConfigError, type GemmaConfig, parseConfig } from "./config.ts";
import {
  type GgufFile,
  ggufNumber,
  ggufString,
  type GgufTensorType,
  type GgufValue,
} from "./gguf.ts";
import { CheckpointError } from "./safetensors.ts";

/** llama.cpp architecture → Hugging Face model_type. */
const MODEL_TYPES: Record<string, string> = {
  gemma: "gemma",
  gemma2: "gemma2",
  gemma3: "gemma3_text",
};
/** llama.cpp's layer count of the 27B models, whose query_pre_attn_scalar is hidden / heads. */
const LAYERS_27B: Record<string, number> = { gemma2: 46, gemma3: 62 };
/** llama.cpp's fixed sliding-window patterns: layer i is global iff (i + 1) % pattern == 0. */
const SWA_PATTERN: Record<string, number> = { gemma2: 2, gemma3: 6 };

/**
 * The Hugging Face config.json object a GGUF's metadata describes (for parseConfig). The vocab
 * size is the embedding's row count (Gemma 3 GGUFs drop the unused rows), else
 * `{arch}.vocab_size`, else the token list's length. eos_token_id lists `<end_of_turn>` too when
 * the file names an eot token (llama.cpp stops on both).
 */
export function hfConfigFromGguf(file: GgufFile): Record<string, unknown> {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot load "${file.path}": ${why}`);
  };
  const arch = ggufString(file, "general.architecture") ?? fail("no general.architecture");
  const modelType = MODEL_TYPES[arch] ??
    fail(`unsupported architecture "${arch}" (supported: ${Object.keys(MODEL_TYPES).join(", ")})`);
  const num = (key: string) => ggufNumber(file, `${arch}.${key}`);
  const need = (key: string) => num(key) ?? fail(`missing metadata "${arch}.${key}"`);
  const hidden = need("embedding_length");
  const heads = need("attention.head_count");
  const layers = need("block_count");
  const headDim = num("attention.key_length") ?? hidden / heads;
  const tokens = file.metadata.get("tokenizer.ggml.tokens");
  const vocabSize = file.tensors.find((t) => t.name === "token_embd.weight")?.shape[0] ??
    num("vocab_size") ?? (tokens?.type === "string[]" ? tokens.value.length : undefined) ??
    fail("no token_embd.weight, vocab_size or token list to tell the vocabulary size");
  const eos = ggufNumber(file, "tokenizer.ggml.eos_token_id") ?? 1;
  const eot = ggufNumber(file, "tokenizer.ggml.eot_token_id");
  const c: Record<string, unknown> = {
    model_type: modelType,
    vocab_size: vocabSize,
    hidden_size: hidden,
    intermediate_size: need("feed_forward_length"),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: num("attention.head_count_kv") ?? heads,
    head_dim: headDim,
    rms_norm_eps: f32Decimal(num("attention.layer_norm_rms_epsilon") ?? 1e-6),
    rope_theta: f32Decimal(num("rope.freq_base") ?? (arch === "gemma3" ? 1e6 : 1e4)),
    max_position_embeddings: num("context_length") ?? 8192,
    hidden_activation: "gelu_pytorch_tanh",
    bos_token_id: ggufNumber(file, "tokenizer.ggml.bos_token_id") ?? 2,
    eos_token_id: eot !== undefined && eot !== eos ? [eos, eot] : eos,
    pad_token_id: ggufNumber(file, "tokenizer.ggml.padding_token_id") ?? 0,
  };
  if (arch === "gemma") return c;

  const scale = num("attention.scale");
  c.query_pre_attn_scalar = scale !== undefined
    ? f32Decimal(1 / (scale * scale))
    : layers === LAYERS_27B[arch]
    ? hidden / heads
    : headDim;
  c.attn_logit_softcapping = arch === "gemma2"
    ? f32Decimal(num("attn_logit_softcapping") ?? 50)
    : null;
  const finalCap = num("final_logit_softcapping");
  c.final_logit_softcapping = finalCap !== undefined
    ? f32Decimal(finalCap)
    : arch === "gemma2"
    ? 30
    : null;
  const window = num("attention.sliding_window");
  if (window !== undefined) c.sliding_window = window;
  // The layout: a pattern (u32) or one bool per layer (true = sliding window), else the default.
  const pattern = file.metadata.get(`${arch}.attention.sliding_window_pattern`);
  let local: boolean[];
  if (pattern?.type === "bool[]") {
    if (pattern.value.length !== layers) fail(`sliding_window_pattern must list ${layers} layers`);
    local = pattern.value;
  } else {
    const p = pattern === undefined ? SWA_PATTERN[arch] : num("attention.sliding_window_pattern")!;
    c.sliding_window_pattern = p;
    local = Array.from({ length: layers }, (_, i) => (i + 1) % p !== 0);
  }
  c.layer_types = local.map((l) => (l ? "sliding_attention" : "full_attention"));
  if (arch === "gemma3") {
    c.rope_local_base_freq = f32Decimal(num("rope.freq_base_swa") ?? 1e4);
    const scaling = ggufString(file, `${arch}.rope.scaling.type`);
    const factor = num("rope.scaling.factor");
    if (scaling !== undefined && scaling !== "none") {
      c.rope_scaling = {
        rope_type: scaling,
        factor: factor === undefined ? factor : f32Decimal(factor),
      };
    }
  }
  return c;
}

/** The validated config of a GGUF (hfConfigFromGguf + parseConfig); errors are CheckpointErrors. */
export function configFromGguf(file: GgufFile): GemmaConfig {
  const hf = hfConfigFromGguf(file);
  try {
    return parseConfig(hf, `Cannot load "${file.path}"`);
  } catch (e) {
    if (e instanceof ConfigError) throw new CheckpointError(e.message, { cause: e });
    throw e;
  }
}

export interface GgufMetadataOptions {
  /** general.name (default "gemma"). */
  name?: string;
  /** The type of the 2-D weights, for general.file_type (default "F32"). */
  fileType?: GgufTensorType;
}

/** llama_ftype of a file whose 2-D weights are all of one type ("mostly X"). */
const FILE_TYPES: Partial<Record<GgufTensorType, number>> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 7,
  Q4_K: 14, // MOSTLY_Q4_K_S: all Q4_K (Q4_K_M mixes in Q6_K)
  Q6_K: 18,
  BF16: 32,
};

/**
 * The model metadata llama.cpp's converter writes for this config (general.*, `{arch}.*`), plus
 * `{arch}.vocab_size` and, where our config departs from what llama.cpp hard-codes, the keys
 * that say so (attention.scale, sliding_window_pattern, rope.freq_base_swa) for our reader.
 * Tokenizer entries come from ggufTokenizerMetadata.
 */
export function ggufMetadataFromConfig(
  config: GemmaConfig,
  options: GgufMetadataOptions = {},
): [string, GgufValue][] {
  const arch = config.modelType === "gemma3_text" ? "gemma3" : config.modelType;
  const fileType = options.fileType ?? "F32";
  const ftype = FILE_TYPES[fileType];
  if (ftype === undefined) throw new CheckpointError(`Cannot write GGUF file type ${fileType}`);
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  const out: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: options.name ?? "gemma" }],
    ["general.file_type", u32(ftype)],
  ];
  if (fileType.startsWith("Q")) out.push(["general.quantization_version", u32(2)]);
  const k = (key: string, value: GgufValue) => out.push([`${arch}.${key}`, value]);
  k("vocab_size", u32(config.vocabSize));
  k("context_length", u32(config.maxPositions));
  k("embedding_length", u32(config.hiddenSize));
  k("block_count", u32(config.numLayers));
  k("feed_forward_length", u32(config.intermediateSize));
  k("attention.head_count", u32(config.numHeads));
  k("attention.head_count_kv", u32(config.numKvHeads));
  k("attention.layer_norm_rms_epsilon", f32(config.rmsNormEps));
  k("attention.key_length", u32(config.headDim));
  k("attention.value_length", u32(config.headDim));
  const local = config.layerWindows.map((w) => w > 0);
  const globalLayer = Math.max(0, local.indexOf(false));
  k("rope.freq_base", f32(config.layerRopeTheta[globalLayer]));
  if (arch === "gemma") return out;

  if (arch === "gemma2") k("attn_logit_softcapping", f32(config.attnLogitSoftcap));
  if (config.finalLogitSoftcap > 0) k("final_logit_softcapping", f32(config.finalLogitSoftcap));
  if (local.some((l) => l)) k("attention.sliding_window", u32(Math.max(...config.layerWindows)));
  const p = SWA_PATTERN[arch];
  if (local.some((l, i) => l !== ((i + 1) % p !== 0))) {
    k("attention.sliding_window_pattern", { type: "bool[]", value: local });
  }
  const layers27B = config.numLayers === LAYERS_27B[arch];
  const inferred = 1 / Math.sqrt(layers27B ? config.hiddenSize / config.numHeads : config.headDim);
  if (Math.fround(inferred) !== Math.fround(config.attentionScale)) {
    k("attention.scale", f32(config.attentionScale));
  }
  if (arch === "gemma3") {
    const localLayer = local.indexOf(true);
    if (localLayer >= 0 && config.layerRopeTheta[localLayer] !== 1e4) {
      k("rope.freq_base_swa", f32(config.layerRopeTheta[localLayer]));
    }
    const factor = config.layerRopeFactor[globalLayer];
    if (factor !== 1) {
      k("rope.scaling.type", { type: "string", value: "linear" });
      k("rope.scaling.factor", f32(factor));
    }
  }
  return out;
}

// ---- tensor names ----

/** Per-layer names, HF (after `model.layers.N.`) → GGUF (after `blk.N.`), shared by all. */
const LAYER_COMMON: [string, string][] = [
  ["input_layernorm", "attn_norm"],
  ["self_attn.q_proj", "attn_q"],
  ["self_attn.k_proj", "attn_k"],
  ["self_attn.v_proj", "attn_v"],
  ["self_attn.o_proj", "attn_output"],
  ["mlp.gate_proj", "ffn_gate"],
  ["mlp.up_proj", "ffn_up"],
  ["mlp.down_proj", "ffn_down"],
];
/** Gemma 1: `post_attention_layernorm` is the norm before the MLP, GGUF's ffn_norm. */
const LAYER_GEMMA1 = new Map([...LAYER_COMMON, ["post_attention_layernorm", "ffn_norm"]]);
/** Gemma 2/3: sandwich norms (ffn_norm is the pre-MLP norm) and Gemma 3's q/k norms. */
const LAYER_GEMMA2 = new Map([
  ...LAYER_COMMON,
  ["post_attention_layernorm", "post_attention_norm"],
  ["pre_feedforward_layernorm", "ffn_norm"],
  ["post_feedforward_layernorm", "post_ffw_norm"],
  ["self_attn.q_norm", "attn_q_norm"],
  ["self_attn.k_norm", "attn_k_norm"],
]);
const TOP = new Map([
  ["model.embed_tokens", "token_embd"],
  ["model.norm", "output_norm"],
  ["lm_head", "output"],
]);
const invert = (m: Map<string, string>) => new Map([...m].map(([a, b]) => [b, a]));
const TOP_INV = invert(TOP);
const LAYER_GEMMA1_INV = invert(LAYER_GEMMA1);
const LAYER_GEMMA2_INV = invert(LAYER_GEMMA2);

/**
 * `model.layers.3.self_attn.q_proj.weight` → `blk.3.attn_q.weight`; undefined for names with no
 * GGUF counterpart. `arch` is llama.cpp's ("gemma", "gemma2", "gemma3") or an HF model_type.
 */
export function ggufNameFromHf(name: string, arch: string): string | undefined {
  return rename(name, /^model\.layers\.(\d+)\.(.+)$/, "blk", TOP, layerMap(arch, false));
}

/** `blk.3.ffn_norm.weight` → `model.layers.3.post_attention_layernorm.weight` (Gemma 1), etc. */
export function hfNameFromGguf(name: string, arch: string): string | undefined {
  return rename(name, /^blk\.(\d+)\.(.+)$/, "model.layers", TOP_INV, layerMap(arch, true));
}

/** What a GGUF adds to a tensor's values: 1 for every RMSNorm weight (`*norm.weight`), else 0. */
export function ggufNormShift(hfName: string): number {
  return hfName.endsWith("norm.weight") ? 1 : 0;
}

function layerMap(arch: string, inverse: boolean): Map<string, string> {
  const gemma1 = arch === "gemma";
  if (inverse) return gemma1 ? LAYER_GEMMA1_INV : LAYER_GEMMA2_INV;
  return gemma1 ? LAYER_GEMMA1 : LAYER_GEMMA2;
}

function rename(
  name: string,
  layerPattern: RegExp,
  layerPrefix: string,
  top: Map<string, string>,
  layer: Map<string, string>,
): string | undefined {
  const m = /^(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const [, base, suffix] = m;
  const topName = top.get(base);
  if (topName !== undefined) return `${topName}.${suffix}`;
  const l = layerPattern.exec(base);
  const mapped = l && layer.get(l[2]);
  return mapped ? `${layerPrefix}.${l[1]}.${mapped}.${suffix}` : undefined;
}

/** The shortest decimal that is the same f32 (GGUF stores 1e-6 as 9.99999997e-7). */
export function f32Decimal(x: number): number {
  const f = Math.fround(x);
  for (let digits = 1; digits < 17; digits++) {
    const y = Number(f.toPrecision(digits));
    if (Math.fround(y) === f) return y;
  }
  return f;
}
