import assert from "node:assert/strict";
import { type AttentionCase, attentionInputs } from "./attention_test_util.ts";
import {
  attentionSplitK,
  maxVisibleKeys,
  preferSplitK,
  splitCount,
  splitKScratchBytes,
} from "./attention_split.ts";
import { assertClose, testGpu } from "./test_util.ts";

interface Case extends AttentionCase {
  /** Keys per split (default: the kernel's 256). */
  splitKeys?: number;
  /** Expected splits per (head, row) of the longest-sighted row, to pin the split logic. */
  splits: number;
}

async function check(c: Case): Promise<void> {
  const gpu = await testGpu();
  const { seed, q, k, v, scale, expected } = attentionInputs(c);
  const { rows, heads, headDim, position0 } = c;
  const maxKeys = maxVisibleKeys(rows, position0, c.window);
  assert.equal(splitCount(maxKeys, c.splitKeys), c.splits);
  // The scratch starts as NaN (and one slot larger): a slot read before it is written would show.
  const bytes = splitKScratchBytes(rows, heads, headDim, maxKeys, c.splitKeys);
  const scratch = gpu.upload(new Float32Array(bytes / 4 + headDim + 4).fill(NaN));
  const out = gpu.createBuffer(q.length * 4);
  const batch = gpu.batch();
  attentionSplitK(batch, {
    ...c,
    q: gpu.upload(q),
    k: gpu.upload(k),
    v: gpu.upload(v),
    out,
    scratch,
    scale,
  });
  batch.submit();
  assertClose(await gpu.readF32(out, q.length), expected, 1e-5, `seed ${seed}`);
}

const cases: [string, Case][] = [
  ["MQA decode, D=256, one split", {
    rows: 1,
    heads: 8,
    kvHeads: 1,
    headDim: 256,
    position0: 37,
    splits: 1,
  }],
  ["MQA decode, D=256, splits of 5", {
    rows: 1,
    heads: 8,
    kvHeads: 1,
    headDim: 256,
    position0: 37,
    splitKeys: 5,
    splits: 8,
  }],
  ["GQA prefill, D=8", { rows: 7, heads: 4, kvHeads: 2, headDim: 8, position0: 0, splits: 1 }],
  ["GQA prefill, D=8, splits of 1 key", {
    rows: 7,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    position0: 0,
    splitKeys: 1,
    splits: 7,
  }],
  ["MHA continuing at 5, splits of 3", {
    rows: 3,
    heads: 3,
    kvHeads: 3,
    headDim: 64,
    position0: 5,
    splitKeys: 3,
    splits: 3,
  }],
  ["one key", { rows: 1, heads: 1, kvHeads: 1, headDim: 4, position0: 0, splits: 1 }],
  ["odd head dim, splits of 4", {
    rows: 4,
    heads: 2,
    kvHeads: 1,
    headDim: 72,
    position0: 9,
    splitKeys: 4,
    splits: 4,
  }],
  ["prefill of 150 rows, splits of 16", {
    rows: 150,
    heads: 2,
    kvHeads: 1,
    headDim: 16,
    position0: 0,
    splitKeys: 16,
    splits: 10,
  }],
  ["peaky scores, splits of 7", {
    rows: 5,
    heads: 4,
    kvHeads: 2,
    headDim: 32,
    position0: 60,
    spread: 6,
    splitKeys: 7,
    splits: 10,
  }],
  ["softcap 50, large scores, splits of 13", {
    rows: 4,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    position0: 90,
    spread: 12,
    softcap: 50,
    splitKeys: 13,
    splits: 8,
  }],
  ["window 4, splits of 3", {
    rows: 10,
    heads: 2,
    kvHeads: 1,
    headDim: 16,
    position0: 30,
    window: 4,
    splitKeys: 3,
    splits: 2,
  }],
  ["window 4 from the start, splits of 2", {
    rows: 9,
    heads: 2,
    kvHeads: 2,
    headDim: 8,
    position0: 0,
    window: 4,
    splitKeys: 2,
    splits: 2,
  }],
  ["window 100 over 4 splits", {
    rows: 3,
    heads: 2,
    kvHeads: 1,
    headDim: 32,
    position0: 300,
    window: 100,
    splitKeys: 32,
    splits: 4,
  }],
  ["window 16 in a ring of 16 + 5 rows, splits of 5", {
    rows: 5,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    position0: 203,
    window: 16,
    cacheRows: 21,
    splitKeys: 5,
    splits: 4,
  }],
  ["window 300 in a ring of 300 + 1 rows, decode at 5000", {
    rows: 1,
    heads: 8,
    kvHeads: 1,
    headDim: 256,
    position0: 5000,
    window: 300,
    cacheRows: 301,
    splits: 2,
  }],
  ["long cache S≈3000, MQA decode, 12 splits", {
    rows: 1,
    heads: 8,
    kvHeads: 1,
    headDim: 256,
    position0: 2999,
    splits: 12,
  }],
  ["long cache S≈1500, 2 rows, 6 splits", {
    rows: 2,
    heads: 2,
    kvHeads: 1,
    headDim: 256,
    position0: 1500,
    splits: 6,
  }],
];
for (const [name, c] of cases) {
  Deno.test(`attentionSplitK matches the reference: ${name}`, () => check(c));
}

Deno.test("splitKScratchBytes counts D floats + 4 per (row, head, split)", () => {
  assert.equal(splitKScratchBytes(1, 8, 256, 4000), 8 * 16 * 260 * 4);
  assert.equal(splitKScratchBytes(3, 2, 8, 1, 1), 3 * 2 * 1 * 12 * 4);
  assert.equal(maxVisibleKeys(1, 4000, 4096), 4001);
  assert.equal(maxVisibleKeys(5, 4000, 1024), 1024);
  assert.equal(preferSplitK(1, 8, 2000), true);
  assert.equal(preferSplitK(1, 8, 200), false);
  assert.equal(preferSplitK(512, 8, 2000), false);
});

Deno.test("attentionSplitK rejects unsupported shapes and a short scratch", async () => {
  const gpu = await testGpu();
  const buffer = gpu.createBuffer(4);
  const base = {
    q: buffer,
    k: buffer,
    v: buffer,
    out: buffer,
    scratch: gpu.createBuffer(1 << 16),
    rows: 1,
    position0: 0,
    scale: 1,
  };
  assert.throws(
    () => attentionSplitK(gpu.batch(), { ...base, heads: 1, kvHeads: 1, headDim: 512 }),
    /head dim 512 is not/,
  );
  assert.throws(
    () => attentionSplitK(gpu.batch(), { ...base, heads: 3, kvHeads: 2, headDim: 8 }),
    /cannot share/,
  );
  assert.throws(
    () => attentionSplitK(gpu.batch(), { ...base, heads: 1, kvHeads: 1, headDim: 8, splitKeys: 0 }),
    /split of 0 keys/,
  );
  assert.throws(
    () =>
      attentionSplitK(gpu.batch(), {
        ...base,
        scratch: buffer,
        heads: 8,
        kvHeads: 1,
        headDim: 256,
        position0: 999,
      }),
    /scratch of 4 bytes is smaller than the 33280 needed/,
  );
});
