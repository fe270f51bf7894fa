import assert from "node:assert/strict";
import {
  attentionBackward,
  attentionBackwardReference,
  attentionForward64,
  type AttentionShape,
  packQkv,
} from "./attention_backward.ts";
import { attentionReference } from "./attention.ts";
import {
  attentionForwardTiled,
  createAttentionTrainWorkspace,
  tilesHeadDim,
} from "./attention_tiled.ts";
import { assertGradient, dot } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

async function check(shape: AttentionShape, spread = 1, tiled = false): Promise<void> {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, heads, kvHeads, headDim: D } = shape;
  const n = (shape.sequences ?? 1) * rows;
  const q = randomArray(random, n * heads * D, spread);
  const k = randomArray(random, n * kvHeads * D, spread);
  const v = randomArray(random, n * kvHeads * D, 1);
  const dOut = randomArray(random, n * heads * D, 1);
  const dqkv = gpu.createBuffer((q.length + 2 * k.length) * 4);
  // Blocks of 64 rows from 65 rows on (the smallest blocks the workspace makes).
  const workspace = tiled
    ? createAttentionTrainWorkspace(gpu, shape, rows > 64 ? 1 : undefined)
    : undefined;
  if (workspace && rows > 64) assert.equal(workspace.blockRows, 64);
  const batch = gpu.batch();
  attentionBackward(batch, {
    ...shape,
    q: gpu.upload(q),
    k: gpu.upload(k),
    v: gpu.upload(v),
    dOut: gpu.upload(dOut),
    dqkv,
    stats: gpu.createBuffer(n * heads * 8),
    workspace,
  });
  batch.submit();
  const expected = attentionBackwardReference(q, k, v, dOut, shape);
  const what = `seed ${seed}`;
  const actual = await gpu.readF32(dqkv, q.length + 2 * k.length);
  const packed = packQkv(expected.dq, expected.dk, expected.dv, shape);
  // Each part against its own scale (dv's values are larger than dq's and dk's), but at least a
  // tenth of the whole gradient's: with one key per row, dq and dk are zero by cancellation
  // (P = 1, so dS = P · (dP − rowsum(dO ⊙ O)) = 0), and only rounding is left of them, exactly
  // 0 where both dots round alike (lavapipe), not where they do not (seen on an NVIDIA GPU).
  let whole = 0;
  for (const value of packed) whole = Math.max(whole, Math.abs(value));
  const part = (a: ArrayLike<number>, from: number, count: number) => {
    const width = (heads + 2 * kvHeads) * D;
    return Array.from(
      { length: n * count },
      (_, i) => a[(i / count | 0) * width + from + i % count],
    );
  };
  for (
    const [name, from, count] of [["dq", 0, heads * D], ["dk", heads * D, kvHeads * D], [
      "dv",
      (heads + kvHeads) * D,
      kvHeads * D,
    ]] as const
  ) {
    assertClose(
      part(actual, from, count),
      part(packed, from, count),
      1e-5,
      `${name}, ${what}`,
      whole / 10,
    );
  }
}

const cases: [string, AttentionShape, number?][] = [
  ["one row, one head", { rows: 1, heads: 1, kvHeads: 1, headDim: 4, scale: 0.5 }],
  ["MHA, odd sizes", { rows: 7, heads: 3, kvHeads: 3, headDim: 5, scale: 0.4 }],
  ["GQA, 70 rows (two key tiles)", { rows: 70, heads: 4, kvHeads: 2, headDim: 8, scale: 0.3 }],
  ["MQA, head dim 256", { rows: 9, heads: 4, kvHeads: 1, headDim: 256, scale: 1 / 16 }],
  [
    "soft-cap 50 on scores of ±40, sliding window 5",
    { rows: 23, heads: 2, kvHeads: 1, headDim: 16, scale: 0.25, softcap: 50, window: 5 },
    6,
  ],
  [
    "two sequences, window 40 over 70 rows, cap",
    {
      rows: 70,
      sequences: 2,
      heads: 2,
      kvHeads: 2,
      headDim: 12,
      scale: 0.3,
      softcap: 5,
      window: 40,
    },
    2,
  ],
];
for (const [name, shape, spread] of cases) {
  Deno.test(`attentionBackward matches the reference: ${name}`, () => check(shape, spread));
  if (tilesHeadDim(shape.headDim)) {
    Deno.test(`attentionBackward's tiled products match the reference: ${name}`, () =>
      check(shape, spread, true));
  }
}

Deno.test("attentionBackward's tiled products: blocks of rows, GQA, window across blocks", () =>
  check(
    { rows: 150, sequences: 2, heads: 6, kvHeads: 2, headDim: 24, scale: 0.2, window: 70 },
    1,
    true,
  ));

/** attentionForwardTiled against attentionForward64, blocks of 64 rows past 64 rows. */
async function checkForward(shape: AttentionShape, spread = 1): Promise<void> {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, heads, kvHeads, headDim: D } = shape;
  const n = (shape.sequences ?? 1) * rows;
  const q = randomArray(random, n * heads * D, spread);
  const k = randomArray(random, n * kvHeads * D, spread);
  const v = randomArray(random, n * kvHeads * D, 1);
  const out = gpu.upload(randomArray(random, n * heads * D, 100)); // overwritten
  const workspace = createAttentionTrainWorkspace(gpu, shape, rows > 64 ? 1 : undefined);
  const batch = gpu.batch();
  attentionForwardTiled(batch, {
    ...shape,
    q: gpu.upload(q),
    k: gpu.upload(k),
    v: gpu.upload(v),
    out,
  }, workspace);
  batch.submit();
  const expected = attentionForward64(q, k, v, shape);
  assertClose(await gpu.readF32(out, q.length), expected, 1e-5, `seed ${seed}`);
  workspace.destroy();
}

for (const [name, shape, spread] of cases) {
  if (!tilesHeadDim(shape.headDim)) continue;
  Deno.test(`attentionForwardTiled matches the reference: ${name}`, () =>
    checkForward(shape, spread));
}

Deno.test("attentionForwardTiled: blocks of rows, two sequences, GQA, window and cap", () =>
  checkForward({
    rows: 150,
    sequences: 2,
    heads: 6,
    kvHeads: 2,
    headDim: 24,
    scale: 0.2,
    softcap: 3,
    window: 70,
  }, 2));

Deno.test("attentionForward64 is attention's reference forward", () => {
  const random = seededRandom(testSeed());
  const shape = { rows: 6, heads: 4, kvHeads: 2, headDim: 8, scale: 0.3, softcap: 2, window: 3 };
  const q = randomArray(random, 6 * 4 * 8, 2);
  const k = randomArray(random, 6 * 2 * 8, 2);
  const v = randomArray(random, 6 * 2 * 8);
  const expected = attentionReference(q, k, v, 6, 4, 2, 8, 0, 0.3, 2, 3);
  assertClose(attentionForward64(q, k, v, shape), expected, 1e-6, "forward");
});

Deno.test("attentionBackwardReference is the gradient of the forward (finite differences)", () => {
  const random = seededRandom(testSeed());
  const shape = {
    rows: 5,
    sequences: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 3,
    scale: 0.7,
    softcap: 1.5,
    window: 3,
  };
  const n = 10;
  const q = randomArray(random, n * 4 * 3, 2);
  const k = randomArray(random, n * 2 * 3, 2);
  const v = randomArray(random, n * 2 * 3);
  const probe = randomArray(random, n * 4 * 3);
  const grads = attentionBackwardReference(q, k, v, probe, shape);
  const loss = (qv: ArrayLike<number>, kv: ArrayLike<number>, vv: ArrayLike<number>) =>
    dot(attentionForward64(qv, kv, vv, shape), probe);
  assertGradient((x) => loss(x, k, v), q, grads.dq, "dq");
  assertGradient((x) => loss(q, x, v), k, grads.dk, "dk");
  assertGradient((x) => loss(q, k, x), v, grads.dv, "dv");
});

Deno.test("attentionBackward refuses heads that do not share kv heads evenly, or too wide", async () => {
  const gpu = await testGpu();
  const buffer = gpu.createBuffer(64);
  const args = { q: buffer, k: buffer, v: buffer, dOut: buffer, dqkv: buffer, stats: buffer };
  const shape = { rows: 1, heads: 3, kvHeads: 2, headDim: 4, scale: 1 };
  assert.throws(
    () => attentionBackward(gpu.batch(), { ...args, ...shape }),
    /3 query heads cannot share 2 kv heads/,
  );
  assert.throws(
    () => attentionBackward(gpu.batch(), { ...args, ...shape, kvHeads: 1, headDim: 512 }),
    /head dim 512/,
  );
});
