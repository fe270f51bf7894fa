// The backward of causal self-attention over the rows of one or more sequences (training: no KV
// cache, every row's keys are the sequence's own rows), with Gemma 2's score soft-cap, sliding
// windows and GQA/MQA. It recomputes the scores from q and k, so the forward keeps only q, k, v
// (after q/k norms and RoPE: their backward is rmsNormBackward and ropeBackward). The GPU kernel
// and float64 references of the forward and the backward. See attention_backward.wgsl for the
// formulas.

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import {
  attentionBackwardTiled,
  type AttentionTrainWorkspace,
  tilesHeadDim,
} from "./attention_tiled.ts";
import source from "./attention_backward.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };
import maxSource from "./workgroup_max.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };

const WGSL = tanhSource + sumSource + maxSource + source;
const MAX_HEAD_DIM = 256;

/** What attention runs over, besides its buffers. */
export interface AttentionShape {
  /** T: rows per sequence (row r of a tensor is position r mod T of sequence ⌊r / T⌋). */
  rows: number;
  /** B: sequences (default 1). */
  sequences?: number;
  heads: number;
  /** Dividing heads: query head h uses kv head ⌊h / (H / Hkv)⌋. */
  kvHeads: number;
  /** D ≤ 256. */
  headDim: number;
  /** Multiplies q·k. */
  scale: number;
  /** 0 or undefined: none; else scores become softcap·tanh(s / softcap). */
  softcap?: number;
  /** 0 or undefined: none; else key j is visible from query i iff i − window < j ≤ i. */
  window?: number;
}

export interface AttentionBackwardArgs extends AttentionShape {
  /** (B·T, H, D) f32 queries as attention saw them (normed, rotated). */
  q: Binding;
  /** (B·T, Hkv, D) f32 keys (normed, rotated) and values. */
  k: Binding;
  v: Binding;
  /** (B·T, H, D) f32 gradient of the attention output. */
  dOut: Binding;
  /**
   * (B·T, H + 2·Hkv, D) f32 output, overwritten: each row's dq heads, dk heads, dv heads, the
   * layout of the forward's q, k, v projection (its gradient, before RoPE's and the q/k norms'
   * backward, which work in place on it: ropeBackward and rmsNormBackward with `heads`).
   */
  dqkv: GPUBuffer;
  /** (B·T·H, 2) f32 scratch: each query's log-sum-exp and Δ, passed between the two passes. */
  stats: GPUBuffer;
  /**
   * Scratch of the tiled products (createAttentionTrainWorkspace): where given and the head
   * dim is a multiple of 8, they run instead of the per-query kernels.
   */
  workspace?: AttentionTrainWorkspace;
}

export function attentionBackward(batch: GpuBatch, args: AttentionBackwardArgs): void {
  const { rows, heads, kvHeads, headDim } = args;
  const sequences = args.sequences ?? 1;
  if (headDim > MAX_HEAD_DIM || headDim < 1) {
    throw new GpuError(`attentionBackward: head dim ${headDim} is not within 1…${MAX_HEAD_DIM}`);
  }
  if (kvHeads < 1 || heads % kvHeads !== 0) {
    throw new GpuError(`attentionBackward: ${heads} query heads cannot share ${kvHeads} kv heads`);
  }
  if (args.workspace && tilesHeadDim(headDim)) {
    attentionBackwardTiled(batch, args, args.workspace);
    return;
  }
  const uniforms = () =>
    new Uniforms().u32(rows).u32(sequences).u32(heads).u32(kvHeads).u32(headDim)
      .f32(args.scale).f32(args.softcap ?? 0).u32(args.window ?? 0);
  const gpu = batch.gpu;
  batch.dispatch(
    gpu.pipeline(WGSL, {}, "queries"),
    uniforms(),
    [args.q, args.k, args.v, args.dOut, args.stats, args.dqkv],
    workgroupGrid(gpu, sequences * rows * heads),
  );
  batch.dispatch(
    gpu.pipeline(WGSL, {}, "keys"),
    uniforms(),
    [args.q, args.k, args.v, args.dOut, args.stats, args.dqkv],
    workgroupGrid(gpu, sequences * rows * kvHeads),
  );
}

/** The keys visible from position t: [first, t]. */
function firstKey(t: number, window: number): number {
  return window > 0 ? Math.max(0, t - window + 1) : 0;
}

/**
 * Calls `visit(qBase, kBases, probs, slopes)` per (row, head) with the softmax over its visible
 * keys, in f64: the forward and the backward below share it.
 */
function eachQuery(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  shape: AttentionShape,
  visit: (qBase: number, kBases: number[], probs: number[], slopes: number[]) => void,
): void {
  const { rows, heads, kvHeads, headDim: D, scale } = shape;
  const cap = shape.softcap ?? 0;
  const group = heads / kvHeads;
  for (let b = 0; b < (shape.sequences ?? 1); b++) {
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < heads; h++) {
        const qBase = ((b * rows + t) * heads + h) * D;
        const kBases: number[] = [];
        const scores: number[] = [];
        const slopes: number[] = [];
        for (let j = firstKey(t, shape.window ?? 0); j <= t; j++) {
          const kBase = ((b * rows + j) * kvHeads + Math.floor(h / group)) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qBase + d] * k[kBase + d];
          s *= scale;
          kBases.push(kBase);
          scores.push(cap ? cap * Math.tanh(s / cap) : s);
          slopes.push(cap ? 1 - Math.tanh(s / cap) ** 2 : 1);
        }
        const top = Math.max(...scores);
        const weights = scores.map((z) => Math.exp(z - top));
        const total = weights.reduce((a, w) => a + w, 0);
        visit(qBase, kBases, weights.map((w) => w / total), slopes);
      }
    }
  }
}

/** The attention output (B·T, H, D), in f64. */
export function attentionForward64(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  shape: AttentionShape,
): Float64Array {
  const D = shape.headDim;
  const out = new Float64Array(q.length);
  eachQuery(q, k, shape, (qBase, kBases, probs) => {
    kBases.forEach((kBase, j) => {
      for (let d = 0; d < D; d++) out[qBase + d] += probs[j] * v[kBase + d];
    });
  });
  return out;
}

/** dq, dk, dv of attentionForward64 for the output gradient dOut, in f64. */
export function attentionBackwardReference(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dOut: ArrayLike<number>,
  shape: AttentionShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const D = shape.headDim;
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  eachQuery(q, k, shape, (qBase, kBases, probs, slopes) => {
    const dp = kBases.map((kBase) => {
      let sum = 0;
      for (let d = 0; d < D; d++) sum += dOut[qBase + d] * v[kBase + d];
      return sum;
    });
    const delta = probs.reduce((sum, p, j) => sum + p * dp[j], 0);
    kBases.forEach((kBase, j) => {
      const ds = shape.scale * probs[j] * (dp[j] - delta) * slopes[j];
      for (let d = 0; d < D; d++) {
        dq[qBase + d] += ds * k[kBase + d];
        dk[kBase + d] += ds * q[qBase + d];
        dv[kBase + d] += probs[j] * dOut[qBase + d];
      }
    });
  });
  return { dq, dk, dv };
}

/** dq (B·T, H, D), dk and dv (B·T, Hkv, D) packed per row as attentionBackward writes them. */
export function packQkv(
  dq: ArrayLike<number>,
  dk: ArrayLike<number>,
  dv: ArrayLike<number>,
  shape: { heads: number; kvHeads: number; headDim: number },
): Float64Array {
  const { heads, kvHeads, headDim: D } = shape;
  const n = dq.length / (heads * D);
  const width = (heads + 2 * kvHeads) * D;
  const out = new Float64Array(n * width);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < heads * D; i++) out[r * width + i] = dq[r * heads * D + i];
    for (let i = 0; i < kvHeads * D; i++) {
      out[r * width + heads * D + i] = dk[r * kvHeads * D + i];
      out[r * width + (heads + kvHeads) * D + i] = dv[r * kvHeads * D + i];
    }
  }
  return out;
}
