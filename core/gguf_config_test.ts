/**
 * GGUF ⇄ config and tensor names: configs survive config → metadata → file → config for all
 * three families, llama.cpp's own metadata (which leaves out what it hard-codes) gives HF's
 * values, and tensor names map both ways with Gemma 1's and Gemma 2/3's different norm names.
 */
import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { type GgufFile, type GgufValue, readGguf, writeGguf } from "./gguf.ts";
import {
  configFromGguf,
  f32Decimal,
  ggufMetadataFromConfig,
  ggufNameFromHf,
  ggufNormShift,
  hfConfigFromGguf,
  hfNameFromGguf,
} from "./gguf_config.ts";
import { CheckpointError } from "./safetensors.ts";

const dir = await Deno.makeTempDir({ prefix: "gguf_config_test_" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

const GEMMA_2B = {
  model_type: "gemma",
  vocab_size: 256000,
  hidden_size: 2048,
  intermediate_size: 16384,
  num_hidden_layers: 18,
  num_attention_heads: 8,
  num_key_value_heads: 1,
  head_dim: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 8192,
};
const GEMMA2_27B = {
  ...GEMMA_2B,
  model_type: "gemma2",
  hidden_size: 4608,
  intermediate_size: 36864,
  num_hidden_layers: 46,
  num_attention_heads: 32,
  num_key_value_heads: 16,
  head_dim: 128,
  query_pre_attn_scalar: 144,
  sliding_window: 4096,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
};
const GEMMA3_4B = {
  ...GEMMA_2B,
  model_type: "gemma3_text",
  vocab_size: 262208,
  hidden_size: 2560,
  intermediate_size: 10240,
  num_hidden_layers: 34,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  query_pre_attn_scalar: 256,
  sliding_window: 1024,
  sliding_window_pattern: 6,
  rope_theta: 1_000_000,
  rope_local_base_freq: 10000,
  rope_scaling: { rope_type: "linear", factor: 8 },
  max_position_embeddings: 131072,
};

/** Writes metadata (no tensors) and reads it back. */
async function roundTrip(metadata: [string, GgufValue][], name: string): Promise<GgufFile> {
  const path = `${dir}/${name}.gguf`;
  await writeGguf(path, { metadata, tensors: [] });
  return await readGguf(path);
}

Deno.test("configs survive config → GGUF metadata → file → config", async () => {
  const odd = { ...GEMMA3_4B, num_hidden_layers: 7, sliding_window_pattern: 3 };
  const cases = {
    GEMMA_2B,
    GEMMA2_27B,
    GEMMA3_4B,
    odd,
    scaled: { ...GEMMA2_27B, query_pre_attn_scalar: 100 },
  };
  for (const [name, hf] of Object.entries(cases)) {
    const config = parseConfig(hf);
    const file = await roundTrip(ggufMetadataFromConfig(config, { name }), name);
    assert.deepEqual(configFromGguf(file), config, name);
  }
});

Deno.test("gemma-2b metadata is what llama.cpp's converter writes", () => {
  const entries = ggufMetadataFromConfig(parseConfig(GEMMA_2B), {
    name: "gemma-2b",
    fileType: "Q8_0",
  });
  const text = entries.map(([k, v]) => `${k}=${v.type}:${v.value}`);
  assert.deepEqual(text, [
    "general.architecture=string:gemma",
    "general.name=string:gemma-2b",
    "general.file_type=u32:7",
    "general.quantization_version=u32:2",
    "gemma.vocab_size=u32:256000",
    "gemma.context_length=u32:8192",
    "gemma.embedding_length=u32:2048",
    "gemma.block_count=u32:18",
    "gemma.feed_forward_length=u32:16384",
    "gemma.attention.head_count=u32:8",
    "gemma.attention.head_count_kv=u32:1",
    "gemma.attention.layer_norm_rms_epsilon=f32:0.000001",
    "gemma.attention.key_length=u32:256",
    "gemma.attention.value_length=u32:256",
    "gemma.rope.freq_base=f32:10000",
  ]);
});

Deno.test("llama.cpp-style metadata: hard-coded values filled in, eot joins eos", async () => {
  // What convert_hf_to_gguf.py writes for gemma-2-27b-it: no query_pre_attn_scalar, no pattern.
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  const file = await roundTrip([
    ["general.architecture", { type: "string", value: "gemma2" }],
    ["gemma2.context_length", u32(8192)],
    ["gemma2.embedding_length", u32(4608)],
    ["gemma2.block_count", u32(46)],
    ["gemma2.feed_forward_length", u32(36864)],
    ["gemma2.attention.head_count", u32(32)],
    ["gemma2.attention.head_count_kv", u32(16)],
    ["gemma2.attention.layer_norm_rms_epsilon", f32(1e-6)],
    ["gemma2.attention.key_length", u32(128)],
    ["gemma2.attention.value_length", u32(128)],
    ["gemma2.attn_logit_softcapping", f32(50)],
    ["gemma2.final_logit_softcapping", f32(30)],
    ["gemma2.attention.sliding_window", u32(4096)],
    ["tokenizer.ggml.tokens", { type: "string[]", value: ["<pad>", "<eos>", "<bos>"] }],
    ["tokenizer.ggml.bos_token_id", u32(2)],
    ["tokenizer.ggml.eos_token_id", u32(1)],
    ["tokenizer.ggml.eot_token_id", u32(107)],
  ], "llama_cpp_27b");
  const hf = hfConfigFromGguf(file);
  assert.equal(hf.vocab_size, 3); // no token_embd, no vocab_size: the token list
  assert.equal(hf.query_pre_attn_scalar, 144); // 27B: hidden / heads
  assert.equal(hf.rms_norm_eps, 1e-6); // not 9.99999997e-7
  assert.deepEqual(hf.eos_token_id, [1, 107]);
  assert.deepEqual((hf.layer_types as string[]).slice(0, 3), [
    "sliding_attention",
    "full_attention",
    "sliding_attention",
  ]);
  const config = configFromGguf(file);
  assert.equal(config.attentionScale, 1 / 12);
  assert.equal(config.attnLogitSoftcap, 50);
  assert.deepEqual(config.layerWindows.slice(0, 4), [4096, 0, 4096, 0]);
  assert.equal(f32Decimal(Math.fround(0.1)), 0.1);
});

Deno.test("config errors name the file", async () => {
  const file = await roundTrip(
    [["general.architecture", { type: "string", value: "llama" }]],
    "llama",
  );
  assert.throws(
    () => configFromGguf(file),
    new CheckpointError(
      `Cannot load "${file.path}": unsupported architecture "llama" (supported: gemma, gemma2, gemma3)`,
    ),
  );
  const partial = await roundTrip([
    ["general.architecture", { type: "string", value: "gemma" }],
    ["gemma.embedding_length", { type: "u32", value: 64 }],
    ["gemma.attention.head_count", { type: "string", value: "2" }],
  ], "partial");
  assert.throws(
    () => configFromGguf(partial),
    new CheckpointError(
      `Cannot load "${partial.path}": metadata "gemma.attention.head_count" is string, expected a number`,
    ),
  );
  partial.metadata.delete("gemma.attention.head_count");
  assert.throws(() => configFromGguf(partial), /missing metadata "gemma.attention.head_count"/);
});

Deno.test("tensor names map both ways; Gemma 1's post_attention_layernorm is ffn_norm", () => {
  const common: [string, string][] = [
    ["model.embed_tokens.weight", "token_embd.weight"],
    ["model.norm.weight", "output_norm.weight"],
    ["lm_head.weight", "output.weight"],
    ["model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"],
    ["model.layers.17.self_attn.q_proj.weight", "blk.17.attn_q.weight"],
    ["model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight"],
    ["model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight"],
    ["model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"],
    ["model.layers.2.mlp.gate_proj.weight", "blk.2.ffn_gate.weight"],
    ["model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight"],
    ["model.layers.2.mlp.down_proj.weight", "blk.2.ffn_down.weight"],
  ];
  const gemma1: [string, string][] = [
    ...common,
    ["model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"],
  ];
  const gemma2: [string, string][] = [
    ...common,
    ["model.layers.3.post_attention_layernorm.weight", "blk.3.post_attention_norm.weight"],
    ["model.layers.3.pre_feedforward_layernorm.weight", "blk.3.ffn_norm.weight"],
    ["model.layers.3.post_feedforward_layernorm.weight", "blk.3.post_ffw_norm.weight"],
    ["model.layers.4.self_attn.q_norm.weight", "blk.4.attn_q_norm.weight"],
    ["model.layers.4.self_attn.k_norm.weight", "blk.4.attn_k_norm.weight"],
  ];
  for (
    const [arch, pairs] of [["gemma", gemma1], ["gemma2", gemma2], ["gemma3", gemma2]] as const
  ) {
    for (const [hf, gguf] of pairs) {
      assert.equal(ggufNameFromHf(hf, arch), gguf, `${arch} ${hf}`);
      assert.equal(hfNameFromGguf(gguf, arch), hf, `${arch} ${gguf}`);
    }
  }
  assert.equal(
    ggufNameFromHf("model.layers.0.pre_feedforward_layernorm.weight", "gemma"),
    undefined,
  );
  assert.equal(hfNameFromGguf("blk.0.post_ffw_norm.weight", "gemma"), undefined);
  assert.equal(hfNameFromGguf("rope_freqs.weight", "gemma"), undefined);
  assert.equal(ggufNameFromHf("model.layers.x.mlp.up_proj.weight", "gemma"), undefined);
  assert.equal(ggufNameFromHf("model.embed_tokens", "gemma"), undefined);
  assert.deepEqual(
    ["model.norm.weight", "model.layers.0.self_attn.q_norm.weight", "lm_head.weight"].map(
      ggufNormShift,
    ),
    [1, 1, 0],
  );
});
