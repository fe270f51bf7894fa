// Pipelined decoding (GemmaSession.decode) against the plain loop it replaces: append([id]), then
// await argmax() (greedy) or sample from the logits read back, one token at a time.

import assert from "node:assert/strict";
import {
  argmaxOf,
  createGpuContext,
  GemmaSession,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { assertClose } from "../kernels/test_util.ts";
import { penalizedReference, pickTokenReference, type SampleDraw } from "../kernels/pick_token.ts";
import { buildTinyModel, type TinyModelOptions } from "./fixtures.ts";

const PROMPT = [2, 651, 6037, 576, 6081, 603, 9447, 235265, 100, 200];

// Small prefill chunks keep the ring caches of the local layers short (window + 4 rows), and
// allow at most 4 steps ahead, so the steps undone after a stop do overwrite ring rows.
const CASES: { name: string; model: TinyModelOptions }[] = [
  { name: "Gemma 1 MQA", model: { numHeads: 4, numKvHeads: 1 } },
  {
    name: "Gemma 2, window 3",
    model: { modelType: "gemma2", numHeads: 4, numKvHeads: 2, numLayers: 3, slidingWindow: 3 },
  },
];

/** The plain loop: `count` greedy tokens after the session's current tokens. */
async function loopTokens(session: GemmaSession, count: number): Promise<number[]> {
  const tokens = [await session.argmax()];
  while (tokens.length < count) {
    session.append([tokens[tokens.length - 1]]);
    tokens.push(await session.argmax());
  }
  return tokens;
}

for (const c of CASES) {
  Deno.test(`decode matches the append/argmax loop: ${c.name}`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-greedy-" });
    await buildTinyModel(dir, { ...c.model, seed: 5 });
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, await openCheckpoint(dir), { dtype: "f32" });
    const options = { contextLength: 64, maxBatchRows: 4 };
    const plain = new GemmaSession(model, options);
    const piped = new GemmaSession(model, options);
    const count = 24;
    plain.append(PROMPT);
    const expected = await loopTokens(plain, count);

    await t.step("the same tokens, and the session left as the loop leaves it", async () => {
      piped.append(PROMPT);
      const seen: number[] = [];
      await piped.decode(count, (id) => seen.push(id) > 0);
      assert.deepEqual(seen, expected);
      assert.equal(piped.position, plain.position);
      assert.equal(piped.position, PROMPT.length + count - 1);
      // The KV cache holds the same: one more step gives the same logits.
      plain.append([expected[count - 1]]);
      piped.append([expected[count - 1]]);
      assertClose(await piped.logits(), await plain.logits(), 1e-6, "logits after the run");
    });

    for (const lookahead of [1, 4, undefined]) {
      await t.step(
        `a stop undoes the steps run ahead (lookahead ${lookahead ?? "adaptive"})`,
        async () => {
          // With 4 steps ahead, 3 steps past the stop write KV rows that are then rewritten.
          piped.reset();
          piped.append(PROMPT);
          const seen: number[] = [];
          await piped.decode(100, (id) => seen.push(id) < 7, { lookahead });
          assert.deepEqual(seen, expected.slice(0, 7));
          assert.equal(piped.position, PROMPT.length + 6);
          piped.append([seen[6]]);
          const rest: number[] = [];
          await piped.decode(count - 7, (id) => rest.push(id) > 0, { lookahead });
          assert.deepEqual(rest, expected.slice(7));
        },
      );
    }

    await t.step("an accept that throws leaves the session as a stop there would", async () => {
      piped.reset();
      piped.append(PROMPT);
      let seen = 0;
      await assert.rejects(
        piped.decode(100, () => {
          if (++seen === 5) throw new Error("reader gone");
          return true;
        }, { lookahead: 4 }),
        /reader gone/,
      );
      assert.equal(piped.position, PROMPT.length + 4);
    });

    await t.step("a full context ends decoding like the loop", async () => {
      const small = new GemmaSession(model, { contextLength: PROMPT.length + 5, maxBatchRows: 4 });
      small.append(PROMPT);
      const seen: number[] = [];
      await small.decode(100, (id) => seen.push(id) > 0);
      assert.deepEqual(seen, expected.slice(0, 6));
      assert.equal(small.position, small.contextLength);
      small.destroy();
    });

    await t.step("maxTokens 0 and 1 read nothing ahead", async () => {
      for (const max of [0, 1]) {
        piped.reset();
        piped.append(PROMPT);
        const seen: number[] = [];
        await piped.decode(max, (id) => seen.push(id) > 0);
        assert.deepEqual(seen, expected.slice(0, max));
        assert.equal(piped.position, PROMPT.length);
      }
    });

    for (const penalty of [1, 1.3]) {
      await t.step(`sampled on the GPU, penalty ${penalty}: the tokens of a CPU loop`, async () => {
        const draw = (n: number): SampleDraw => ({
          temperature: 1.2,
          minP: 0.01,
          topK: 40,
          topP: 0.9,
          seed: 77,
          draw: n,
        });
        plain.reset();
        plain.append(PROMPT);
        const sampled: number[] = [];
        while (sampled.length < count) {
          if (sampled.length > 0) plain.append([sampled[sampled.length - 1]]);
          const logits = penalizedReference(await plain.logits(), penalty, [...PROMPT, ...sampled]);
          sampled.push(pickTokenReference(logits, draw(sampled.length)));
        }
        assert.notDeepEqual(sampled, expected, "sampling differs from greedy");
        piped.reset();
        piped.append(PROMPT);
        let draws = 0;
        const seen: number[] = [];
        await piped.decode(count, (id) => seen.push(id) > 0, {
          picks: () => ({ sample: draw(draws++), repetitionPenalty: penalty }),
          seen: PROMPT,
        });
        assert.deepEqual(seen, sampled);
        assert.equal(piped.position, plain.position);
      });
    }

    await t.step("a greedy repetition penalty on the GPU: the tokens of a CPU loop", async () => {
      // The first greedy tokens count as seen, so that the penalty has something to change.
      const history = [...PROMPT, ...expected.slice(0, 3)];
      plain.reset();
      plain.append(PROMPT);
      const tokens: number[] = [];
      while (tokens.length < count) {
        if (tokens.length > 0) plain.append([tokens[tokens.length - 1]]);
        tokens.push(argmaxOf(penalizedReference(await plain.logits(), 2, [...history, ...tokens])));
      }
      assert.notDeepEqual(tokens, expected, "the penalty changes greedy decoding");
      piped.reset();
      piped.append(PROMPT);
      const seen: number[] = [];
      await piped.decode(count, (id) => seen.push(id) > 0, {
        picks: () => ({ repetitionPenalty: 2 }),
        seen: history,
      });
      assert.deepEqual(seen, tokens);
    });

    plain.destroy();
    piped.destroy();
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  });
}
