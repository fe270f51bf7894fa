// The attention kernels on rows of several sequences (batched decoding): each row at its own
// position in its own sequence's stretch of a shared cache, against the one-sequence references
// applied row by row.

import { attention, attentionPlacesReference } from "./attention.ts";
import { attentionInput, attentionInputPlacesReference } from "./attention_input.ts";
import { attentionSplitK, splitKScratchBytes } from "./attention_split.ts";
import { rowPlacesTable } from "./row_places.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

interface Case {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Cache rows per sequence (a ring when positions go past it). */
  cacheRows: number;
  /** Per row: its sequence and position. */
  rows: { sequence: number; position: number }[];
  window?: number;
  softcap?: number;
  splitKeys?: number;
}

const cases: [string, Case][] = [
  ["decode of 3 sequences, GQA", {
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    cacheRows: 40,
    rows: [{ sequence: 2, position: 7 }, { sequence: 0, position: 0 }, {
      sequence: 1,
      position: 39,
    }],
  }],
  ["rows of one sequence among others, MQA, D=72", {
    heads: 3,
    kvHeads: 1,
    headDim: 72,
    cacheRows: 33,
    rows: [
      { sequence: 1, position: 20 },
      { sequence: 1, position: 21 },
      { sequence: 0, position: 5 },
      { sequence: 3, position: 32 },
    ],
  }],
  ["sliding window in rings, soft-capped", {
    heads: 2,
    kvHeads: 1,
    headDim: 8,
    cacheRows: 12,
    window: 8,
    softcap: 50,
    rows: [{ sequence: 0, position: 3 }, { sequence: 1, position: 29 }, {
      sequence: 2,
      position: 100,
    }],
  }],
];

async function check(c: Case, splitK: boolean): Promise<void> {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const { heads, kvHeads, headDim: d, cacheRows } = c;
  const sequences = Math.max(...c.rows.map((r) => r.sequence)) + 1;
  const places = {
    positions: c.rows.map((r) => r.position),
    sequences: c.rows.map((r) => r.sequence),
  };
  const rows = c.rows.length;
  const qkv = randomArray(random, rows * (heads + 2 * kvHeads) * d, 2);
  const keys = randomArray(random, sequences * cacheRows * kvHeads * d, 1);
  const values = randomArray(random, sequences * cacheRows * kvHeads * d, 1);
  const table = {
    table: gpu.upload(rowPlacesTable(places)),
    lastPosition: Math.max(...places.positions),
  };
  const buffers = {
    qkv: gpu.upload(qkv),
    q: gpu.createBuffer(rows * heads * d * 4),
    keys: gpu.upload(keys),
    values: gpu.upload(values),
    out: gpu.createBuffer(rows * heads * d * 4),
  };
  const shape = { heads, kvHeads, headDim: d, cacheRows, position0: 0, rows };
  const scale = 1 / Math.sqrt(d);
  const batch = gpu.batch();
  attentionInput(batch, { ...shape, ...buffers, theta: 10000, places: table });
  const attend = {
    ...shape,
    q: buffers.q,
    k: buffers.keys,
    v: buffers.values,
    out: buffers.out,
    scale,
    softcap: c.softcap,
    window: c.window,
    places: table,
  };
  if (splitK) {
    const splitKeys = 4;
    const maxKeys = Math.min(c.window ?? Infinity, table.lastPosition + 1);
    const scratch = gpu.createBuffer(splitKScratchBytes(rows, heads, d, maxKeys, splitKeys));
    attentionSplitK(batch, { ...attend, scratch, splitKeys });
  } else {
    attention(batch, attend);
  }
  batch.submit();

  const input = attentionInputPlacesReference({
    heads,
    kvHeads,
    headDim: d,
    cacheRows,
    theta: 10000,
    qkv,
    keys,
    values,
    places,
  });
  const out = attentionPlacesReference(
    input.q,
    input.keys,
    input.values,
    places,
    heads,
    kvHeads,
    d,
    scale,
    c.softcap ?? 0,
    c.window ?? 0,
    cacheRows,
  );
  const tol = 1e-4; // f32 RoPE angles at positions up to ~100 (attention_input_test.ts)
  const read = (b: GPUBuffer, n: number) => gpu.readF32(b, n);
  assertClose(await read(buffers.q, input.q.length), input.q, tol, `q, seed ${seed}`);
  assertClose(await read(buffers.keys, keys.length), input.keys, tol, `keys, seed ${seed}`);
  assertClose(await read(buffers.values, values.length), input.values, 0, `values, seed ${seed}`);
  assertClose(await read(buffers.out, out.length), out, tol, `attention, seed ${seed}`);
  for (const b of Object.values(buffers)) b.destroy();
}

for (const [name, c] of cases) {
  Deno.test(`attention input and attention, rows of several sequences: ${name}`, () =>
    check(c, false));
  Deno.test(`attention input and split-K attention, rows of several sequences: ${name}`, () =>
    check(c, true));
}
