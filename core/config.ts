// GemmaConfig: the model's shape and hyper-parameters, parsed once at the edge from a Hugging Face
// `config.json` (snake_case) and validated, so that the rest of the engine can trust it.

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Gemma 1 / 1.1 ("gemma"), Gemma 2 ("gemma2"), Gemma 3's text model ("gemma3_text"). */
export type ModelType = "gemma" | "gemma2" | "gemma3_text";

export interface GemmaConfig {
  modelType: ModelType;
  vocabSize: number;
  /** Width of the residual stream (d_model). */
  hiddenSize: number;
  /** Width of the MLP's gate/up projections. */
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** 1 = multi-query (gemma-2b), numHeads = multi-head (gemma-7b), between = grouped-query. */
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  maxPositions: number;
  /** Attention scores are multiplied by this: headDim^-0.5 (Gemma 1) or query_pre_attn_scalar^-0.5. */
  attentionScale: number;
  /**
   * Gemma 2/3 "sandwich" norms: the attention and MLP outputs are normed too before they join
   * the residual (post_attention_layernorm, pre/post_feedforward_layernorm).
   */
  sandwichNorms: boolean;
  /** Gemma 3: RMSNorm over head_dim on q and k (q_norm, k_norm) before RoPE. */
  qkNorm: boolean;
  /** Gemma 2: scores become cap·tanh(s / cap) before the mask; 0 = none. */
  attnLogitSoftcap: number;
  /** Gemma 2: logits become cap·tanh(x / cap); 0 = none. */
  finalLogitSoftcap: number;
  /** Per layer: the sliding window of a local layer, or 0 for a global (full) layer. */
  layerWindows: number[];
  /** Per layer: RoPE base θ (Gemma 3: 10 000 on local layers, 1 000 000 on global ones). */
  layerRopeTheta: number[];
  /** Per layer: linear RoPE scaling factor (Gemma 3's rope_scaling applies to global layers). */
  layerRopeFactor: number[];
  bosTokenId: number;
  eosTokenIds: number[];
  padTokenId: number;
}

type Json = Record<string, unknown>;

const SUPPORTED = `"gemma", "gemma2", "gemma3_text", "gemma3"`;

/**
 * Parses a config.json object. `source` names the file in error messages. A missing or
 * malformed field is an error naming it; an unknown model_type is an error too. For a Gemma 3
 * multimodal config ("gemma3") the text model's config is read from `text_config`.
 */
export function parseConfig(json: unknown, source = "config.json"): GemmaConfig {
  const top = asObject(json, source);
  let c = top;
  let modelType = top.model_type;
  if (modelType === undefined) throw new ConfigError(`${source}: missing field "model_type"`);
  if (modelType === "gemma3") {
    c = asObject(top.text_config ?? {}, `${source}: text_config`);
    source = `${source} (text_config)`;
    modelType = "gemma3_text";
  }
  if (modelType !== "gemma" && modelType !== "gemma2" && modelType !== "gemma3_text") {
    throw new ConfigError(
      `${source}: unsupported model_type ${JSON.stringify(modelType)} (supported: ${SUPPORTED})`,
    );
  }
  const gemma2 = modelType === "gemma2";
  const gemma3 = modelType === "gemma3_text";
  const int = (key: string, fallback?: number): number => {
    const value = c[key] ?? fallback;
    if (value === undefined) throw new ConfigError(`${source}: missing field "${key}"`);
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new ConfigError(
        `${source}: "${key}" must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  const num = (key: string, fallback: number): number => {
    const value = c[key] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError(
        `${source}: "${key}" must be a positive number, got ${JSON.stringify(value)}`,
      );
    }
    return value;
  };
  /** A positive number, or 0 when the field is null or absent (and the default is null). */
  const optional = (key: string, fallback: number | null): number => {
    const value = key in c ? c[key] : fallback;
    return value === null ? 0 : num(key, value as number);
  };
  // Gemma 3 multimodal configs leave out fields whose defaults are the text model's.
  const defaults = gemma3 ? GEMMA3_DEFAULTS : {};
  const intOr = (key: string) => int(key, defaults[key]);
  const hiddenSize = intOr("hidden_size");
  const numHeads = intOr("num_attention_heads");
  const numKvHeads = int("num_key_value_heads", defaults.num_key_value_heads ?? numHeads);
  const headDim = int("head_dim", defaults.head_dim ?? hiddenSize / numHeads);
  const numLayers = intOr("num_hidden_layers");
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(
      `${source}: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`,
    );
  }
  if (headDim % 2 !== 0) throw new ConfigError(`${source}: "head_dim" must be even for RoPE`);
  const activation = c.hidden_activation ?? c.hidden_act ?? "gelu_pytorch_tanh";
  // Gemma checkpoints say "gelu" in hidden_act but were trained with the tanh approximation;
  // HF transformers uses tanh-GELU for them too.
  if (activation !== "gelu_pytorch_tanh" && activation !== "gelu") {
    throw new ConfigError(`${source}: unsupported activation ${JSON.stringify(activation)}`);
  }
  const eos = c.eos_token_id ?? top.eos_token_id ?? 1;
  const eosTokenIds = Array.isArray(eos) ? eos : [eos];
  if (eosTokenIds.length === 0 || !eosTokenIds.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new ConfigError(`${source}: "eos_token_id" must be a token id or a list of them`);
  }

  const ropeTheta = num("rope_theta", gemma3 ? 1_000_000 : 10_000);
  const window = gemma2 || gemma3 ? int("sliding_window", 4096) : 0;
  const local = localLayers(c, source, modelType, numLayers);
  const localTheta = gemma3 ? num("rope_local_base_freq", 10_000) : ropeTheta;
  const factor = gemma3 ? ropeScalingFactor(c.rope_scaling, source) : 1;
  const queryScalar = gemma2 || gemma3 ? num("query_pre_attn_scalar", 256) : headDim;
  return {
    modelType,
    vocabSize: int("vocab_size", defaults.vocab_size),
    hiddenSize,
    intermediateSize: intOr("intermediate_size"),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num("rms_norm_eps", 1e-6),
    maxPositions: int("max_position_embeddings", gemma3 ? 131072 : 8192),
    attentionScale: 1 / Math.sqrt(queryScalar),
    sandwichNorms: gemma2 || gemma3,
    qkNorm: gemma3,
    attnLogitSoftcap: gemma2
      ? optional("attn_logit_softcapping", 50)
      : gemma3
      ? optional("attn_logit_softcapping", null)
      : 0,
    finalLogitSoftcap: gemma2
      ? optional("final_logit_softcapping", 30)
      : gemma3
      ? optional("final_logit_softcapping", null)
      : 0,
    layerWindows: local.map((isLocal) => (isLocal ? window : 0)),
    layerRopeTheta: local.map((isLocal) => (isLocal ? localTheta : ropeTheta)),
    layerRopeFactor: local.map((isLocal) => (isLocal ? 1 : factor)),
    bosTokenId: typeof c.bos_token_id === "number" ? int("bos_token_id") : 2,
    eosTokenIds: eosTokenIds as number[],
    padTokenId: typeof c.pad_token_id === "number" ? c.pad_token_id : 0,
  };
}

/** Gemma3TextConfig's defaults, for multimodal configs whose text_config leaves them out. */
const GEMMA3_DEFAULTS: Record<string, number> = {
  vocab_size: 262208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
};

/**
 * Which layers attend to a sliding window: `layer_types` when given (newer configs), else Gemma 2's
 * even layers, or Gemma 3's pattern (layer i is global iff (i + 1) % sliding_window_pattern == 0).
 */
function localLayers(c: Json, source: string, type: ModelType, layers: number): boolean[] {
  if (type === "gemma") return new Array(layers).fill(false);
  if (Array.isArray(c.layer_types)) {
    if (c.layer_types.length !== layers) {
      throw new ConfigError(`${source}: "layer_types" must list ${layers} layers`);
    }
    return c.layer_types.map((t, i) => {
      if (t !== "sliding_attention" && t !== "full_attention") {
        throw new ConfigError(`${source}: layer_types[${i}] is ${JSON.stringify(t)}`);
      }
      return t === "sliding_attention";
    });
  }
  if (type === "gemma2") return Array.from({ length: layers }, (_, i) => i % 2 === 0);
  const pattern = c.sliding_window_pattern ?? 6;
  if (typeof pattern !== "number" || !Number.isInteger(pattern) || pattern < 1) {
    throw new ConfigError(`${source}: "sliding_window_pattern" must be a positive integer`);
  }
  return Array.from({ length: layers }, (_, i) => (i + 1) % pattern !== 0);
}

/** Gemma 3's rope_scaling: null, or linear with a factor (the 4B+ models use factor 8). */
function ropeScalingFactor(value: unknown, source: string): number {
  if (value === null || value === undefined) return 1;
  const scaling = value as Json;
  const type = scaling.rope_type ?? scaling.type;
  const factor = scaling.factor;
  if (type !== "linear" || typeof factor !== "number" || !(factor > 0)) {
    throw new ConfigError(
      `${source}: unsupported rope_scaling ${
        JSON.stringify(value)
      } (supported: linear with a factor)`,
    );
  }
  return factor;
}

function asObject(json: unknown, source: string): Json {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  return json as Json;
}

/** Number of parameters (the tied output head counted once). */
export function parameterCount(config: GemmaConfig): number {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim } = config;
  const attention = d * headDim * (2 * numHeads + 2 * numKvHeads);
  const norms = (config.sandwichNorms ? 4 : 2) * d + (config.qkNorm ? 2 * headDim : 0);
  const perLayer = attention + 3 * d * f + norms;
  return config.vocabSize * d + config.numLayers * perLayer + d;
}
