// Batched decoding (SequenceBatch through generateMany) against one sequence at a time
// (generate on a GemmaSession): every request gets the same tokens, text and finish reason,
// whatever the number of sequences decoded together and the order they join and leave in.

import assert from "node:assert/strict";
import {
  createGpuContext,
  DEFAULT_SAMPLING,
  type Gemma,
  GemmaSession,
  type GemmaTokenizer,
  generate,
  generateMany,
  type GenerationRequest,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
  SequenceBatch,
} from "../core/mod.ts";
import { assertClose } from "../kernels/test_util.ts";
import { buildTinyModel, type TinyModelOptions } from "./fixtures.ts";

const CONTEXT = 48;

const CASES: { name: string; model: TinyModelOptions }[] = [
  { name: "Gemma 1 MQA", model: { numHeads: 4, numKvHeads: 1 } },
  {
    name: "Gemma 2, window 3, soft-caps",
    model: { modelType: "gemma2", numHeads: 4, numKvHeads: 2, numLayers: 3, slidingWindow: 3 },
  },
  {
    name: "Gemma 3, window 5",
    model: { modelType: "gemma3_text", numHeads: 2, numKvHeads: 1, numLayers: 3, slidingWindow: 5 },
  },
];

/** Prompts of different lengths and settings: greedy, sampled, penalized, short budgets. */
function requests(tokenizer: GemmaTokenizer): GenerationRequest[] {
  const texts = [
    "The capital of France is",
    "Once upon a time",
    "1, 2, 3,",
    "A longer prompt, so that the sequences sit at different positions of their caches when",
    "Hi",
    "Colourless green ideas sleep",
  ];
  const eos = [tokenizer.eosId];
  return texts.map((text, i) => ({
    promptIds: tokenizer.encode(text, { addBos: true }),
    options: {
      maxTokens: [20, 7, 16, 12, 1, 20][i],
      stopTokenIds: eos,
      sampling: i % 3 === 1
        ? { ...DEFAULT_SAMPLING, temperature: 0.9, topK: 40, topP: 0.95, seed: 100 + i }
        : i % 3 === 2
        ? { ...DEFAULT_SAMPLING, repetitionPenalty: 1.3 }
        : DEFAULT_SAMPLING,
    },
  }));
}

/** A tiny Gemma 3 with a sliding window of 5 (its rings wrap soon), in f32, for `body`. */
async function withWindowedModel(
  seed: number,
  body: (model: Gemma, tokenizer: GemmaTokenizer) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gemma-batch-" });
  try {
    await buildTinyModel(dir, {
      modelType: "gemma3_text",
      numHeads: 2,
      numKvHeads: 1,
      numLayers: 3,
      slidingWindow: 5,
      seed,
    });
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
    try {
      await body(model, await loadTokenizer(dir));
    } finally {
      model.destroy();
      gpu.destroy();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The requests, greedy, 6 tokens each, no stop tokens. */
function greedyRequests(tokenizer: GemmaTokenizer): GenerationRequest[] {
  return requests(tokenizer).map((r) => ({
    promptIds: r.promptIds,
    options: { ...r.options, maxTokens: 6, stopTokenIds: [], sampling: DEFAULT_SAMPLING },
  }));
}

async function oneAtATime(model: Gemma, tokenizer: GemmaTokenizer, reqs: GenerationRequest[]) {
  const session = new GemmaSession(model, { contextLength: CONTEXT });
  const results = [];
  for (const r of reqs) {
    session.reset();
    results.push(await generate(session, tokenizer, r.promptIds, r.options));
  }
  session.destroy();
  return results;
}

for (const c of CASES) {
  Deno.test(`batched decoding gives each sequence its own tokens: ${c.name}`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-batch-" });
    try {
      await buildTinyModel(dir, { ...c.model, seed: 11 });
      const gpu = await createGpuContext();
      const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
      const tokenizer = await loadTokenizer(dir);
      const reqs = requests(tokenizer);
      const expected = await oneAtATime(model, tokenizer, reqs);
      // The cases are worth comparing: several tokens each, not all alike.
      assert.ok(expected.filter((r) => r.tokenIds.length > 5).length >= 3);
      for (const parallel of [1, 3, 8]) {
        await t.step(`${parallel} at a time`, async () => {
          const finished: number[] = [];
          const results = await generateMany(model, tokenizer, reqs, {
            parallel,
            contextLength: CONTEXT,
            onResult: (index) => finished.push(index),
          });
          assert.equal(finished.length, reqs.length);
          results.forEach((r, i) => {
            assert.deepEqual(r.tokenIds, expected[i].tokenIds, `request ${i}`);
            assert.equal(r.text, expected[i].text, `request ${i}`);
            assert.equal(r.finishReason, expected[i].finishReason, `request ${i}`);
          });
        });
      }
      await t.step("prompts that begin alike prefill what they share once", async () => {
        const system = tokenizer.encode("Answer in one short sentence:", { addBos: true });
        const alike = reqs.map((r) => ({ ...r, promptIds: [...system, ...r.promptIds.slice(1)] }));
        const expectedAlike = await oneAtATime(model, tokenizer, alike);
        for (const parallel of [1, 3]) {
          const results = await generateMany(model, tokenizer, alike, {
            parallel,
            contextLength: CONTEXT,
          });
          results.forEach((r, i) => {
            assert.deepEqual(r.tokenIds, expectedAlike[i].tokenIds, `request ${i}`);
            // The first prompt finds nothing; every later one at least the shared beginning, in
            // its own sequence's cache or copied from another one's.
            assert.ok(
              i === 0 ? r.cachedPromptTokens === 0 : r.cachedPromptTokens >= system.length,
              `request ${i} kept ${r.cachedPromptTokens}`,
            );
          });
        }
      });
      await t.step("a sequence stops at the end of its context", async () => {
        // 45 prompt tokens in a context of 48: the first token and 3 steps.
        const ids = Array.from(
          { length: CONTEXT },
          (_, i) => reqs[3].promptIds[i % reqs[3].promptIds.length],
        );
        const long = { ...reqs[0], promptIds: ids.slice(0, CONTEXT - 3) };
        const full = { ...reqs[0], promptIds: ids };
        const both = [long, reqs[1], full];
        const expectedBoth = await oneAtATime(model, tokenizer, both);
        assert.equal(expectedBoth[0].tokenIds.length, 4);
        assert.equal(expectedBoth[2].tokenIds.length, 1);
        const results = await generateMany(model, tokenizer, both, {
          parallel: 2,
          contextLength: CONTEXT,
        });
        results.forEach((r, i) => assert.deepEqual(r.tokenIds, expectedBoth[i].tokenIds));
      });
      model.destroy();
      gpu.destroy();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("SequenceBatch rejects bad sequences and prompts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-batch-" });
  try {
    await buildTinyModel(dir, { numLayers: 1, seed: 3 });
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
    assert.throws(() => new SequenceBatch(model, { sequences: 0 }), /positive integer/);
    const batch = new SequenceBatch(model, { sequences: 2, contextLength: 8 });
    assert.throws(() => batch.prefill(2, [2, 3], {}), /no sequence 2/);
    assert.throws(() => batch.prefill(0, new Array(9).fill(2), {}), /do not fit/);
    assert.throws(() => batch.prefill(0, [2, -1], {}), /outside the vocabulary/);
    await assert.rejects(() => batch.step([{ sequence: 5, pick: {} }]), /no sequence 5/);
    batch.destroy();
    model.destroy();
    gpu.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scoreBranches scores continuations as appendAndScore does, one at a time", async (t) => {
  for (const c of CASES.slice(1)) {
    await t.step(c.name, async () => {
      const dir = await Deno.makeTempDir({ prefix: "gemma-branches-" });
      try {
        await buildTinyModel(dir, { ...c.model, seed: 12 });
        const gpu = await createGpuContext();
        const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
        // Chunks of 4 rows: the local layers' rings (window + 4) are shorter than the prefix.
        const options = { contextLength: 64, maxBatchRows: 4 };
        const branched = new GemmaSession(model, { ...options, branches: 3 });
        const plain = new GemmaSession(model, options);
        const prefix = Array.from({ length: 20 }, (_, i) => 2 + ((i * 7919) % 5000));
        prefix[0] = 2;
        const continuations = [1, 2, 5, 3, 4, 5, 2].map((n, k) =>
          Array.from({ length: n }, (_, j) => 100 + k * 10 + j)
        );
        assert.equal(branched.maxBranchRows, 4);
        branched.append(prefix);
        const scores = await branched.scoreBranches(continuations);
        for (const [k, continuation] of continuations.entries()) {
          plain.reset();
          plain.append(prefix);
          const expected = await plain.appendAndScore(continuation);
          assertClose(
            Float32Array.from(scores[k].logprobs),
            expected.logprobs,
            1e-4,
            `continuation ${k}`,
          );
          assert.deepEqual(scores[k].greedy, expected.greedy);
        }
        // The session's own cache is untouched: one more token gives the logits a fresh one does.
        branched.append([7]);
        plain.reset();
        plain.append([...prefix, 7]);
        assertClose(await branched.logits(), await plain.logits(), 1e-5, "after the branches");
        await assert.rejects(
          () => branched.scoreBranches([[1, 2, 3, 4, 5, 6]]),
          /6 tokens exceed 5/,
        );
        branched.destroy();
        plain.destroy();
        model.destroy();
        gpu.destroy();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("start prefills several prompts packed together; steps continue each greedily", async () => {
  await withWindowedModel(12, async (model, tokenizer) => {
    const greedy = greedyRequests(tokenizer);
    const expected = await oneAtATime(model, tokenizer, greedy);
    // maxBatchRows 7: chunks cut through prompts, so rows of one prompt span two calls.
    const batch = new SequenceBatch(model, {
      sequences: greedy.length,
      contextLength: CONTEXT,
      maxBatchRows: 7,
    });
    // Sequences in a shuffled order, so that a row's sequence differs from its prompt's index.
    const order = greedy.map((_, i) => (i * 5 + 2) % greedy.length);
    batch.start(order.map((i, s) => ({ sequence: s, ids: greedy[i].promptIds })));
    const picked: number[][] = order.map(() => []);
    for (let k = 0; k < 6; k++) {
      const { inputs, picks } = await batch.step(order.map((_, s) => ({ sequence: s, pick: {} })));
      if (k === 0) assert.deepEqual(inputs, order.map((i) => greedy[i].promptIds.at(-1)));
      picks.forEach((p, s) => picked[s].push(p));
    }
    order.forEach((i, s) => assert.deepEqual(picked[s], expected[i].tokenIds, `prompt ${i}`));
    assert.throws(
      () => batch.start([{ sequence: 0, ids: [2] }, { sequence: 0, ids: [2, 3] }]),
      /joins twice/,
    );
    batch.destroy();
  });
});

Deno.test("steps queued before earlier ones are read back give the same tokens, in order", async () => {
  await withWindowedModel(13, async (model, tokenizer) => {
    const greedy = greedyRequests(tokenizer);
    const expected = await oneAtATime(model, tokenizer, greedy);
    const batch = new SequenceBatch(model, { sequences: greedy.length, contextLength: CONTEXT });
    batch.start(greedy.map((r, s) => ({ sequence: s, ids: r.promptIds })));
    const rows = greedy.map((_, s) => ({ sequence: s, pick: {} }));
    // All six steps queued at once, past the windows (rings of 5 wrap while steps are queued).
    const steps = Array.from({ length: 6 }, () => batch.step(rows));
    // Until they are read back, no sequence can start again (its ids are not all known yet).
    assert.throws(() => batch.keepSharedPrefix(0, greedy[0].promptIds), /not yet read back/);
    assert.throws(() => batch.prefill(1, [2, 3], {}), /not yet read back/);
    assert.throws(() => batch.start([{ sequence: 2, ids: [2, 3] }]), /not yet read back/);
    const read = await Promise.all(steps);
    greedy.forEach((r, s) => {
      assert.deepEqual(read.map((step) => step.picks[s]), expected[s].tokenIds, `prompt ${s}`);
      // Each step's input is the previous step's pick, the first one the prompt's last token.
      const inputs = read.map((step) => step.inputs[s]);
      assert.deepEqual(inputs, [r.promptIds.at(-1), ...expected[s].tokenIds.slice(0, 5)]);
      // The inputs, noted in step order, make the cache's ids: the prompt and its first picks.
      const ids = [...r.promptIds, ...expected[s].tokenIds.slice(0, 5)];
      assert.equal(batch.sharedPrefix(s, [...ids, 0], ids.length), ids.length);
    });
    batch.keepSharedPrefix(0, greedy[0].promptIds); // settled: allowed again
    batch.destroy();
  });
});

Deno.test("SequenceBatch keeps shared beginnings, its own or copied, where the rings allow", async () => {
  await withWindowedModel(13, async (model, tokenizer) => {
    // Chunks of 4 rows: the local layers keep rings of window 5 + 4 = 9 rows, which wrap.
    const batch = new SequenceBatch(model, {
      sequences: 3,
      contextLength: CONTEXT,
      maxBatchRows: 4,
    });
    assert.ok(batch.state.cacheRows.includes(9));
    const session = new GemmaSession(model, { contextLength: CONTEXT });
    const greedy = { maxTokens: 6, stopTokenIds: [], sampling: DEFAULT_SAMPLING };
    const expectedTokens = async (ids: number[]) => {
      session.reset();
      return (await generate(session, tokenizer, ids, greedy)).tokenIds;
    };
    /** Starts `ids` in sequence `s` the way generateMany does; decodes 6 tokens greedily. */
    const run = async (s: number, ids: number[], donors?: number[]) => {
      const kept = batch.keepSharedPrefix(s, ids, ids.length - 1, donors);
      batch.prefill(s, ids, {}, undefined, kept);
      const tokens: number[] = [];
      for (let k = 0; k < 6; k++) {
        const { inputs } = await batch.step([{ sequence: s, pick: {} }]);
        tokens.push(inputs[0]);
      }
      tokens.push(await batch.readPick(s));
      assert.deepEqual(tokens.slice(0, 6), await expectedTokens(ids), `prompt of ${ids.length}`);
      return { kept, held: [...ids, ...tokens.slice(0, 6)] };
    };
    const base = tokenizer.encode(
      "A longer prompt, so that the sequences sit at different positions of their caches",
      { addBos: true },
    );
    assert.ok(base.length >= 14);
    // Sequence 0 holds 12 prompt tokens and 6 decoded ones: written up to 18 > ring 9.
    const first = await run(0, base.slice(0, 12));
    assert.equal(first.kept, 0);
    // 16 of them again (prompt and decoded tokens): 18 − 16 ≤ ring − window, so kept.
    const mine = [...first.held.slice(0, 16), 300, 301];
    const own = await run(0, mine, []);
    assert.equal(own.kept, 16);
    // Sequence 0 now holds 24 tokens; the first 10 of them are lost from its rings (24 − 10 > 4).
    assert.equal(batch.sharedPrefix(0, [...own.held.slice(0, 10), 7]), 0);
    assert.equal(batch.sharedPrefix(0, [...own.held.slice(0, 20), 7]), 20);
    // Sequence 1 gets 21 of sequence 0's tokens copied over, and sequence 0 is left as it was.
    const copied = await run(1, [...own.held.slice(0, 21), 42]);
    assert.equal(copied.kept, 21);
    assert.equal(batch.sharedPrefix(0, own.held), 23);
    const again = await run(0, [...own.held.slice(0, 22), 43]);
    assert.equal(again.kept, 22);
    // Only <bos> shared, and every ring that holds it has wrapped past it: a fresh start.
    const fresh = await run(2, [2, 500, 501, 502]);
    assert.equal(fresh.kept, 0);
    assert.equal(batch.sharedPrefix(2, [...fresh.held.slice(0, 8), 7]), 8);
    // Prefill refuses a kept length its sequence lacks.
    assert.throws(() => batch.prefill(2, [2, 9, 9], {}, undefined, 2), /does not hold/);
    session.destroy();
    batch.destroy();
  });
});

Deno.test("a step runs joining prompts beside its rows, what does not fit before it", async () => {
  await withWindowedModel(14, async (model, tokenizer) => {
    const greedy = greedyRequests(tokenizer);
    const expected = await oneAtATime(model, tokenizer, greedy);
    // 7 rows a call: beside 3 or 6 stepping rows, most prompt rows run in calls before the step.
    const batch = new SequenceBatch(model, {
      sequences: 6,
      contextLength: CONTEXT,
      maxBatchRows: 7,
    });
    assert.equal(batch.state.maxRows, 7);
    const picked: number[][] = greedy.map(() => []);
    const join = (from: number) =>
      [0, 1, 2].map((k) => ({ sequence: from + k, ids: greedy[from + k].promptIds }));
    for (let k = 0; k < 8; k++) {
      const sequences = k < 2 ? [0, 1, 2] : [0, 1, 2, 3, 4, 5];
      const joining = k === 0 ? join(0) : k === 2 ? join(3) : [];
      const { inputs, picks } = await batch.step(
        sequences.map((sequence) => ({ sequence, pick: {} })),
        joining,
      );
      // A joining sequence's input is its prompt's last token.
      joining.forEach(({ sequence, ids }) => assert.equal(inputs[sequence], ids.at(-1)));
      picks.forEach((p, s) => picked[s].push(p));
    }
    // Sequences 0–2 stepped 8 times, 3–5 (joining at the third step) 6 times.
    picked.forEach((tokens, i) => {
      assert.deepEqual(tokens.slice(0, 6), expected[i].tokenIds, `prompt ${i}`);
    });
    await assert.rejects(
      () => batch.step([{ sequence: 0, pick: {} }, { sequence: 0, pick: {} }]),
      /sequence 0 given twice/,
    );
    batch.destroy();
  });
});
