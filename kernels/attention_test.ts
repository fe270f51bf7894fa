import assert from "node:assert/strict";
import { attention } from "./attention.ts";
import { attentionPrefillTiled, tilesHeadDim } from "./attention_tiled.ts";
import { type AttentionCase, attentionInputs } from "./attention_test_util.ts";
import { assertClose, testGpu } from "./test_util.ts";

type Case = AttentionCase;

async function check(c: Case, tiled = false): Promise<void> {
  const gpu = await testGpu();
  const { seed, q, k, v, scale, expected } = attentionInputs(c);
  const out = gpu.createBuffer(q.length * 4);
  const batch = gpu.batch();
  (tiled ? attentionPrefillTiled : attention)(batch, {
    ...c,
    q: gpu.upload(q),
    k: gpu.upload(k),
    v: gpu.upload(v),
    out,
    scale,
  });
  batch.submit();
  assertClose(await gpu.readF32(out, q.length), expected, 1e-5, `seed ${seed}`);
}

const cases: [string, Case][] = [
  ["MQA decode, D=256", { rows: 1, heads: 8, kvHeads: 1, headDim: 256, position0: 37 }],
  ["GQA prefill, D=8", { rows: 7, heads: 4, kvHeads: 2, headDim: 8, position0: 0 }],
  ["MHA continuing at 5", { rows: 3, heads: 3, kvHeads: 3, headDim: 64, position0: 5 }],
  ["one key", { rows: 1, heads: 1, kvHeads: 1, headDim: 4, position0: 0 }],
  ["odd head dim", { rows: 4, heads: 2, kvHeads: 1, headDim: 72, position0: 9 }],
  ["prefill longer than a tile", { rows: 150, heads: 2, kvHeads: 1, headDim: 16, position0: 0 }],
  ["peaky scores", { rows: 5, heads: 4, kvHeads: 2, headDim: 32, position0: 60, spread: 6 }],
  ["softcap 50, large scores", {
    rows: 4,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    position0: 90,
    spread: 12,
    softcap: 50,
  }],
  ["window 4", { rows: 10, heads: 2, kvHeads: 1, headDim: 16, position0: 30, window: 4 }],
  ["window 4 from the start", {
    rows: 9,
    heads: 2,
    kvHeads: 2,
    headDim: 8,
    position0: 0,
    window: 4,
  }],
  ["window 100 over 2 tiles", {
    rows: 3,
    heads: 2,
    kvHeads: 1,
    headDim: 32,
    position0: 300,
    window: 100,
  }],
  ["window 16 in a ring of 16 + 5 rows", {
    rows: 5,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    position0: 203,
    window: 16,
    cacheRows: 21,
  }],
  ["long cache, S≈1500", { rows: 2, heads: 2, kvHeads: 1, headDim: 256, position0: 1500 }],
];
for (const [name, c] of cases) {
  Deno.test(`attention matches the reference: ${name}`, () => check(c));
  if (tilesHeadDim(c.headDim)) {
    Deno.test(`attentionPrefillTiled matches the reference: ${name}`, () => check(c, true));
  }
}

Deno.test("attentionPrefillTiled: blocks of rows over a long cache, GQA, window in a ring", async () => {
  // 2500 keys: 16 MB of scores hold 559 rows of 3 heads, so 1000 rows take two blocks.
  await check({ rows: 1000, heads: 6, kvHeads: 2, headDim: 8, position0: 1500 }, true);
  await check({
    rows: 40,
    heads: 4,
    kvHeads: 1,
    headDim: 16,
    position0: 1000,
    window: 30,
    cacheRows: 70,
    softcap: 20,
    spread: 4,
  }, true);
});

Deno.test("attention rejects unsupported shapes", async () => {
  const gpu = await testGpu();
  const buffer = gpu.createBuffer(4);
  const base = { q: buffer, k: buffer, v: buffer, out: buffer, rows: 1, position0: 0, scale: 1 };
  assert.throws(
    () => attention(gpu.batch(), { ...base, heads: 1, kvHeads: 1, headDim: 512 }),
    /head dim 512 is not/,
  );
  assert.throws(
    () => attention(gpu.batch(), { ...base, heads: 3, kvHeads: 2, headDim: 8 }),
    /cannot share/,
  );
});
