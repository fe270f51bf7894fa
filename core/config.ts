// GemmaConfig: the model's shape and hyper-parameters, parsed once at the edge from a Hugging Face
// `config.json` (snake_case) and validated, so that the rest of the engine can trust it.

export class ConfigError extends Error {
  override name = "ConfigError";
}

export type ModelType = "gemma";

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
  ropeTheta: number;
  maxPositions: number;
  /** Attention scores are multiplied by this: headDim^-0.5 for Gemma 1. */
  attentionScale: number;
  bosTokenId: number;
  eosTokenIds: number[];
  padTokenId: number;
}

/** Keys of config.json that we read; anything else is ignored. */
type Json = Record<string, unknown>;

/**
 * Parses a config.json object. `source` names the file in error messages.
 * A missing or malformed field is an error naming it; an unknown model_type is an error too.
 */
export function parseConfig(json: unknown, source = "config.json"): GemmaConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`${source}: expected a JSON object`);
  }
  const c = json as Json;
  const modelType = c.model_type;
  if (modelType === undefined) throw new ConfigError(`${source}: missing field "model_type"`);
  if (modelType !== "gemma") {
    throw new ConfigError(
      `${source}: unsupported model_type ${JSON.stringify(modelType)} (supported: "gemma")`,
    );
  }
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
  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const numKvHeads = int("num_key_value_heads", numHeads);
  const headDim = int("head_dim", hiddenSize / numHeads);
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
  const eos = c.eos_token_id ?? 1;
  const eosTokenIds = Array.isArray(eos) ? eos : [eos];
  if (!eosTokenIds.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new ConfigError(`${source}: "eos_token_id" must be a token id or a list of them`);
  }
  return {
    modelType,
    vocabSize: int("vocab_size"),
    hiddenSize,
    intermediateSize: int("intermediate_size"),
    numLayers: int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    maxPositions: int("max_position_embeddings", 8192),
    attentionScale: 1 / Math.sqrt(headDim),
    bosTokenId: int("bos_token_id", 2),
    eosTokenIds: eosTokenIds as number[],
    padTokenId: typeof c.pad_token_id === "number" ? c.pad_token_id : 0,
  };
}

/** Number of parameters (the tied output head counted once). */
export function parameterCount(config: GemmaConfig): number {
  const { hiddenSize: d, intermediateSize: f, numHeads, numKvHeads, headDim } = config;
  const attention = d * headDim * (2 * numHeads + 2 * numKvHeads);
  const perLayer = attention + 3 * d * f + 2 * d;
  return config.vocabSize * d + config.numLayers * perLayer + d;
}
