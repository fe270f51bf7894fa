// Causal multi-head attention over a KV cache (MHA, GQA, MQA), with Gemma 2's score soft-capping
// and sliding window: the GPU kernel and its CPU reference.

import { type Binding, GpuBatch, GpuError, Uniforms } from "./gpu.ts";
import { type RowPlaces, rowPlacesBinding, type RowPlacesData } from "./row_places.ts";
import attentionSource from "./attention.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };

const source = tanhSource + attentionSource;

export interface AttentionArgs {
  /** (T, H, D) f32 queries (RoPE applied). */
  q: Binding;
  /** (S, KVH, D) f32 key cache: key position j at row j mod cacheRows. */
  k: Binding;
  /** (S, KVH, D) f32 value cache, laid out like k. */
  v: Binding;
  /** (T, H, D) f32 output. */
  out: GPUBuffer;
  /** T: query rows. */
  rows: number;
  /** H: query heads. */
  heads: number;
  /** KVH: key/value heads, dividing H (query head h uses kv head ⌊h / (H / KVH)⌋). */
  kvHeads: number;
  /** D: a multiple of 4, ≤ 256. */
  headDim: number;
  /** Absolute position of query row 0; row t attends to keys 0 … position0 + t. */
  position0: number;
  /** Multiplies q·k (Gemma: headDim^-0.5 or queryPreAttnScalar^-0.5). */
  scale: number;
  /** 0 or undefined: none; else scores become softcap·tanh(s / softcap) before masking. */
  softcap?: number;
  /** 0 or undefined: none; else key j is visible from query i iff i − window < j ≤ i. */
  window?: number;
  /**
   * Rows of the cache when it is a ring (sliding-window layers keep only window + chunk rows);
   * default: no wrapping (every position has its own row).
   */
  cacheRows?: number;
  /**
   * Rows of several sequences (batched decoding): each row's position and sequence come from the
   * table (sequence s owns cache rows s·cacheRows …), and `position0` is ignored.
   */
  places?: RowPlaces;
}

/** The kernel's 4·WG·DPT. */
const MAX_HEAD_DIM = 256;

export function attention(batch: GpuBatch, args: AttentionArgs): void {
  const { rows, heads, kvHeads, headDim } = args;
  if (headDim > MAX_HEAD_DIM || headDim % 4 !== 0) {
    throw new GpuError(
      `attention: head dim ${headDim} is not a multiple of 4 up to ${MAX_HEAD_DIM}`,
    );
  }
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    throw new GpuError(`attention: ${heads} query heads cannot share ${kvHeads} kv heads`);
  }
  const uniforms = new Uniforms()
    .u32(rows)
    .u32(heads)
    .u32(kvHeads)
    .u32(headDim)
    .u32(args.position0)
    .f32(args.scale)
    .f32(args.softcap ?? 0)
    .u32(args.window ?? 0)
    .u32(args.cacheRows ?? 0xffffffff);
  batch.dispatch(batch.gpu.pipeline(source, { ROW_TABLE: args.places ? 1 : 0 }), uniforms, [
    args.q,
    args.k,
    args.v,
    args.out,
    rowPlacesBinding(batch.gpu, args.places),
  ], [heads, rows]);
}

/** A fresh (T, H, D) attention output, computed key by key in f64 with a two-pass softmax. */
export function attentionReference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  rows: number,
  heads: number,
  kvHeads: number,
  headDim: number,
  position0: number,
  scale: number,
  softcap = 0,
  window = 0,
  cacheRows = Infinity,
): Float32Array {
  const D = headDim;
  const out = new Float32Array(rows * heads * D);
  const group = heads / kvHeads;
  for (let t = 0; t < rows; t++) {
    const last = position0 + t;
    const first = window > 0 ? Math.max(0, last - window + 1) : 0;
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qBase = (t * heads + h) * D;
      const scores: number[] = [];
      for (let j = first; j <= last; j++) {
        const kBase = ((j % cacheRows) * kvHeads + kvh) * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += q[qBase + d] * k[kBase + d];
        s *= scale;
        if (softcap > 0) s = softcap * Math.tanh(s / softcap);
        scores.push(s);
      }
      const max = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - max));
      const sum = weights.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) {
        let value = 0;
        for (let j = first; j <= last; j++) {
          value += weights[j - first] * v[((j % cacheRows) * kvHeads + kvh) * D + d];
        }
        out[qBase + d] = value / sum;
      }
    }
  }
  return out;
}

/**
 * attentionReference for rows of several sequences: row t at position `positions[t]` over the
 * cache rows s·cacheRows … (s + 1)·cacheRows − 1 of k and v (s = `sequences[t]`).
 */
export function attentionPlacesReference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  places: RowPlacesData,
  heads: number,
  kvHeads: number,
  headDim: number,
  scale: number,
  softcap: number,
  window: number,
  cacheRows: number,
): Float32Array {
  const rowWidth = heads * headDim;
  const kvWidth = kvHeads * headDim;
  const out = new Float32Array(places.positions.length * rowWidth);
  places.positions.forEach((position, t) => {
    const base = places.sequences[t] * cacheRows;
    const cache = (x: Float32Array) => x.subarray(base * kvWidth, (base + cacheRows) * kvWidth);
    const row = attentionReference(
      q.subarray(t * rowWidth, (t + 1) * rowWidth),
      cache(k),
      cache(v),
      1,
      heads,
      kvHeads,
      headDim,
      position,
      scale,
      softcap,
      window,
      cacheRows,
    );
    out.set(row, t * rowWidth);
  });
  return out;
}
