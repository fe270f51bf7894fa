// Split-K ("flash-decoding") attention: the same maths as `attention` (attention.ts) in two
// passes, so that a decode step over a long cache keeps the whole GPU busy. Pass 1 cuts each
// row's visible keys into splits of `splitKeys` and gives every (split, head, row) a workgroup
// that writes partial softmax sums to `scratch`; pass 2 combines the splits per (head, row).
// The CPU twin is `attentionReference` (the result is the same function of the inputs).

import { type AttentionArgs } from "./attention.ts";
import { GpuBatch, GpuError, Uniforms } from "./gpu.ts";
import { rowPlacesBinding } from "./row_places.ts";
import splitSource from "./attention_split.wgsl" with { type: "text" };
import combineSource from "./attention_split_combine.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };

const partialSource = tanhSource + splitSource;

/** Default keys per split: the most pass 1's workgroup memory holds (MAX_SPLIT). */
export const SPLIT_KEYS = 256;
/** The kernels' 4·MAX_D4. */
const MAX_HEAD_DIM = 256;

export interface AttentionSplitKArgs extends AttentionArgs {
  /**
   * Scratch for the partial sums, at least `splitKScratchBytes(rows, heads, headDim, maxKeys,
   * splitKeys)` bytes where maxKeys = `maxVisibleKeys(rows, position0, window)`. Allocate it once
   * for the longest context and reuse it for every layer and step (layers run in queue order).
   */
  scratch: GPUBuffer;
  /** Keys per split, 1 … 256 (default SPLIT_KEYS); tests lower it to get many splits. */
  splitKeys?: number;
}

/** Keys seen by the last (longest-sighted) of `rows` query rows starting at `position0`. */
export function maxVisibleKeys(rows: number, position0: number, window = 0): number {
  const keys = position0 + rows;
  return window > 0 ? Math.min(window, keys) : keys;
}

/** Splits per (head, row) for rows that see at most `maxKeys` keys. */
export function splitCount(maxKeys: number, splitKeys = SPLIT_KEYS): number {
  return Math.max(1, Math.ceil(maxKeys / splitKeys));
}

/** Scratch bytes `attentionSplitK` needs: per (row, head, split) D floats of output + (m, ℓ). */
export function splitKScratchBytes(
  rows: number,
  heads: number,
  headDim: number,
  maxKeys: number,
  splitKeys = SPLIT_KEYS,
): number {
  return rows * heads * splitCount(maxKeys, splitKeys) * (headDim + 4) * 4;
}

/**
 * Whether split-K should beat the one-pass `attention`: when (head, row) pairs alone give too
 * few workgroups to fill a GPU (decode: T·H is 8 for Gemma 2B) and the rows see more than one
 * split of keys. `minWorkgroups` is the occupancy target (a few per compute unit of a discrete
 * GPU). On a CPU rasterizer (lavapipe) the one-pass kernel stays as fast or faster.
 */
export function preferSplitK(
  rows: number,
  heads: number,
  maxKeys: number,
  minWorkgroups = 256,
): boolean {
  return rows * heads < minWorkgroups && maxKeys > SPLIT_KEYS;
}

/** Records both passes of split-K attention into `batch`; same semantics as `attention`. */
export function attentionSplitK(batch: GpuBatch, args: AttentionSplitKArgs): void {
  const { rows, heads, kvHeads, headDim, position0 } = args;
  const window = args.window ?? 0;
  const splitKeys = args.splitKeys ?? SPLIT_KEYS;
  if (headDim > MAX_HEAD_DIM || headDim % 4 !== 0 || headDim < 4) {
    throw new GpuError(
      `attentionSplitK: head dim ${headDim} is not a multiple of 4 up to ${MAX_HEAD_DIM}`,
    );
  }
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    throw new GpuError(`attentionSplitK: ${heads} query heads cannot share ${kvHeads} kv heads`);
  }
  if (!Number.isInteger(splitKeys) || splitKeys < 1 || splitKeys > SPLIT_KEYS) {
    throw new GpuError(`attentionSplitK: split of ${splitKeys} keys is not in 1 … ${SPLIT_KEYS}`);
  }
  const maxKeys = args.places
    ? maxVisibleKeys(1, args.places.lastPosition, window)
    : maxVisibleKeys(rows, position0, window);
  const splits = splitCount(maxKeys, splitKeys);
  const needed = splitKScratchBytes(rows, heads, headDim, maxKeys, splitKeys);
  if (args.scratch.size < needed) {
    throw new GpuError(
      `attentionSplitK: scratch of ${args.scratch.size} bytes is smaller than the ${needed} ` +
        `needed for ${rows} rows × ${heads} heads × ${splits} splits`,
    );
  }
  const partial = new Uniforms()
    .u32(rows)
    .u32(heads)
    .u32(kvHeads)
    .u32(headDim)
    .u32(position0)
    .f32(args.scale)
    .f32(args.softcap ?? 0)
    .u32(window)
    .u32(args.cacheRows ?? 0xffffffff)
    .u32(splitKeys)
    .u32(splits);
  const constants = { ROW_TABLE: args.places ? 1 : 0 };
  const table = rowPlacesBinding(batch.gpu, args.places);
  batch.dispatch(batch.gpu.pipeline(partialSource, constants), partial, [
    args.q,
    args.k,
    args.v,
    { buffer: args.scratch, offset: 0, size: needed },
    table,
  ], [splits, heads, rows]);
  const combine = new Uniforms()
    .u32(heads)
    .u32(headDim)
    .u32(position0)
    .u32(window)
    .u32(splitKeys)
    .u32(splits);
  batch.dispatch(batch.gpu.pipeline(combineSource, constants), combine, [
    { buffer: args.scratch, offset: 0, size: needed },
    args.out,
    table,
  ], [heads, rows]);
}
