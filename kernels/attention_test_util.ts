// Random attention inputs and their reference output, shared by the tests of the one-pass
// (attention.ts) and split-K (attention_split.ts) kernels.

import { attentionReference } from "./attention.ts";
import { randomArray, seededRandom, testSeed } from "./test_util.ts";

export interface AttentionCase {
  rows: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  position0: number;
  /** Spread of the random q and k entries (larger = peakier softmax). */
  spread?: number;
  softcap?: number;
  window?: number;
  /** A ring cache of this many rows (key position j at row j mod cacheRows). */
  cacheRows?: number;
}

/**
 * Seeded random q, k, v for a case, and the reference output. Spare cache rows past the last key
 * are poisoned with NaN, so that a kernel reading them fails; a ring cache has no spare rows.
 */
export function attentionInputs(c: AttentionCase) {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { rows, heads, kvHeads, headDim, position0 } = c;
  const keys = position0 + rows;
  const capacity = c.cacheRows ?? keys + 5;
  const q = randomArray(random, rows * heads * headDim, c.spread ?? 1);
  const k = randomArray(random, capacity * kvHeads * headDim, c.spread ?? 1);
  const v = randomArray(random, capacity * kvHeads * headDim, 1);
  if (!c.cacheRows) {
    k.fill(NaN, keys * kvHeads * headDim);
    v.fill(NaN, keys * kvHeads * headDim);
  }
  const scale = 1 / Math.sqrt(headDim);
  const expected = attentionReference(
    q,
    k,
    v,
    rows,
    heads,
    kvHeads,
    headDim,
    position0,
    scale,
    c.softcap,
    c.window,
    c.cacheRows,
  );
  return { seed, q, k, v, scale, expected };
}
