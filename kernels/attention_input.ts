// The inputs of attention for T new rows, in one dispatch: from the rows' q, k, v projection,
// queries normed (Gemma 3's q_norm) and rotated (RoPE), keys normed and rotated into the key
// cache, values copied into the value cache. The GPU kernel and its CPU reference.

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import { inverseFrequencyBuffer, ropeReference } from "./rope.ts";
import { rmsNormReference } from "./rms_norm.ts";
import { type RowPlaces, rowPlacesBinding, type RowPlacesData } from "./row_places.ts";
import inputSource from "./attention_input.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };

const source = sumSource + inputSource;

/** What an attentionInput call works on, besides its buffers. */
export interface AttentionInputShape {
  /** T: new rows. */
  rows: number;
  heads: number;
  kvHeads: number;
  /** D (even, at most 512). */
  headDim: number;
  /** Absolute position of row 0 (row t is at position0 + t). */
  position0: number;
  /** Rows of the caches; position p goes to row p mod cacheRows. */
  cacheRows: number;
  /** The base θ of inv_freq = θ^(-2i/D) (Gemma: 10000; Gemma 3 global layers: 1e6). */
  theta: number;
  /** Linear RoPE scaling: positions are divided by it (default 1, none). */
  factor?: number;
}

export interface AttentionInputArgs extends AttentionInputShape {
  /** (T, H + 2·Hkv, D) f32: each row's H query heads, then Hkv key heads, then Hkv value heads. */
  qkv: Binding;
  /** (T, H, D) f32 output: the queries, normed and rotated. */
  q: GPUBuffer;
  /** (cacheRows, Hkv, D) f32 caches. */
  keys: GPUBuffer;
  values: GPUBuffer;
  /** (D) f32 RMSNorm weights of each query and key head before RoPE (Gemma 3), with `eps`. */
  headNorms?: { q: Binding; k: Binding; eps: number };
  /**
   * Rows of several sequences (batched decoding): row t is at its own position and writes into
   * its sequence s's cache rows s·cacheRows …; `position0` is ignored.
   */
  places?: RowPlaces;
}

const MAX_HEAD_DIM = 512;

export function attentionInput(batch: GpuBatch, args: AttentionInputArgs): void {
  const { rows, heads, kvHeads, headDim } = args;
  if (headDim % 2 !== 0 || headDim > MAX_HEAD_DIM) {
    throw new GpuError(`attention input: head dim ${headDim} is odd or above ${MAX_HEAD_DIM}`);
  }
  const uniforms = new Uniforms()
    .u32(rows)
    .u32(heads)
    .u32(kvHeads)
    .u32(headDim)
    .u32(args.position0)
    .u32(args.cacheRows)
    .f32(args.headNorms?.eps ?? 0);
  const table = inverseFrequencyBuffer(batch.gpu, headDim, args.theta, args.factor ?? 1);
  // Without head norms the kernel never reads their bindings; any buffer stands in.
  const norms = args.headNorms ?? { q: table, k: table };
  batch.dispatch(
    batch.gpu.pipeline(source, {
      HEAD_NORM: args.headNorms ? 1 : 0,
      ROW_TABLE: args.places ? 1 : 0,
    }),
    uniforms,
    [
      args.qkv,
      args.q,
      args.keys,
      args.values,
      table,
      norms.q,
      norms.k,
      rowPlacesBinding(batch.gpu, args.places),
    ],
    workgroupGrid(batch.gpu, rows * (heads + 2 * kvHeads)),
  );
}

export interface AttentionInputReferenceArgs extends AttentionInputShape {
  qkv: Float32Array;
  /** The caches before the call; the reference returns updated copies. */
  keys: Float32Array;
  values: Float32Array;
  headNorms?: { q: Float32Array; k: Float32Array; eps: number };
}

/** What attentionInput computes: the rotated queries, and the caches with the new rows in. */
export function attentionInputReference(
  args: AttentionInputReferenceArgs,
): { q: Float32Array; keys: Float32Array; values: Float32Array } {
  const { rows, heads, kvHeads, headDim: d, position0, theta, factor, headNorms } = args;
  // The heads of one kind (from slot `first`, `n` per row) as a (T, n, D) array.
  const headsOf = (first: number, n: number) => {
    const out = new Float32Array(rows * n * d);
    for (let t = 0; t < rows; t++) {
      const from = (t * (heads + 2 * kvHeads) + first) * d;
      out.set(args.qkv.subarray(from, from + n * d), t * n * d);
    }
    return out;
  };
  const prepare = (x: Float32Array, n: number, norm?: Float32Array) =>
    ropeReference(
      norm ? rmsNormReference(x, norm, rows * n, headNorms!.eps) : x,
      rows,
      n,
      d,
      position0,
      theta,
      factor,
    );
  const q = prepare(headsOf(0, heads), heads, headNorms?.q);
  const k = prepare(headsOf(heads, kvHeads), kvHeads, headNorms?.k);
  const v = headsOf(heads + kvHeads, kvHeads);
  const keys = args.keys.slice();
  const values = args.values.slice();
  const width = kvHeads * d;
  for (let t = 0; t < rows; t++) {
    const row = (position0 + t) % args.cacheRows;
    keys.set(k.subarray(t * width, (t + 1) * width), row * width);
    values.set(v.subarray(t * width, (t + 1) * width), row * width);
  }
  return { q, keys, values };
}

/** attentionInputReference for rows of several sequences, each row on its own (see RowPlaces). */
export function attentionInputPlacesReference(
  args: Omit<AttentionInputReferenceArgs, "rows" | "position0"> & { places: RowPlacesData },
): { q: Float32Array; keys: Float32Array; values: Float32Array } {
  const { heads, kvHeads, headDim: d, places } = args;
  const slots = heads + 2 * kvHeads;
  const kvWidth = kvHeads * d;
  const q = new Float32Array(places.positions.length * heads * d);
  const keys = args.keys.slice();
  const values = args.values.slice();
  places.positions.forEach((position, t) => {
    const base = places.sequences[t] * args.cacheRows;
    const span = [base * kvWidth, (base + args.cacheRows) * kvWidth];
    const row = attentionInputReference({
      ...args,
      rows: 1,
      position0: position,
      qkv: args.qkv.subarray(t * slots * d, (t + 1) * slots * d),
      keys: keys.subarray(span[0], span[1]),
      values: values.subarray(span[0], span[1]),
    });
    q.set(row.q, t * heads * d);
    keys.set(row.keys, span[0]);
    values.set(row.values, span[0]);
  });
  return { q, keys, values };
}
