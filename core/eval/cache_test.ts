import assert from "node:assert/strict";
import { ScoreCache } from "./cache.ts";
import { EvalDataError } from "./data.ts";

const score = (logprob: number) => ({ logprob, isGreedy: false, tokens: 2, truncated: 0 });

Deno.test("score cache: appends as it goes, keeps complete lines, cuts a torn one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/cache.jsonl`;
    const a = { context: "ctx", continuation: " a" };
    const b = { context: "ctx", continuation: " b" };
    const cache = await ScoreCache.open(path, "model-1");
    cache.put(a, score(-1.25));
    cache.put(b, score(-0.1 - 0.2)); // a float JSON must round-trip exactly
    // Written already, before close: a kill now loses nothing.
    assert.equal((await Deno.readTextFile(path)).split("\n").length, 3);
    cache.close();
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)) + '{"key": "tor');
    const reopened = await ScoreCache.open(path, "model-1");
    assert.equal(reopened.size, 2);
    assert.deepEqual(reopened.get(a), score(-1.25));
    assert.deepEqual(reopened.get(b), score(-0.1 - 0.2));
    reopened.put({ context: "ctx", continuation: " c" }, score(-3));
    reopened.close();
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.equal(lines.length, 4);
    lines.slice(0, 3).forEach((l) => JSON.parse(l));
    // Another namespace (another model or setting) shares nothing.
    const other = await ScoreCache.open(path, "model-2");
    assert.equal(other.get(a), undefined);
    other.close();
    await Deno.writeTextFile(path, "not json\n");
    await assert.rejects(
      ScoreCache.open(path, "m"),
      (e: Error) =>
        e instanceof EvalDataError && /cache\.jsonl:1: not a cache line/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("score cache: generated answers, keyed by context, stops and budget", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/cache.jsonl`;
    const request = { context: "Q: 1+1?\nA:", until: ["Q:", "<eos>"], maxGenToks: 8 };
    const generation = { text: " 2", tokens: 3, tokenIds: [235248, 235284, 108], truncated: 0 };
    const cache = await ScoreCache.open(path, "model-1");
    cache.put({ context: "ctx", continuation: " a" }, score(-1));
    cache.putGeneration(request, generation);
    cache.close();
    const reopened = await ScoreCache.open(path, "model-1");
    assert.equal(reopened.size, 2);
    assert.deepEqual(reopened.getGeneration(request), generation);
    assert.deepEqual(reopened.get({ context: "ctx", continuation: " a" }), score(-1));
    // Other stops or another budget may give another answer: not the same entry.
    assert.equal(reopened.getGeneration({ ...request, until: ["Q:"] }), undefined);
    assert.equal(reopened.getGeneration({ ...request, maxGenToks: 9 }), undefined);
    reopened.close();
    await Deno.writeTextFile(path, '{"key": "k", "generation": {"text": 5}}\n');
    await assert.rejects(
      ScoreCache.open(path, "m"),
      (e: Error) =>
        e instanceof EvalDataError && /cache\.jsonl:1: not a cache line/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
