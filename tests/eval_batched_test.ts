// eval's generate_until requests decoded together (generateUntilBatched, continuous batching)
// against one at a time on a session (generateUntil): the same tokens and answers for prompts of
// different lengths, budgets and stop conditions (a stop string, a stop token, the budget, a
// prompt cut from the left), in request order, whatever the number of sequences.

import assert from "node:assert/strict";
import {
  createGpuContext,
  GemmaSession,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import {
  generateUntil,
  generateUntilBatched,
  type GenerationRequest,
} from "../core/eval/generate_until.ts";
import { buildTinyModel } from "./fixtures.ts";

const MAX_LENGTH = 40;

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-batched-" });
await buildTinyModel(dir, { modelType: "gemma3_text", numLayers: 2, slidingWindow: 6, seed: 9 });
const gpu = await createGpuContext();
const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
const tokenizer = await loadTokenizer(dir);
const session = new GemmaSession(model, { contextLength: MAX_LENGTH + 1 });

Deno.test({
  name: "generate_until: batched decoding gives the one-at-a-time tokens and answers",
  sanitizeResources: false,
  fn: async () => {
    const contexts = [
      "Question: what is two plus two?\nAnswer:",
      "Hi",
      "The capital of France is",
      // Longer than MAX_LENGTH − max_gen_toks tokens: cut from the left.
      "A long context about many things, so long that it cannot fit in the context together with the answer, because the context length is only forty tokens in this test of ours.",
      "1, 2, 3,",
      "Colourless green ideas sleep furiously while",
    ];
    const stopTokenIds = [tokenizer.eosId];
    // First the free answers (no stop string), to choose stops that occur in them.
    const free = await generateUntil(
      session,
      tokenizer,
      contexts.map((context) => ({ context, until: [], maxGenToks: 12 })),
      { maxLength: MAX_LENGTH, stopTokenIds },
    );
    const piece = (i: number, at: number) => tokenizer.decode(free[i].tokenIds.slice(at, at + 1));
    const requests: GenerationRequest[] = contexts.map((context, i) => ({
      context,
      until: i === 0 ? [piece(0, 4)] : i === 2 ? ["\n\n", piece(2, 6)] : [],
      maxGenToks: [12, 1, 12, 9, 5, 12][i],
    }));
    // A stop token: the fourth token of the last free answer ends its generation.
    const stopToken = free[5].tokenIds[3];
    const withStopToken = [...stopTokenIds, stopToken];
    const one = await generateUntil(session, tokenizer, requests, {
      maxLength: MAX_LENGTH,
      stopTokenIds: withStopToken,
    });
    // The cases happened: stopped by a string, a token, the budget; one prompt cut.
    assert.ok(one[0].tokens < 12 && piece(0, 4).trim() !== "", `stop string: ${one[0].tokens}`);
    assert.ok(one[2].tokens < 12, `stop string: ${one[2].tokens}`);
    assert.ok(one[5].tokens <= 4 && one[5].tokenIds.at(-1) === stopToken, "stop token");
    assert.equal(one[1].tokens, 1);
    assert.equal(one[4].tokens, 5);
    assert.ok(one[3].truncated > 0);
    assert.deepEqual(one.map((g) => g.truncated > 0), [false, false, false, true, false, false]);

    for (const parallel of [2, 4, 8]) {
      let calls = 0;
      const batched = await generateUntilBatched(model, tokenizer, requests, {
        maxLength: MAX_LENGTH,
        stopTokenIds: withStopToken,
        parallel,
        onProgress: (done, total) => {
          calls++;
          assert.equal(done, calls);
          assert.equal(total, requests.length);
        },
      });
      assert.deepEqual(batched, one, `${parallel} sequences`);
      assert.equal(calls, requests.length);
    }
  },
});

addEventListener("unload", () => {
  session.destroy();
  Deno.removeSync(dir, { recursive: true });
});
