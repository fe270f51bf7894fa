/**
 * Helpers shared by bpe_test.ts and bpe_cache_test.ts: the library's answers, a comparison of
 * our tokenizer with it, seeded random texts, and small tokenizer.json files shaped like Gemma's.
 */
import assert from "node:assert/strict";
import type { Tokenizer } from "@huggingface/tokenizers";
import type { BpeTokenizer } from "./bpe.ts";

export type Json = Record<string, unknown>;

/** The library's answers, with the options GemmaTokenizer uses. */
export const libEncode = (lib: Tokenizer, s: string) =>
  lib.encode(s, { add_special_tokens: false }).ids;
export const libDecode = (lib: Tokenizer, ids: number[], skip: boolean, cleanUp: boolean) =>
  lib.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: cleanUp });

/** Same ids for every text, and the same decode of them (4 option combinations). */
export function assertSameTokenization(lib: Tokenizer, ours: BpeTokenizer, texts: string[]): void {
  for (const s of texts) {
    const ids = libEncode(lib, s);
    assert.deepEqual(ours.encode(s), ids, `encode ${JSON.stringify(s)}`);
    if (ids.length === 0) continue;
    for (const skip of [false, true]) {
      for (const cleanUp of [false, true]) {
        assert.equal(
          ours.decode(ids, skip, cleanUp),
          libDecode(lib, ids, skip, cleanUp),
          `decode ${JSON.stringify(s)} skip=${skip} cleanUp=${cleanUp}`,
        );
      }
    }
  }
}

/** mulberry32: a small seeded PRNG, so failures reproduce. */
export function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Strings made of pieces likely to trip a tokenizer: vocab pieces, odd Unicode, specials, runs. */
export function randomTexts(
  count: number,
  seed: number,
  pieces: { token: (r: () => number) => string; added: string[] },
): string[] {
  const r = random(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: T[]) => xs[int(xs.length)];
  const cp = (lo: number, hi: number) => String.fromCodePoint(lo + int(hi - lo + 1));
  const makers: (() => string)[] = [
    () => pieces.token(r),
    () => pieces.token(r).replaceAll("▁", " "),
    () => pieces.token(r).replaceAll("▁", " "),
    () => pick(pieces.added),
    () => pick(pieces.added).slice(0, 1 + int(4)), // a prefix of an added token
    () => pick(["😀", "👩‍👩‍👧", "🇯🇵", "👍🏽", "🫠", "❤️", "🦀", "🧑‍💻"]),
    () => cp(0x4e00, 0x9fff) + cp(0x3040, 0x30ff) + cp(0xac00, 0xd7a3),
    () => "e" + cp(0x300, 0x36f) + cp(0x300, 0x36f),
    () => cp(0, 0x1f) + cp(0x7f, 0x9f),
    () => String.fromCharCode(0xd800 + int(0x800)), // a lone surrogate
    () => cp(0x10000, 0x10ffff) + cp(0x80, 0xffff).replace(/[\ud800-\udfff]/, "x"),
    () => pick(["\ufeff", "\ufffd", "\u200b", "\u200d", "\u00a0", "\u3000", "\u2009", "▁"]),
    () => " ".repeat(1 + int(20)),
    () => pick(["\t", "\n", "\r\n", "\n\n", "\t\t"]).repeat(1 + int(5)),
    () => "\n".repeat(1 + int(35)),
    () => pick(["<0x41>", "<0xE2>", "<unused9999>", "<<", ">>", "</", "<s", "</b", "'s", " ."]),
    () => pick(["the", "The", "tokenizer", "Gemma", "1234", "3.14", "x", "foo_bar", "don't"]),
  ];
  return Array.from({ length: count }, () => {
    let s = "";
    for (let k = 1 + int(12); k > 0; k--) s += pick(makers)();
    return s;
  });
}

/**
 * A small tokenizer.json: specials, some byte tokens, chars, and merges of random pairs of
 * tokens (some listed twice), in the shape of Gemma's; `edit` makes a variant of it.
 */
export function tinyJson(seed: number, edit: (json: Json, model: Json) => void = () => {}): Json {
  const r = random(seed);
  const specials = ["<pad>", "<eos>", "<bos>", "<unk>"];
  const bytes = [0x41, 0x62, 0xc3, 0xa9, 0xe2, 0x96, 0x81, 0xf0, 0x9f, 0x98, 0x80, 0x0a, 0x20]
    .map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const chars = ["a", "b", "c", "d", "▁", "é", "\n", "😀", " "];
  // "<0x4>>" is no byte token, but the library's ByteFallback decoder reads it as byte 4.
  const tokens = [...specials, ...bytes, ...chars, "<sot>", "<eot>", "▁▁", "<0x4>>"];
  const merges: string[][] = [];
  for (let i = 0; i < 80; i++) {
    const base = tokens.filter((t) => !specials.includes(t) && !t.startsWith("<"));
    const a = base[Math.floor(r() * base.length)], b = base[Math.floor(r() * base.length)];
    if (a.includes(" ") || b.includes(" ")) continue;
    if (!tokens.includes(a + b)) tokens.push(a + b);
    merges.push([a, b]);
    if (r() < 0.1) merges.push(merges[Math.floor(r() * merges.length)]); // listed twice
  }
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const added = [...specials, "<sot>", "<eot>", "▁▁", "<0x4>>"].map((content) => ({
    id: vocab[content],
    content,
    special: specials.includes(content) || content === "<sot>",
    normalized: false,
    lstrip: false,
    rstrip: false,
    single_word: false,
  }));
  const json: Json = {
    version: "1.0",
    added_tokens: added,
    normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, {
        Sequence: { id: "A", type_id: 0 },
      }],
      pair: [],
      special_tokens: {},
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  edit(json, json.model as Json);
  return json;
}

/** Texts over the tiny vocab's alphabet plus characters it lacks. */
export function tinyTexts(json: Json, count: number, seed: number): string[] {
  const added = (json.added_tokens as { content: string }[]).map((t) => t.content);
  const alphabet = ["a", "b", "c", "d", "é", "▁", " ", "  ", "\n", "😀", "x", "Ab", "€", "\ud800"];
  const token = (r: () => number) => {
    let s = "";
    for (let k = 1 + Math.floor(r() * 8); k > 0; k--) {
      s += alphabet[Math.floor(r() * alphabet.length)];
    }
    return s;
  };
  return randomTexts(count, seed, { token, added: [...added, " <sot> ", "x<eot>y"] });
}

/** tokenizer.json text with > 64 KiB of padding at both ends, so its edges say nothing. */
export function padded(json: Json): string {
  const pad = "x".repeat(70_000);
  return JSON.stringify({ pad, ...json, pad2: pad });
}
