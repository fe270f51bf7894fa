// Log-likelihood requests: lm-eval's whitespace move and token split on the real Gemma tokenizer,
// and GPU scores (shared prefills, ring-cache wrap, left truncation) against the CPU reference.

import assert from "node:assert/strict";
import {
  createGpuContext,
  GemmaSession,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../mod.ts";
import { referenceLogits, referenceModel } from "../gemma_reference.ts";
import { buildTinyModel, loadReferenceWeights } from "../../tests/fixtures.ts";
import { seededRandom } from "../../kernels/test_util.ts";
import {
  encodeRequest,
  moveTrailingWhitespace,
  scoreRequests,
  scoreTokenRequests,
  type TokenRequest,
} from "./requests.ts";

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-requests-" });
// Gemma 3 text, window 5, every 2nd layer global: the local layers' ring caches wrap.
await buildTinyModel(dir, {
  modelType: "gemma3_text",
  numLayers: 2,
  slidingWindow: 5,
  slidingWindowPattern: 2,
  seed: 11,
});
const tokenizer = await loadTokenizer(dir);

Deno.test("trailing whitespace of the context moves to the continuation (Python's set)", () => {
  assert.deepEqual(moveTrailingWhitespace("Answer: ", "Paris"), ["Answer:", " Paris"]);
  assert.deepEqual(moveTrailingWhitespace("a \n\t", " b"), ["a", " \n\t b"]);
  assert.deepEqual(moveTrailingWhitespace("a\x1c\u3000", "b"), ["a", "\x1c\u3000b"]);
  // U+FEFF is whitespace to JavaScript's trimEnd, not to Python's rstrip.
  assert.deepEqual(moveTrailingWhitespace("a\ufeff", "b"), ["a\ufeff", "b"]);
  assert.deepEqual(moveTrailingWhitespace("   ", "x"), ["", "   x"]);
});

Deno.test("requests split into context and continuation tokens as lm-eval does", () => {
  const context = "Question: What is the capital of France?\nAnswer:";
  const r = encodeRequest(tokenizer, { context, continuation: " Paris" });
  assert.deepEqual(r.context, tokenizer.encode(context));
  assert.equal(r.context[0], tokenizer.bosId);
  assert.deepEqual([...r.context, ...r.continuation], tokenizer.encode(context + " Paris"));
  assert.equal(tokenizer.decode(r.continuation), " Paris");
  // The delimiter space on the context's side gives the same tokens.
  assert.deepEqual(encodeRequest(tokenizer, { context: context + " ", continuation: "Paris" }), r);
  // Split by count: a token merging across the boundary belongs to the continuation's side.
  const merged = encodeRequest(tokenizer, {
    context: "The weather is nice tod",
    continuation: "ay",
  });
  const whole = tokenizer.encode("The weather is nice today");
  const contextLength = tokenizer.encode("The weather is nice tod").length;
  assert.deepEqual(merged.continuation, whole.slice(contextLength));
  // An empty context is <bos> alone.
  const empty = encodeRequest(tokenizer, { context: "", continuation: " yes" });
  assert.deepEqual(empty.context, [tokenizer.bosId]);
  assert.deepEqual(empty.continuation, tokenizer.encode(" yes", { addBos: false }));
});

/** log-softmax sums from the CPU reference, truncated as lm-eval truncates. */
function expectedScore(
  reference: ReturnType<typeof referenceModel>,
  r: TokenRequest,
  maxLength: number,
) {
  const window = [...r.context, ...r.continuation].slice(-(maxLength + 1));
  const input = window.slice(0, -1);
  const vocab = reference.config.vocabSize;
  const logits = referenceLogits(reference, input, input.length);
  let logprob = 0;
  let isGreedy = true;
  for (let t = input.length - r.continuation.length; t < input.length; t++) {
    const row = logits.subarray(t * vocab, (t + 1) * vocab);
    let max = -Infinity;
    let best = 0;
    for (let v = 0; v < vocab; v++) if (row[v] > max) [max, best] = [row[v], v];
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    logprob += row[window[t + 1]] - max - Math.log(sum);
    if (best !== window[t + 1]) isGreedy = false;
  }
  return { logprob, isGreedy };
}

Deno.test({
  name: "a session keeps a sliding-window cache's beginning only while its ring holds it",
  sanitizeResources: false,
  fn: async () => {
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
    // Window 5, prefill chunks of 4: the local layers' rings hold 9 rows.
    const session = new GemmaSession(model, { contextLength: 40, maxBatchRows: 4 });
    try {
      session.append([2, 5, 6, 7, 8, 9, 10, 11, 12]);
      assert.ok(session.canTruncate(1), "nothing wrapped yet");
      session.append([13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]); // 20 written
      assert.ok(session.canTruncate(16) && session.canTruncate(20));
      assert.ok(!session.canTruncate(15), "position 11 is gone from the ring");
      assert.ok(!session.canTruncate(21), "past the end");
      session.truncate(17);
      assert.ok(!session.canTruncate(15), "a rewind does not bring rows back");
      session.reset();
      session.append([2, 5, 6]);
      assert.ok(session.canTruncate(1), "a reset starts over");

      // keepSharedPrefix: the held beginning, all but the last token by default, while kept.
      const prompt = [2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
      session.reset();
      session.append(prompt);
      assert.equal(session.keepSharedPrefix([...prompt.slice(0, 14), 99]), 14);
      assert.equal(session.position, 14);
      session.append(prompt.slice(14));
      assert.equal(session.keepSharedPrefix(prompt), 15, "the last token is left to append");
      assert.equal(session.keepSharedPrefix(prompt, 16), 15, "15 held");
      session.append(prompt.slice(15));
      assert.equal(session.keepSharedPrefix([...prompt.slice(0, 9), 99]), 0, "the ring lost it");
      // Decoded tokens are held too: every token seen but the last.
      session.append(prompt.slice(0, 6));
      const seen: number[] = [];
      await session.decode(3, (id) => (seen.push(id), true));
      assert.equal(session.position, 8);
      const next = [...prompt.slice(0, 6), ...seen, 7];
      assert.equal(session.keepSharedPrefix(next), 8);
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
    }
  },
});

Deno.test({
  name:
    "GPU scores equal the CPU reference (shared prefill, kept beginnings, ring wrap, truncation)",
  sanitizeResources: false,
  fn: async () => {
    const checkpoint = await openCheckpoint(dir);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    const reference = referenceModel(checkpoint.config, await loadReferenceWeights(checkpoint));
    const session = new GemmaSession(model, { contextLength: 40, maxBatchRows: 4 });
    try {
      const context = "Question: Which gas do plants take in from the air?\nAnswer:";
      const choices = [
        " Carbon dioxide",
        " Oxygen and a great deal of nitrogen, mostly",
        " Helium",
      ];
      const texts = [
        ...choices.map((continuation) => ({ context, continuation })),
        { context: "Another question?\nAnswer: ", continuation: "yes" },
        { context, continuation: " Water vapour" }, // same context again, after another group
      ];
      const tokens = texts.map((r) => encodeRequest(tokenizer, r));
      // The long choice wraps the window-5 ring (prefix + continuation > 5 + 4 rows) with more
      // than 4 rows: the choice after it must re-prefill.
      assert.ok(tokens[1].continuation.length > 4);
      const scores = await scoreRequests(session, tokenizer, texts);
      for (let i = 0; i < texts.length; i++) {
        const expected = expectedScore(reference, tokens[i], 39);
        assert.ok(
          Math.abs(scores[i].logprob - expected.logprob) < 2e-3,
          `request ${i}: ${scores[i].logprob} vs ${expected.logprob}`,
        );
        assert.equal(scores[i].isGreedy, expected.isGreedy, `request ${i} greedy`);
        assert.equal(scores[i].tokens, tokens[i].continuation.length);
        assert.equal(scores[i].truncated, 0);
      }

      // Left truncation to maxLength 12: the window drops the <bos> and the context's start.
      const maxLength = 12;
      const long = tokens.slice(0, 3);
      const cut = await scoreTokenRequests(session, long, { maxLength });
      for (let i = 0; i < long.length; i++) {
        const expected = expectedScore(reference, long[i], maxLength);
        const total = long[i].context.length + long[i].continuation.length;
        assert.equal(cut[i].truncated, total - (maxLength + 1));
        assert.ok(Math.abs(cut[i].logprob - expected.logprob) < 2e-3, `truncated request ${i}`);
      }

      // Contexts sharing beginnings of every length (one the start of another), continuations
      // that run the ring past what can be kept: kept beginnings give the scores of full prefills.
      const random = seededRandom(3);
      const some = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(random() * 900));
      const base = [2, ...some(9)];
      const shared: TokenRequest[] = [];
      for (let i = 0; i < 14; i++) {
        const context = [...base, ...some(i % 5 === 0 ? 0 : 1 + (i * 7) % 13)];
        shared.push({ context, continuation: some(1 + (i * 5) % 7) });
        if (i % 4 === 1) shared.push({ context: [...context, ...some(2)], continuation: some(2) });
      }
      const counts = { prefilled: 0, reused: 0 };
      const kept = await scoreTokenRequests(session, shared, { counts });
      const fresh = await scoreTokenRequests(session, shared, { reusePrefixes: false });
      let worst = 0;
      shared.forEach((r, i) => {
        worst = Math.max(worst, Math.abs(kept[i].logprob - fresh[i].logprob));
        assert.equal(kept[i].isGreedy, fresh[i].isGreedy, `shared request ${i} greedy`);
        const expected = expectedScore(reference, r, 39);
        assert.ok(Math.abs(kept[i].logprob - expected.logprob) < 2e-3, `shared request ${i}`);
      });
      assert.ok(worst < 1e-4, `kept beginnings change scores by ${worst}`);
      assert.ok(counts.reused > 100, `kept ${counts.reused} tokens`);

      await assert.rejects(
        scoreTokenRequests(session, [{ context: [2], continuation: new Array(13).fill(5) }], {
          maxLength,
        }),
        /does not fit/,
      );
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
