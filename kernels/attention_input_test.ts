import assert from "node:assert/strict";
import {
  attentionInput,
  attentionInputReference,
  type AttentionInputShape,
} from "./attention_input.ts";
import { GpuError } from "./gpu.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

// The GPU's angles are f32 (as in HF transformers): position·inv_freq carries a relative error of
// a few 2^-24, i.e. ~5e-7·position radians, which bounds the error of the rotated values.
function tolerance(maxPosition: number): number {
  return Math.max(1e-5, 1e-6 * maxPosition);
}

interface Case extends Omit<AttentionInputShape, "cacheRows"> {
  /** Default: a row per position. */
  cacheRows?: number;
  headNorms?: boolean;
}

async function check(c: Case): Promise<void> {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, heads, kvHeads, headDim: d } = c;
  const cacheRows = c.cacheRows ?? c.position0 + rows;
  const qkv = randomArray(random, rows * (heads + 2 * kvHeads) * d, 2);
  const keys = randomArray(random, cacheRows * kvHeads * d, 1);
  const values = randomArray(random, cacheRows * kvHeads * d, 1);
  const norms = c.headNorms
    ? { q: randomArray(random, d, 2), k: randomArray(random, d, 2), eps: 1e-6 }
    : undefined;
  const buffers = {
    qkv: gpu.upload(qkv),
    q: gpu.createBuffer(rows * heads * d * 4),
    keys: gpu.upload(keys),
    values: gpu.upload(values),
  };
  const batch = gpu.batch();
  attentionInput(batch, {
    ...c,
    ...buffers,
    cacheRows,
    headNorms: norms && { q: gpu.upload(norms.q), k: gpu.upload(norms.k), eps: norms.eps },
  });
  batch.submit();
  const expected = attentionInputReference({
    ...c,
    qkv,
    keys,
    values,
    cacheRows,
    headNorms: norms,
  });
  const tol = tolerance(c.position0 + rows - 1);
  assertClose(await gpu.readF32(buffers.q, expected.q.length), expected.q, tol, `q, seed ${seed}`);
  assertClose(
    await gpu.readF32(buffers.keys, keys.length),
    expected.keys,
    tol,
    `keys, seed ${seed}`,
  );
  // Values are copied exactly.
  assertClose(await gpu.readF32(buffers.values, values.length), expected.values, 0, "values");
  for (const b of Object.values(buffers)) b.destroy();
}

const cases: Case[] = [
  { rows: 1, heads: 1, kvHeads: 1, headDim: 2, position0: 0, theta: 10000 },
  { rows: 7, heads: 3, kvHeads: 1, headDim: 8, position0: 0, theta: 10000 },
  { rows: 3, heads: 2, kvHeads: 2, headDim: 256, position0: 5, theta: 10000 },
  { rows: 5, heads: 8, kvHeads: 1, headDim: 256, position0: 4000, theta: 10000 },
  { rows: 2, heads: 4, kvHeads: 2, headDim: 256, position0: 8000, theta: 1e6 },
  // 65 pairs: more than the 64 lanes.
  { rows: 4, heads: 1, kvHeads: 1, headDim: 130, position0: 37, theta: 10000 },
  { rows: 2, heads: 2, kvHeads: 1, headDim: 512, position0: 9, theta: 10000 },
  { rows: 3, heads: 2, kvHeads: 1, headDim: 64, position0: 700, theta: 1e6, factor: 8 },
  // A ring cache (sliding-window layers): positions 3 … 8 land on rows 3, 4, 0, 1, 2, 3.
  { rows: 6, heads: 2, kvHeads: 1, headDim: 16, position0: 3, theta: 10000, cacheRows: 5 },
];
for (const c of cases) {
  for (const headNorms of [false, true]) {
    const name = `T=${c.rows} H=${c.heads} Hkv=${c.kvHeads} D=${c.headDim} at ${c.position0}` +
      `, θ=${c.theta}${c.factor ? ` / ${c.factor}` : ""}` +
      `${c.cacheRows ? `, ring of ${c.cacheRows}` : ""}${headNorms ? ", head norms" : ""}`;
    Deno.test(`attentionInput matches the reference for ${name}`, () => check({ ...c, headNorms }));
  }
}

Deno.test("attentionInput folds more than 65535 (row, head) workgroups into a 2D grid", () =>
  check({ rows: 520, heads: 128, kvHeads: 2, headDim: 8, position0: 3, theta: 10000 }));

Deno.test("attentionInput rejects an odd head dim", async () => {
  const gpu = await testGpu();
  const b = gpu.createBuffer(64);
  const args = { qkv: b, q: b, keys: b, values: b, cacheRows: 1, rows: 1, heads: 1 };
  assert.throws(
    () => attentionInput(gpu.batch(), { ...args, kvHeads: 1, headDim: 3, position0: 0, theta: 1 }),
    GpuError,
  );
  b.destroy();
});
