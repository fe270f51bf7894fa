// Gemma's tokenizer ⇄ GGUF metadata (`tokenizer.ggml.*`).
//
// A GGUF keeps the SentencePiece model as three parallel arrays: `tokens` (pieces), `scores`
// (SentencePiece scores) and `token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
// 5 unused, 6 byte), with `tokenizer.ggml.model` = "llama" (llama.cpp's SPM tokenizer: merge the
// adjacent pair whose concatenation is the vocabulary piece of highest score, leftmost first).
// Hugging Face's tokenizer.json for Gemma is instead a BPE model with an explicit merge list,
// a Replace " " → "▁" normalizer, byte fallback, and added tokens matched before the model.
//
// From GGUF: HF built that merge list from the same SentencePiece model, and spm_merges.ts does
// the same from the scores, giving back Gemma's 580604 merges exactly, in order (tested).
// Two corrections undo what llama.cpp's converter changes:
//   - pieces listed in tokenizer_config's added_tokens_decoder get score -1000 there, but
//     SentencePiece gave these user-defined/control pieces 0, which is what HF ranked by; so
//     control and user-defined pieces rank with score 0;
//   - user-defined pieces have "▁" written as " " (so that llama.cpp matches "  " in raw text);
//     we turn them back into "▁", the vocabulary's spelling.
// Control, user-defined and unknown pieces become HF added tokens; llama.cpp also marks
// `<unusedN>`, `<mask>`, `<2mass>`, `[@BOS@]` control (does_token_look_special), which HF
// has as non-special, so those stay non-special (it only matters to skip-special decoding).
//
// To GGUF (`gemma convert`, which has tokenizer.json but no tokenizer.model): token types as
// llama.cpp's _create_vocab_sentencepiece + added_tokens_decoder assign them, and scores chosen
// so both llama.cpp's SPM and our rebuild reproduce HF's merge order: a piece's score is minus
// the rank of the first merge that makes it (pieces no merge makes: below all of those).

import type { GgufFile, GgufValue } from "./gguf.ts";
import { ggufBool, ggufNumber, ggufString } from "./gguf.ts";
import { CheckpointError } from "./safetensors.ts";
import { mergesFromScores } from "./spm_merges.ts";
import { configChatTemplate, GemmaTokenizer } from "./tokenizer.ts";

export const TOKEN_NORMAL = 1;
export const TOKEN_UNKNOWN = 2;
export const TOKEN_CONTROL = 3;
export const TOKEN_USER_DEFINED = 4;
export const TOKEN_UNUSED = 5;
export const TOKEN_BYTE = 6;

/** Added tokens llama.cpp promotes to control that HF Gemma has as non-special. */
const PROMOTED = /^(<unused\d+>|<mask>|<2mass>|\[@BOS@\])$/;
/** Score llama.cpp's converter gives every piece of added_tokens_decoder. */
const ADDED_SCORE = -1000;

type Json = Record<string, unknown>;

/** The parsed tokenizer.json + tokenizer_config.json a GGUF describes. */
export interface TokenizerFiles {
  tokenizerJson: Json;
  tokenizerConfig: Json;
}

/**
 * Rebuilds tokenizer.json and tokenizer_config.json from a GGUF's `tokenizer.*` metadata (an SPM
 * "llama" vocabulary, as every Gemma GGUF has). Throws a CheckpointError naming the file when the
 * metadata is missing or of another tokenizer model.
 */
export function tokenizerFilesFromGguf(file: GgufFile): TokenizerFiles {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot load "${file.path}": ${why}`);
  };
  const model = ggufString(file, "tokenizer.ggml.model") ?? fail("no tokenizer in the metadata");
  if (model !== "llama") fail(`unsupported tokenizer model "${model}" (supported: llama)`);
  const tokens = file.metadata.get("tokenizer.ggml.tokens");
  if (tokens?.type !== "string[]") fail("tokenizer.ggml.tokens is missing or not a string[]");
  const pieces = (tokens as { value: string[] }).value;
  const n = pieces.length;
  const scoresValue = file.metadata.get("tokenizer.ggml.scores");
  const typesValue = file.metadata.get("tokenizer.ggml.token_type");
  const scores = scoresValue?.type === "f32[]" ? scoresValue.value : new Float32Array(n);
  const types = typesValue?.type === "i32[]" ? typesValue.value : new Int32Array(n).fill(1);
  if (scores.length !== n || types.length !== n) fail("tokenizer arrays differ in length");
  const id = (key: string) => {
    const v = ggufNumber(file, `tokenizer.ggml.${key}_token_id`);
    if (v !== undefined && !(v < n)) {
      fail(`tokenizer.ggml.${key}_token_id ${v} is not in the vocab`);
    }
    return v;
  };
  const [bos, eos, unk, pad] = [id("bos"), id("eos"), id("unknown"), id("padding")];

  const vocab: Record<string, number> = {};
  const strings = new Array<string>(n);
  const added: Json[] = [];
  for (let i = 0; i < n; i++) {
    const type = types[i];
    const s = type === TOKEN_USER_DEFINED ? pieces[i].replaceAll(" ", "▁") : pieces[i];
    strings[i] = s;
    if (s !== "__proto__") vocab[s] = i; // (assigning it would set the object's prototype)
    else Object.defineProperty(vocab, s, { value: i, enumerable: true, writable: true });
    if (type === TOKEN_CONTROL || type === TOKEN_USER_DEFINED || type === TOKEN_UNKNOWN) {
      const special = type !== TOKEN_USER_DEFINED && !PROMOTED.test(s);
      added.push({
        id: i,
        content: s,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special,
      });
    }
  }
  const rank = (i: number) =>
    types[i] === TOKEN_CONTROL || types[i] === TOKEN_USER_DEFINED ? 0 : scores[i];
  const merges = mergesFromScores(strings, rank);

  const addSpacePrefix = ggufBool(file, "tokenizer.ggml.add_space_prefix") ?? true;
  const addBos = ggufBool(file, "tokenizer.ggml.add_bos_token") ?? true;
  const bosToken = bos === undefined ? "<bos>" : strings[bos];
  const replace = { type: "Replace", pattern: { String: " " }, content: "▁" };
  const tokenizerJson: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: addSpacePrefix
      ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, replace] }
      : replace,
    pre_tokenizer: null,
    post_processor: addBos ? bosTemplate(bosToken, bos ?? 2) : null,
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        ...(addSpacePrefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk === undefined ? "<unk>" : strings[unk],
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const tokenizerConfig: Json = {
    add_bos_token: addBos,
    add_eos_token: ggufBool(file, "tokenizer.ggml.add_eos_token") ?? false,
    bos_token: bosToken,
    eos_token: eos === undefined ? "<eos>" : strings[eos],
    unk_token: unk === undefined ? "<unk>" : strings[unk],
    clean_up_tokenization_spaces: false,
  };
  if (pad !== undefined) tokenizerConfig.pad_token = strings[pad];
  const template = ggufString(file, "tokenizer.chat_template");
  if (template !== undefined) tokenizerConfig.chat_template = template;
  return { tokenizerJson, tokenizerConfig };
}

/** A GemmaTokenizer from a GGUF's metadata (≈1 s for Gemma's 256000 tokens, mostly the library). */
export function loadGgufTokenizer(file: GgufFile): GemmaTokenizer {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(file);
  try {
    return new GemmaTokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new CheckpointError(`Cannot load "${file.path}": ${(e as Error).message}`, { cause: e });
  }
}

function bosTemplate(bos: string, id: number): Json {
  const token = (typeId: number) => ({ SpecialToken: { id: bos, type_id: typeId } });
  const seq = (name: string, typeId: number) => ({ Sequence: { id: name, type_id: typeId } });
  return {
    type: "TemplateProcessing",
    single: [token(0), seq("A", 0)],
    pair: [token(0), seq("A", 0), token(1), seq("B", 1)],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

/**
 * The `tokenizer.*` metadata llama.cpp's converter writes for a Gemma tokenizer, from the parsed
 * tokenizer.json and tokenizer_config.json (see the top of this file for types and scores).
 * Writes model "llama", pre "default", tokens, scores, token_type, bos/eos/unk/pad/eot ids,
 * add_bos/add_eos/add_space_prefix and the chat template when the config has one.
 */
export function ggufTokenizerMetadata(
  tokenizerJson: unknown,
  tokenizerConfig: Json = {},
): [string, GgufValue][] {
  const json = tokenizerJson as { model?: Json; added_tokens?: Json[]; normalizer?: unknown };
  const model = json?.model;
  if (model?.type !== "BPE" || typeof model.vocab !== "object" || !Array.isArray(model.merges)) {
    throw new CheckpointError(
      "Cannot convert tokenizer: expected a BPE tokenizer.json with merges",
    );
  }
  const vocab = model.vocab as Record<string, number>;
  const merges = model.merges as (string | [string, string])[];
  // Added tokens: tokenizer.json's list, overridden by tokenizer_config's added_tokens_decoder.
  const added = new Map<number, { content: string; special: boolean }>();
  for (const t of json.added_tokens ?? []) added.set(t.id as number, t as never);
  const decoder = (tokenizerConfig.added_tokens_decoder ?? {}) as Record<string, Json>;
  for (const [k, t] of Object.entries(decoder)) added.set(Number(k), t as never);
  let size = 0; // ids run 0 … size - 1 (gaps become [PADi] / unused, as in llama.cpp)
  for (const i of [...Object.values(vocab), ...added.keys()]) size = Math.max(size, i + 1);

  const firstMerge = new Map<string, number>();
  merges.forEach((m, r) => {
    const s = typeof m === "string" ? m.replace(" ", "") : m[0] + m[1];
    if (!firstMerge.has(s)) firstMerge.set(s, r);
  });
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`);
  const scores = new Float32Array(size);
  const types = new Int32Array(size).fill(TOKEN_UNUSED);
  const unkToken = configToken(tokenizerConfig, "unk_token") ?? (model.unk_token as string);
  for (const [s, i] of Object.entries(vocab)) {
    tokens[i] = s;
    scores[i] = -(firstMerge.get(s) ?? merges.length + i);
    const byte = /^<0x[0-9A-F]{2}>$/.test(s);
    types[i] = s === unkToken ? TOKEN_UNKNOWN : byte ? TOKEN_BYTE : TOKEN_NORMAL;
  }
  for (const [i, t] of added) {
    const control = t.special || PROMOTED.test(t.content) || t.content === "<pad>";
    tokens[i] = control ? t.content : t.content.replaceAll("▁", " ");
    types[i] = control ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
    scores[i] = ADDED_SCORE;
  }

  const idOf = (key: string): number | undefined => {
    const token = configToken(tokenizerConfig, key);
    if (token === undefined) return undefined;
    if (Object.hasOwn(vocab, token)) return vocab[token];
    return [...added].find(([, t]) => t.content === token)?.[0];
  };
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const bool = (value: boolean): GgufValue => ({ type: "bool", value });
  const out: [string, GgufValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.pre", { type: "string", value: "default" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: tokens }],
    ["tokenizer.ggml.scores", { type: "f32[]", value: scores }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: types }],
  ];
  const ids = { bos: "bos_token", eos: "eos_token", unknown: "unk_token", padding: "pad_token" };
  for (const [key, name] of Object.entries(ids)) {
    const i = idOf(name);
    if (i !== undefined) out.push([`tokenizer.ggml.${key}_token_id`, u32(i)]);
  }
  // GemmaModel.set_vocab writes eot 107; we name it by spelling.
  if (Object.hasOwn(vocab, "<end_of_turn>")) {
    out.push(["tokenizer.ggml.eot_token_id", u32(vocab["<end_of_turn>"])]);
  }
  out.push(["tokenizer.ggml.add_bos_token", bool(tokenizerConfig.add_bos_token !== false)]);
  out.push(["tokenizer.ggml.add_eos_token", bool(tokenizerConfig.add_eos_token === true)]);
  const prepends = JSON.stringify(json.normalizer ?? null).includes('"Prepend"');
  out.push(["tokenizer.ggml.add_space_prefix", bool(prepends)]);
  const template = configChatTemplate(tokenizerConfig);
  if (template !== undefined) {
    out.push(["tokenizer.chat_template", { type: "string", value: template }]);
  }
  return out;
}

/** `"<bos>"`, or an AddedToken dict `{ content: "<bos>" }` in older configs. */
function configToken(config: Json, key: string): string | undefined {
  const v = config[key];
  if (typeof v === "string") return v;
  const content = (v as Json | undefined)?.content;
  return typeof content === "string" ? content : undefined;
}
