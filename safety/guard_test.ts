import assert from "node:assert/strict";
import {
  createGpuContext,
  GemmaSession,
  type GemmaTokenizer,
  generate,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import { buildTinyModel } from "../tests/fixtures.ts";
import { Guard, type GuardCheck, guardedGenerate, HARM_POLICIES, SentenceSplitter } from "./mod.ts";

Deno.test("sentences split after . ! ? and whitespace, and at newlines", () => {
  const s = new SentenceSplitter();
  assert.deepEqual(s.push("Hello there. How"), ["Hello there. "]);
  assert.deepEqual(s.push(" are you?"), [], "the last ? may still be followed by more");
  assert.deepEqual(s.push(" Fine.\nNext"), ["How are you? ", "Fine.\n"]);
  assert.deepEqual(s.push(' He said "stop." Then'), ['Next He said "stop." ']);
  assert.deepEqual(s.push(" v1.2 is out"), [], "a dot inside a word is no boundary");
  assert.equal(s.flush(), "Then v1.2 is out");
  assert.equal(s.flush(), "");
});

/** A guard whose response checks come from `verdict` (no model), counting its calls. */
class ScriptedGuard extends Guard {
  calls: string[] = [];
  constructor(readonly verdict: (response: string, call: number) => boolean | "throw") {
    super(
      { policies: HARM_POLICIES.slice(0, 1), threshold: 0.5, redactPii: true },
      {} as { session: GemmaSession; tokenizer: GemmaTokenizer },
    );
  }
  override checkResponse(_prompt: string, response: string): Promise<GuardCheck> {
    this.calls.push(response);
    const v = this.verdict(response, this.calls.length);
    if (v === "throw") return Promise.reject(new Error("classifier failed"));
    return Promise.resolve({
      stage: "response",
      scores: { dangerous: v ? 0.9 : 0.1 },
      violated: v ? ["dangerous"] : [],
      ms: 0,
    });
  }
}

Deno.test({
  name: "guarded generation on a tiny checkpoint",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-guard-" });
    await buildTinyModel(dir, { seed: 3, numLayers: 1 });
    const tokenizer = await loadTokenizer(dir);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
    const session = new GemmaSession(model, { contextLength: 256 });
    const ids = tokenizer.encode("Tell me a story");
    const options = {
      maxTokens: 40,
      sampling: { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 },
      stopTokenIds: [1],
    };
    // Check at every space, so that gibberish has many checkpoints.
    const words = () => new SentenceSplitter(/\s+/g);
    try {
      session.reset();
      const plain = await generate(session, tokenizer, ids, options);
      assert.ok(plain.text.split(/\s+/).length > 6, `enough words: ${plain.text}`);

      await t.step("a guard that clears everything passes the same text on", async () => {
        const guard = new ScriptedGuard(() => false);
        let printed = "";
        session.reset();
        const out = await guardedGenerate(session, tokenizer, ids, {
          ...options,
          prompt: "Tell me a story",
          guard,
          splitter: words(),
          onText: (text) => (printed += text),
        });
        assert.equal(printed, plain.text);
        assert.equal(out.text, plain.text);
        assert.equal(out.blocked, undefined);
        assert.deepEqual(out.result.tokenIds, plain.tokenIds);
        assert.equal(guard.calls.at(-1), plain.text, "the last check sees the whole response");
        assert.ok(guard.calls.every((c, i) => i === 0 || c.startsWith(guard.calls[i - 1])));
      });

      await t.step(
        "the first violation stops generation; only cleared text is passed on",
        async () => {
          const guard = new ScriptedGuard((_, call) => call === 3);
          let printed = "";
          session.reset();
          const out = await guardedGenerate(session, tokenizer, ids, {
            ...options,
            prompt: "Tell me a story",
            guard,
            splitter: words(),
            onText: (text) => (printed += text),
          });
          assert.ok(out.blocked, "blocked");
          assert.equal(out.result.finishReason, "abort");
          assert.ok(out.result.tokenIds.length < plain.tokenIds.length, "generation stopped early");
          assert.equal(guard.calls.length, 3, "no check after the violation");
          assert.equal(printed, guard.calls[1], "the two cleared pieces, nothing of the third");
          assert.equal(out.text, printed);
          assert.ok(plain.text.startsWith(printed));
        },
      );

      await t.step("a classifier error fails closed", async () => {
        const guard = new ScriptedGuard((_, call) => (call === 2 ? "throw" : false));
        let printed = "";
        session.reset();
        await assert.rejects(
          () =>
            guardedGenerate(session, tokenizer, ids, {
              ...options,
              prompt: "Tell me a story",
              guard,
              splitter: words(),
              onText: (text) => (printed += text),
            }),
          /classifier failed/,
        );
        assert.equal(printed, guard.calls[0], "only the piece cleared before the error");
      });

      await t.step("PII is redacted before it is passed on", async () => {
        const guard = new Guard({ policies: [], threshold: 0.5, redactPii: true });
        assert.equal(
          await guard.redact("write to jo@example.com or 10.0.0.1"),
          "write to <EMAIL> or <IP_ADDRESS>",
        );
        let printed = "";
        session.reset();
        const out = await guardedGenerate(session, tokenizer, ids, {
          ...options,
          prompt: "Tell me a story",
          guard,
          onText: (text) => (printed += text),
        });
        assert.equal(printed, out.text);
        assert.equal(out.checks.length, 0, "no policies, no classifications");
      });
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
